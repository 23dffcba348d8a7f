#pragma once
// Scaled dot-product attention of one (sample, head) pair, forward and backward, on the calling thread (the layer
// runs pairs on threads; kernels/gemm.hpp's blas_single_thread keeps each product single-threaded meanwhile).
//
//   Q, K, V: (tokens, hd) at row strides ldq, ldk, ldv (rows of a packed q | k | v projection);
//   P = softmax(Q Kᵀ / sqrt(hd)) row by row   (tokens, tokens; causal: entries j > i are 0)
//   ctx = P V                                  (tokens, hd) at row stride ldc
//
// Causal attention runs in blocks of 64 query rows: block [i0, i1) needs the keys [0, i1) only, so the masked upper
// triangle is skipped but for the diagonal squares (about half the work at long contexts). Without a mask one
// block of every row makes the fewest, largest products. The same block function serves incremental decoding
// (query rows continuing after `past` cached positions), so decoding equals the full forward up to the products'
// rounding.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "lnfold/core/error.hpp"
#include "lnfold/kernels/gemm.hpp"
#include "lnfold/kernels/softmax.hpp"

namespace lnfold::kernels {

// Query rows per block: 64 with a causal mask, else all of them.
constexpr std::size_t attention_query_block(std::size_t tokens, bool causal) {
    return causal ? std::min<std::size_t>(tokens, 64) : tokens;
}

// One block of n query rows against keys [0, keys):
//   S = Q Kᵀ (into the rows of P, stride ldp);  row r: S_r / sqrt(hd), softmax over its valid entries (all keys, or
//   with the causal mask the first first_valid + r), zeros after them up to `width`;  ctx = P V (stride ldc).
template <class T>
void attention_rows_unchecked(std::size_t n, std::size_t keys, std::size_t first_valid, std::size_t width,
                              std::size_t head_dim, bool causal, const T* q, std::size_t ldq, const T* k,
                              std::size_t ldk, const T* v, std::size_t ldv, T* p, std::size_t ldp, T* ctx,
                              std::size_t ldc) {
    const T scale = T(1) / std::sqrt(T(head_dim));
    product_nt(n, keys, head_dim, q, ldq, k, ldk, p, ldp);
    for (std::size_t r = 0; r < n; ++r) {
        T* row = p + r * ldp;
        const std::size_t valid = causal ? first_valid + r : keys;
        for (std::size_t j = 0; j < valid; ++j) row[j] *= scale;
        softmax_row(row, valid, width);
    }
    product_nn(n, head_dim, keys, static_cast<const T*>(p), ldp, v, ldv, ctx, ldc);
}

// Attention of one (sample, head) pair over `tokens` tokens: P (tokens x tokens, kept for backward) and ctx.
template <class T>
void attention_head_unchecked(std::size_t tokens, std::size_t head_dim, bool causal, const T* q, std::size_t ldq,
                              const T* k, std::size_t ldk, const T* v, std::size_t ldv, T* p, T* ctx,
                              std::size_t ldc) {
    const std::size_t block = attention_query_block(tokens, causal);
    for (std::size_t i0 = 0; i0 < tokens; i0 += block) {
        const std::size_t i1 = std::min(tokens, i0 + block), keys = causal ? i1 : tokens;
        attention_rows_unchecked(i1 - i0, keys, i0 + 1, tokens, head_dim, causal, q + i0 * ldq, ldq, k, ldk, v, ldv,
                                 p + i0 * tokens, tokens, ctx + i0 * ldc, ldc);
    }
}

// The same with its arguments checked (config_error): sizes > 0, no null pointer, strides of at least hd.
template <class T>
void attention_head(std::size_t tokens, std::size_t head_dim, bool causal, const T* q, std::size_t ldq, const T* k,
                    std::size_t ldk, const T* v, std::size_t ldv, T* p, T* ctx, std::size_t ldc) {
    const std::string at = "lnfold: kernels::attention_head: ";
    if (tokens == 0 || head_dim == 0)
        raise<config_error>(at + "tokens and head_dim must be > 0, got " + std::to_string(tokens) + " and " +
                            std::to_string(head_dim));
    if (!q || !k || !v || !p || !ctx) raise<config_error>(at + "q, k, v, p and ctx must not be null");
    if (ldq < head_dim || ldk < head_dim || ldv < head_dim || ldc < head_dim)
        raise<config_error>(at + "every row stride must be at least head_dim = " + std::to_string(head_dim));
    attention_head_unchecked(tokens, head_dim, causal, q, ldq, k, ldk, v, ldv, p, ctx, ldc);
}

// Backward of attention_head, from Q, K, V, the saved P and dctx (stride ldc):
//   per block of query rows [i0, i1), keys [0, j1) as in forward:
//       dP = dctx_i Vᵀ;  dS = P ⊙ (dP - rowsum(dP ⊙ P)) / sqrt(hd)   (masked entries have P = 0: dS = 0)
//       dV += Pᵀ dctx_i;  dQ_i = dS K;  dK += dSᵀ Q_i                 (dV, dK summed over the blocks in order)
// dq, dk, dv have the strides of q, k, v (ldq, ldk, ldv); dK and dV are overwritten. ds: attention_query_block
// rows x tokens of work space.
template <class T>
void attention_head_backward_unchecked(std::size_t tokens, std::size_t head_dim, bool causal, const T* q,
                                       std::size_t ldq, const T* k, std::size_t ldk, const T* v, std::size_t ldv,
                                       const T* p, const T* dctx, std::size_t ldc, T* ds, T* dq, T* dk, T* dv) {
    const T scale = T(1) / std::sqrt(T(head_dim));
    const std::size_t block = attention_query_block(tokens, causal);
    for (std::size_t i = 0; i < tokens; ++i) {
        std::fill_n(dk + i * ldk, head_dim, T(0));
        std::fill_n(dv + i * ldv, head_dim, T(0));
    }
    for (std::size_t i0 = 0; i0 < tokens; i0 += block) {
        const std::size_t i1 = std::min(tokens, i0 + block), keys = causal ? i1 : tokens, n = i1 - i0;
        const T* p_block = p + i0 * tokens;
        product_tn_add(keys, head_dim, n, p_block, tokens, dctx + i0 * ldc, ldc, dv, ldv);
        product_nt(n, keys, head_dim, dctx + i0 * ldc, ldc, v, ldv, ds, tokens);  // dP
        for (std::size_t r = 0; r < n; ++r) {
            const T* p_row = p_block + r * tokens;
            T* ds_row = ds + r * tokens;
            T dot = 0;
            for (std::size_t j = 0; j < keys; ++j) dot += ds_row[j] * p_row[j];
            for (std::size_t j = 0; j < keys; ++j) ds_row[j] = p_row[j] * (ds_row[j] - dot) * scale;
        }
        product_nn(n, head_dim, keys, static_cast<const T*>(ds), tokens, k, ldk, dq + i0 * ldq, ldq);
        product_tn_add(keys, head_dim, n, static_cast<const T*>(ds), tokens, q + i0 * ldq, ldq, dk, ldk);
    }
}

}  // namespace lnfold::kernels
