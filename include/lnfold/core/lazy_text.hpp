#pragma once
// Text for an error message that is built only when the error happens: a string, or a callable returning one.
// Size checks and allocations on the forward path take their context this way (a layer's type name and path),
// so that passing the check costs nothing and never allocates.
#include <string>
#include <string_view>
#include <type_traits>

namespace lnfold::detail {

template <class Text>
std::string lazy_text(const Text& text) {
    if constexpr (std::is_invocable_v<const Text&>) return std::string(text());
    else return std::string(std::string_view(text));
}

}  // namespace lnfold::detail
