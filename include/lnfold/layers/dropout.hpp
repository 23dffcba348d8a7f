#pragma once
// Dropout<Permille>: identity at inference; in training mode zeroes each element with probability
// Permille/1000 and scales the rest by 1/(1-p). The mask is a pure function of (seed, step, node path,
// element index), so it does not depend on the thread count.
#include <cstddef>
#include <cstring>
#include <string>

#include "lnfold/core/random.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Permille>
struct Dropout : layer_defaults, width_preserving {
    static_assert(Permille < 1000, "lnfold: Dropout<Permille> needs Permille < 1000 (a probability below 1)");
    static constexpr std::string_view kind_name = "Dropout";
    static constexpr decode_support decoding = decode_support::row_wise;
    static constexpr fold_role role = fold_role::preserve;  // at inference; training-mode dropout breaks exactness
    static constexpr double probability = Permille / 1000.0;
    static std::string type_name() { return "Dropout<" + std::to_string(Permille) + ">"; }

    // True when element i of this call is kept.
    static bool keep(std::uint64_t call_seed, std::size_t i) {
        random_stream stream(call_seed ^ (static_cast<std::uint64_t>(i) * 0xD6E8FEB86659FD93ull));
        return stream.uniform() >= probability;
    }

    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t count = c.in.row_count() * c.in_width;
        if (!c.settings.training || Permille == 0) {
            std::memcpy(c.y, c.x, count * sizeof(T));
            return;
        }
        const std::uint64_t call_seed = seed_for(c.settings.seed + c.settings.step * 0x9E3779B97F4A7C15ull, c.path);
        const T scale = T(1) / T(1 - probability);
        for (std::size_t i = 0; i < count; ++i) c.y[i] = keep(call_seed, i) ? c.x[i] * scale : T(0);
    }

    // dx = dy ⊙ (the same mask) / (1 - p) in training, dy at inference
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t count = c.in.row_count() * c.in_width;
        if (!c.settings.training || Permille == 0) {
            std::memcpy(c.dx, c.dy, count * sizeof(T));
            return;
        }
        const std::uint64_t call_seed = seed_for(c.settings.seed + c.settings.step * 0x9E3779B97F4A7C15ull, c.path);
        const T scale = T(1) / T(1 - probability);
        for (std::size_t i = 0; i < count; ++i) c.dx[i] = keep(call_seed, i) ? c.dy[i] * scale : T(0);
    }
};

}  // namespace lnfold
