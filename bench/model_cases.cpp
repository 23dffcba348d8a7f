// liblnfold_model_cases: lnfold's whole-network benchmark cases behind a C interface, loaded with ctypes by
// bench/peer_models.py (scripts/bench_models.sh), which times them round-robin against the same networks written
// as torch modules, with one timer.
//
//   lnfold_cases_info()                      build line: lnfold version, SIMD, OpenMP, compiler, flags
//   lnfold_cases_list()                      one line per case: name \t kind \t variants \t description
//   lnfold_cases_set_threads(n)              OpenMP threads (returns the previous count)
//   lnfold_case_create(name, variant)        a case (model + input), or null: lnfold_cases_error() says why
//   lnfold_case_run(case)                    one forward (inference) or one training step; 0, or -1 on error
//   lnfold_case_destroy(case)
//   lnfold_case_input(case, &data, &is_tokens, shape[4], &rank)   the input (int32 ids or float values)
//   lnfold_case_targets(case, &n)            training targets (int32), or null
//   lnfold_case_param_count(case), lnfold_case_param(case, i, &data, &size, shape[4], &rank) -> path
//   lnfold_case_output(case, &rows, &width)  the latest run's output (valid until the next run)
//   lnfold_case_loss(case)                   the latest training step's loss (before its update)
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <lnfold/core/build_info.hpp>

#include "model_cases.hpp"

#if LNFOLD_HAS_OPENMP
#include <omp.h>
#endif

#ifndef LNFOLD_BENCH_FLAGS
#define LNFOLD_BENCH_FLAGS "(unknown)"
#endif

namespace {

using lnfold_bench::case_base;
using lnfold_bench::case_entry;

const std::vector<case_entry>& registry() {
    static const std::vector<case_entry> cases = [] {
        std::vector<case_entry> v;
        lnfold_bench::add_gpt_cases(v);
        lnfold_bench::add_vit_cases(v);
        lnfold_bench::add_train_cases(v);
        return v;
    }();
    return cases;
}

thread_local std::string last_error;
std::string info_text, list_text;

bool listed(const char* variants, const std::string& v) {
    const std::string all = std::string(",") + variants + ",";
    return all.find("," + v + ",") != std::string::npos;
}

}  // namespace

extern "C" {

const char* lnfold_cases_info() {
    if (info_text.empty()) info_text = lnfold::build_summary() + ", flags: " + LNFOLD_BENCH_FLAGS;
    return info_text.c_str();
}

const char* lnfold_cases_list() {
    if (list_text.empty())
        for (const auto& c : registry())
            list_text += std::string(c.name) + "\t" + c.kind + "\t" + c.variants + "\t" + c.description + "\n";
    return list_text.c_str();
}

const char* lnfold_cases_error() { return last_error.c_str(); }

int lnfold_cases_set_threads(int n) {
#if LNFOLD_HAS_OPENMP
    const int previous = omp_get_max_threads();
    omp_set_num_threads(n > 0 ? n : 1);
    return previous;
#else
    (void)n;
    return 1;
#endif
}

void* lnfold_case_create(const char* name, const char* variant) {
    try {
        for (const auto& c : registry()) {
            if (std::strcmp(c.name, name) != 0) continue;
            if (!listed(c.variants, variant)) {
                last_error = std::string("case ") + name + " has no variant '" + variant + "' (it has " + c.variants + ")";
                return nullptr;
            }
            auto made = c.make(variant);
            if (!made) {
                last_error = std::string("case ") + name + ": variant '" + variant + "' could not be made";
                return nullptr;
            }
            return made.release();
        }
        last_error = std::string("no case named '") + name + "'";
    } catch (const std::exception& e) {
        last_error = e.what();
    }
    return nullptr;
}

int lnfold_case_run(void* h) {
    try {
        static_cast<case_base*>(h)->run();
        return 0;
    } catch (const std::exception& e) {
        last_error = e.what();
        return -1;
    }
}

void lnfold_case_destroy(void* h) { delete static_cast<case_base*>(h); }

const void* lnfold_case_input(void* h, int* is_tokens, std::size_t* shape, std::size_t* rank) {
    const auto* c = static_cast<case_base*>(h);
    *rank = c->input_shape.size();
    for (std::size_t i = 0; i < c->input_shape.size() && i < 4; ++i) shape[i] = c->input_shape[i];
    *is_tokens = c->tokens.empty() ? 0 : 1;
    return c->tokens.empty() ? static_cast<const void*>(c->values.data()) : static_cast<const void*>(c->tokens.data());
}

const std::int32_t* lnfold_case_targets(void* h, std::size_t* n) {
    const auto* c = static_cast<case_base*>(h);
    *n = c->targets.size();
    return c->targets.empty() ? nullptr : c->targets.data();
}

std::size_t lnfold_case_param_count(void* h) { return static_cast<case_base*>(h)->params.size(); }

const char* lnfold_case_param(void* h, std::size_t i, float** data, std::size_t* size, std::size_t* shape,
                              std::size_t* rank) {
    const auto& p = static_cast<case_base*>(h)->params.at(i);
    *data = p.data;
    *size = p.size;
    *rank = p.shape.size();
    for (std::size_t k = 0; k < p.shape.size() && k < 4; ++k) shape[k] = p.shape[k];
    return p.path.c_str();
}

const float* lnfold_case_output(void* h, std::size_t* rows, std::size_t* width) {
    const auto* c = static_cast<case_base*>(h);
    *rows = c->out_rows;
    *width = c->out_width;
    return c->out;
}

double lnfold_case_loss(void* h) { return static_cast<case_base*>(h)->loss; }

}  // extern "C"
