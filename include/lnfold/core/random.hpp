#pragma once
// Deterministic, portable random numbers (std:: distributions differ between standard libraries).
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace lnfold {

// splitmix64: a tiny, well-mixed 64-bit generator; the same seed gives the same numbers everywhere.
class random_stream {
public:
    explicit random_stream(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() { return mix(state_ += 0x9E3779B97F4A7C15ull); }
    // Output i (from 0) of random_stream(seed), without drawing the ones before it: splitmix64 is a counter
    // generator (state = seed + (i + 1) * golden), so streams can be filled in any order, in parallel.
    static constexpr std::uint64_t at(std::uint64_t seed, std::uint64_t i) {
        return mix(seed + (i + 1) * 0x9E3779B97F4A7C15ull);
    }
    static constexpr std::uint64_t mix(std::uint64_t z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    // Standard normal by Box-Muller (one value per call; simple and portable).
    double normal() {
        const double u1 = 1.0 - uniform();  // in (0, 1]
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
    // Uniform integer in [0, n).
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

private:
    std::uint64_t state_;
};

namespace detail {

// (bits >> 11) * 2^-53 as uniform() computes it, without an integer-to-double conversion (AVX2 has none for 64
// bits): the 53-bit integer is split into its top bit and 52 bits, each converted exactly by a bit pattern.
inline double unit_double(std::uint64_t bits) {
    const std::uint64_t x = bits >> 11;
    const double low = std::bit_cast<double>(0x4330000000000000ull | (x & 0xFFFFFFFFFFFFFull)) - 0x1.0p52;
    const double high = std::bit_cast<double>(0x4330000000000000ull | (x >> 52)) - 0x1.0p52;  // 0 or 1
    return (low + high * 0x1.0p52) * 0x1.0p-53;
}

// log(u) for a positive normal double u, fdlibm's algorithm (reduction to [sqrt(2)/2, sqrt(2)), the Lg1..Lg7
// polynomial, split ln 2): error below 1 ulp, branch-free so that a loop over it vectorises.
inline double fast_log(double u) {
    const std::uint64_t bits = std::bit_cast<std::uint64_t>(u);
    const double m1 = std::bit_cast<double>((bits & 0xFFFFFFFFFFFFFull) | 0x3FF0000000000000ull);  // [1, 2)
    const std::uint64_t above = static_cast<std::uint64_t>((bits & 0xFFFFFFFFFFFFFull) > 0x6A09E667F3BCDull);  // m1 > sqrt 2
    const double big = std::bit_cast<double>(0x4330000000000000ull | above) - 0x1.0p52;                         // 0 or 1
    const double m = m1 * (1.0 - 0.5 * big);                                                      // exact
    const double k = std::bit_cast<double>(0x4330000000000000ull | (bits >> 52)) - (0x1.0p52 + 1023.0) + big;
    const double f = m - 1.0;  // exact
    const double s = f / (2.0 + f), z = s * s, hfsq = 0.5 * f * f;
    const double r =
        z * (6.666666666666735130e-01 +
             z * (3.999999999940941908e-01 +
                  z * (2.857142874366239149e-01 +
                       z * (2.222219843214978396e-01 +
                            z * (1.818357216161805012e-01 + z * (1.531383769920937332e-01 + z * 1.479819860511658591e-01))))));
    return k * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + r) + k * 1.90821492927058770002e-10)) - f);
}

// cos(x) for 0 <= x < 8 (fdlibm: x - k pi/2 with a two-part pi/2, the kernels' polynomials on [-pi/4, pi/4]).
// `reduced` is set to |x - k pi/2|, whose absolute error (about 1e-26) is large relative to tiny values.
inline double fast_cos(double x, double& reduced) {
    const double kd = (x * 0.63661977236758134308 + 0x1.8p52) - 0x1.8p52;  // round(x * 2 / pi), 0 .. 5
    const double r = (x - kd * 1.57079632673412561417e+00) - kd * 6.07710050650619224932e-11;
    const double z = r * r;
    const double sin_r =
        r + z * r *
                (-1.66666666666666324348e-01 +
                 z * (8.33333333332248946124e-03 +
                      z * (-1.98412698298579493134e-04 +
                           z * (2.75573137070700676789e-06 + z * (-2.50507602534068634195e-08 + z * 1.58969099521155010221e-10)))));
    const double c = z * (4.16666666666666019037e-02 +
                          z * (-1.38888888888741095749e-03 +
                               z * (2.48015872894767294178e-05 +
                                    z * (-2.75573143513906633035e-07 + z * (2.08757232129817482790e-09 +
                                                                            z * -1.13596475577881948265e-11)))));
    const double hz = 0.5 * z, w = 1.0 - hz;
    const double cos_r = w + (((1.0 - w) - hz) + z * c);
    // k mod 4 from kd's bit pattern (kd + 2^52 holds k in its low bits); selected and negated with masks, so the
    // loop has no branch: k = 0: cos r, 1: -sin r, 2: -cos r, 3: sin r.
    const std::uint64_t q = std::bit_cast<std::uint64_t>(kd + 0x1.0p52);
    const std::uint64_t odd = 0 - (q & 1u), negate = ((q + 1) & 2u) << 62;
    reduced = std::fabs(r);
    return std::bit_cast<double>(((std::bit_cast<std::uint64_t>(sin_r) & odd) | (std::bit_cast<std::uint64_t>(cos_r) & ~odd)) ^
                                 negate);
}

// sqrt(t) for t > 0 to a few ulps, in plain arithmetic (std::sqrt may set errno, which keeps a loop from
// vectorising): 1/sqrt(t) from a bit-pattern guess (3.4% off) and four Newton steps, times t.
inline double fast_sqrt(double t) {
    double y = std::bit_cast<double>(0x5FE6EB50C7B537A9ull - (std::bit_cast<std::uint64_t>(t) >> 1));
    y = y * (1.5 - 0.5 * t * y * y);
    y = y * (1.5 - 0.5 * t * y * y);
    y = y * (1.5 - 0.5 * t * y * y);
    y = y * (1.5 - 0.5 * t * y * y);
    return t * y;
}

}  // namespace detail

