#pragma once
// Named<"name", L>: adds a parameter-path segment ("h", "ln_1") used by reports and weight files.
#include <cstddef>

#include "lnfold/core/fixed_string.hpp"
#include "lnfold/graph/executor.hpp"

namespace lnfold {

template <fixed_string Name, class L>
struct Named {
    static constexpr std::string_view name = Name.view();
    static_assert(!Name.view().empty(), "lnfold: Named<\"\", L>: the name must not be empty");
    static_assert(Name.view().find('.') == std::string_view::npos,
                  "lnfold: Named<name, L>: the name must not contain '.', nest Named instead");
    static constexpr bool is_combinator = true;
    using inner = L;
    static constexpr std::size_t in_width = in_width_of<L>();
    static constexpr std::size_t resolve_out(std::size_t width) { return resolve_out_of<L>(width); }
    static constexpr bool positional = false;
    static constexpr std::size_t node_count = node_count_of<L>();
    static constexpr std::size_t param_size = param_size_of<L>();
    static constexpr std::size_t tensor_count = tensor_count_of<L>();

    template <class G>
    static constexpr int lower(G& g, int input, std::size_t width, const short_string& path, std::size_t param_base) {
        return lower_node<L>(g, input, width, path.joined(name), param_base);
    }

    template <class T>
    static void backward(executor<T>& ex, std::size_t node, std::size_t param_base) {
        backward_node<L>(ex, node, param_base);
    }

    template <class T>
    static activation<T> run(executor<T>& ex, std::size_t node, std::size_t param_base, activation<T> in) {
        return run_node<L>(ex, node, param_base, in);
    }
};

}  // namespace lnfold
