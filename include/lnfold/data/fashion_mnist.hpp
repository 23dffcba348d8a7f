#pragma once
// Fashion-MNIST from Debian's dataset-fashion-mnist package: IDX files (gzip) under
// /usr/share/datasets/fashion-mnist. Images are 28x28 grey levels scaled to [0, 1]; labels 0..9.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lnfold/core/error.hpp"
#include "lnfold/data/file_bytes.hpp"

namespace lnfold::data {

inline constexpr const char* fashion_mnist_default_dir = "/usr/share/datasets/fashion-mnist";
inline constexpr const char* fashion_mnist_package_hint = "install the Debian package dataset-fashion-mnist";

struct image_dataset {
    std::size_t count = 0, height = 0, width = 0;
    std::vector<float> pixels;          // count x height x width, row-major, in [0, 1]
    std::vector<std::int32_t> labels;   // count
    std::span<const float> image(std::size_t i) const { return {pixels.data() + i * height * width, height * width}; }
};

namespace detail {

inline std::uint32_t big_endian_u32(const std::vector<std::uint8_t>& b, std::size_t at) {
    return (std::uint32_t(b[at]) << 24) | (std::uint32_t(b[at + 1]) << 16) | (std::uint32_t(b[at + 2]) << 8) | b[at + 3];
}

// An IDX file: magic 0x00000800 | (type << 8) | dims, big-endian sizes, then unsigned bytes.
inline std::vector<std::uint8_t> read_idx(const std::string& path, std::uint32_t expected_magic,
                                          std::vector<std::size_t>& dims) {
    std::vector<std::uint8_t> bytes = read_file_bytes(path, fashion_mnist_package_hint);
    const std::size_t rank = expected_magic & 0xff;
    const std::size_t header = 4 + 4 * rank;
    if (bytes.size() < header)
        raise<io_error>("lnfold: '" + path + "' is truncated: the IDX header needs " + std::to_string(header) +
                       " bytes, the file has " + std::to_string(bytes.size()));
    const std::uint32_t magic = big_endian_u32(bytes, 0);
    if (magic != expected_magic)
        raise<io_error>("lnfold: '" + path + "' has IDX magic number " + std::to_string(magic) + ", expected " +
                       std::to_string(expected_magic) + " (" + (rank == 3 ? "images" : "labels") + ")");
    dims.clear();
    // The sizes are the file's: their product (up to 2^96) is checked for overflow before it is compared.
    std::size_t total = 1;
    for (std::size_t d = 0; d < rank; ++d) {
        dims.push_back(big_endian_u32(bytes, 4 + 4 * d));
        if (__builtin_mul_overflow(total, dims.back(), &total) || total > SIZE_MAX - header)
            raise<io_error>("lnfold: '" + path + "' has IDX sizes whose product overflows size_t (the file has " +
                           std::to_string(bytes.size()) + " bytes)");
    }
    if (bytes.size() != header + total)
        raise<io_error>("lnfold: '" + path + "' is truncated or has trailing bytes: expected " +
                       std::to_string(header + total) + " bytes, got " + std::to_string(bytes.size()));
    return std::vector<std::uint8_t>(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
}

}  // namespace detail

// Reads an IDX image file and its label file (gzip or plain). At most `limit` samples when limit > 0.
inline image_dataset load_idx_images(const std::string& images_path, const std::string& labels_path,
                                     std::size_t limit = 0) {
    std::vector<std::size_t> image_dims, label_dims;
    const auto images = detail::read_idx(images_path, 0x00000803, image_dims);
    const auto labels = detail::read_idx(labels_path, 0x00000801, label_dims);
    if (image_dims[0] != label_dims[0])
        raise<io_error>("lnfold: '" + images_path + "' has " + std::to_string(image_dims[0]) + " images but '" +
                       labels_path + "' has " + std::to_string(label_dims[0]) + " labels");
    image_dataset out;
    out.count = limit > 0 ? std::min(limit, image_dims[0]) : image_dims[0];
    out.height = image_dims[1];
    out.width = image_dims[2];
    const std::size_t pixels = out.height * out.width;
    out.pixels.resize(out.count * pixels);
    for (std::size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = static_cast<float>(images[i]) / 255.0f;
    out.labels.assign(labels.begin(), labels.begin() + static_cast<std::ptrdiff_t>(out.count));
    return out;
}

// split: "train" (60000 samples) or "test" (10000).
inline image_dataset load_fashion_mnist(const std::string& split, std::size_t limit = 0,
                                        const std::string& dir = fashion_mnist_default_dir) {
    if (split != "train" && split != "test")
        raise<config_error>("lnfold: load_fashion_mnist: split must be \"train\" or \"test\", got \"" + split + "\"");
    const std::string prefix = dir + "/" + (split == "train" ? "train" : "t10k");
    return load_idx_images(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz", limit);
}

}  // namespace lnfold::data
