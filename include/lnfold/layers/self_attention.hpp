#pragma once
// SelfAttention<Dim, Heads, Causal>: multi-head self-attention over the tokens of each sample.
//   qkv = x Wqkv^T + bqkv                    (rows x 3*Dim; q | k | v, head h at columns h*hd .. h*hd+hd)
//   P_bh = softmax(Q_bh K_bh^T / sqrt(hd))   (tokens x tokens, causal: entries j > i are 0)
//   ctx_bh = P_bh V_bh                       (tokens x hd, written at columns h*hd of ctx)
//   y = ctx Wproj^T + bproj                  (rows x Dim)
// Parameters: qkv.weight (3*Dim, Dim), qkv.bias (3*Dim), proj.weight (Dim, Dim), proj.bias (Dim).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>

#include "lnfold/core/checked_size.hpp"
#include "lnfold/core/matrix.hpp"
#include "lnfold/core/parallel.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Dim, std::size_t Heads, bool Causal = false>
struct SelfAttention : layer_defaults {
    static_assert(Dim > 0 && Heads > 0, "lnfold: SelfAttention<Dim, Heads> needs Dim > 0 and Heads > 0");
    static_assert(Dim % Heads == 0, "lnfold: SelfAttention<Dim, Heads>: Heads must divide Dim");
    static constexpr layer_kind kind = layer_kind::self_attention;
    static constexpr fold_role role = fold_role::source;  // centrable through its output projection
    static constexpr std::size_t in_width = Dim;
    static constexpr std::size_t resolve_out(std::size_t) { return Dim; }
    static constexpr std::size_t heads = Heads, head_dim = Dim / Heads;
    static constexpr bool causal = Causal;

    static constexpr std::array params{
        param_spec{"qkv.weight", {3 * Dim, Dim}, 2, init_kind::fan_in_weight, Dim},
        param_spec{"qkv.bias", {3 * Dim}, 1, init_kind::fan_in_bias, Dim},
        param_spec{"proj.weight", {Dim, Dim}, 2, init_kind::fan_in_weight, Dim},
        param_spec{"proj.bias", {Dim}, 1, init_kind::fan_in_bias, Dim}};
    static std::string type_name() {
        return "SelfAttention<" + std::to_string(Dim) + ", " + std::to_string(Heads) + (Causal ? ", causal>" : ">");
    }

    // Scratch (kept for backward): qkv (rows x 3Dim) | ctx (rows x Dim) | P (batch x Heads x tokens x tokens).
    static std::size_t scratch_size(const Layout& in, std::size_t, std::string_view path) {
        const layer_context<SelfAttention> at{path, "the saved projections and attention scores"};
        const std::size_t projections = checked_mul(in.row_count(), "rows", 4 * Dim, "values", at);
        const std::size_t per_head = checked_mul(in.tokens, "tokens", in.tokens, "tokens", at);
        const std::size_t scores = checked_mul(in.batch * Heads, "(sample, head) pairs", per_head, "scores", at);
        return checked_add(projections, "values", scores, "scores", at);
    }

    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t rows = c.in.row_count(), tokens = c.in.tokens;
        T* qkv = c.scratch;
        T* ctx = qkv + rows * 3 * Dim;
        T* probs = ctx + rows * Dim;
        const auto w_qkv = map_matrix(c.params, 3 * Dim, Dim);
        const auto b_qkv = map_vector(c.params + param_offset<SelfAttention>(1), 3 * Dim);
        const auto w_proj = map_matrix(c.params + param_offset<SelfAttention>(2), Dim, Dim);
        const auto b_proj = map_vector(c.params + param_offset<SelfAttention>(3), Dim);

        // The projections: one product per fixed block of rows (parallel_for_row_blocks), so the same bits for
        // every thread count; each (sample, head) pair's products have fixed sizes, so pairs split freely.
        parallel_for_row_blocks(rows, 3 * Dim * Dim, [&](std::size_t begin, std::size_t end) {
            auto out = map_matrix(qkv + begin * 3 * Dim, end - begin, 3 * Dim);
            out.noalias() = map_matrix(c.x + begin * Dim, end - begin, Dim) * w_qkv.transpose();
            out.rowwise() += b_qkv;
        });

        const T scale = T(1) / std::sqrt(T(head_dim));
        parallel_for_rows(c.in.batch * Heads, tokens * tokens * head_dim * 2, [&](std::size_t begin, std::size_t end) {
            for (std::size_t pair = begin; pair < end; ++pair) {
                const std::size_t b = pair / Heads, h = pair % Heads;
                const T* base = qkv + b * tokens * 3 * Dim + h * head_dim;
                const auto q = map_strided(base, tokens, head_dim, 3 * Dim);
                const auto k = map_strided(base + Dim, tokens, head_dim, 3 * Dim);
                const auto v = map_strided(base + 2 * Dim, tokens, head_dim, 3 * Dim);
                auto p = map_matrix(probs + pair * tokens * tokens, tokens, tokens);
                p.noalias() = (q * k.transpose()) * scale;
                for (std::size_t i = 0; i < tokens; ++i) softmax_row(&p(Eigen::Index(i), 0), Causal ? i + 1 : tokens, tokens);
                auto out = map_strided(ctx + b * tokens * Dim + h * head_dim, tokens, head_dim, Dim);
                out.noalias() = p * v;
            }
        });

