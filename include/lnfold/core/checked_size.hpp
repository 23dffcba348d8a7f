#pragma once
// Sizes computed from run-time input (batch, sequence length, image size) are multiplied and added only through
// these checks: a result that does not fit in std::size_t throws shape_error instead of wrapping around (a wrapped
// batch x tokens of 0 would pass every later size check and let a layer read past its input).
//   checked_mul(a, "samples", b, "tokens", context)  = a * b
//   checked_add(a, "tokens", b, "class token", context) = a + b
// The message is "<context>: <a> <a_unit> x <b> <b_unit> overflows size_t" (" + " for a sum), e.g.
//   lnfold: Model::forward: the batch layout: 9223372036854775808 samples x 2 tokens overflows size_t
// `context` starts with "lnfold: " and names the layout or layer; it is a string, or a callable returning one that
// is called only on overflow (a layer's type and path, see layer_context), so the check costs one multiply with an
// overflow flag per call and never allocates. (GCC / Clang builtins, as the prefetch in kernels/reduce.hpp.)
#include <cstddef>
#include <string>
#include <string_view>

#include "lnfold/core/error.hpp"
#include "lnfold/core/lazy_text.hpp"

namespace lnfold {

namespace detail {

// "<context>: <a> <a_unit> x <b> <b_unit> overflows size_t" (op " x " or " + ").
template <class Context>
[[gnu::cold, gnu::noinline]] std::string size_overflow_message(std::size_t a, std::string_view a_unit, const char* op,
                                                                std::size_t b, std::string_view b_unit,
                                                                const Context& context) {
    std::string message = lazy_text(context);
    message += ": " + std::to_string(a) + " ";
    message += a_unit;
    message += op + std::to_string(b) + " ";
    message += b_unit;
    message += " overflows size_t";
    return message;
}

template <class Context>
[[noreturn, gnu::cold, gnu::noinline]] void report_size_overflow(std::size_t a, std::string_view a_unit, const char* op,
                                                                std::size_t b, std::string_view b_unit,
                                                                const Context& context) {
    raise<shape_error>(size_overflow_message(a, a_unit, op, b, b_unit, context));
}

}  // namespace detail

template <class Context>
constexpr std::size_t checked_mul(std::size_t a, std::string_view a_unit, std::size_t b, std::string_view b_unit,
                                  const Context& context) {
    std::size_t product = 0;
    if (__builtin_mul_overflow(a, b, &product)) [[unlikely]]
        detail::report_size_overflow(a, a_unit, " x ", b, b_unit, context);
    return product;
}

template <class Context>
constexpr std::size_t checked_add(std::size_t a, std::string_view a_unit, std::size_t b, std::string_view b_unit,
                                  const Context& context) {
    std::size_t sum = 0;
    if (__builtin_add_overflow(a, b, &sum)) [[unlikely]]
        detail::report_size_overflow(a, a_unit, " + ", b, b_unit, context);
    return sum;
}

// The same checks for a pass that reports instead of raising (the forward's planning pass): the product or sum
// in `result`, or false with `error` set to the shape_error checked_mul / checked_add would raise.
template <class Context>
bool mul_or_report(std::size_t& result, std::size_t a, std::string_view a_unit, std::size_t b, std::string_view b_unit,
                   const Context& context, status& error) {
    if (!__builtin_mul_overflow(a, b, &result)) [[likely]]
        return true;
    error = status::of<shape_error>(detail::size_overflow_message(a, a_unit, " x ", b, b_unit, context));
    return false;
}
template <class Context>
bool add_or_report(std::size_t& result, std::size_t a, std::string_view a_unit, std::size_t b, std::string_view b_unit,
                   const Context& context, status& error) {
    if (!__builtin_add_overflow(a, b, &result)) [[likely]]
        return true;
    error = status::of<shape_error>(detail::size_overflow_message(a, a_unit, " + ", b, b_unit, context));
    return false;
}

}  // namespace lnfold
