#pragma once
// SelfAttention<Dim, Heads, Causal>: multi-head self-attention over the tokens of each sample.
//   qkv = x Wqkv^T + bqkv                    (rows x 3*Dim; q | k | v, head h at columns h*hd .. h*hd+hd)
//   P_bh = softmax(Q_bh K_bh^T / sqrt(hd))   (tokens x tokens, causal: entries j > i are 0)
//   ctx_bh = P_bh V_bh                       (tokens x hd, written at columns h*hd of ctx)
//   y = ctx Wproj^T + bproj                  (rows x Dim)
// Parameters: qkv.weight (3*Dim, Dim), qkv.bias (3*Dim), proj.weight (Dim, Dim), proj.bias (Dim).
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

#include "lnfold/core/checked_size.hpp"
#include "lnfold/core/matrix.hpp"
#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/attention.hpp"
#include "lnfold/kernels/gemm.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Dim, std::size_t Heads, bool Causal = false>
struct SelfAttention : layer_defaults {
    static_assert(Dim > 0 && Heads > 0, "lnfold: SelfAttention<Dim, Heads> needs Dim > 0 and Heads > 0");
    static_assert(Dim % Heads == 0, "lnfold: SelfAttention<Dim, Heads>: Heads must divide Dim");
    static constexpr std::string_view kind_name = "SelfAttention";
    static constexpr output_centring centring = output_centring::weight_columns;
    static constexpr std::size_t centred_tensor = 2;  // the output projection proj.weight, then proj.bias
    static constexpr bool caches_keys_values = Causal;
    static constexpr fold_role role = fold_role::source;  // centrable through its output projection
    static constexpr std::size_t in_width = Dim;
    static constexpr std::size_t resolve_out(std::size_t) { return Dim; }
    static constexpr std::size_t heads = Heads, head_dim = Dim / Heads;
    static constexpr bool causal = Causal;
    // Causal attention decodes incrementally with a key/value cache (decode); full attention needs every token.
    static constexpr decode_support decoding = Causal ? decode_support::positional : decode_support::none;

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

    // Query rows per score block (kernels/attention.hpp): 64 with a causal mask, else every token.
    static constexpr std::size_t query_block(std::size_t tokens) { return kernels::attention_query_block(tokens, Causal); }

    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t rows = c.in.row_count(), tokens = c.in.tokens;
        T* qkv = c.scratch;
        T* ctx = qkv + rows * 3 * Dim;
        T* probs = ctx + rows * Dim;
        const T* b_qkv = c.params + param_offset<SelfAttention>(1);
        const T* w_proj = c.params + param_offset<SelfAttention>(2);
        const T* b_proj = c.params + param_offset<SelfAttention>(3);

        kernels::matmul_nt(rows, 3 * Dim, Dim, c.x, Dim, c.params, Dim, qkv, 3 * Dim, b_qkv);

        // Per (sample, head) pair: P = softmax(Q Kᵀ / sqrt(hd)), ctx = P V (kernels::attention_head_unchecked).
        // The products have sizes fixed by `tokens`, so pairs split freely over threads.
        [[maybe_unused]] const kernels::blas_single_thread hold;  // the products below run inside lnfold's threads
        parallel_for_rows(c.in.batch * Heads, tokens * tokens * head_dim * 2, [&](std::size_t begin, std::size_t end) {
            for (std::size_t pair = begin; pair < end; ++pair) {
                const std::size_t b = pair / Heads, h = pair % Heads;
                const T* q = qkv + b * tokens * 3 * Dim + h * head_dim;
                const T* k = q + Dim;
                const T* v = q + 2 * Dim;
                kernels::attention_head_unchecked(tokens, head_dim, Causal, q, 3 * Dim, k, 3 * Dim, v, 3 * Dim,
                                                  probs + pair * tokens * tokens, ctx + b * tokens * Dim + h * head_dim,
                                                  Dim);
            }
        });

