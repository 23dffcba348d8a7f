#pragma once
// SiLU (swish): y = x * sigmoid(x) = x / (1 + exp(-x)).
#include <cmath>
#include <string>

#include "lnfold/layers/elementwise.hpp"

namespace lnfold {

struct SiLU : elementwise_layer<SiLU> {
    static constexpr std::string_view kind_name = "SiLU";
    static std::string type_name() { return "SiLU"; }
    template <class T>
    static T apply(T x) { return x / (T(1) + std::exp(-x)); }
    // d/dx = s (1 + x (1 - s)), s = sigmoid(x)
    template <class T>
    static T derivative(T x) {
        const T s = T(1) / (T(1) + std::exp(-x));
        return s * (T(1) + x * (T(1) - s));
    }
};

}  // namespace lnfold
