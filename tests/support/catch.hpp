#pragma once
// Catch2 v2 (Debian's catch2 package) and v3 both work; the main comes from Catch2::Catch2WithMain.
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
