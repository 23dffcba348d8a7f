// Matrix-product backends at the Linear shapes of the benchmark models (docs/performance.md "GEMM backends"):
// Y (rows x out) = X (rows x in) Wᵀ in float, W stored (out x in) as lnfold stores a Linear's weight, one thread.
// Columns, interleaved per shape (best of the repetitions, GFLOP/s = 2 rows in out / time):
//   eigen      one Eigen product (lnfold's backend without OpenBLAS)
//   openblas   one cblas_sgemm                      (when built with LNFOLD_BENCH_OPENBLAS)
//   blis       one bli_sgemm                        (when built with LNFOLD_BENCH_BLIS)
//   onednn     one dnnl_sgemm                       (when built with LNFOLD_BENCH_ONEDNN)
//   lnfold     kernels::matmul_nt, the build's backend in its fixed column blocks
// Prints CSV: rows,in,out,backend,gflops (and '#' lines: the build and the libraries' own descriptions).
//   bench_gemm [--threads N] [--quick]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <lnfold/lnfold.hpp>

#if LNFOLD_BENCH_OPENBLAS
#include <cblas.h>
#endif
#if LNFOLD_BENCH_BLIS
#include <blis.h>
#endif
#if LNFOLD_BENCH_ONEDNN
#include <dnnl.h>
#endif
#if LNFOLD_HAS_OPENMP
#include <omp.h>
#endif

namespace {

struct shape {
    const char* model;
    std::size_t rows, in, out;
};

// The Linear products of the benchmark models: batch-1 token counts (GPT 128 / 256 / 1024, ViT-S 197 and 8 x 197).
const shape shapes[] = {
    {"gpt_d768 qkv", 128, 768, 2304},  {"gpt_d768 proj", 128, 768, 768},   {"gpt_d768 fc", 128, 768, 3072},
    {"gpt_d768 out", 128, 3072, 768},  {"gpt_d768 head", 128, 768, 8192},  {"gpt2 fc @256", 256, 768, 3072},
    {"gpt2 head @256", 256, 768, 50257}, {"gpt2 fc @1024", 1024, 768, 3072}, {"gpt2 out @1024", 1024, 3072, 768},
    {"gpt_d256 fc", 128, 256, 1024},   {"gpt_d256 out", 128, 1024, 256},   {"vit_s qkv", 197, 384, 1152},
    {"vit_s fc", 197, 384, 1536},      {"vit_s out", 197, 1536, 384},      {"vit_s fc b8", 1576, 384, 1536},
    {"mlp fc1 b64", 64, 784, 256},
};

double best_ms(int repetitions, const std::function<void()>& f) {
    f();
    double best = 1e300;
    for (int r = 0; r < repetitions; ++r) {
        const auto start = std::chrono::steady_clock::now();
        f();
        best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 1;
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::max(1, std::atoi(argv[++i]));
        else if (!std::strcmp(argv[i], "--quick")) quick = true;
    }
#if LNFOLD_HAS_OPENMP
    omp_set_num_threads(threads);
#endif
#if LNFOLD_BENCH_OPENBLAS
    openblas_set_num_threads(threads);
    std::printf("# OpenBLAS: %s (kernel %s)\n", openblas_get_config(), openblas_get_corename());
#endif
#if LNFOLD_BENCH_BLIS
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(threads, &rntm);
    std::printf("# BLIS %s: configuration %s\n", bli_info_get_version_str(), bli_arch_string(bli_arch_query_id()));
#endif
#if LNFOLD_BENCH_ONEDNN
    const dnnl_version_t* v = dnnl_version();
    std::printf("# oneDNN %d.%d.%d (cpu runtime %u)\n", v->major, v->minor, v->patch, v->cpu_runtime);
#endif
    std::printf("# %s, threads %d\n", lnfold::build_summary().c_str(), threads);
    std::printf("model,rows,in,out,backend,gflops\n");
    const int repetitions = quick ? 3 : 9;
    lnfold::random_stream rng(1);
    for (const shape& s : shapes) {
        if (quick && s.rows * s.in * s.out > 128u * 768 * 3072) continue;
        std::vector<float> x(s.rows * s.in), w(s.out * s.in), y(s.rows * s.out);
        for (auto& v : x) v = static_cast<float>(rng.uniform(-1, 1));
        for (auto& v : w) v = static_cast<float>(rng.uniform(-1, 1));
        const double flop = 2.0 * double(s.rows) * double(s.in) * double(s.out);
        const auto report = [&](const char* backend, const std::function<void()>& f) {
            std::printf("%s,%zu,%zu,%zu,%s,%.1f\n", s.model, s.rows, s.in, s.out, backend, flop / best_ms(repetitions, f) / 1e6);
            std::fflush(stdout);
        };
        const auto xm = lnfold::map_matrix(static_cast<const float*>(x.data()), s.rows, s.in);
        const auto wm = lnfold::map_matrix(static_cast<const float*>(w.data()), s.out, s.in);
        auto ym = lnfold::map_matrix(y.data(), s.rows, s.out);
        report("eigen", [&] { ym.noalias() = xm * wm.transpose(); });
#if LNFOLD_BENCH_OPENBLAS
        report("openblas", [&] {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(s.rows), int(s.out), int(s.in), 1.0f, x.data(),
                        int(s.in), w.data(), int(s.in), 0.0f, y.data(), int(s.out));
        });
#endif
#if LNFOLD_BENCH_BLIS
        report("blis", [&] {
            float one = 1, zero = 0;
            bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, dim_t(s.rows), dim_t(s.out), dim_t(s.in), &one, x.data(),
                         inc_t(s.in), 1, w.data(), inc_t(s.in), 1, &zero, y.data(), inc_t(s.out), 1, nullptr, &rntm);
        });
#endif
#if LNFOLD_BENCH_ONEDNN
        report("onednn", [&] {
            dnnl_sgemm('N', 'T', dnnl_dim_t(s.rows), dnnl_dim_t(s.out), dnnl_dim_t(s.in), 1.0f, x.data(), dnnl_dim_t(s.in),
                       w.data(), dnnl_dim_t(s.in), 0.0f, y.data(), dnnl_dim_t(s.out));
        });
#endif
        report("lnfold", [&] {
            lnfold::kernels::matmul_nt(s.rows, s.out, s.in, x.data(), s.in, w.data(), s.in, y.data(), s.out);
        });
    }
    return 0;
}
