// Conv2d forward against a direct (seven nested loops) long-double convolution written here from
// torch.nn.Conv2d's definition, on NHWC activations with the weight stored (Cout, Cin/Groups, K, K):
//   y[b, oy, ox, co] = bias[co] + Σ_{ci < Cin/G, ky, kx} w[co, ci, ky, kx] · x[b, oy·S + ky - P, ox·S + kx - P, g·Cin/G + ci]
// with g = co / (Cout/G) and x = 0 outside the image. Strides, paddings (including padding wider than the
// kernel), groups, depthwise (with and without a channel multiplier), no bias; float and double; odd channel
// counts (1, 3, 17, 100) and typical ones (64, 768: ViT's patch embedding).
#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "layer_reference.hpp"

using namespace lnfold;
using namespace lnfold_layers_test;

namespace {

struct conv_shape {
    std::size_t cin, cout, kernel, stride, pad, groups;
};

reference conv_reference(const std::vector<real>& x, std::size_t batch, std::size_t h, std::size_t w,
                         const conv_shape& s, const std::vector<real>& weight, const std::vector<real>* bias) {
    const std::size_t ho = (h + 2 * s.pad - s.kernel) / s.stride + 1, wo = (w + 2 * s.pad - s.kernel) / s.stride + 1;
    const std::size_t gin = s.cin / s.groups, gout = s.cout / s.groups;
    reference ref(batch * ho * wo, s.cout);
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t oy = 0; oy < ho; ++oy)
            for (std::size_t ox = 0; ox < wo; ++ox)
                for (std::size_t co = 0; co < s.cout; ++co) {
                    const std::size_t g = co / gout;
                    real sum = bias ? (*bias)[co] : 0, mag = bias ? std::fabs((*bias)[co]) : 0;
                    for (std::size_t ci = 0; ci < gin; ++ci)
                        for (std::size_t ky = 0; ky < s.kernel; ++ky)
                            for (std::size_t kx = 0; kx < s.kernel; ++kx) {
                                const long iy = long(oy * s.stride + ky) - long(s.pad);
                                const long ix = long(ox * s.stride + kx) - long(s.pad);
                                if (iy < 0 || ix < 0 || iy >= long(h) || ix >= long(w)) continue;
                                const real xv = x[((b * h + std::size_t(iy)) * w + std::size_t(ix)) * s.cin + g * gin + ci];
                                const real wv = weight[((co * gin + ci) * s.kernel + ky) * s.kernel + kx];
                                sum += wv * xv;
                                mag += std::fabs(wv * xv);
                            }
                    const std::size_t row = (b * ho + oy) * wo + ox;
                    ref.at(row, co) = sum;
                    ref.scale_at(row, co) = mag;
                }
    return ref;
}

template <std::size_t Cin, std::size_t Cout, std::size_t K, std::size_t S, std::size_t P, std::size_t G, bool Bias, class T>
void check_conv(std::size_t batch, std::size_t h, std::size_t w, std::uint64_t seed) {
    using L = Conv2d<Cin, Cout, K, S, P, G, Bias>;
    Model<L, T> m(seed);
    randomise(m, seed + 1);
    const auto x = random_values<T>(batch * h * w * Cin, seed + 2);
    const auto y = m.forward(std::span<const T>(x), Layout::image(batch, h, w));

    const auto weight = param(m, "weight");
    REQUIRE(weight.size() == Cout * (Cin / G) * K * K);
    std::vector<real> bias;
    if constexpr (Bias) bias = param(m, "bias");
    const conv_shape shape{Cin, Cout, K, S, P, G};
    const reference ref = conv_reference(widen(x), batch, h, w, shape, weight, Bias ? &bias : nullptr);
    const std::size_t ho = (h + 2 * P - K) / S + 1, wo = (w + 2 * P - K) / S + 1;
    CHECK(y.layout == Layout::image(batch, ho, wo));
    check_matches(y, ref, L::type_name() + " on " + std::to_string(batch) + " x " + std::to_string(h) + " x " +
                              std::to_string(w));
}

