#pragma once
// GELU (exact, erf form, torch's default): y = x/2 * (1 + erf(x / sqrt(2))).
#include <cmath>
#include <string>

#include "lnfold/layers/elementwise.hpp"

namespace lnfold {

struct GELU : elementwise_layer<GELU> {
    static constexpr std::string_view kind_name = "GELU";
    static std::string type_name() { return "GELU"; }
    template <class T>
    static T apply(T x) { return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440))); }
    // d/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    template <class T>
    static T derivative(T x) {
        return T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440))) +
               x * std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);
    }
};

}  // namespace lnfold
