#pragma once
// How the rows of an activation matrix are organised: batch x tokens rows, optionally a spatial grid.
#include <cstddef>
#include <string>

#include "lnfold/core/checked_size.hpp"

namespace lnfold {

// Activations are row-major matrices (rows x width). A Layout says what the rows are:
//   feature rows:  batch samples, 1 token each                      rows = batch
//   sequences:     batch samples of `tokens` tokens each            rows = batch * tokens
//   images (NHWC): batch samples of height x width pixels (tokens)  rows = batch * height * width
// The width (features / channels) is known at compile time from the network type.
// The products (height x width, batch x tokens) are checked: one that overflows size_t throws shape_error.
struct Layout {
    std::size_t batch = 0;
    std::size_t tokens = 1;   // rows per sample
    std::size_t height = 0;   // spatial grid when > 0 (then tokens == height * width)
    std::size_t width = 0;

    static constexpr Layout rows(std::size_t batch) { return {batch, 1, 0, 0}; }
    static constexpr Layout sequence(std::size_t batch, std::size_t length) { return {batch, length, 0, 0}; }
    static constexpr Layout image(std::size_t batch, std::size_t height, std::size_t width) {
        return {batch, checked_mul(height, "pixels high", width, "pixels wide", "lnfold: Layout::image"), height, width};
    }

    constexpr std::size_t row_count() const { return checked_mul(batch, "samples", tokens, "tokens", "lnfold: Layout"); }
    constexpr bool is_image() const { return height > 0; }
    constexpr bool operator==(const Layout&) const = default;

    std::string describe() const {
        if (is_image())
            return std::to_string(batch) + " x " + std::to_string(height) + " x " + std::to_string(width) + " pixels";
        return std::to_string(batch) + " x " + std::to_string(tokens) + " tokens";
    }
};

}  // namespace lnfold
