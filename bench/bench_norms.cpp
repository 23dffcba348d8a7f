// Microbenchmarks of lnfold's norm kernels against a copy kernel at the same shapes (targets: docs/benchmarks.md).
//
//   bench_norms [google-benchmark flags]            e.g. --benchmark_filter='/768/' --benchmark_format=csv
//   LNFOLD_BENCH_DRAM=1    adds the DRAM case (131072 x 1024: 0.5 GiB per float array)
//   LNFOLD_BENCH_THREADS=n runs the kernels with n OpenMP threads (default 1)
//
// Each benchmark reports seconds per row (counter time_per_row, e.g. "108n"), bytes/s (8 B per element for one input + one output,
// 16 B for add + norm and the backward), and the name says kernel/dim/rows. Outputs are allocated and touched
// before timing (first-touch page faults would otherwise dominate). Compare a kernel with `copy` (and `copy2` for
// the two-input kernels) at the same dim/rows for "% of copy".
#include <benchmark/benchmark.h>

#include <lnfold/core/build_info.hpp>
#include <lnfold/kernels/kernels.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if LNFOLD_HAS_OPENMP
#include <omp.h>
#endif

#ifndef LNFOLD_BENCH_FLAGS
#define LNFOLD_BENCH_FLAGS "(unknown)"
#endif

namespace {

namespace k = lnfold::kernels;
using T = float;

const std::vector<std::int64_t> bench_dims{64, 128, 192, 256, 384, 768, 1024, 2048, 4096, 8192, 50, 100, 1000, 4097};
const std::vector<std::int64_t> bench_rows{1, 8, 197, 512, 1576, 4096, 16384};

std::vector<T> filled(std::size_t n, std::uint32_t seed, T mean = 0) {
    std::vector<T> v(n);
    std::uint32_t s = seed * 2654435761u + 1;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = mean + T((s >> 8) * (1.0 / 16777216.0) * 2.0 - 1.0);
    }
    return v;
}

// Shared buffers of one shape (inputs, outputs, per-row stats), all touched before timing.
struct buffers {
    std::size_t rows, dim;
    std::vector<T> x, b, y, s, gamma, beta, dy, dx, dgamma, dbeta, mean, rstd;
    buffers(std::size_t r, std::size_t d, bool two_inputs, bool backward)
        : rows(r), dim(d), x(filled(r * d, 1)), y(r * d, T(0)), gamma(filled(d, 3, 1)), beta(filled(d, 4)),
          mean(r, T(0)), rstd(r, T(1)) {
        if (two_inputs) {
            b = filled(r * d, 2);
            s.assign(r * d, T(0));
        }
        if (backward) {
            dy = filled(r * d, 5);
            dx.assign(r * d, T(0));
            dgamma.assign(d, T(0));
            dbeta.assign(d, T(0));
            k::layer_norm_rows(x.data(), r, d, gamma.data(), beta.data(), 1e-5f, y.data(), mean.data(), rstd.data());
        }
    }
};

void finish(benchmark::State& state, std::size_t rows, std::size_t dim, std::size_t bytes_per_element) {
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(rows * dim * bytes_per_element));
    // seconds per row, printed with an SI prefix ("108n" = 108 ns per row)
    state.counters["time_per_row"] = benchmark::Counter(double(rows), benchmark::Counter::kIsIterationInvariantRate |
                                                                          benchmark::Counter::kInvert);
}

enum class kernel { copy, copy2, layer_norm, layer_norm_no_affine, rms_norm, rms_norm_bias, add_layer_norm,
                    add_rms_norm, layer_norm_backward, rms_norm_backward };

