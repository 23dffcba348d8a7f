#pragma once
// Learning-rate schedules as pure functions of the step (0-based).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "lnfold/core/error.hpp"

namespace lnfold {

struct lr_schedule {
    enum class kind { constant, cosine };
    kind shape = kind::constant;
    double base_lr = 1e-3;
    std::uint64_t warmup_steps = 0;  // linear from base_lr / warmup to base_lr over the first steps
    std::uint64_t total_steps = 0;   // cosine: decays to min_lr at total_steps
    double min_lr = 0.0;

    // lr(step): warmup: base (step + 1) / warmup for step < warmup; constant: base;
    // cosine: min + (base - min) (1 + cos(pi * progress)) / 2, progress = (step - warmup) / (total - warmup) in [0, 1].
    double operator()(std::uint64_t step) const {
        if (step < warmup_steps) return base_lr * double(step + 1) / double(warmup_steps);
        if (shape == kind::constant) return base_lr;
        if (total_steps <= warmup_steps)
            raise<config_error>("lnfold: lr_schedule: cosine needs total_steps > warmup_steps, got " +
                               std::to_string(total_steps) + " and " + std::to_string(warmup_steps));
        const double progress = std::min(1.0, double(step - warmup_steps) / double(total_steps - warmup_steps));
        return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(3.141592653589793 * progress));
    }
};

}  // namespace lnfold
