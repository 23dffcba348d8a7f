#pragma once
// <immintrin.h>, included before xsimd and Eigen reach it, with GCC's uninitialized-value warnings off for its own
// lines: GCC 12's _mm512_undefined_* (and _mm256_undefined_*) self-initialise on purpose (__m512 __Y = __Y), and
// once inlined into a caller under -O2 and AVX-512 every use is a false -W(maybe-)uninitialized located in that
// header, which -isystem does not hide (GCC bug 105593). The pragma covers the header's lines only; users' code
// keeps both warnings. Any other compiler or target: nothing here.
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
