#pragma once
// The PyTorch parity fixtures of tests/models/fixtures (scripts/make_parity_fixtures.py, torch 1.13): the specs of
// their sizes, their input batches and torch's outputs, and the comparisons the tests make.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <lnfold/lnfold.hpp>
#include <lnfold/io/weights.hpp>
#include <lnfold/models/gpt2.hpp>
#include <lnfold/models/vit.hpp>

#include "io_error_message.hpp"

namespace lnfold_test {

using namespace lnfold;

// The sizes written by scripts/make_parity_fixtures.py (GPT2 and VIT there).
template <tie_fold Tie = tie_fold::untie>
using Gpt2Fixture = models::Gpt2</*Layers=*/2, /*Dim=*/24, /*Heads=*/4, /*Vocab=*/61, /*Context=*/16, Tie>;
using VitFixture = models::Vit</*Layers=*/2, /*Dim=*/24, /*Heads=*/4, /*Image=*/16, /*Patch=*/4, /*Classes=*/10,
                               /*Mlp=*/40, /*Channels=*/3>;

// (appended, not "a" + b: g++ 12 -O2 warns falsely about string concatenation, -Warray-bounds)
inline std::string parity_fixture(std::string_view name) {
    std::string path(LNFOLD_PARITY_FIXTURES);
    path += '/';
    path += name;
    return path;
}

// torch's batch and outputs for one model.
struct torch_reference {
    std::vector<std::int32_t> ids;   // GPT-2: input_ids (I64 in the file)
    std::vector<float> pixels;       // ViT: pixel_values converted from NCHW to lnfold's NHWC
    Layout layout;
    std::vector<double> logits;
    std::vector<double> hidden;      // last_hidden_state: the output of the final norm, every token
    std::vector<std::int32_t> targets;  // GPT-2: the next-token targets of every position; ViT: the labels
    double loss = 0;                    // mean cross-entropy of the logits against the targets
    std::vector<double> pixels_grad;    // ViT: dloss/dpixels, converted to NHWC
};

// An I64 tensor (little-endian) as int32 values.
inline std::vector<std::int32_t> read_int64(const io::safetensors_file& file, const std::string& name) {
    const io::tensor_info& t = file.at(name);
    const auto bytes = file.bytes_of(t);
    std::vector<std::int32_t> out;
    for (std::size_t i = 0; i < t.numel(); ++i) {
        std::uint64_t v = 0;
        for (int b = 7; b >= 0; --b) v = (v << 8) | bytes[8 * i + static_cast<std::size_t>(b)];
        out.push_back(static_cast<std::int32_t>(static_cast<std::int64_t>(v)));
    }
    return out;
}

// NCHW (batch, channels, height, width) to lnfold's NHWC.
template <class T>
std::vector<T> nhwc(const std::vector<T>& nchw, std::size_t batch, std::size_t channels, std::size_t height, std::size_t width) {
    std::vector<T> out(nchw.size());
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t c = 0; c < channels; ++c)
            for (std::size_t y = 0; y < height; ++y)
                for (std::size_t x = 0; x < width; ++x)
                    out[((b * height + y) * width + x) * channels + c] = nchw[((b * channels + c) * height + y) * width + x];
    return out;
}

inline torch_reference gpt2_reference() {
    const io::safetensors_file file = io::safetensors_file::open(parity_fixture("gpt2_io.safetensors"));
    const io::tensor_info& ids = file.at("input_ids");  // I64 (batch, tokens)
    torch_reference r;
    r.layout = Layout::sequence(ids.shape[0], ids.shape[1]);
    r.ids = read_int64(file, "input_ids");
    r.logits = file.read<double>("logits");
    r.hidden = file.read<double>("last_hidden_state");
    r.targets = read_int64(file, "targets");
    r.loss = file.read<double>("loss").at(0);
    return r;
}

inline torch_reference vit_reference() {
    const io::safetensors_file file = io::safetensors_file::open(parity_fixture("vit_io.safetensors"));
    const io::tensor_info& p = file.at("pixel_values");  // (batch, channels, height, width)
    const std::size_t batch = p.shape[0], channels = p.shape[1], height = p.shape[2], width = p.shape[3];
    torch_reference r;
    r.layout = Layout::image(batch, height, width);
    r.pixels = nhwc(file.read<float>("pixel_values"), batch, channels, height, width);
    r.logits = file.read<double>("logits");
    r.hidden = file.read<double>("last_hidden_state");
    r.targets = read_int64(file, "labels");
    r.loss = file.read<double>("loss").at(0);
    r.pixels_grad = nhwc(file.read<double>("pixel_values_grad"), batch, channels, height, width);
    return r;
}

