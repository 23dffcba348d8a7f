#pragma once
// Wrappers that mark or enforce a zero-mean output over the feature axis. All keep the wrapped layer's
// parameters, paths and node count, so weights move between a network and its transforms by path.
//   Centred<L>:        L whose weights fold() has centred (computes exactly what L computes).
//   CBWC<L>:           column-based weight centring for training (docs/method.md §4): the parameters are the free
//                      V, b; every forward uses W = (I - 11ᵀ/d_out) V and b - mean(b), recomputed on each call.
//   CentredOutput<L>:  y = L(x) - mean(L(x)) per row (a LayerScale right after a CBWC source, whose per-channel
//                      scale would otherwise undo the centring).
#include <algorithm>
#include <cstddef>
#include <string>

#include "lnfold/core/checked_size.hpp"
#include "lnfold/fold/centre.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <class L>
struct Centred : L {
    static_assert(L::centring != output_centring::none, "lnfold: Centred<L> needs a layer whose output can be centred");
    static constexpr bool centred_output = true;
    static std::string type_name() { return "Centred<" + L::type_name() + ">"; }
};

template <class L>
struct CBWC : L {
    static_assert(L::centring != output_centring::none, "lnfold: CBWC<L> needs a layer whose output can be centred");
    static constexpr bool centred_output = true;
    static std::string type_name() { return "CBWC<" + L::type_name() + ">"; }

    // Scratch: the centred copy of the parameter block, then L's own scratch.
    static std::size_t scratch_size(const Layout& in, std::size_t width, std::string_view path) {
        return checked_add(param_block_size<L>(), "centred parameters", L::scratch_size(in, width, path), "values",
                           layer_context<CBWC>{path, "the scratch space"});
    }
    template <class T>
    static void forward(const layer_call<T>& c) {
        T* centred = c.scratch;
        std::copy(c.params, c.params + param_block_size<L>(), centred);
        centre_output<T>(centring_rule_of<L>(), L::params, centred);
        L::forward(layer_call<T>{centred, c.x, c.in, c.in_width, c.y, c.out, c.out_width, c.tokens,
                                 c.scratch + param_block_size<L>(), c.settings, c.path, c.tied});
    }

    // Incremental decoding of a positional L (causal attention, a position table): the centred copy, then L's
    // decode with its own decoding scratch after it, as in forward.
    template <class T>
    static std::size_t decode_scratch_size(const Layout& in, std::size_t width, std::string_view path,
                                           const decode_call<T>& d)
        requires(L::decoding == decode_support::positional)
    {
        return checked_add(param_block_size<L>(), "centred parameters", L::decode_scratch_size(in, width, path, d),
                           "values", layer_context<CBWC>{path, "the decoding scratch space"});
    }
    template <class T>
    static void decode(const layer_call<T>& c)
        requires(L::decoding == decode_support::positional)
    {
        T* centred = c.scratch;
        std::copy(c.params, c.params + param_block_size<L>(), centred);
        centre_output<T>(centring_rule_of<L>(), L::params, centred);
        layer_call<T> call{centred, c.x, c.in, c.in_width, c.y, c.out, c.out_width, c.tokens,
                           c.scratch + param_block_size<L>(), c.settings, c.path, c.tied};
        call.decode = c.decode;
        L::decode(call);
    }

    // W = P V with P the centring projection on the output axis (symmetric), so dL/dV = P dL/dW: L's backward
    // with the centred weights writes dL/dW into a zeroed block of the work space, which is centred and added.
    static std::size_t backward_scratch_size(const Layout& in, std::size_t width, std::string_view path) {
        return checked_add(param_block_size<L>(), "parameter gradients", L::backward_scratch_size(in, width, path), "values",
                           layer_context<CBWC>{path, "the backward work space"});
    }
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        T* dw = c.work;
        std::fill(dw, dw + param_block_size<L>(), T(0));
        L::backward(layer_grad_call<T>{c.scratch, c.x, c.in, c.in_width, c.y, c.out, c.out_width, c.tokens,
                                       c.scratch + param_block_size<L>(), c.settings, c.path, c.dy, c.dx, dw,
                                       c.work + param_block_size<L>(), c.tied, c.dtied});
        centre_output<T>(centring_rule_of<L>(), L::params, dw);
        for (std::size_t i = 0; i < param_block_size<L>(); ++i) c.dparams[i] += dw[i];
    }
};

template <class L>
struct CentredOutput : L {
    static constexpr fold_role role = fold_role::centering;
    static std::string type_name() { return "CentredOutput<" + L::type_name() + ">"; }

    template <class T>
    static void forward(const layer_call<T>& c) {
        L::forward(c);
        const std::size_t rows = c.out.row_count(), width = c.out_width;
        for (std::size_t r = 0; r < rows; ++r) {
            T* y = c.y + r * width;
            long double sum = 0;
            for (std::size_t i = 0; i < width; ++i) sum += y[i];
            const T mean = static_cast<T>(sum / static_cast<long double>(width));
            for (std::size_t i = 0; i < width; ++i) y[i] -= mean;
        }
    }

    // y = P L(x): L's backward receives P dy (P symmetric); the work space holds P dy first.
    static std::size_t backward_scratch_size(const Layout& in, std::size_t width, std::string_view path) {
        const layer_context<CentredOutput> at{path, "the backward work space"};
        const std::size_t rows = L::output_layout(in, path).row_count();
        const std::size_t dy = checked_mul(rows, "rows", L::resolve_out(width), "features", at);
        return checked_add(dy, "values", L::backward_scratch_size(in, width, path), "values", at);
    }
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t rows = c.out.row_count(), width = c.out_width;
        T* dy = c.work;
        for (std::size_t r = 0; r < rows; ++r) {
            long double sum = 0;
            for (std::size_t i = 0; i < width; ++i) sum += c.dy[r * width + i];
            const T mean = static_cast<T>(sum / static_cast<long double>(width));
            for (std::size_t i = 0; i < width; ++i) dy[r * width + i] = c.dy[r * width + i] - mean;
        }
        L::backward(layer_grad_call<T>{c.params, c.x, c.in, c.in_width, c.y, c.out, c.out_width, c.tokens, c.scratch,
                                       c.settings, c.path, dy, c.dx, c.dparams, c.work + rows * width, c.tied, c.dtied});
    }
};

}  // namespace lnfold
