// The schedules of the forward norms (kernels/norm_forward.hpp) against the default, row groups, in one process:
// per kernel and shape, ns/row (minimum over interleaved rounds) of row groups, the row pipeline (forced) and
// automatic (what the kernels run), the ratios groups / pipeline and pipeline / automatic (> 1: the second is
// faster; automatic runs the same code as the forced pipeline at these widths, so its ratio shows how much two
// copies of the same code differ in one binary), and a check that every output is the default's bit for bit
// (exit status 1 if not). Float, the default architecture, 1 thread unless OMP_NUM_THREADS says otherwise.
//   norm_schedules [rounds]     default 30 (scripts/bench_norm_ab.sh builds and runs it)
#include <lnfold/kernels/kernels.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

namespace k = lnfold::kernels;
namespace d = lnfold::kernels::detail;
using T = float;
using A = k::arch_for_t<T, k::default_arch>;

T* filled(std::size_t n, unsigned seed, T mean = 0) {
    T* p = static_cast<T*>(std::aligned_alloc(4096, (n * sizeof(T) + 4095) / 4096 * 4096));
    unsigned s = seed * 2654435761u + 1;
    for (std::size_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        p[i] = seed ? mean + T((s >> 8) * (1.0 / 16777216.0) * 2.0 - 1.0) : T(0);
    }
    return p;
}

// kernel 0: LayerNorm, 1: RMSNorm, 2: add + LayerNorm, 3: add + RMSNorm (gamma, and beta for LayerNorm)
template <d::norm_schedule S>
void run(int kernel, const T* x, const T* b, std::size_t rows, std::size_t dim, const T* g, const T* be, T* s, T* y,
         T* m, T* r) {
    const d::row_input<T> plain{x};
    const d::added_input<T> added{x, b, s};
    if (kernel == 0) d::norm_rows<A, true, true, true, S>(plain, rows, dim, {g, be, T(1e-5), y, m, r, false});
    if (kernel == 1)
        d::norm_rows<A, false, true, false, S>(plain, rows, dim, {g, nullptr, T(1e-5), y, nullptr, r, false});
    if (kernel == 2) d::norm_rows<A, true, true, true, S>(added, rows, dim, {g, be, T(1e-5), y, m, r, false});
    if (kernel == 3)
        d::norm_rows<A, false, true, false, S>(added, rows, dim, {g, nullptr, T(1e-5), y, nullptr, r, false});
}

using schedule_fn = void (*)(int, const T*, const T*, std::size_t, std::size_t, const T*, const T*, T*, T*, T*, T*);
const schedule_fn schedules[3] = {run<d::norm_schedule::row_groups>, run<d::norm_schedule::row_pipeline>,
                                  run<d::norm_schedule::automatic>};
const char* const names[] = {"layer_norm", "rms_norm", "add_layer_norm", "add_rms_norm"};

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 30;
    const std::size_t row_counts[] = {8, 197, 4096};
    const std::size_t dims[] = {64, 128, 192, 256, 384};  // the pipeline's widths in float on AVX-512
    int differing = 0;
    std::printf("%-15s %5s %4s %11s %11s %11s %16s %18s\n", "kernel", "rows", "d", "groups", "pipeline", "automatic",
                "groups/pipeline", "pipeline/automatic");
    for (std::size_t rows : row_counts)
        for (std::size_t dim : dims) {
            const std::size_t n = rows * dim;
            T *x = filled(n, 1), *b = filled(n, 2), *g = filled(dim, 3, 1), *be = filled(dim, 4);
            T* out[3][4];  // per schedule: y, sum, mean, rstd
            for (auto& o : out) {
                o[0] = filled(n, 0);
                o[1] = filled(n, 0);
                o[2] = filled(rows, 0);
                o[3] = filled(rows, 0);
            }
            double best[3][4];
            std::fill(&best[0][0], &best[0][0] + 12, 1e300);
            for (int round = 0; round < rounds; ++round)
                for (int kernel = 0; kernel < 4; ++kernel)
                    for (int v = 0; v < 3; ++v) {
                        const auto call = [&] {
                            schedules[v](kernel, x, b, rows, dim, g, be, out[v][1], out[v][0], out[v][2], out[v][3]);
                        };
                        call();
                        if (round == 0 && v > 0)
                            for (int o = 0; o < 4; ++o)
                                if (std::memcmp(out[0][o], out[v][o], (o < 2 ? n : rows) * sizeof(T)) != 0) {
                                    ++differing;
                                    std::printf("DIFFERENT OUTPUT: %s %zu x %zu, schedule %d, output %d\n",
                                                names[kernel], rows, dim, v, o);
                                }
                        const std::size_t reps = std::max<std::size_t>(1, 400000 / n);
                        const auto t0 = std::chrono::steady_clock::now();
                        for (std::size_t i = 0; i < reps; ++i) call();
                        const auto t1 = std::chrono::steady_clock::now();
                        best[v][kernel] = std::min(
                            best[v][kernel],
                            std::chrono::duration<double, std::nano>(t1 - t0).count() / double(reps * rows));
                    }
            for (int kernel = 0; kernel < 4; ++kernel)
                std::printf("%-15s %5zu %4zu %11.2f %11.2f %11.2f %16.3f %18.3f\n", names[kernel], rows, dim,
                            best[0][kernel], best[1][kernel], best[2][kernel], best[0][kernel] / best[1][kernel],
                            best[1][kernel] / best[2][kernel]);
            std::fflush(stdout);
            for (T* p : {x, b, g, be}) std::free(p);
            for (auto& o : out)
                for (T* p : o) std::free(p);
        }
    std::printf("outputs that differ: %d\n", differing);
    return differing ? 1 : 0;
}
