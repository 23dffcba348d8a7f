#pragma once
// GELUTanh (GPT-2's "gelu_new", torch approximate="tanh"): y = x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#include <cmath>
#include <string>

#include "lnfold/layers/elementwise.hpp"

namespace lnfold {

struct GELUTanh : detail::elementwise<GELUTanh> {
    static constexpr layer_kind kind = layer_kind::gelu_tanh;
    static std::string type_name() { return "GELUTanh"; }
    template <class T>
    static T apply(T x) {
        const T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
        return T(0.5) * x * (T(1) + std::tanh(inner));
    }
};

}  // namespace lnfold
