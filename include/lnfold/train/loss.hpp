#pragma once
// Losses: each returns the mean loss and writes dL/d(prediction) (already divided by the count), ready for
// Model::backward.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "lnfold/core/error.hpp"
#include "lnfold/core/tensor_view.hpp"
#include "lnfold/kernels/softmax.hpp"

namespace lnfold {

struct cross_entropy_options {
    double label_smoothing = 0.0;       // target = (1 - s) one_hot + s / classes, as torch.nn.CrossEntropyLoss
    std::int32_t ignore_index = -100;   // rows whose target is this are skipped (padding in language modelling)
};

// Softmax cross-entropy over rows of logits (rows x classes) with integer targets, averaged over the rows that
// are not ignored. grad (rows x classes) receives dL/dlogits = (softmax - target distribution) / counted rows
// (zero on ignored rows). Returns 0 with a zero gradient when every row is ignored.
template <class T>
double softmax_cross_entropy(const tensor_view<T>& logits, std::span<const std::int32_t> targets, std::span<T> grad,
                             const cross_entropy_options& options = {}) {
    const std::size_t rows = logits.rows(), classes = logits.width;
    if (targets.size() != rows)
        raise<shape_error>("lnfold: softmax_cross_entropy: expected " + std::to_string(rows) + " targets (one per row), got " +
                          std::to_string(targets.size()));
    if (grad.size() != logits.size())
        raise<shape_error>("lnfold: softmax_cross_entropy: the gradient needs " + std::to_string(logits.size()) +
                          " elements, got " + std::to_string(grad.size()));
    if (!(options.label_smoothing >= 0.0 && options.label_smoothing <= 1.0))
        raise<config_error>("lnfold: softmax_cross_entropy: label_smoothing must be in [0, 1], got " +
                           std::to_string(options.label_smoothing));
    std::size_t counted = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        const std::int32_t t = targets[r];
        if (t == options.ignore_index) continue;
        if (t < 0 || static_cast<std::size_t>(t) >= classes)
            raise<index_error>("lnfold: softmax_cross_entropy: target at row " + std::to_string(r) + " must be in [0, " +
                              std::to_string(classes) + "), got " + std::to_string(t));
        ++counted;
    }
    for (std::size_t r = 0; r < rows; ++r)  // ignored rows get 0; every other row is written in full below
        if (targets[r] == options.ignore_index) std::fill_n(grad.data() + r * classes, classes, T(0));
    if (counted == 0) return 0.0;
    const double smooth = options.label_smoothing, off = smooth / double(classes), on = 1.0 - smooth + off;
    const double scale = 1.0 / double(counted);
    double total = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        if (targets[r] == options.ignore_index) continue;
        const T* z = logits.data + r * classes;
        const std::size_t t = static_cast<std::size_t>(targets[r]);
        const double top = double(*std::max_element(z, z + classes));
        const double log_sum = top + std::log(kernels::sum_exp_shifted(z, classes, top));
        // loss_r = -Σ_c q_c (z_c - log_sum) = -off (Σ_c z_c - classes log_sum) - (on - off)(z_t - log_sum);
        // dloss_r/dz_c = p_c - q_c (q_c = off but at the target, where it is on)
        const double z_sum = kernels::softmax_minus(z, classes, log_sum, off, scale, grad.data() + r * classes);
        const double log_p_target = double(z[t]) - log_sum;
        grad[r * classes + t] = static_cast<T>((std::exp(log_p_target) - on) * scale);
        if (off != 0) total -= off * (z_sum - double(classes) * log_sum);
        total -= (on - off) * log_p_target;
    }
    return total * scale;
}

// Mean squared error over all elements: L = mean((y - t)^2), grad = 2 (y - t) / count.
template <class T>
double mean_squared_error(const tensor_view<T>& prediction, std::span<const T> target, std::span<T> grad) {
    const std::size_t n = prediction.size();
    if (target.size() != n || grad.size() != n)
        raise<shape_error>("lnfold: mean_squared_error: expected " + std::to_string(n) + " targets and gradient elements, got " +
                          std::to_string(target.size()) + " and " + std::to_string(grad.size()));
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double d = double(prediction.data[i]) - double(target[i]);
        total += d * d;
        grad[i] = static_cast<T>(2.0 * d / double(n));
    }
    return total / double(n);
}

}  // namespace lnfold
