#pragma once
// Conv2d<Cin, Cout, Kernel, Stride, Pad, Groups, Bias> over NHWC activations (rows are pixels, width is
// channels). Weight stored (Cout, Cin/Groups, Kernel, Kernel) like torch.nn.Conv2d.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

#include "lnfold/core/checked_size.hpp"
#include "lnfold/core/error.hpp"
#include "lnfold/core/matrix.hpp"
#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/gemm.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Cin, std::size_t Cout, std::size_t Kernel, std::size_t Stride = 1, std::size_t Pad = 0,
          std::size_t Groups = 1, bool Bias = true>
struct Conv2d : layer_defaults {
    static_assert(Cin > 0 && Cout > 0 && Kernel > 0 && Stride > 0 && Groups > 0,
                  "lnfold: Conv2d needs Cin, Cout, Kernel, Stride, Groups > 0");
    static_assert(Cin % Groups == 0 && Cout % Groups == 0,
                  "lnfold: Conv2d<Cin, Cout, ..., Groups>: Groups must divide both Cin and Cout");
    static constexpr std::string_view kind_name = "Conv2d";
    // The fold centres the weight (Cout, ...) and the bias. A grouped convolution mixes channels only within
    // groups: its output cannot be centred (docs/method.md §2).
    static constexpr output_centring centring = Groups == 1 ? output_centring::weight_columns : output_centring::none;
    static constexpr fold_role role = Groups == 1 ? fold_role::source : fold_role::breaker;
    static constexpr std::size_t in_width = Cin;
    static constexpr std::size_t resolve_out(std::size_t) { return Cout; }
    static constexpr bool needs_image = true;
    static constexpr bool has_bias = Bias;
    static constexpr std::size_t groups = Groups;
    static constexpr std::size_t group_in = Cin / Groups, group_out = Cout / Groups;
    static constexpr std::size_t patch = group_in * Kernel * Kernel;  // im2col row length per group

    static constexpr auto params = [] {
        constexpr param_spec weight{"weight", {Cout, group_in, Kernel, Kernel}, 4, init_kind::fan_in_weight, patch};
        if constexpr (Bias)
            return std::array{weight, param_spec{"bias", {Cout}, 1, init_kind::fan_in_bias, patch}};
        else
            return std::array{weight};
    }();
    static std::string type_name() {
        return "Conv2d<" + std::to_string(Cin) + ", " + std::to_string(Cout) + ", k" + std::to_string(Kernel) +
               ", s" + std::to_string(Stride) + ", p" + std::to_string(Pad) + ", g" + std::to_string(Groups) + ">";
    }

    static status check(const Layout& in, std::string_view path, const std::int32_t*) {
        if (!in.is_image())
            return status::of<shape_error>(layer_error_prefix(type_name(), path) +
                                           "expected an image input (NHWC with height and width), got " + in.describe());
        status error;
        const layer_context<Conv2d> at{path, "the padded image"};
        std::size_t padded_height = 0, padded_width = 0, pixels = 0;
        if (!add_or_report(padded_height, in.height, "pixels high", 2 * Pad, "pixels of padding", at, error) ||
            !add_or_report(padded_width, in.width, "pixels wide", 2 * Pad, "pixels of padding", at, error))
            return error;
        if (padded_height < Kernel || padded_width < Kernel)
            return status::of<shape_error>(layer_error_prefix(type_name(), path) + "expected a padded input of at least " +
                                           std::to_string(Kernel) + " x " + std::to_string(Kernel) + " pixels, got " +
                                           std::to_string(in.height) + " x " + std::to_string(in.width) +
                                           " with padding " + std::to_string(Pad));
        const Layout out = output_layout(in, path);
        mul_or_report(pixels, out.height, "pixels high", out.width, "pixels wide",
                      layer_context<Conv2d>{path, "the output image"}, error);
        return error;
    }
    // An input that passed check: the output image (height and width in pixels).
    static Layout output_layout(const Layout& in, std::string_view) {
        const std::size_t h = (in.height + 2 * Pad - Kernel) / Stride + 1;
        const std::size_t w = (in.width + 2 * Pad - Kernel) / Stride + 1;
        return {in.batch, h * w, h, w};
    }
    // im2col buffer: one patch row per output pixel (for one group at a time).
    static std::size_t scratch_size(const Layout& in, std::size_t, std::string_view path) {
        return checked_mul(output_layout(in, path).row_count(), "pixels", patch, "patch values",
                           layer_context<Conv2d>{path, "the im2col buffer"});
    }

