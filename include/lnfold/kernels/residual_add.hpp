#pragma once
// The residual add over rows: sum (rows, width) = a + b, element by element, rows split over the threads (each
// element is one rounding, so the result is the same for every thread count). sum may be a or b.
#include <cstddef>

#include "lnfold/core/parallel.hpp"

namespace lnfold::kernels {

template <class T>
void add_rows(const T* a, const T* b, std::size_t rows, std::size_t width, T* sum) {
    parallel_for_rows(rows, width, [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin * width; i < end * width; ++i) sum[i] = a[i] + b[i];
    });
}

}  // namespace lnfold::kernels
