#pragma once
// GELUTanh (GPT-2's "gelu_new", torch approximate="tanh"): y = x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#include <cmath>
#include <string>

#include "lnfold/layers/elementwise.hpp"

namespace lnfold {

struct GELUTanh : elementwise_layer<GELUTanh> {
    static constexpr std::string_view kind_name = "GELUTanh";
    static std::string type_name() { return "GELUTanh"; }
    template <class T>
    static T apply(T x) {
        const T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
        return T(0.5) * x * (T(1) + std::tanh(inner));
    }
    // d/dx = (1 + t) / 2 + x / 2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(inner)
    template <class T>
    static T derivative(T x) {
        const T t = std::tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x));
        return T(0.5) * (T(1) + t) +
               T(0.5) * x * (T(1) - t * t) * T(0.79788456080286535588) * (T(1) + T(3 * 0.044715) * x * x);
    }
};

}  // namespace lnfold
