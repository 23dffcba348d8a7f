// A program outside lnfold: builds a small network and checks one output against a hand computation.
#include <cmath>
#include <cstdio>
#include <vector>

#include <lnfold/lnfold.hpp>

int main() {
    using Net = lnfold::Seq<lnfold::Linear<3, 2>, lnfold::ReLU>;
    lnfold::Model<Net, double> model(7);
    const std::vector<double> x{0.5, -1.0, 2.0};
    const auto y = model.forward(std::span<const double>(x), lnfold::Layout::rows(1));
    const auto w = model.parameter("0.weight");
    const auto b = model.parameter("0.bias");
    for (std::size_t o = 0; o < 2; ++o) {
        const double expected = std::max(0.0, w[o * 3] * x[0] + w[o * 3 + 1] * x[1] + w[o * 3 + 2] * x[2] + b[o]);
        if (std::abs(y(0, o) - expected) > 1e-12) {
            std::printf("consumer: output %zu is %g, expected %g\n", o, y(0, o), expected);
            return 1;
        }
    }
    std::printf("consumer: ok (%s)\n", lnfold::build_summary().c_str());
    return 0;
}
