#pragma once
// GroupNorm<Channels, Groups>: PyTorch's nn.GroupNorm(Groups, Channels) on channels-last rows. Each sample's
// values are normalised per group of Channels / Groups consecutive channels, over all its tokens (an image's
// pixels) at once, then scaled and shifted per channel (kernels/group_norm.hpp has the maths).
// Not foldable by column centring, and a breaker for the LayerNorms after it (docs/method.md §3): its statistics
// pool a group's channels over the sample's tokens, so the per-row feature mean that centred weights remove is
// neither what it subtracts nor removed by it; its output mean per row is not controlled.
#include <array>
#include <cstddef>
#include <string>

#include "lnfold/core/checked_size.hpp"
#include "lnfold/kernels/group_norm.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Channels, std::size_t Groups>
struct GroupNorm : layer_defaults {
    static_assert(Channels > 0 && Groups > 0, "lnfold: GroupNorm<Channels, Groups> needs Channels > 0 and Groups > 0");
    static_assert(Channels % Groups == 0, "lnfold: GroupNorm<Channels, Groups>: Groups must divide Channels");
    static constexpr std::string_view kind_name = "GroupNorm";
    static constexpr fold_role role = fold_role::breaker;
    static constexpr bool has_eps = true;  // Model::set_eps / eps reach it; fold and the CBWC export copy it
    // decoding: none (the default): a group's statistics read every token of the sample.
    static constexpr std::size_t in_width = Channels;
    static constexpr std::size_t resolve_out(std::size_t) { return Channels; }
    static constexpr std::array params{param_spec{"weight", {Channels}, 1, init_kind::ones},
                                       param_spec{"bias", {Channels}, 1, init_kind::zeros}};
    static std::string type_name() {
        return "GroupNorm<" + std::to_string(Channels) + ", " + std::to_string(Groups) + ">";
    }

    // Saved for backward: mean (batch x Groups), then rstd (batch x Groups).
    static std::size_t scratch_size(const Layout& in, std::size_t, std::string_view path) {
        const layer_context<GroupNorm> at{path, "the saved means and 1/std"};
        return checked_mul(checked_mul(in.batch, "samples", Groups, "groups", at), "statistics", 2, "kinds", at);
    }

    // x, y: (batch, tokens, Channels).
    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t pairs = c.in.batch * Groups;
        kernels::group_norm_unchecked(c.x, c.in.batch, c.in.tokens, Channels, Groups, c.params,
                                      c.params + param_offset<GroupNorm>(1), static_cast<T>(c.settings.eps), c.y,
                                      c.scratch, c.scratch + pairs);
    }

    // dx = rstd (gy - mean(gy) - xhat mean(gy ⊙ xhat)) per (sample, group), gy = gamma ⊙ dy;
    // dgamma += Σ dy ⊙ xhat;  dbeta += Σ dy.
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t pairs = c.in.batch * Groups;
        kernels::group_norm_backward_unchecked(c.x, c.dy, c.in.batch, c.in.tokens, Channels, Groups, c.params,
                                               c.scratch, c.scratch + pairs, c.dx, c.dparams,
                                               c.dparams + param_offset<GroupNorm>(1));
    }
};

}  // namespace lnfold
