#pragma once
// The message of the lnfold::io_error that f() throws: "no io_error" when it returns, "another exception" when
// it throws something else. Tests of failure paths check the message with Catch2 matchers.
#include <string>

#include <lnfold/core/error.hpp>

namespace lnfold_test {

template <class F>
std::string io_error_message(F&& f) {
    try {
        f();
    } catch (const lnfold::io_error& e) {
        return e.what();
    } catch (...) {
        return "another exception";
    }
    return "no io_error";
}

}  // namespace lnfold_test