// Runs the model on the reference batch; returns the logits.
template <class Net, class T>
std::vector<double> run(Model<Net, T>& model, const torch_reference& r) {
    tensor_view<T> y;
    if constexpr (Model<Net, T>::reads_tokens) y = model.forward(std::span<const std::int32_t>(r.ids), r.layout);
    else {
        const std::vector<T> pixels(r.pixels.begin(), r.pixels.end());
        y = model.forward(std::span<const T>(pixels), r.layout);
    }
    return std::vector<double>(y.data, y.data + y.size());
}

// The latest forward's output of the node at `path` (a norm: every token's row).
template <class Net, class T>
std::vector<double> node_output(const Model<Net, T>& model, std::string_view path) {
    for (std::size_t n = 0; n < Model<Net, T>::node_count; ++n)
        if (Model<Net, T>::graph.nodes[n].path.view() == path) {
            const auto& a = model.state().results[n];
            return std::vector<double>(a.data, a.data + a.layout.row_count() * a.width);
        }
    return {};
}

// max_i |actual_i - expected_i| / (|expected_i| + rms(expected)), infinite when the sizes differ, NaN when any
// actual value is NaN: relative where values are large, absolute at the tensor's own scale where they are near zero
// (cancellation leaves those with an absolute error). Every element is held to it, not only the largest.
template <class A>
double elementwise_error(std::span<const A> actual, std::span<const double> expected) {
    if (actual.size() != expected.size() || expected.empty()) return INFINITY;
    double squares = 0;
    for (const double e : expected) squares += e * e;
    const double rms = std::sqrt(squares / double(expected.size()));
    double worst = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const double d = std::abs(double(actual[i]) - expected[i]) / (std::abs(expected[i]) + rms);
        if (!(d <= worst)) worst = d;  // NaN propagates
    }
    return worst;
}
inline double elementwise_error(const std::vector<double>& actual, const std::vector<double>& expected) {
    return elementwise_error(std::span<const double>(actual), std::span<const double>(expected));
}

// Largest |row mean| / max |value| over the rows that the LayerNorms (or, folded, RMSNorms) of the latest forward read.
template <class Net, class T>
double norm_input_mean(const Model<Net, T>& model) {
    double worst = 0;
    for (std::size_t n = 0; n < Model<Net, T>::node_count; ++n) {
        if (!Model<Net, T>::graph.nodes[n].has_eps) continue;  // not a norm
        const auto& in = model.state().inputs[n];
        double scale = 0;
        for (std::size_t i = 0; i < in.layout.row_count() * in.width; ++i) scale = std::max(scale, std::abs(double(in.data[i])));
        for (std::size_t r = 0; r < in.layout.row_count(); ++r) {
            double sum = 0;
            for (std::size_t i = 0; i < in.width; ++i) sum += in.data[r * in.width + i];
            worst = std::max(worst, std::abs(sum / double(in.width)) / scale);
        }
    }
    return worst;
}

// A copy of a file's tensors (raw bytes, so any dtype) into a writer, through edit(name, shape) -> keep?
// The test then adds tensors of its own and builds the edited file.
template <class Edit>
io::safetensors_writer edited(const io::safetensors_file& file, Edit edit) {
    io::safetensors_writer w;
    for (const auto& t : file.tensors()) {
        std::string name = t.name;
        std::vector<std::size_t> shape = t.shape;
        if (edit(name, shape)) w.add_raw(name, t.type, shape, file.bytes_of(t));
    }
    return w;
}

// The parity bounds on elementwise_error against torch's float64. Double: float64 rounding only (measured worst
// 2.4e-15 on logits, 1.3e-14 on gradients), held to 1e-12 forward and 1e-10 (the bound) backward.
// Float: the forward's worst measured error over the GPT-2, ViT and MLP fixtures, plain and folded, is 9.1e-7
// (folded GPT-2 logits); the bound is 4e-6. A backward runs through the same layers again and multiplies by the
// forward's rounded activations, so its error is held to 4x the forward bound, 1.6e-5 (measured worst 2.8e-6: the
// ViT's CBWC twin).
constexpr double float_forward_bound = 4e-6;
constexpr double float_gradient_bound = 4 * float_forward_bound;
template <class T>
constexpr double parity_tolerance = sizeof(T) == 4 ? float_forward_bound : 1e-12;
template <class T>
constexpr double gradient_bound = sizeof(T) == 4 ? float_gradient_bound : 1e-10;

}  // namespace lnfold_test
