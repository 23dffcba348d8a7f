// Before / after timing of the norm kernels in one process (scripts/bench_norm_ab.sh): the two copies of the
// kernels (norm_ab_side.cpp) run interleaved, shape by shape and round by round, so that a machine shared with other
// jobs slows both alike. Prints, per kernel and shape, ns/row of each (minimum over rounds) and before / after
// (> 1: after is faster), and checks that every output (y or dx, the statistics, the stored sum, dgamma, dbeta)
// is the same bit for bit. Exit status 1 if any differs.
//   norm_ab [rounds]        default 30; 1 thread unless OMP_NUM_THREADS says otherwise
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using entry = void (*)(int, const float*, const float*, const float*, std::size_t, std::size_t, const float*,
                       const float*, float*, float*, float*, float*, float*, float*);
extern "C" void norm_ab_before(int, const float*, const float*, const float*, std::size_t, std::size_t, const float*,
                               const float*, float*, float*, float*, float*, float*, float*);
extern "C" void norm_ab_after(int, const float*, const float*, const float*, std::size_t, std::size_t, const float*,
                              const float*, float*, float*, float*, float*, float*, float*);

namespace {

// A 4 KiB-aligned buffer of n floats, uniform in mean ± 1 (seeded), or zero (seed 0).
struct buffer {
    float* p;
    explicit buffer(std::size_t n, unsigned seed = 0, float mean = 0) {
        p = static_cast<float*>(std::aligned_alloc(4096, (n * sizeof(float) + 4095) / 4096 * 4096));
        unsigned s = seed * 2654435761u + 1;
        for (std::size_t i = 0; i < n; ++i) {
            s = s * 1664525u + 1013904223u;
            p[i] = seed ? mean + float((s >> 8) * (1.0 / 16777216.0) * 2.0 - 1.0) : 0.0f;
        }
    }
    buffer(const buffer&) = delete;
    buffer& operator=(const buffer&) = delete;
    ~buffer() { std::free(p); }
};

// The outputs of one side: y (or dx), sum, mean, rstd, dgamma, dbeta.
struct outputs {
    buffer y, s, m, r, dg, db;
    outputs(std::size_t rows, std::size_t dim) : y(rows * dim), s(rows * dim), m(rows), r(rows), dg(dim), db(dim) {}
};

const char* const names[] = {"layer_norm", "rms_norm", "add_layer_norm", "add_rms_norm", "layer_norm_backward",
                             "rms_norm_backward"};

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 30;
    const std::size_t row_counts[] = {8, 197, 4096};
    const std::size_t dims[] = {64, 128, 192, 256, 384, 768, 1024, 4096, 50, 1000};
    const entry sides[2] = {norm_ab_before, norm_ab_after};
    int differing = 0;
    std::printf("%-20s %5s %5s %12s %12s %14s\n", "kernel", "rows", "d", "before ns/row", "after ns/row",
                "before/after");
    for (std::size_t rows : row_counts)
        for (std::size_t dim : dims) {
            const std::size_t n = rows * dim;
            if (n > (std::size_t{1} << 22)) continue;  // in cache or just beyond: the kernels, not DRAM
            const buffer x(n, 1), b(n, 2), dy(n, 5), g(dim, 3, 1.0f), be(dim, 4);
            outputs out[2] = {outputs(rows, dim), outputs(rows, dim)};
            double best[2][6];
            std::fill(&best[0][0], &best[0][0] + 12, 1e300);
            // run(side, kernel): the backward first gets the statistics of its forward (not timed)
            const auto prepare = [&](int side, int kernel) {
                outputs& o = out[side];
                for (int forward : {0, 1})
                    if (kernel == 4 + forward)
                        sides[side](forward, x.p, b.p, dy.p, rows, dim, g.p, be.p, o.s.p, o.y.p, o.m.p, o.r.p,
                                    o.dg.p, o.db.p);
            };
            const auto call = [&](int side, int kernel) {
                outputs& o = out[side];
                sides[side](kernel, x.p, b.p, dy.p, rows, dim, g.p, be.p, o.s.p, o.y.p, o.m.p, o.r.p, o.dg.p, o.db.p);
            };
            for (int kernel = 0; kernel < 6; ++kernel) {  // one call of each side from zeroed gradients: same bits?
                for (int side = 0; side < 2; ++side) {
                    std::memset(out[side].dg.p, 0, dim * sizeof(float));
                    std::memset(out[side].db.p, 0, dim * sizeof(float));
                    prepare(side, kernel);
                    call(side, kernel);
                }
                const auto same = [&](const buffer& p, const buffer& q, std::size_t count) {
                    return std::memcmp(p.p, q.p, count * sizeof(float)) == 0;
                };
                if (!(same(out[0].y, out[1].y, n) && same(out[0].s, out[1].s, n) && same(out[0].m, out[1].m, rows) &&
                      same(out[0].r, out[1].r, rows) && same(out[0].dg, out[1].dg, dim) &&
                      same(out[0].db, out[1].db, dim))) {
                    ++differing;
                    std::printf("DIFFERENT OUTPUT: %s %zu x %zu\n", names[kernel], rows, dim);
                }
            }
            for (int round = 0; round < rounds; ++round)
                for (int kernel = 0; kernel < 6; ++kernel)
                    for (int side = 0; side < 2; ++side) {
                        prepare(side, kernel);
                        call(side, kernel);
                        const std::size_t reps = std::max<std::size_t>(1, 400000 / n);
                        const auto t0 = std::chrono::steady_clock::now();
                        for (std::size_t i = 0; i < reps; ++i) call(side, kernel);
                        const auto t1 = std::chrono::steady_clock::now();
                        const double ns =
                            std::chrono::duration<double, std::nano>(t1 - t0).count() / double(reps * rows);
                        best[side][kernel] = std::min(best[side][kernel], ns);
                    }
            for (int kernel = 0; kernel < 6; ++kernel)
                std::printf("%-20s %5zu %5zu %12.2f %12.2f %14.3f\n", names[kernel], rows, dim, best[0][kernel],
                            best[1][kernel], best[0][kernel] / best[1][kernel]);
            std::fflush(stdout);
        }
    std::printf("outputs that differ: %d\n", differing);
    return differing ? 1 : 0;
}
