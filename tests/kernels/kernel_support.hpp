#pragma once
// Shared helpers of the kernel tests: deterministic inputs, unaligned buffers, error measures.
#include <lnfold/kernels/kernels.hpp>
#include <lnfold/kernels/reference.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "catch.hpp"

namespace lnfold_test::kernels {

namespace k = lnfold::kernels;
namespace ref = lnfold::kernels::reference;
using real = long double;

// The row widths every kernel is checked at (tails of every length, d = 1, ragged sizes).
inline const std::vector<std::size_t> dims{1, 2, 7, 8, 15, 16, 17, 31, 64, 100, 768, 1000, 4096, 4097};

// A small deterministic generator (same numbers on every platform, unlike std::normal_distribution).
struct rng {
    std::uint64_t s;
    explicit rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    std::uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }                   // [0, 1)
    double normal() {                                                              // approx. N(0, 1)
        double a = 0;
        for (int i = 0; i < 12; ++i) a += uniform();
        return a - 6.0;
    }
};

// A buffer whose data() is offset by `offset` elements from an aligned start, so kernels see unaligned rows.
template <class T>
struct offset_buffer {
    std::vector<T> storage;
    std::size_t offset;
    offset_buffer(std::size_t n, std::size_t off = 1) : storage(n + off + 16, T(0)), offset(off) {}
    T* data() { return storage.data() + offset; }
    const T* data() const { return storage.data() + offset; }
    T& operator[](std::size_t i) { return data()[i]; }
    const T& operator[](std::size_t i) const { return data()[i]; }
};

// A zeroed buffer whose data() is `extra` elements past a 64-byte boundary (extra = 0: aligned for every vector
// width; the streaming stores of the kernels need aligned rows).
template <class T>
offset_buffer<T> buffer_at_alignment(std::size_t n, std::size_t extra) {
    offset_buffer<T> b(n + 64 / sizeof(T), 0);
    const auto address = reinterpret_cast<std::uintptr_t>(b.storage.data());
    b.offset = (64 - address % 64) % 64 / sizeof(T) + extra;
    return b;
}

template <class T>
offset_buffer<T> random_buffer(std::size_t n, std::uint64_t seed, double mean = 0, double stddev = 1,
                               std::size_t off = 1) {
    offset_buffer<T> b(n, off);
    rng g(seed);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<T>(mean + stddev * g.normal());
    return b;
}

// max_i |got_i - want_i| / max(1, |want_i|): relative for large values, absolute near zero. NaN if any is NaN.
template <class T>
real max_rel_error(const T* got, const std::vector<real>& want, std::size_t n) {
    real m = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const real e = std::fabs(real(got[i]) - want[i]) / std::max<real>(1, std::fabs(want[i]));
        if (!(e <= m)) m = e;
    }
    return m;
}

template <class T>
real max_abs_error(const T* got, const std::vector<real>& want, std::size_t n) {
    real m = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const real e = std::fabs(real(got[i]) - want[i]);
        if (!(e <= m)) m = e;
    }
    return m;
}

// max_i |a_i - b_i| / max(1, |b_i|) between two T arrays.
template <class T>
real max_rel_diff(const T* a, const T* b, std::size_t n) {
    real m = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const real e = std::fabs(real(a[i]) - real(b[i])) / std::max<real>(1, std::fabs(real(b[i])));
        if (!(e <= m)) m = e;
    }
    return m;
}

template <class T>
bool bit_equal(const T* a, const T* b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (!(a[i] == b[i]) && !(std::isnan(a[i]) && std::isnan(b[i]))) return false;
    return true;
}

template <class T>
const char* type_name() {
    return sizeof(T) == 4 ? "float" : "double";
}

// Tolerance of "ordinary rows" (unit-scale data) against the long-double reference.
template <class T>
constexpr real tolerance() {
    return sizeof(T) == 4 ? real(1e-5) : real(1e-12);
}

// Collects the largest error seen per (kernel, type) and prints them when destroyed (shown by ctest -V).
struct error_report {
    std::string title;
    std::vector<std::pair<std::string, real>> rows;
    void note(const std::string& what, real e) {
        for (auto& r : rows)
            if (r.first == what) {
                if (!(e <= r.second)) r.second = e;
                return;
            }
        rows.emplace_back(what, e);
    }
    ~error_report() {
        std::printf("%s (lnfold::simd_arch() = %s)\n", title.c_str(), lnfold::simd_arch());
        for (auto& r : rows) std::printf("  %-48s max error %.3Le\n", r.first.c_str(), r.second);
    }
};

}  // namespace lnfold_test::kernels
