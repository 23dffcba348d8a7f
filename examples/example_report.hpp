#pragma once
// Shared by the examples: prints what a forward pass produced and what the build runs with.
#include <cstdio>

#include <lnfold/lnfold.hpp>

template <class ModelType, class T>
void print_report(const char* name, const ModelType&, const lnfold::tensor_view<T>& out, double milliseconds) {
    std::printf("%s: output %zu rows x %zu (layout %s), %zu parameters (%.2f MB arena), forward %.3f ms\n", name,
                out.rows(), out.width, out.layout.describe().c_str(), ModelType::parameter_count,
                ModelType::arena_size * sizeof(T) / 1e6, milliseconds);
    std::printf("  first row:");
    for (std::size_t c = 0; c < out.width && c < 6; ++c) std::printf(" %+.5f", static_cast<double>(out(0, c)));
    std::printf("%s\n", out.width > 6 ? " ..." : "");
    std::printf("  %s\n", lnfold::build_summary().c_str());
}
