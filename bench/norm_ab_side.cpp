// One side of the before / after comparison of the norm kernels (scripts/bench_norm_ab.sh): compiled twice, once
// against the include/ of a revision and once against the working tree, with lnfold renamed to NORM_AB_NAMESPACE
// so that both copies of the kernels live in one process. NORM_AB_ENTRY(kernel, ...) calls kernel
//   0 layer_norm_rows  1 rms_norm_rows  2 add_layer_norm_rows  3 add_rms_norm_rows
//   4 layer_norm_backward_rows  5 rms_norm_backward_rows
// on the given buffers (x, b: inputs; g, be: gamma, beta; dy: the backward's output gradient; s: the sum; y: the
// output or dx; m, r: the statistics, which the backward reads; dg, db: parameter gradients).
#define lnfold NORM_AB_NAMESPACE
#include <lnfold/kernels/kernels.hpp>
#undef lnfold

#include <cstddef>

extern "C" void NORM_AB_ENTRY(int kernel, const float* x, const float* b, const float* dy, std::size_t rows,
                              std::size_t dim, const float* g, const float* be, float* s, float* y, float* m,
                              float* r, float* dg, float* db) {
    namespace k = NORM_AB_NAMESPACE::kernels;
    switch (kernel) {
        case 0: return k::layer_norm_rows(x, rows, dim, g, be, 1e-5f, y, m, r);
        case 1: return k::rms_norm_rows(x, rows, dim, g, nullptr, 1e-5f, y, r);
        case 2: return k::add_layer_norm_rows(x, b, rows, dim, g, be, 1e-5f, s, y, m, r);
        case 3: return k::add_rms_norm_rows(x, b, rows, dim, g, nullptr, 1e-5f, s, y, r);
        case 4: return k::layer_norm_backward_rows(x, dy, rows, dim, g, m, r, y, dg, db);
        default: return k::rms_norm_backward_rows(x, dy, rows, dim, g, r, y, dg, nullptr);
    }
}
