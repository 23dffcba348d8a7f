#pragma once
// Milliseconds taken by one call of f (examples only; benchmarks live in bench/).
#include <chrono>

template <class F>
double time_ms(F&& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}