        kernels::matmul_nt(rows, Dim, Dim, static_cast<const T*>(ctx), Dim, w_proj, Dim, c.y, Dim, b_proj);
    }

    // Incremental decoding (causal only). The cache of this layer holds, per slot, the keys and values of every
    // position decoded so far: keys[slot][position] (Dim values, head h at columns h*hd), values likewise. A call
    // appends its rows' keys and values, then each new row attends to its sequence's cached positions up to its own:
    //   qkv = x Wqkv^T + bqkv;  K[slot][past + r] = k_r,  V[slot][past + r] = v_r       (each segment's rows r)
    //   per (segment, head) and block of query rows [i0, i1): S = Q K[0, past + i1)^T, row i masked beyond past + i,
    //   P = softmax(S / sqrt(hd)),  ctx = P V[0, past + i1)
    //   y = ctx Wproj^T + bproj
    // The same operations as forward over the whole sequence, so the logits agree up to rounding.
    // Scratch: qkv (rows x 3Dim) | ctx (rows x Dim) | scores (per (segment, head): a block of query rows x capacity).
    template <class T>
    static std::size_t decode_scratch_size(const Layout& in, std::size_t, std::string_view path, const decode_call<T>& d) {
        const layer_context<SelfAttention> at{path, "the decoding scratch space"};
        const std::size_t projections = checked_mul(in.row_count(), "rows", 4 * Dim, "values", at);
        const std::size_t per_pair = checked_mul(query_block_rows(d.longest_rows), "query rows", d.capacity, "positions", at);
        const std::size_t scores = checked_mul(d.segment_count * Heads, "(sequence, head) pairs", per_pair, "scores", at);
        return checked_add(projections, "values", scores, "scores", at);
    }
    static constexpr std::size_t query_block_rows(std::size_t rows) { return std::min<std::size_t>(rows, 64); }

    template <class T>
    static void decode(const layer_call<T>& c) {
        static_assert(Causal, "lnfold: only causal SelfAttention decodes incrementally");
        const decode_call<T>& d = *c.decode;
        const std::size_t rows = c.in.row_count(), block = query_block_rows(d.longest_rows);
        T* qkv = c.scratch;
        T* ctx = qkv + rows * 3 * Dim;
        T* scores = ctx + rows * Dim;
        const T* b_qkv = c.params + param_offset<SelfAttention>(1);
        const T* w_proj = c.params + param_offset<SelfAttention>(2);
        const T* b_proj = c.params + param_offset<SelfAttention>(3);

        kernels::matmul_nt(rows, 3 * Dim, Dim, c.x, Dim, c.params, Dim, qkv, 3 * Dim, b_qkv);
        for (std::size_t s = 0; s < d.segment_count; ++s) {
            const decode_segment& seg = d.segments[s];
            for (std::size_t r = 0; r < seg.rows; ++r) {
                const T* row = qkv + (seg.first_row + r) * 3 * Dim;
                const std::size_t at = (seg.slot * d.capacity + seg.past + r) * Dim;
                std::copy(row + Dim, row + 2 * Dim, d.keys + at);
                std::copy(row + 2 * Dim, row + 3 * Dim, d.values + at);
            }
        }

        [[maybe_unused]] const kernels::blas_single_thread hold;  // the products below run inside lnfold's threads
        parallel_for_rows(d.segment_count * Heads, block * d.capacity * head_dim * 2, [&](std::size_t begin, std::size_t end) {
            for (std::size_t pair = begin; pair < end; ++pair) {
                const decode_segment& seg = d.segments[pair / Heads];
                const std::size_t h = pair % Heads;
                const T* q = qkv + seg.first_row * 3 * Dim + h * head_dim;
                const T* k = d.keys + seg.slot * d.capacity * Dim + h * head_dim;
                const T* v = d.values + seg.slot * d.capacity * Dim + h * head_dim;
                T* p = scores + pair * block * d.capacity;
                T* out = ctx + seg.first_row * Dim + h * head_dim;
                for (std::size_t i0 = 0; i0 < seg.rows; i0 += block) {
                    const std::size_t i1 = std::min(seg.rows, i0 + block), keys = seg.past + i1;
                    kernels::attention_rows_unchecked(i1 - i0, keys, seg.past + i0 + 1, keys, head_dim, true,
                                                      q + i0 * 3 * Dim, 3 * Dim, k, Dim, v, Dim, p, d.capacity,
                                                      out + i0 * Dim, Dim);
                }
            }
        });

        kernels::matmul_nt(rows, Dim, Dim, static_cast<const T*>(ctx), Dim, w_proj, Dim, c.y, Dim, b_proj);
    }

    // Backward, from the saved qkv, ctx and P:
    //   dWproj += dYᵀ ctx;  dbproj += Σ dY;  dctx = dY Wproj
    //   per (b, h): dQ, dK, dV from P and dctx (kernels::attention_head_backward_unchecked)
    //   dWqkv += dqkvᵀ x;  dbqkv += Σ dqkv;  dx = dqkv Wqkv
    // Work: dctx (rows x Dim) | dqkv (rows x 3*Dim) | dP (query_block rows x tokens per (sample, head) pair, so that
    // pairs run on threads independently).
    static std::size_t backward_scratch_size(const Layout& in, std::size_t, std::string_view path) {
        const layer_context<SelfAttention> at{path, "the backward work space"};
        const std::size_t block_rows = query_block(in.tokens);
        const std::size_t per_pair = checked_mul(block_rows, "query rows", in.tokens, "tokens", at);
        return checked_add(checked_mul(in.row_count(), "rows", 4 * Dim, "values", at), "values",
                           checked_mul(in.batch * Heads, "(sample, head) pairs", per_pair, "scores", at), "scores", at);
    }
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t rows = c.in.row_count(), tokens = c.in.tokens;
        const T* qkv = c.scratch;
        const T* ctx = qkv + rows * 3 * Dim;
        const T* probs = ctx + rows * Dim;
        T* dctx = c.work;
        T* dqkv = dctx + rows * Dim;
        T* dp_buffers = dqkv + rows * 3 * Dim;
        const std::size_t block_rows = query_block(tokens);
        const auto dy = map_matrix(c.dy, rows, Dim);

        kernels::matmul_tn_add(Dim, Dim, rows, c.dy, Dim, ctx, Dim, c.dparams + param_offset<SelfAttention>(2), Dim);
        map_matrix(c.dparams + param_offset<SelfAttention>(3), 1, Dim) += dy.colwise().sum();
        kernels::matmul_nn(rows, Dim, Dim, c.dy, Dim, c.params + param_offset<SelfAttention>(2), Dim, dctx, Dim);

        [[maybe_unused]] const kernels::blas_single_thread hold;  // the products below run inside lnfold's threads
        parallel_for_rows(c.in.batch * Heads, tokens * tokens * head_dim * 4, [&](std::size_t begin, std::size_t end) {
            for (std::size_t pair = begin; pair < end; ++pair) {
                const std::size_t b = pair / Heads, h = pair % Heads;
                const std::size_t offset = b * tokens * 3 * Dim + h * head_dim;
                const T* q = qkv + offset;
                T* dq = dqkv + offset;
                kernels::attention_head_backward_unchecked(tokens, head_dim, Causal, q, 3 * Dim, q + Dim, 3 * Dim,
                                                           q + 2 * Dim, 3 * Dim, probs + pair * tokens * tokens,
                                                           dctx + b * tokens * Dim + h * head_dim, Dim,
                                                           dp_buffers + pair * block_rows * tokens, dq, dq + Dim,
                                                           dq + 2 * Dim);
            }
        });

        kernels::matmul_tn_add(3 * Dim, Dim, rows, static_cast<const T*>(dqkv), 3 * Dim, c.x, Dim, c.dparams, Dim);
        map_matrix(c.dparams + param_offset<SelfAttention>(1), 1, 3 * Dim) += map_matrix(static_cast<const T*>(dqkv), rows, 3 * Dim).colwise().sum();
        if (c.dx) kernels::matmul_nn(rows, Dim, 3 * Dim, static_cast<const T*>(dqkv), 3 * Dim, c.params, Dim, c.dx, Dim);
    }
};

}  // namespace lnfold
