#pragma once
// Readable fold reports: one line per LayerNorm, "h.0.ln_2: foldable" or the reason it is not.
#include <string>

#include "lnfold/fold/analysis.hpp"

namespace lnfold {

inline std::string describe(const layernorm_verdict& v) {
    const std::string path(v.path.view().empty() ? std::string_view("<root>") : v.path.view());
    const std::string culprit = std::string(v.culprit_kind) + " at " +
                                std::string(v.culprit_path.view().empty() ? "<root>" : v.culprit_path.view());
    switch (v.reason) {
        case fold_reason::none:
            return path + ": foldable";
        case fold_reason::network_input:
            return path + ": not foldable, its input comes from the network input, which no parameter can centre";
        case fold_reason::breaker:
            return path + ": not foldable, its input passes through " + culprit;
        case fold_reason::norm_output:
            return path + ": not foldable, its input is the affine output of " + culprit;
        case fold_reason::unfolded_scale:
            return path + ": not foldable, its input passes through " + culprit +
                   ", which does not directly follow a layer read only by it";
        case fold_reason::locked_source: {
            const std::string reaches =
                v.consumer < 0 ? std::string("the network output")
                               : std::string(v.consumer_kind) + " at " + std::string(v.consumer_path.view());
            return path + ": not foldable, centring " + culprit + " would change " + reaches +
                   " (its output reaches it without a LayerNorm in between)";
        }
        case fold_reason::tied_table:
            return path + ": not foldable, centring " + culprit + " would change " +
                   std::string(v.consumer_kind) + " at " + std::string(v.consumer_path.view()) +
                   ", which reads its table (declare the tie with tie_fold::untie or tie_fold::correct)";
    }
    return path;
}

// The whole report of a network type, one line per LayerNorm in execution order.
template <class Net>
std::string format_fold_report() {
    std::string out;
    for (const auto& v : fold_report<Net>()) out += describe(v) + "\n";
    out += std::to_string(foldable_count_v<Net>) + " of " + std::to_string(layernorm_count_v<Net>) +
           " LayerNorms foldable\n";
    return out;
}

}  // namespace lnfold
