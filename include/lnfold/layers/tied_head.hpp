#pragma once
// TiedHead<Dim, Vocab, "wte", Tie>: an output head that reads the (Vocab, Dim) table of the Embedding named "wte"
// (GPT-2's lm_head tied to wte): logits = h Eᵀ, no parameters of its own.
// The fold analysis sees the head as a consumer of the table: centring the table would change the logits.
// Tie says what fold() does about it (tie_fold::untie by default: the folded head gets its own copy of the
// uncentred table; tie_fold::correct keeps one table and adds a rank-1 correction; tie_fold::keep locks the table).
#include <array>
#include <cstddef>
#include <string>

#include "lnfold/core/fixed_string.hpp"
#include "lnfold/core/matrix.hpp"
#include "lnfold/kernels/gemm.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Dim, std::size_t Vocab, fixed_string Table, tie_fold Tie = tie_fold::untie>
struct TiedHead : layer_defaults {
    static_assert(Dim > 0 && Vocab > 0, "lnfold: TiedHead<Dim, Vocab, table> needs Dim > 0 and Vocab > 0");
    static constexpr std::string_view kind_name = "TiedHead";
    static constexpr decode_support decoding = decode_support::row_wise;
    static constexpr fold_role role = fold_role::breaker;  // its weights are another layer's table
    static constexpr std::size_t in_width = Dim;
    static constexpr std::size_t resolve_out(std::size_t) { return Vocab; }
    static constexpr std::string_view tied_table = Table.view();
    static constexpr tie_fold tie = Tie;
    static std::string type_name() {
        return "TiedHead<" + std::to_string(Dim) + ", " + std::to_string(Vocab) + ", \"" + std::string(Table.view()) + "\">";
    }

    // Y (rows x Vocab) = X (rows x Dim) Eᵀ, E = the tied (Vocab x Dim) table (kernels::matmul_nt: the same bits
    // for every thread count).
    template <class T>
    static void forward(const layer_call<T>& c) {
        kernels::matmul_nt(c.in.row_count(), Vocab, Dim, c.x, Dim, c.tied, Dim, c.y, Vocab);
    }

    // dX = dY E;  dE (the table's gradient) += dYᵀ X
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        if (c.dx) kernels::matmul_nn(rows, Dim, Vocab, c.dy, Vocab, c.tied, Dim, c.dx, Dim);
        kernels::matmul_tn_add(Vocab, Dim, rows, c.dy, Vocab, c.x, Dim, c.dtied, Dim);
    }
};

// What fold() makes of TiedHead<..., tie_fold::correct>: the tie stays, the table is centred (E' = E - m 1ᵀ with
// m_v = mean of row v), and the head restores the logits exactly: h·e_v = h·e'_v + (Σ_i h_i) m_v.
// Its one parameter, "table_mean" (Vocab), holds m.
template <std::size_t Dim, std::size_t Vocab, fixed_string Table>
struct TiedHeadCorrected : TiedHead<Dim, Vocab, Table, tie_fold::correct> {
    static constexpr std::array params{param_spec{"table_mean", {Vocab}, 1, init_kind::zeros}};
    static std::string type_name() {
        return "TiedHeadCorrected<" + std::to_string(Dim) + ", " + std::to_string(Vocab) + ", \"" +
               std::string(Table.view()) + "\">";
    }

    template <class T>
    static void forward(const layer_call<T>& c) {
        TiedHead<Dim, Vocab, Table, tie_fold::correct>::forward(c);
        const std::size_t rows = c.in.row_count();
        for (std::size_t r = 0; r < rows; ++r) {
            T sum = 0;
            for (std::size_t i = 0; i < Dim; ++i) sum += c.x[r * Dim + i];
            for (std::size_t v = 0; v < Vocab; ++v) c.y[r * Vocab + v] += sum * c.params[v];
        }
    }

    // On top of TiedHead's: dx_i += Σ_v dy_v m_v;  dm_v += Σ_rows dy_v (Σ_i x_i)
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        TiedHead<Dim, Vocab, Table, tie_fold::correct>::backward(c);
        for (std::size_t r = 0; r < c.in.row_count(); ++r) {
            T sum = 0, dot = 0;
            for (std::size_t i = 0; i < Dim; ++i) sum += c.x[r * Dim + i];
            for (std::size_t v = 0; v < Vocab; ++v) {
                dot += c.dy[r * Vocab + v] * c.params[v];
                c.dparams[v] += c.dy[r * Vocab + v] * sum;
            }
            if (c.dx)
                for (std::size_t i = 0; i < Dim; ++i) c.dx[r * Dim + i] += dot;
        }
    }
};

}  // namespace lnfold