        parallel_for_row_blocks(rows, Dim * Dim, [&](std::size_t begin, std::size_t end) {
            auto y = map_matrix(c.y + begin * Dim, end - begin, Dim);
            y.noalias() = map_matrix(static_cast<const T*>(ctx) + begin * Dim, end - begin, Dim) * w_proj.transpose();
            y.rowwise() += b_proj;
        });
    }

    // Backward, from the saved qkv, ctx and P:
    //   dWproj += dYᵀ ctx;  dbproj += Σ dY;  dctx = dY Wproj
    //   per (b, h): dV = Pᵀ dctx_bh;  dP = dctx_bh Vᵀ;  dS = P ⊙ (dP - rowsum(dP ⊙ P)) / sqrt(hd)
    //               dQ = dS K;  dK = dSᵀ Q          (masked entries have P = 0, so dS = 0 there)
    //   dWqkv += dqkvᵀ x;  dbqkv += Σ dqkv;  dx = dqkv Wqkv
    // Work: dctx (rows x Dim) | dqkv (rows x 3*Dim) | dP (tokens x tokens).
    static std::size_t backward_scratch_size(const Layout& in, std::size_t, std::string_view path) {
        const layer_context<SelfAttention> at{path, "the backward work space"};
        return checked_add(checked_mul(in.row_count(), "rows", 4 * Dim, "values", at), "values",
                           checked_mul(in.tokens, "tokens", in.tokens, "tokens", at), "scores", at);
    }
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t rows = c.in.row_count(), tokens = c.in.tokens;
        const T* qkv = c.scratch;
        const T* ctx = qkv + rows * 3 * Dim;
        const T* probs = ctx + rows * Dim;
        T* dctx = c.work;
        T* dqkv = dctx + rows * Dim;
        T* dp_buffer = dqkv + rows * 3 * Dim;
        const auto dy = map_matrix(c.dy, rows, Dim);

        map_matrix(c.dparams + param_offset<SelfAttention>(2), Dim, Dim).noalias() += dy.transpose() * map_matrix(ctx, rows, Dim);
        map_matrix(c.dparams + param_offset<SelfAttention>(3), 1, Dim) += dy.colwise().sum();
        map_matrix(dctx, rows, Dim).noalias() = dy * map_matrix(c.params + param_offset<SelfAttention>(2), Dim, Dim);

        const T scale = T(1) / std::sqrt(T(head_dim));
        for (std::size_t b = 0; b < c.in.batch; ++b)
            for (std::size_t h = 0; h < Heads; ++h) {
                const std::size_t offset = b * tokens * 3 * Dim + h * head_dim;
                const auto q = map_strided(qkv + offset, tokens, head_dim, 3 * Dim);
                const auto k = map_strided(qkv + offset + Dim, tokens, head_dim, 3 * Dim);
                const auto v = map_strided(qkv + offset + 2 * Dim, tokens, head_dim, 3 * Dim);
                auto dq = map_strided(dqkv + offset, tokens, head_dim, 3 * Dim);
                auto dk = map_strided(dqkv + offset + Dim, tokens, head_dim, 3 * Dim);
                auto dv = map_strided(dqkv + offset + 2 * Dim, tokens, head_dim, 3 * Dim);
                const auto p = map_matrix(probs + (b * Heads + h) * tokens * tokens, tokens, tokens);
                const auto dc = map_strided(static_cast<const T*>(dctx) + b * tokens * Dim + h * head_dim, tokens, head_dim, Dim);
                auto ds = map_matrix(dp_buffer, tokens, tokens);
                dv.noalias() = p.transpose() * dc;
                ds.noalias() = dc * v.transpose();  // dP
                for (std::size_t i = 0; i < tokens; ++i) {
                    const auto row = static_cast<Eigen::Index>(i);
                    const T dot = ds.row(row).dot(p.row(row));
                    ds.row(row) = (p.row(row).array() * (ds.row(row).array() - dot) * scale).matrix();
                }
                dq.noalias() = ds * k;
                dk.noalias() = ds.transpose() * q;
            }

        const auto dqkv_map = map_matrix(static_cast<const T*>(dqkv), rows, 3 * Dim);
        map_matrix(c.dparams, 3 * Dim, Dim).noalias() += dqkv_map.transpose() * map_matrix(c.x, rows, Dim);
        map_matrix(c.dparams + param_offset<SelfAttention>(1), 1, 3 * Dim) += dqkv_map.colwise().sum();
        if (c.dx) map_matrix(c.dx, rows, Dim).noalias() = dqkv_map * map_matrix(c.params, 3 * Dim, Dim);
    }

    // Softmax over the first `valid` entries of a row of `width`; the rest (masked) become 0.
    template <class T>
    static void softmax_row(T* row, std::size_t valid, std::size_t width) {
        T max = -std::numeric_limits<T>::infinity();
        for (std::size_t j = 0; j < valid; ++j) max = std::max(max, row[j]);
        T sum = 0;
        for (std::size_t j = 0; j < valid; ++j) {
            row[j] = std::exp(row[j] - max);
            sum += row[j];
        }
        const T inv = T(1) / sum;
        for (std::size_t j = 0; j < valid; ++j) row[j] *= inv;
        for (std::size_t j = valid; j < width; ++j) row[j] = T(0);
    }
};

}  // namespace lnfold