// Fills out[0, n) with what a fresh random_stream(seed) gives, drawn in order, for
//   fill_uniform: static_cast<T>(uniform(lo, hi))           (one draw per value)
//   fill_normal:  static_cast<T>(scale * normal())          (two draws per value, Box-Muller)
// value by value identical to the loop over random_stream (tests/io/test_fast_paths.cpp checks it), but each
// value is computed from its own position, so that a range [first, first + n) of the stream can be filled alone
// (Model::initialize fills large tensors in parallel). For float, fill_normal evaluates log and cos with the
// polynomials above (and sqrt by Newton steps; a few ulps in all, vectorisable) instead of the C library's, and
// keeps the result only when the float it rounds to is certain: the value +- 2^-43 relative (hundreds of ulps of
// either computation) must round to the same float; otherwise (about one value in a million) it is recomputed with
// std::log and std::cos exactly as random_stream::normal does. For double, every value uses std::log and std::cos.
template <class T>
void fill_uniform(std::uint64_t seed, std::size_t first, double lo, double hi, T* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        out[i] = static_cast<T>(lo + (hi - lo) * detail::unit_double(random_stream::at(seed, first + i)));
}

template <class T>
void fill_normal(std::uint64_t seed, std::size_t first, double scale, T* out, std::size_t n) {
    const auto exact = [&](std::size_t i) {
        const double u1 = 1.0 - detail::unit_double(random_stream::at(seed, 2 * (first + i)));
        const double u2 = detail::unit_double(random_stream::at(seed, 2 * (first + i) + 1));
        return static_cast<T>(scale * (std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2)));
    };
    if constexpr (!std::is_same_v<T, float>) {
        for (std::size_t i = 0; i < n; ++i) out[i] = exact(i);
    } else {
        constexpr std::size_t block = 256;
        double u1[block], x[block], y[block], reduced[block];
        unsigned char unsure[block];
        for (std::size_t begin = 0; begin < n; begin += block) {
            const std::size_t size = n - begin < block ? n - begin : block;
            const std::uint64_t base = 2 * (first + begin);
            for (std::size_t i = 0; i < size; ++i) {
                u1[i] = 1.0 - detail::unit_double(random_stream::at(seed, base + 2 * i));
                x[i] = 6.283185307179586 * detail::unit_double(random_stream::at(seed, base + 2 * i + 1));
            }
            for (std::size_t i = 0; i < size; ++i) {
                const double c = detail::fast_cos(x[i], reduced[i]);
                y[i] = scale * (detail::fast_sqrt(-2.0 * detail::fast_log(u1[i])) * c);
            }
            unsigned any = 0;
            for (std::size_t i = 0; i < size; ++i) {
                const float f = static_cast<float>(y[i]);
                const unsigned sure = static_cast<unsigned>(static_cast<float>(y[i] * (1 - 0x1.0p-43)) == f) &
                                      static_cast<unsigned>(static_cast<float>(y[i] * (1 + 0x1.0p-43)) == f) &
                                      static_cast<unsigned>(u1[i] != 1.0) & static_cast<unsigned>(reduced[i] > 1e-9) &
                                      static_cast<unsigned>(y[i] != 0);
                out[begin + i] = f;
                unsure[i] = static_cast<unsigned char>(sure ^ 1u);
                any |= sure ^ 1u;
            }
            if (any)
                for (std::size_t i = 0; i < size; ++i)
                    if (unsure[i]) out[begin + i] = exact(begin + i);
        }
    }
}

// FNV-1a hash of a name, mixed with a seed: parameters are seeded by their path, so the same seed gives
// a parameter the same values in any network that has that path (an LN model and its RMSNorm twin).
constexpr std::uint64_t seed_for(std::uint64_t seed, std::string_view name) {
    std::uint64_t h = 0xCBF29CE484222325ull ^ (seed * 0x9E3779B97F4A7C15ull);
    for (char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001B3ull;
    }
    return h;
}

}  // namespace lnfold
