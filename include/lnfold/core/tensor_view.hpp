#pragma once
// A read-only view of a row-major activation matrix owned by a Model (valid until its next forward call).
#include <cstddef>
#include <span>

#include "lnfold/core/checked_size.hpp"
#include "lnfold/core/layout.hpp"
#include "lnfold/core/matrix.hpp"

namespace lnfold {

template <class T>
struct tensor_view {
    const T* data = nullptr;
    Layout layout{};       // what the rows are (samples, tokens, pixels)
    std::size_t width = 0; // features per row

    std::size_t rows() const { return layout.row_count(); }
    std::size_t size() const { return checked_mul(rows(), "rows", width, "features", "lnfold: tensor_view"); }
    std::span<const T> span() const { return {data, size()}; }
    std::span<const T> row(std::size_t r) const { return {data + r * width, width}; }
    T operator()(std::size_t r, std::size_t c) const { return data[r * width + c]; }
    // Eigen view (rows x width, row-major).
    const_matrix_map<T> matrix() const { return map_matrix(data, rows(), width); }
};

}  // namespace lnfold
