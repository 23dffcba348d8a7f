#pragma once
// Eigen views over lnfold memory: activations and weights are row-major.
#include <cstddef>

#include "lnfold/core/x86_intrinsics.hpp"  // before Eigen includes <immintrin.h>
#include <Eigen/Core>

namespace lnfold {

template <class T>
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using matrix_map = Eigen::Map<matrix<T>, Eigen::Unaligned>;
template <class T>
using const_matrix_map = Eigen::Map<const matrix<T>, Eigen::Unaligned>;
// A block of columns inside wider rows: rows x cols with a row stride.
template <class T>
using strided_map = Eigen::Map<matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using const_strided_map = Eigen::Map<const matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using const_vector_map = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>, Eigen::Unaligned>;

template <class T>
matrix_map<T> map_matrix(T* data, std::size_t rows, std::size_t cols) {
    return {data, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols)};
}
template <class T>
const_matrix_map<T> map_matrix(const T* data, std::size_t rows, std::size_t cols) {
    return {data, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols)};
}
template <class T>
strided_map<T> map_strided(T* data, std::size_t rows, std::size_t cols, std::size_t stride) {
    return {data, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols),
            Eigen::OuterStride<>(static_cast<Eigen::Index>(stride))};
}
template <class T>
const_strided_map<T> map_strided(const T* data, std::size_t rows, std::size_t cols, std::size_t stride) {
    return {data, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols),
            Eigen::OuterStride<>(static_cast<Eigen::Index>(stride))};
}
template <class T>
const_vector_map<T> map_vector(const T* data, std::size_t size) {
    return {data, static_cast<Eigen::Index>(size)};
}

}  // namespace lnfold