    // Calls f(k, at) for each entry k = (ci, ky, kx) of output pixel p's patch in group g, with `at` the index of
    // the input element it reads (NHWC) or -1 in the padding.
    template <class F>
    static void visit_patch(const Layout& in, const Layout& out, std::size_t p, std::size_t g, F&& f) {
        const std::size_t b = p / out.tokens, oy = (p % out.tokens) / out.width, ox = p % out.width;
        for (std::size_t ci = 0; ci < group_in; ++ci)
            for (std::size_t ky = 0; ky < Kernel; ++ky)
                for (std::size_t kx = 0; kx < Kernel; ++kx) {
                    const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy * Stride + ky) - std::ptrdiff_t(Pad);
                    const std::ptrdiff_t ix = static_cast<std::ptrdiff_t>(ox * Stride + kx) - std::ptrdiff_t(Pad);
                    const bool inside = iy >= 0 && ix >= 0 && iy < std::ptrdiff_t(in.height) && ix < std::ptrdiff_t(in.width);
                    const std::size_t k = (ci * Kernel + ky) * Kernel + kx;
                    f(k, inside ? static_cast<std::ptrdiff_t>(((b * in.height + std::size_t(iy)) * in.width + std::size_t(ix)) * Cin +
                                                              g * group_in + ci)
                                : std::ptrdiff_t(-1));
                }
    }

    // For each group g: cols (pixels x patch), patch index (ci, ky, kx) as in the weight's flattening;
    // Y[:, g*group_out:(g+1)*group_out] = cols W_gᵀ (+ b): kernels::matmul_nt, the same bits for every thread count.
    template <class T>
    static void forward(const layer_call<T>& c) {
        const Layout& in = c.in;
        const Layout& out = c.out;
        const std::size_t pixels = out.row_count();
        for (std::size_t g = 0; g < Groups; ++g) {
            parallel_for_rows(pixels, patch, [&](std::size_t begin, std::size_t end) {
                for (std::size_t p = begin; p < end; ++p) visit_patch(in, out, p, g, [&](std::size_t k, std::ptrdiff_t at) {
                    c.scratch[p * patch + k] = at >= 0 ? c.x[at] : T(0);
                });
            });
            const T* bias = Bias ? c.params + param_offset<Conv2d>(Bias ? 1 : 0) + g * group_out : nullptr;
            kernels::matmul_nt(pixels, group_out, patch, static_cast<const T*>(c.scratch), patch, c.params + g * group_out * patch,
                               patch, c.y + g * group_out, Cout, bias);
        }
    }

    // Per group g, with cols_g recomputed (pixels x patch) and dY_g (pixels x group_out):
    //   dW_g += dY_gᵀ cols_g;  db_g += column sums of dY_g;  dcols = dY_g W_g, scattered back (col2im) into dX.
    static std::size_t backward_scratch_size(const Layout& in, std::size_t, std::string_view path) {
        return checked_mul(2, "im2col buffers", scratch_size(in, 0, path), "values",
                           layer_context<Conv2d>{path, "the backward work space"});
    }
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t pixels = c.out.row_count();
        T* cols = c.work;
        T* dcols = c.work + pixels * patch;
        if (c.dx) std::fill(c.dx, c.dx + c.in.row_count() * Cin, T(0));
        for (std::size_t g = 0; g < Groups; ++g) {
            for (std::size_t p = 0; p < pixels; ++p)
                visit_patch(c.in, c.out, p, g, [&](std::size_t k, std::ptrdiff_t at) { cols[p * patch + k] = at >= 0 ? c.x[at] : T(0); });
            const T* dy = c.dy + g * group_out;
            kernels::matmul_tn_add(group_out, patch, pixels, dy, Cout, static_cast<const T*>(cols), patch,
                                   c.dparams + g * group_out * patch, patch);
            if constexpr (Bias)
                map_matrix(c.dparams + param_offset<Conv2d>(1) + g * group_out, 1, group_out) +=
                    map_strided(dy, pixels, group_out, Cout).colwise().sum();
            if (!c.dx) continue;
            kernels::matmul_nn(pixels, patch, group_out, dy, Cout, c.params + g * group_out * patch, patch, dcols, patch);
            for (std::size_t p = 0; p < pixels; ++p)
                visit_patch(c.in, c.out, p, g, [&](std::size_t k, std::ptrdiff_t at) {
                    if (at >= 0) c.dx[at] += dcols[p * patch + k];
                });
        }
    }
};

}  // namespace lnfold
