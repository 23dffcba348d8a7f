#pragma once
// The architectures lnfold's kernels run on: xsimd's best enabled one, or a plain scalar path.
//
// Every kernel is a template over (Arch, T). Arch is an xsimd architecture (xsimd::sse2, xsimd::avx512bw, ...)
// or lnfold::kernels::scalar_arch. A kernel asked for an architecture that has no register for T (or that is
// unavailable, as on a machine with no SIMD enabled) runs its scalar path instead.
// Where the compiler flags enable no SIMD architecture at all (armv7 soft-float, XSIMD_NO_SUPPORTED_ARCHITECTURE),
// xsimd declares no batch operations: the kernels call the ones that are not operators (hadd, any, select)
// unqualified, so that argument-dependent lookup finds them in xsimd when a batch kernel is instantiated, and the
// scalar path, the only one instantiated there, never names them.
#include <cstddef>
#include <string>
#include <type_traits>

#include "lnfold/core/x86_intrinsics.hpp"  // before xsimd includes <immintrin.h>
#include <xsimd/xsimd.hpp>

#include "lnfold/core/error.hpp"

// Forces inlining of the kernels' per-row helpers (row loops, sums, passes) and of the lambdas they take. GCC
// otherwise keeps some of them out of line once the templates nest deeply, and which ones depends on everything
// else in the translation unit (its inlining budget is per unit): then the accumulators and the per-row constants
// go through memory at every call, and every pass pays a call, so a kernel's speed would depend on what else is
// compiled with it. Every lambda of the row loops carries the attribute too, for the same reason (what leaving it
// out costs: docs/kernels.md, "Why the kernels are shaped as they are").
// LNFOLD_ALWAYS_INLINE_LAMBDA goes after a lambda's parameter list. Only in optimised builds without
// AddressSanitizer: at -O0 and under ASan it buys nothing and only adds compile time.
#if defined(__SANITIZE_ADDRESS__)
#define LNFOLD_SANITIZED_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LNFOLD_SANITIZED_BUILD 1
#endif
#endif
#if (defined(__GNUC__) || defined(__clang__)) && defined(__OPTIMIZE__) && !defined(LNFOLD_SANITIZED_BUILD)
#define LNFOLD_ALWAYS_INLINE inline __attribute__((always_inline))
#define LNFOLD_ALWAYS_INLINE_LAMBDA __attribute__((always_inline))
#else
#define LNFOLD_ALWAYS_INLINE inline
#define LNFOLD_ALWAYS_INLINE_LAMBDA
#endif

namespace lnfold {
namespace kernels {

// No SIMD: every element goes through the scalar tail of each kernel.
struct scalar_arch {
    static constexpr bool supported() noexcept { return true; }
    static constexpr bool available() noexcept { return true; }
    static constexpr const char* name() noexcept { return "scalar"; }
};

// The default: the best architecture the compiler flags enable ("sse2" without -march on x86-64).
using default_arch = std::conditional_t<xsimd::default_arch::supported(), xsimd::default_arch, scalar_arch>;

namespace detail {
template <class T, class Arch, class = void>
struct has_register : std::false_type {};
// Whether xsimd has a usable register of T on Arch. xsimd 8.1 declares one of double on armv7's neon whose type is
// an empty struct (invalid_register) and says it has it: a register counts only when its type is not an empty class.
template <class T, class Arch, bool Declared = xsimd::types::has_simd_register<T, Arch>::value>
struct real_register : std::false_type {};
template <class T, class Arch>
struct real_register<T, Arch, true>
    : std::bool_constant<!std::is_empty_v<typename xsimd::types::simd_register<T, Arch>::register_type>> {};
template <class T, class Arch>
struct has_register<T, Arch, std::enable_if_t<!std::is_same_v<Arch, scalar_arch>>>
    : std::bool_constant<Arch::supported() && real_register<T, Arch>::value> {};
}  // namespace detail

// True when Arch has a vector register for T (false for scalar_arch).
template <class T, class Arch>
inline constexpr bool has_simd_v = detail::has_register<T, Arch>::value;

// The architecture a kernel really runs for T when asked for Arch.
template <class T, class Arch>
using arch_for_t = std::conditional_t<has_simd_v<T, Arch>, Arch, scalar_arch>;

// A parameter type that does not take part in deducing T: kernels deduce T from their data pointers, so gamma,
// beta and stat pointers may be nullptr and eps may be a literal of another floating type.
template <class T>
using nd = std::type_identity_t<T>;

// Elements per vector register of T on Arch (1 for the scalar path).
template <class T, class Arch>
inline constexpr std::size_t lanes_v = [] {
    if constexpr (has_simd_v<T, Arch>) return xsimd::batch<T, Arch>::size;
    else return std::size_t{1};
}();

}  // namespace kernels

// The SIMD architecture lnfold's kernels are compiled for (the best one enabled by the compiler flags:
// "sse2" without -march, "avx512bw" or similar with -march=native, "scalar" with none).
inline const char* simd_arch() { return kernels::default_arch::name(); }

namespace kernels::detail {

// eps > 0 (NaN fails too); the message names the kernel and the value.
template <class T>
void check_eps(const char* kernel, T eps) {
    if (!(eps > T(0)))
        raise<config_error>(std::string("lnfold::kernels::") + kernel + ": eps must be > 0, got " +
                           std::to_string(static_cast<double>(eps)));
}

inline void check_dim(const char* kernel, std::size_t rows, std::size_t dim) {
    if (rows != 0 && dim == 0)
        raise<shape_error>(std::string("lnfold::kernels::") + kernel + ": row width must be > 0, got 0 (with " +
                          std::to_string(rows) + " rows)");
}

template <class T>
void check_pointer(const char* kernel, const char* what, const T* p, std::size_t rows) {
    if (rows != 0 && p == nullptr)
        raise<config_error>(std::string("lnfold::kernels::") + kernel + ": " + what + " must not be null");
}

}  // namespace kernels::detail
}  // namespace lnfold
