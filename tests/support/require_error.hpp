#pragma once
// require_error<E>(f, fragments): f throws an E whose message starts with "lnfold" and contains every fragment.
#include <exception>
#include <initializer_list>
#include <string>

#include "catch.hpp"

template <class E, class F>
void require_error(F&& f, std::initializer_list<std::string> fragments) {
    try {
        f();
    } catch (const E& e) {
        const std::string message = e.what();
        INFO("message: " << message);
        CHECK(message.rfind("lnfold", 0) == 0);
        for (const auto& fragment : fragments) {
            INFO("fragment: " << fragment);
            CHECK(message.find(fragment) != std::string::npos);
        }
        return;
    } catch (const std::exception& e) {
        FAIL("wrong exception type: " << e.what());
    }
    FAIL("no exception thrown");
}