template <kernel K>
void run(benchmark::State& state) {
    const auto dim = std::size_t(state.range(0)), rows = std::size_t(state.range(1));
    constexpr bool two = K == kernel::copy2 || K == kernel::add_layer_norm || K == kernel::add_rms_norm;
    constexpr bool bwd = K == kernel::layer_norm_backward || K == kernel::rms_norm_backward;
    buffers m(rows, dim, two, bwd);
    const float eps = 1e-5f;
    for (auto _ : state) {
        if constexpr (K == kernel::copy) {
            std::memcpy(m.y.data(), m.x.data(), rows * dim * sizeof(T));
        } else if constexpr (K == kernel::copy2) {  // the stream kernel of add + norm: read 2, write 2
            std::memcpy(m.y.data(), m.x.data(), rows * dim * sizeof(T));
            std::memcpy(m.s.data(), m.b.data(), rows * dim * sizeof(T));
        } else if constexpr (K == kernel::layer_norm) {
            k::layer_norm_rows(m.x.data(), rows, dim, m.gamma.data(), m.beta.data(), eps, m.y.data(), m.mean.data(),
                               m.rstd.data());
        } else if constexpr (K == kernel::layer_norm_no_affine) {
            k::layer_norm_rows(m.x.data(), rows, dim, nullptr, nullptr, eps, m.y.data());
        } else if constexpr (K == kernel::rms_norm) {
            k::rms_norm_rows(m.x.data(), rows, dim, m.gamma.data(), nullptr, eps, m.y.data(), m.rstd.data());
        } else if constexpr (K == kernel::rms_norm_bias) {
            k::rms_norm_rows(m.x.data(), rows, dim, m.gamma.data(), m.beta.data(), eps, m.y.data(), m.rstd.data());
        } else if constexpr (K == kernel::add_layer_norm) {
            k::add_layer_norm_rows(m.x.data(), m.b.data(), rows, dim, m.gamma.data(), m.beta.data(), eps, m.s.data(),
                                   m.y.data(), m.mean.data(), m.rstd.data());
        } else if constexpr (K == kernel::add_rms_norm) {
            k::add_rms_norm_rows(m.x.data(), m.b.data(), rows, dim, m.gamma.data(), m.beta.data(), eps, m.s.data(),
                                 m.y.data(), m.rstd.data());
        } else if constexpr (K == kernel::layer_norm_backward) {
            k::layer_norm_backward_rows(m.x.data(), m.dy.data(), rows, dim, m.gamma.data(), m.mean.data(),
                                        m.rstd.data(), m.dx.data(), m.dgamma.data(), m.dbeta.data());
        } else {
            k::rms_norm_backward_rows(m.x.data(), m.dy.data(), rows, dim, m.gamma.data(), m.rstd.data(),
                                      m.dx.data(), m.dgamma.data(), m.dbeta.data());
        }
        benchmark::DoNotOptimize(m.y.data());
        benchmark::DoNotOptimize(m.dx.data());
        benchmark::ClobberMemory();
    }
    // Bytes moved per element: copy / norm read 1 + write 1 (8 B); copy2 / add + norm read 2 + write 2 (16 B);
    // backward reads x and dy and writes dx (12 B).
    const std::size_t bytes = two ? 16 : bwd ? 12 : 8;
    finish(state, rows, dim, bytes);
}

void shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"dim", "rows"});
    for (auto r : bench_rows)
        for (auto d : bench_dims) b->Args({d, r});
    if (const char* e = std::getenv("LNFOLD_BENCH_DRAM"); e && std::string(e) == "1") b->Args({1024, 131072});
    b->MinTime(0.05);
    b->UseRealTime();
}

}  // namespace

BENCHMARK_TEMPLATE(run, kernel::copy)->Name("copy")->Apply(shapes);
BENCHMARK_TEMPLATE(run, kernel::layer_norm)->Name("layer_norm")->Apply(shapes);
BENCHMARK_TEMPLATE(run, kernel::layer_norm_no_affine)->Name("layer_norm_no_affine")->Apply(shapes);
BENCHMARK_TEMPLATE(run, kernel::rms_norm)->Name("rms_norm")->Apply(shapes);
BENCHMARK_TEMPLATE(run, kernel::rms_norm_bias)->Name("rms_norm_bias")->Apply(shapes);
BENCHMARK_TEMPLATE(run, kernel::copy2)->Name("copy2")->Apply(shapes);
BENCHMARK_TEMPLATE(run, kernel::add_layer_norm)->Name("add_layer_norm")->Apply(shapes);
BENCHMARK_TEMPLATE(run, kernel::add_rms_norm)->Name("add_rms_norm")->Apply(shapes);
BENCHMARK_TEMPLATE(run, kernel::layer_norm_backward)->Name("layer_norm_backward")->Apply(shapes);
BENCHMARK_TEMPLATE(run, kernel::rms_norm_backward)->Name("rms_norm_backward")->Apply(shapes);

int main(int argc, char** argv) {
    int threads = 1;
    if (const char* e = std::getenv("LNFOLD_BENCH_THREADS")) threads = std::max(1, std::atoi(e));
#if LNFOLD_HAS_OPENMP
    omp_set_num_threads(threads);
#endif
    benchmark::AddCustomContext("lnfold", lnfold::build_summary());
    benchmark::AddCustomContext("lnfold_simd_arch", lnfold::simd_arch());
    benchmark::AddCustomContext("lnfold_threads", std::to_string(lnfold::max_threads()));
    benchmark::AddCustomContext("lnfold_compiler", lnfold::compiler_name());
    benchmark::AddCustomContext("lnfold_flags", LNFOLD_BENCH_FLAGS);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
