#pragma once
// Version and build-time switches of lnfold.

#define LNFOLD_VERSION_MAJOR 0
#define LNFOLD_VERSION_MINOR 1
#define LNFOLD_VERSION_PATCH 0

#if defined(_OPENMP) && !defined(LNFOLD_NO_OPENMP)
#define LNFOLD_HAS_OPENMP 1
#else
#define LNFOLD_HAS_OPENMP 0
#endif

// Rows of work below which lnfold never starts threads (work = rows * width elements).
#ifndef LNFOLD_PARALLEL_MIN_ELEMENTS
#define LNFOLD_PARALLEL_MIN_ELEMENTS 65536
#endif

namespace lnfold {
inline constexpr const char* version_string = "0.1.0";
}  // namespace lnfold
