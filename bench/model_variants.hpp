#pragma once
// Whole-model variants for bench_models : one network type, and
//   without_norms_t<Net>    every LayerNorm removed: the "no norm" ceiling;
//   with_scalar_ln_t<Net>   every LayerNorm replaced by ScalarLayerNorm: the plain loops lnfold's LayerNorm layer
//                           had before the SIMD kernels (two-pass, one row at a time, no fused add), the baseline
//                           the kernels are measured against.
// The library's own variants need no transform: Model<Net> (kernels, fused add + norm on or off through
// Model::set_fused_add_norm) and fold(model) (folded_t<Net>: LN -> RMSNorm with bias).
#include <cmath>
#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>

#include <lnfold/lnfold.hpp>

namespace lnfold_bench {

using namespace lnfold;

// LayerNorm<Dim>'s parameters, paths and role with the pre-kernel forward: scalar loops per row (rows split
// over threads as before), mean, centred squares, output.
template <std::size_t Dim>
struct ScalarLayerNorm : LayerNorm<Dim> {
    static constexpr bool fuses_residual_add = false;
    static std::string type_name() { return "ScalarLayerNorm<" + std::to_string(Dim) + ">"; }

    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        const T eps = static_cast<T>(c.settings.eps);
        const T* gamma = c.params;
        const T* beta = c.params + param_offset<LayerNorm<Dim>>(1);
        parallel_for_rows(rows, Dim, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                const T* x = c.x + r * Dim;
                T* y = c.y + r * Dim;
                T sum = 0;
                for (std::size_t i = 0; i < Dim; ++i) sum += x[i];
                const T mean = sum / T(Dim);
                T squares = 0;
                for (std::size_t i = 0; i < Dim; ++i) squares += (x[i] - mean) * (x[i] - mean);
                const T rstd = T(1) / std::sqrt(squares / T(Dim) + eps);
                for (std::size_t i = 0; i < Dim; ++i) y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
                c.scratch[r] = mean;
                c.scratch[rows + r] = rstd;
            }
        });
    }
};

namespace detail {

template <class L>
struct is_layer_norm_leaf : std::false_type {};
template <std::size_t D>
struct is_layer_norm_leaf<LayerNorm<D>> : std::true_type {};
template <fixed_string Name, std::size_t D>
struct is_layer_norm_leaf<Named<Name, LayerNorm<D>>> : std::true_type {};

// One type in, one type out; Seq drops its LayerNorm children.
template <class L>
struct without_norms {
    using type = L;
};
template <class L>
using without_norms_of = typename without_norms<L>::type;

template <class L>
using kept_t = std::conditional_t<is_layer_norm_leaf<L>::value, std::tuple<>, std::tuple<without_norms_of<L>>>;

template <class Tuple>
struct seq_of;
template <class... L>
struct seq_of<std::tuple<L...>> {
    using type = Seq<L...>;
};

template <class... L>
struct without_norms<Seq<L...>> {
    using type = typename seq_of<decltype(std::tuple_cat(std::declval<kept_t<L>>()...))>::type;
};
template <class B>
struct without_norms<Residual<B>> {
    using type = Residual<without_norms_of<B>>;
};
template <std::size_t N, class B>
struct without_norms<Repeat<N, B>> {
    using type = Repeat<N, without_norms_of<B>>;
};
template <fixed_string Name, class L>
struct without_norms<Named<Name, L>> {
    using type = Named<Name, without_norms_of<L>>;
};

struct scalar_ln_policy {
    template <class L, std::size_t Node>
    static auto pick() {
        if constexpr (lnfold::detail::is_layer_norm<L>::value) return std::type_identity<ScalarLayerNorm<L::in_width>>{};
        else return std::type_identity<L>{};
    }
    template <class L, std::size_t Node>
    using leaf = typename decltype(pick<L, Node>())::type;
};

}  // namespace detail

template <class Net>
using without_norms_t = detail::without_norms_of<Net>;
template <class Net>
using with_scalar_ln_t = typename lnfold::detail::transform_node<Net, 0, detail::scalar_ln_policy>::type;

// A GPT-2-style Pre-LN decoder: token and position embeddings, Layers blocks, final LayerNorm, head.
template <std::size_t D, std::size_t Heads, std::size_t Layers, std::size_t Vocab, std::size_t Context>
using Gpt = Seq<Named<"wte", Embedding<Vocab, D>>, Named<"wpe", PositionEmbedding<Context, D>>,
                Named<"h", Repeat<Layers, Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>,
                                                            Named<"attn", SelfAttention<D, Heads, true>>>>,
                                               Residual<Seq<Named<"ln_2", LayerNorm<D>>, Named<"c_fc", Linear<D, 4 * D>>,
                                                            Named<"act", GELUTanh>,
                                                            Named<"c_proj", Linear<4 * D, D>>>>>>>,
                Named<"ln_f", LayerNorm<D>>, Named<"lm_head", Linear<D, Vocab, false>>>;

}  // namespace lnfold_bench
