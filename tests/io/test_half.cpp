// F16 / BF16 <-> float against known bit patterns: normals, subnormals, ties, overflow, infinities, NaN.
#include "lnfold/io/half.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "catch.hpp"

using namespace lnfold::io;

namespace {
std::uint32_t bits(float f) { return std::bit_cast<std::uint32_t>(f); }
float from_bits(std::uint32_t b) { return std::bit_cast<float>(b); }
}  // namespace

TEST_CASE("F16 widening of known bit patterns is exact") {
    CHECK(bits(f16_to_float(0x0000)) == bits(0.0f));
    CHECK(bits(f16_to_float(0x8000)) == bits(-0.0f));
    CHECK(f16_to_float(0x3C00) == 1.0f);
    CHECK(f16_to_float(0xC000) == -2.0f);
    CHECK(f16_to_float(0x3555) == 0x1.554p-2f);          // 0.333251953125
    CHECK(f16_to_float(0x7BFF) == 65504.0f);              // largest normal
    CHECK(f16_to_float(0x0400) == std::ldexp(1.0f, -14)); // smallest normal
    CHECK(f16_to_float(0x0001) == std::ldexp(1.0f, -24)); // smallest subnormal
    CHECK(f16_to_float(0x03FF) == std::ldexp(1023.0f, -24));
    CHECK(f16_to_float(0x8001) == -std::ldexp(1.0f, -24));
    CHECK(f16_to_float(0x7C00) == std::numeric_limits<float>::infinity());
    CHECK(f16_to_float(0xFC00) == -std::numeric_limits<float>::infinity());
    CHECK(std::isnan(f16_to_float(0x7E00)));
    CHECK(bits(f16_to_float(0x7E01)) == 0x7FC02000u);     // payload kept
    CHECK(std::isnan(f16_to_float(0xFD00)));              // signalling-pattern NaN stays NaN
}

TEST_CASE("F16 narrowing rounds to nearest even, overflows to infinity, keeps NaN") {
    CHECK(float_to_f16(0.0f) == 0x0000);
    CHECK(float_to_f16(-0.0f) == 0x8000);
    CHECK(float_to_f16(1.0f) == 0x3C00);
    CHECK(float_to_f16(-2.5f) == 0xC100);
    CHECK(float_to_f16(65504.0f) == 0x7BFF);
    CHECK(float_to_f16(65519.0f) == 0x7BFF);               // below the tie
    CHECK(float_to_f16(65520.0f) == 0x7C00);               // the tie goes to even: infinity
    CHECK(float_to_f16(1e6f) == 0x7C00);
    CHECK(float_to_f16(-1e6f) == 0xFC00);
    CHECK(float_to_f16(1.0f + 0x1p-11f) == 0x3C00);        // tie, even stays
    CHECK(float_to_f16(1.0f + 3 * 0x1p-11f) == 0x3C02);    // tie, odd rounds up
    CHECK(float_to_f16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3C01);  // above the tie
    CHECK(float_to_f16(std::ldexp(1.0f, -14)) == 0x0400);
    CHECK(float_to_f16(std::ldexp(1.0f, -24)) == 0x0001);
    CHECK(float_to_f16(std::ldexp(1.0f, -25)) == 0x0000);  // tie to even: zero
    CHECK(float_to_f16(std::ldexp(1.5f, -25)) == 0x0001);
    CHECK(float_to_f16(std::ldexp(3.0f, -25)) == 0x0002);  // tie between 1 and 2 subnormal units: even
    CHECK(float_to_f16(std::ldexp(5.0f, -25)) == 0x0002);  // tie between 2 and 3: even
    CHECK(float_to_f16(std::ldexp(1023.5f, -24)) == 0x0400);  // rounds up into the smallest normal
    CHECK(float_to_f16(1e-30f) == 0x0000);
    CHECK(float_to_f16(-1e-30f) == 0x8000);
    CHECK(float_to_f16(std::numeric_limits<float>::infinity()) == 0x7C00);
    CHECK(float_to_f16(-std::numeric_limits<float>::infinity()) == 0xFC00);
    CHECK(float_to_f16(std::numeric_limits<float>::quiet_NaN()) == 0x7E00);
    CHECK((float_to_f16(from_bits(0x7F800001u)) & 0x7FFF) > 0x7C00);  // a tiny-payload NaN stays NaN
    CHECK(float_to_f16(from_bits(0xFFC00000u)) == 0xFE00);
}

TEST_CASE("F16: every finite half survives a round trip through float") {
    for (std::uint32_t h = 0; h < 0x10000; ++h) {
        const auto v = static_cast<std::uint16_t>(h);
        const float f = f16_to_float(v);
        if (std::isnan(f)) {
            REQUIRE(std::isnan(f16_to_float(float_to_f16(f))));
            continue;
        }
        REQUIRE(float_to_f16(f) == v);
    }
}

TEST_CASE("BF16 widening and narrowing against known bit patterns") {
    CHECK(bf16_to_float(0x3F80) == 1.0f);
    CHECK(bf16_to_float(0xC040) == -3.0f);
    CHECK(bits(bf16_to_float(0x8000)) == bits(-0.0f));
    CHECK(bf16_to_float(0x0001) == from_bits(0x00010000u));  // subnormal
    CHECK(bf16_to_float(0x7F7F) == from_bits(0x7F7F0000u));  // largest finite
    CHECK(bf16_to_float(0x7F80) == std::numeric_limits<float>::infinity());
    CHECK(std::isnan(bf16_to_float(0x7FC0)));

    CHECK(float_to_bf16(1.0f) == 0x3F80);
    CHECK(float_to_bf16(from_bits(0x3F808000u)) == 0x3F80);  // tie, even stays
    CHECK(float_to_bf16(from_bits(0x3F818000u)) == 0x3F82);  // tie, odd rounds up
    CHECK(float_to_bf16(from_bits(0x3F808001u)) == 0x3F81);  // above the tie
    CHECK(float_to_bf16(from_bits(0x00018000u)) == 0x0002);  // subnormal tie, odd rounds up
    CHECK(float_to_bf16(from_bits(0x7F7FFFFFu)) == 0x7F80);  // FLT_MAX rounds to infinity
    CHECK(float_to_bf16(-std::numeric_limits<float>::infinity()) == 0xFF80);
    CHECK(float_to_bf16(std::numeric_limits<float>::quiet_NaN()) == 0x7FC0);
    CHECK(float_to_bf16(from_bits(0x7F800001u)) == 0x7FC0);  // payload only in the low bits: still NaN
    CHECK(float_to_bf16(from_bits(0xFF800001u)) == 0xFFC0);
    for (std::uint32_t b = 0; b < 0x10000; ++b) {
        const float f = bf16_to_float(static_cast<std::uint16_t>(b));
        if (!std::isnan(f)) REQUIRE(float_to_bf16(f) == b);
    }
}
