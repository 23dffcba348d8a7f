#pragma once
// ReLU: y = max(x, 0); NaN stays NaN.
#include <string>

#include "lnfold/layers/elementwise.hpp"

namespace lnfold {

struct ReLU : elementwise_layer<ReLU> {
    static constexpr std::string_view kind_name = "ReLU";
    static std::string type_name() { return "ReLU"; }
    template <class T>
    static T apply(T x) { return x < T(0) ? T(0) : x; }
    template <class T>
    static T derivative(T x) { return x > T(0) ? T(1) : T(0); }  // torch's choice at 0: 0
};

}  // namespace lnfold
