#pragma once
// Deterministic, portable random numbers (std:: distributions differ between standard libraries).
#include <cmath>
#include <cstdint>
#include <string_view>

namespace lnfold {

// splitmix64: a tiny, well-mixed 64-bit generator; the same seed gives the same numbers everywhere.
class random_stream {
public:
    explicit random_stream(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    // Standard normal by Box-Muller (one value per call; simple and portable).
    double normal() {
        const double u1 = 1.0 - uniform();  // in (0, 1]
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
    // Uniform integer in [0, n).
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

private:
    std::uint64_t state_;
};

// FNV-1a hash of a name, mixed with a seed: parameters are seeded by their path, so the same seed gives
// a parameter the same values in any network that has that path (an LN model and its RMSNorm twin).
constexpr std::uint64_t seed_for(std::uint64_t seed, std::string_view name) {
    std::uint64_t h = 0xCBF29CE484222325ull ^ (seed * 0x9E3779B97F4A7C15ull);
    for (char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001B3ull;
    }
    return h;
}

}  // namespace lnfold
