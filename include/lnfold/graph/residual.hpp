#pragma once
// Residual<Branch>: y = x + Branch(x). Lowers to the branch's nodes followed by one add node. When y goes
// straight into a norm (the next node: Pre-LN blocks, a final LayerNorm), the add is left to that norm, which
// writes y and its own output in one pass (add_layer_norm_rows / add_rms_norm_rows): bit-identical to adding
// here (Model::set_fused_add_norm switches it off).
#include <cstddef>
#include <string>

#include "lnfold/core/error.hpp"
#include "lnfold/graph/executor.hpp"
#include "lnfold/graph/shape_check.hpp"
#include "lnfold/kernels/residual_add.hpp"

namespace lnfold {

template <class Branch>
struct Residual {
    static constexpr bool is_combinator = true;
    static constexpr std::size_t in_width = in_width_of<Branch>();
    static_assert(sizeof(detail::preserve_diagnostic<in_width, resolve_out_of<Branch>(in_width)>) > 0);
    static constexpr std::size_t resolve_out(std::size_t width) { return width != 0 ? width : in_width; }

    static constexpr bool positional = positional_of<Branch>();
    static constexpr std::size_t node_count = node_count_of<Branch>() + 1;
    static constexpr std::size_t param_size = param_size_of<Branch>();
    static constexpr std::size_t tensor_count = tensor_count_of<Branch>();

    template <class G>
    static constexpr int lower(G& g, int input, std::size_t width, const short_string& path, std::size_t param_base) {
        const int branch = lower_node<Branch>(g, input, width, path, param_base);
        const std::size_t index = g.node_count++;
        graph_node& add = g.nodes[index];
        add.kind_name = "residual add";
        add.residual_add = true;
        add.role = fold_role::preserve;
        add.path = path.joined("residual");
        add.input = branch;
        add.input2 = input;
        add.in_width = add.out_width = width;
        add.decoding = decode_support::row_wise;
        add.param_offset = param_base + param_size;
        add.first_tensor = g.tensor_count;
        return static_cast<int>(index);
    }

    // Backward: y = x + branch(x), so dL/dy flows unchanged to the branch output and to the skip input.
    template <class T>
    static void backward(executor<T>& ex, std::size_t node, std::size_t param_base) {
        const std::size_t add = node + node_count_of<Branch>();
        if (ex.has_grad[add]) {
            const graph_node& n = ex.nodes[add];
            const activation<T>& out = ex.results[add];
            const std::size_t count = out.layout.row_count() * out.width;
            accumulate_grad(ex, n.input, ex.grads[add].data(), count);
            accumulate_grad(ex, n.input2, ex.grads[add].data(), count);
        }
        backward_node<Branch>(ex, node, param_base);
    }

    // Plans the add node (executor::planning): the branch keeps its input's layout, and the sum's buffer.
    template <class T>
    static activation<T> plan(executor<T>& ex, std::size_t add, activation<T> in, const activation<T>& branch) {
        status& error = ex.plan_error;
        if (!error.ok()) return in;
        if (branch.layout != in.layout) {
            error = status::of<shape_error>("lnfold: Residual at '" + std::string(ex.nodes[add].path.view()) +
                                            "': the branch must keep the layout of its input, expected " +
                                            in.layout.describe() + ", got " + branch.layout.describe());
            return in;
        }
        const std::size_t rows = in.layout.row_count(), count = rows * in.width;  // the input's size, checked before
        error = plan_buffer(ex, ex.outputs[add], count, [&] {
            return detail::buffer_text<T>("the sum", layer_name("Residual", ex.nodes[add].path.view()), rows, in.width);
        });
        return {ex.outputs[add].data(), in.layout, in.width};
    }

    template <class T>
    static activation<T> run(executor<T>& ex, std::size_t node, std::size_t param_base, activation<T> in) {
        const activation<T> branch = run_node<Branch>(ex, node, param_base, in);
        const std::size_t add = node + node_count_of<Branch>();
        if (ex.planning) return plan(ex, add, in, branch);
        const std::size_t rows = in.layout.row_count();  // planned: the branch kept the layout, the sum fits
        T* y = ex.outputs[add].data();
        if (defers_residual_sum(ex, add)) {
            // the next node, a norm reading y, computes y = in + branch along with its own output (executor.hpp)
            ex.deferred_add = static_cast<int>(add);
            ex.deferred = residual_sum<T>{in.data, branch.data, y};
        } else {
            kernels::add_rows(in.data, branch.data, rows, in.width, y);
        }
        const activation<T> out{y, in.layout, in.width};
        ex.inputs[add] = in;
        ex.results[add] = out;
        return out;
    }
};

}  // namespace lnfold
