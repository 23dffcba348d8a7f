#pragma once
// Optimizers over the flat parameter arena (llm.c style: one loop over all parameters). State (momentum, Adam
// moments) lives in arenas of the same layout. Padding between tensors has zero parameters and gradients and
// stays zero. Weight decay applies where decay_mask is 1 (weight_decay_mask: matrices and tables, not biases
// or norm gains), or everywhere when no mask is given. Both follow torch.optim's update rules.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lnfold/core/aligned_buffer.hpp"
#include "lnfold/core/error.hpp"
#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/adamw.hpp"

namespace lnfold {

// 1 for every element of a parameter tensor of rank >= 2 (weights, tables), 0 elsewhere.
template <class M>
std::vector<std::uint8_t> weight_decay_mask(const M& model) {
    std::vector<std::uint8_t> mask(model.parameters().size(), 0);
    const auto* base = model.parameters().data();
    model.visit_parameters([&](auto p) {
        if (p.spec.rank >= 2) std::fill_n(mask.begin() + (p.values.data() - base), p.values.size(), std::uint8_t{1});
    });
    return mask;
}

namespace detail {
inline void check_sizes(const char* who, std::size_t params, std::size_t grads, std::size_t state, std::size_t mask) {
    if (grads != params || state != params || (mask != 0 && mask != params))
        raise<shape_error>(std::string("lnfold: ") + who + ": parameters, gradients, state and mask must have one size: " +
                          std::to_string(params) + ", " + std::to_string(grads) + ", " + std::to_string(state) + ", " +
                          std::to_string(mask));
}
}  // namespace detail

struct sgd_options {
    double momentum = 0.0;
    double dampening = 0.0;
    double weight_decay = 0.0;  // L2 added to the gradient: g += wd * p
    bool nesterov = false;
};

// torch.optim.SGD: g = grad + wd p; b = g on the first step, then b = momentum b + (1 - dampening) g;
// g = nesterov ? g + momentum b : b; p -= lr g.
template <class T>
class SGD {
public:
    SGD(std::size_t size, sgd_options options = {})
        : options_(options), velocity_(size, "SGD", "the momentum buffer"), size_(size) {}

    void step(std::span<T> params, std::span<const T> grads, double lr, std::span<const std::uint8_t> decay_mask = {}) {
        detail::check_sizes("SGD::step", params.size(), grads.size(), size_, decay_mask.size());
        T* b = velocity_.data();
        for (std::size_t i = 0; i < params.size(); ++i) {
            const double decay = decay_mask.empty() || decay_mask[i] ? options_.weight_decay : 0.0;
            double g = double(grads[i]) + decay * double(params[i]);
            if (options_.momentum != 0.0) {
                const double v = steps_ == 0 ? g : options_.momentum * double(b[i]) + (1.0 - options_.dampening) * g;
                b[i] = static_cast<T>(v);
                g = options_.nesterov ? g + options_.momentum * v : v;
            }
            params[i] = static_cast<T>(double(params[i]) - lr * g);
        }
        ++steps_;
    }
    std::uint64_t steps() const { return steps_; }

private:
    sgd_options options_;
    aligned_buffer<T> velocity_;
    std::size_t size_;
    std::uint64_t steps_ = 0;
};

struct adamw_options {
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.01;  // decoupled: p -= lr wd p
};

// torch.optim.AdamW: p -= lr wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
template <class T>
class AdamW {
public:
    AdamW(std::size_t size, adamw_options options = {})
        : options_(options), m_(size, "AdamW", "the first moments"), v_(size, "AdamW", "the second moments"), size_(size) {}

    void step(std::span<T> params, std::span<const T> grads, double lr, std::span<const std::uint8_t> decay_mask = {}) {
        detail::check_sizes("AdamW::step", params.size(), grads.size(), size_, decay_mask.size());
        ++steps_;
        const double b1 = options_.beta1, b2 = options_.beta2;
        const double correction1 = 1.0 - std::pow(b1, double(steps_));
        const double correction2 = 1.0 - std::pow(b2, double(steps_));
        const kernels::adamw_coefficients k{lr, b1, b2, correction1, correction2, options_.eps, options_.weight_decay};
        // Threads over chunks of 256 parameters: a parameter's position in its chunk, and so whether the vector body
        // or the scalar tail updates it, is the same for every thread count.
        constexpr std::size_t chunk = 256;
        const std::size_t n = params.size(), chunks = n / chunk + (n % chunk != 0);
        parallel_for_rows(chunks, chunk * 16, [&](std::size_t first, std::size_t last) {
            const std::size_t begin = first * chunk, end = std::min(n, last * chunk);
            kernels::adamw_update(params.data() + begin, grads.data() + begin, m_.data() + begin, v_.data() + begin,
                                  end - begin, decay_mask.empty() ? nullptr : decay_mask.data() + begin, k);
        });
    }
    std::uint64_t steps() const { return steps_; }

private:
    adamw_options options_;
    aligned_buffer<T> m_, v_;
    std::size_t size_;
    std::uint64_t steps_ = 0;
};

// Scales gradients so that their global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_:
// factor = max_norm / (norm + 1e-6) when below 1). Returns the norm before clipping.
template <class T>
double clip_grad_norm(std::span<T> grads, double max_norm) {
    if (!(max_norm > 0))
        raise<config_error>("lnfold: clip_grad_norm: max_norm must be > 0, got " + std::to_string(max_norm));
    long double squares = 0;
    for (T g : grads) squares += static_cast<long double>(g) * g;
    const double norm = std::sqrt(static_cast<double>(squares));
    const double factor = max_norm / (norm + 1e-6);
    if (factor < 1.0)
        for (T& g : grads) g = static_cast<T>(double(g) * factor);
    return norm;
}

}  // namespace lnfold