template <class T>
void conv_suite() {
    //          Cin  Cout K  S  P  G  bias        batch h  w
    check_conv<1, 1, 1, 1, 0, 1, true, T>(1, 1, 1, 40);        // the smallest convolution there is
    check_conv<1, 3, 3, 1, 0, 1, true, T>(2, 3, 3, 41);        // output 1 x 1: the kernel covers the image
    check_conv<3, 17, 3, 1, 0, 1, true, T>(2, 7, 5, 42);       // plain, non-square image
    check_conv<3, 8, 3, 2, 1, 1, true, T>(2, 7, 6, 43);        // stride 2, padding 1
    check_conv<17, 100, 2, 2, 0, 1, false, T>(1, 5, 5, 44);    // no bias; stride leaves the last row/col unread
    check_conv<100, 3, 1, 1, 0, 1, true, T>(2, 4, 3, 45);      // 1x1 convolution (a per-pixel Linear)
    check_conv<3, 5, 2, 1, 2, 1, true, T>(1, 3, 4, 46);        // padding > kernel - 1: border outputs are bias only
    check_conv<3, 4, 3, 3, 2, 1, true, T>(1, 8, 7, 47);        // stride 3 with padding 2
    check_conv<6, 9, 3, 1, 1, 3, true, T>(2, 5, 4, 48);        // 3 groups of 2 -> 3
    check_conv<4, 6, 3, 2, 1, 2, false, T>(1, 6, 7, 49);       // 2 groups, stride 2, no bias
    check_conv<17, 17, 3, 1, 1, 17, true, T>(1, 4, 5, 50);     // depthwise, odd channel count
    check_conv<4, 8, 5, 2, 2, 4, true, T>(2, 9, 7, 51);        // depthwise with channel multiplier 2
    check_conv<64, 64, 3, 1, 1, 64, true, T>(1, 6, 5, 52);     // depthwise, typical (ConvNeXt-like 64 channels)
    check_conv<64, 64, 3, 1, 1, 1, true, T>(1, 3, 3, 53);      // dense 3x3, 64 channels
    check_conv<3, 768, 16, 16, 0, 1, true, T>(1, 32, 32, 54);  // ViT patch embedding: 2 x 2 patches of 16 x 16
}

}  // namespace

TEST_CASE("Conv2d forward matches a direct convolution", "[layers][conv2d]") {
    SECTION("float") { conv_suite<float>(); }
    SECTION("double") { conv_suite<double>(); }
}

TEST_CASE("Conv2d: one model over changing image sizes (buffers resized both ways)", "[layers][conv2d]") {
    using L = Conv2d<6, 9, 3, 2, 1, 3>;
    Model<L, double> m(60);
    randomise(m, 61);
    const auto weight = param(m, "weight");
    const auto bias = param(m, "bias");
    const conv_shape shape{6, 9, 3, 2, 1, 3};
    for (const auto& [batch, h, w] : {std::array<std::size_t, 3>{1, 3, 3}, {2, 9, 8}, {1, 2, 5}, {3, 6, 6}}) {
        const auto x = random_values<double>(batch * h * w * 6, 62 + h);
        const auto y = m.forward(std::span<const double>(x), Layout::image(batch, h, w));
        check_matches(y, conv_reference(widen(x), batch, h, w, shape, weight, &bias),
                      L::type_name() + " on " + std::to_string(batch) + " x " + std::to_string(h) + " x " + std::to_string(w));
    }
}

TEST_CASE("Conv2d: a hand-computed case pins NHWC and the (Cout, Cin/G, K, K) weight layout", "[layers][conv2d]") {
    // One 2 x 2 image with 2 channels, a 2 x 2 kernel, stride 1, no padding: one output pixel, one output channel.
    Model<Conv2d<2, 1, 2>, double> m(0);
    // Powers of ten: each (channel, ky, kx) product lands in its own decimal digit, so any misplaced index shows.
    const std::vector<double> w{1, 10, 100, 1000,             // channel 0: (ky, kx) = (0,0) (0,1) (1,0) (1,1)
                                10000, 100000, 1e6, 1e7};     // channel 1
    std::copy(w.begin(), w.end(), m.parameter("weight").begin());
    m.parameter("bias")[0] = 0.5;
    // NHWC: pixel (y, x) holds (channel 0, channel 1).
    const std::vector<double> x{1, 5,   // (0,0)
                                2, 6,   // (0,1)
                                3, 7,   // (1,0)
                                4, 8};  // (1,1)
    const auto y = m.forward(std::span<const double>(x), Layout::image(1, 2, 2));
    REQUIRE(y.rows() == 1);
    REQUIRE(y.width == 1);
    CHECK(y(0, 0) == 0.5 + 4321.0 + 87650000.0);
}

TEST_CASE("Conv2d: depthwise hand-computed case keeps channels apart", "[layers][conv2d]") {
    // Depthwise 1 x 1 kernels, stride 2, padding 1 on a 3 x 3 image: output (3 + 2 - 1) / 2 + 1 = 3 x 3, output
    // (oy, ox) reads input (2 oy - 1, 2 ox - 1), which is inside the image only for (1, 1): every other output
    // pixel is the bias alone.
    Model<Conv2d<2, 2, 1, 2, 1, 2>, double> m(0);
    m.parameter("weight")[0] = 3;
    m.parameter("weight")[1] = -2;
    m.parameter("bias")[0] = 1;
    m.parameter("bias")[1] = 7;
    std::vector<double> x(9 * 2);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = double(i + 1);
    const auto y = m.forward(std::span<const double>(x), Layout::image(1, 3, 3));
    REQUIRE(y.layout == Layout::image(1, 3, 3));
    // input pixel (1, 1) is pixel 4, its channels hold x[8] = 9 and x[9] = 10
    std::vector<double> expected;
    for (int p = 0; p < 9; ++p) {
        expected.push_back(p == 4 ? 1 + 3 * 9 : 1);
        expected.push_back(p == 4 ? 7 - 2 * 10 : 7);
    }
    CHECK(equals_exactly(y, expected));
}
