#pragma once
// Model<Net, T>: the run-time state of a network type. One aligned parameter arena (offsets fixed at compile
// time by graph_v<Net>; or the caller's, read-only), a gradient arena of the same layout (allocated by the first
// backward, zero_grad or gradients() call: a model that only runs forward never holds one), per-node settings, and
// per-node buffers that the forward's planning pass sizes on the first call of a shape and reuses afterwards
// (forward allocates nothing after warm-up; use_activation_memory puts them in the caller's memory instead).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "lnfold/core/aligned_buffer.hpp"
#include "lnfold/core/checked_size.hpp"
#include "lnfold/core/error.hpp"
#include "lnfold/core/layout.hpp"
#include "lnfold/core/parallel.hpp"
#include "lnfold/core/random.hpp"
#include "lnfold/core/tensor_view.hpp"
#include "lnfold/graph/executor.hpp"
#include "lnfold/graph/lowering.hpp"

namespace lnfold {

template <class Net, class T>
class decoder;  // generate/decoder.hpp

// Initialisation schemes (both seeded per parameter path, see seed_for):
//   pytorch: torch.nn defaults. Linear/Conv2d weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)); Embedding
//            N(0, 1); position tables and class tokens N(0, 0.02); norms weight 1, bias 0.
//   normal:  GPT-2 / ViT style. Every weight and table N(0, std) (std = 0.02 by default), biases 0, norms 1 / 0.
enum class init_scheme { pytorch, normal };

// Model(uninitialized): every parameter zero, nothing drawn (for a model that is loaded next).
struct uninitialized_t {
    explicit uninitialized_t() = default;
};
inline constexpr uninitialized_t uninitialized{};

// One parameter tensor as seen by visit_parameters.
template <class T>
struct parameter_ref {
    std::string_view path;   // "h.0.ln_1.weight"
    std::span<T> values;     // numel() elements, row-major in the PyTorch shape
    const param_spec& spec;  // shape, rank, init
};

// What a Model holds, in bytes: its parameter arena (0 when it is the caller's); its gradient arena (0 until the
// first backward, zero_grad or gradients() call); the forward's buffers as sized so far (every node's output,
// residual sums, scratch; 0 in the caller's memory); the backward's (per-node output gradients, shared work space).
struct model_memory {
    std::size_t parameters = 0, gradients = 0, activations = 0, backward = 0;
    std::size_t total() const { return parameters + gradients + activations + backward; }
};

template <class Net, class T = float>
class Model {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "lnfold: Model<Net, T> needs T = float or double");
    static_assert(network_checks<Net>::ok);

public:
    using network = Net;
    using value_type = T;
    static constexpr const auto& graph = graph_v<Net>;
    static constexpr std::size_t node_count = graph.node_count;
    static constexpr std::size_t tensor_count = graph.tensor_count;
    static constexpr std::size_t arena_size = param_size_of<Net>();  // elements, tensors padded to 64 bytes
    static constexpr bool reads_tokens = node_count > 0 && graph.nodes[0].reads_tokens;
    static constexpr bool has_norms = [] {
        for (std::size_t n = 0; n < node_count; ++n)
            if (graph.nodes[n].has_eps) return true;
        return false;
    }();
    // Features per input row; 0 when the input is token ids, or when the network accepts any width
    // (it starts with width-preserving layers such as GELU): forward then takes the width from the input size.
    static constexpr std::size_t input_width = in_width_of<Net>();
    static constexpr std::size_t output_width = resolve_out_of<Net>(input_width);
    static constexpr std::size_t parameter_count = [] {
        std::size_t n = 0;
        for (std::size_t i = 0; i < graph.tensor_count; ++i) n += graph.tensors[i].spec.numel();
        return n;
    }();

    explicit Model(std::uint64_t seed = 0, init_scheme scheme = init_scheme::pytorch)
        : params_(arena_size, "Model", "the parameter arena"),
          exec_(std::span<const graph_node>(graph.nodes.data(), node_count)) {
        exec_.params = params_.data();
        initialize(seed, scheme);
    }
    // A model whose parameters are all zero instead of drawn, for one whose every parameter is loaded or computed
    // next (lnfold-fold): nothing is drawn, and the arena's pages cost no time or memory until they are written.
    explicit Model(uninitialized_t)
        : params_(arena_size, "Model", "the parameter arena"),
          exec_(std::span<const graph_node>(graph.nodes.data(), node_count)) {
        exec_.params = params_.data();
    }
    // A model that runs on parameters it does not own and never writes: `arena` holds arena_size values in this
    // network's arena layout (what parameters() of a Model<Net, T> holds, e.g. a copy kept in flash, ROM or a
    // mapped file), aligned for T, and outlives the Model. Forward, backward (its gradients are the Model's) and
    // reading work; writing a parameter (parameters(), parameter(path), initialize, loading) is a config_error.
    // Copies of such a model own a copy of the parameters.
    explicit Model(std::span<const T> arena)
        : exec_(std::span<const graph_node>(graph.nodes.data(), node_count)) {
        if (arena.size() != arena_size)
            raise<shape_error>("lnfold: Model(arena): the parameter arena needs " + std::to_string(arena_size) + " " +
                               detail::element_plural<T>() + ", got " + std::to_string(arena.size()));
        if (reinterpret_cast<std::uintptr_t>(arena.data()) % alignof(T) != 0)
            raise<config_error>("lnfold: Model(arena): the parameter arena must be aligned to " +
                                std::to_string(alignof(T)) + " bytes");
        params_.borrow(const_cast<T*>(arena.data()), arena_size);  // never written: see writable_parameters
        exec_.params = params_.data();
    }
    Model(const Model& other) : params_(other.params_), grads_(other.grads_), exec_(other.exec_) {
        exec_.params = params_.data();
    }
    Model& operator=(const Model& other) {
        if (this != &other) {
            params_ = other.params_;
            grads_ = other.grads_;
            exec_ = other.exec_;
            exec_.params = params_.data();
            last_ = {};  // like a copy-constructed model: no forward of its own to differentiate
        }
        return *this;
    }
    // Moving takes the other Model's arenas and buffers without copying them (parameters() keeps its address). The
    // moved-from Model holds nothing: every call that needs its parameters, buffers or settings raises config_error
    // until a Model is assigned to it. Move assignment frees what the target held: decoders made from the target
    // and views of its parameters or outputs are invalid afterwards (copy assignment of a Model of the same type
    // keeps the target's storage and only overwrites it).
    Model(Model&& other) noexcept
        : params_(std::move(other.params_)), grads_(std::move(other.grads_)), exec_(std::move(other.exec_)),
          last_(std::exchange(other.last_, {})), last_input_(std::exchange(other.last_input_, {})) {
        other.exec_ = executor<T>(std::span<const graph_node>{});  // no buffers, no nodes: moved_from()
    }
    Model& operator=(Model&& other) noexcept {
        if (this != &other) {
            params_ = std::exchange(other.params_, aligned_buffer<T>{});
            grads_ = std::exchange(other.grads_, aligned_buffer<T>{});
            exec_ = std::exchange(other.exec_, executor<T>(std::span<const graph_node>{}));
            last_ = std::exchange(other.last_, {});
            last_input_ = std::exchange(other.last_input_, {});
        }
        return *this;
    }

    // Re-draws every parameter. A parameter's values depend only on (seed, scheme, its path, its shape): value i of
    // a tensor is what random_stream(seed_for(seed, path)) gives as its i-th uniform (one draw each) or normal (two
    // draws each) times the scale. Large tensors are filled in pieces on several threads; every value is computed
    // from its own position in the stream (fill_uniform / fill_normal), so the thread count changes nothing.
    void initialize(std::uint64_t seed, init_scheme scheme = init_scheme::pytorch, double std = 0.02) {
        require_state("Model::initialize");
        for (std::size_t t = 0; t < tensor_count; ++t) {
            const param_entry& e = graph.tensors[t];
            T* values = writable_parameters("Model::initialize") + e.offset;
            const std::size_t n = e.spec.numel();
            const std::uint64_t stream = seed_for(seed, e.path.view());
            const double bound = 1.0 / std::sqrt(static_cast<double>(e.spec.fan_in));
            const bool uniform = scheme == init_scheme::pytorch &&
                                 (e.spec.init == init_kind::fan_in_weight || e.spec.init == init_kind::fan_in_bias);
            const bool normal = (scheme == init_scheme::normal && e.spec.init == init_kind::fan_in_weight) ||
                                e.spec.init == init_kind::table;
            if (uniform || normal) {
                const double scale = e.spec.init == init_kind::table && scheme == init_scheme::pytorch ? e.spec.value : std;
                constexpr std::size_t piece = 4096;  // values per task: the split does not change any value
                parallel_for_rows((n + piece - 1) / piece, piece * (normal ? 8 : 1), [&](std::size_t begin, std::size_t end) {
                    const std::size_t first = begin * piece, count = std::min(n, end * piece) - first;
                    if (uniform) fill_uniform(stream, first, -bound, bound, values + first, count);
                    else fill_normal(stream, first, scale, values + first, count);
                });
                continue;
            }
            double v = 0;
            switch (e.spec.init) {
                case init_kind::ones: v = 1; break;
                case init_kind::constant: v = e.spec.value; break;
                default: v = 0; break;  // zeros, and biases of the normal scheme
            }
            std::fill(values, values + n, static_cast<T>(v));
        }
    }

    // Forward over feature rows, sequences of feature rows, or NHWC images: x holds layout.row_count() rows of
    // input_width values. The result stays valid until the next forward call. Every check (the layout, the input's
    // size, each layer's own, sizes that must fit size_t) and every buffer comes first, in a planning pass, before
    // x is read: a failure raises shape_error / index_error / allocation_error (core/error.hpp).
    tensor_view<T> forward(std::span<const T> x, const Layout& layout) { return try_forward(x, layout).value(); }
    // Forward over token ids: layout.row_count() ids (batch x sequence length), each in [0, vocabulary).
    tensor_view<T> forward(std::span<const std::int32_t> ids, const Layout& layout) {
        return try_forward(ids, layout).value();
    }
    // The same forward, returning any of those failures as a status (the same kind and message) instead of
    // raising it: with or without exceptions, nothing is computed and nothing aborts when the input is wrong.
    result<tensor_view<T>> try_forward(std::span<const T> x, const Layout& layout) {
        last_ = {};  // a forward that fails leaves no output
        if constexpr (reads_tokens) {
            return status::of<shape_error>("lnfold: Model::forward: this network starts with an Embedding and reads "
                                           "token ids; pass std::span<const std::int32_t>");
        } else {
            std::size_t rows = 0;
            if (status s = check_layout(layout, rows); !s) return s;
            const std::size_t width = input_width != 0 ? input_width : x.size() / rows;
            if (status s = check_input(x.size(), layout, rows, width == 0 ? 1 : width, "values"); !s) return s;
            exec_.tokens = nullptr;
            return run({x.data(), layout, width});
        }
    }
    result<tensor_view<T>> try_forward(std::span<const std::int32_t> ids, const Layout& layout) {
        last_ = {};
        if constexpr (!reads_tokens) {
            return status::of<shape_error>("lnfold: Model::forward: this network reads " + std::to_string(input_width) +
                                           " features per row, not token ids; pass std::span<const T>");
        } else {
            std::size_t rows = 0;
            if (status s = check_layout(layout, rows); !s) return s;
            if (status s = check_input(ids.size(), layout, rows, 1, "token ids"); !s) return s;
            exec_.tokens = ids.data();
            return run({nullptr, layout, 0});
        }
    }
    tensor_view<T> output() const { return last_; }

    // Incremental decoding of a causal token network with a key/value cache for max_batch sequences of up to
    // max_length tokens (generate/decoder.hpp). It reads this Model's parameters in place: keep the Model alive
    // (a temporary Model cannot make one).
    auto decoder(std::size_t max_batch, std::size_t max_length) const& {
        require_state("Model::decoder");
        return lnfold::decoder<Net, T>(*this, max_batch, max_length);
    }
    void decoder(std::size_t max_batch, std::size_t max_length) const&& = delete;

    // Reverse mode over the latest forward: dy = dL/d(output) (output().size() values). Parameter gradients are
    // ADDED to the gradient arena (call zero_grad() between steps); values read by several consumers (the
    // residual stream) get the sum of their consumers' gradients. Allocates only when a shape grows.
    void backward(std::span<const T> dy) {
        require_state("Model::backward");
        if (last_.data == nullptr)
            raise<config_error>("lnfold: Model::backward: call forward first (backward differentiates the latest forward)");
        if (dy.size() != last_.size())
            raise<shape_error>("lnfold: Model::backward: dL/d(output) needs " + std::to_string(last_.size()) + " values (" +
                              std::to_string(last_.rows()) + " rows x " + std::to_string(last_.width) + "), got " +
                              std::to_string(dy.size()));
        std::fill(exec_.has_grad.begin(), exec_.has_grad.end(), static_cast<unsigned char>(0));
        exec_.param_grads = gradient_arena();
        accumulate_grad(exec_, static_cast<int>(node_count - 1), dy.data(), dy.size());
        backward_node<Net>(exec_, 0, 0);
    }
    // The same, and dL/d(input) of the latest forward WRITTEN to input_gradient (the size of that input: rows x
    // input width; NHWC for images). Networks that read token ids have no input gradient (their tables' gradients
    // are parameter gradients).
    void backward(std::span<const T> dy, std::span<T> input_gradient) {
        static_assert(!reads_tokens, "lnfold: Model::backward(dy, input_gradient): this network reads token ids, which "
                                     "have no gradient; call backward(dy)");
        const std::size_t expected = last_input_.layout.row_count() * last_input_.width;  // checked by forward
        if (last_.data != nullptr && input_gradient.size() != expected)  // without a forward, backward(dy) says so
            raise<shape_error>("lnfold: Model::backward: dL/d(input) needs " + std::to_string(expected) + " values (" +
                              std::to_string(last_input_.layout.row_count()) + " rows x " +
                              std::to_string(last_input_.width) + "), got " + std::to_string(input_gradient.size()));
        exec_.input_grad = input_gradient.data();
        exec_.input_grad_written = false;
        LNFOLD_TRY {
            backward(dy);
        } LNFOLD_CATCH(...) {
            exec_.input_grad = nullptr;
            LNFOLD_RETHROW;
        }
        exec_.input_grad = nullptr;
        if (!exec_.input_grad_written) std::fill(input_gradient.begin(), input_gradient.end(), T(0));
    }
    void zero_grad() {
        T* grads = gradient_arena();
        std::fill(grads, grads + arena_size, T(0));
    }

    // Calls f(parameter_ref<T>) for every parameter tensor, in execution order.
    template <class F>
    void visit_parameters(F&& f) {
        for (std::size_t t = 0; t < tensor_count; ++t) {
            const param_entry& e = graph.tensors[t];
            f(parameter_ref<T>{e.path.view(), {writable_parameters("Model::visit_parameters") + e.offset, e.spec.numel()},
                               e.spec});
        }
    }
    template <class F>
    void visit_parameters(F&& f) const {
        require_state("Model::visit_parameters");
        for (std::size_t t = 0; t < tensor_count; ++t) {
            const param_entry& e = graph.tensors[t];
            f(parameter_ref<const T>{e.path.view(), {params_.data() + e.offset, e.spec.numel()}, e.spec});
        }
    }

    std::span<T> parameter(std::string_view path) {
        return {writable_parameters("Model::parameter") + entry(path).offset, entry(path).spec.numel()};
    }
    std::span<const T> parameter(std::string_view path) const {
        require_state("Model::parameter");
        return {params_.data() + entry(path).offset, entry(path).spec.numel()};
    }
    // One parameter's gradient (the const form is empty before the gradient arena exists).
    std::span<const T> gradient(std::string_view path) const {
        require_state("Model::gradient");
        const param_entry& e = entry(path);
        if (grads_.size() == 0) return {};
        return {grads_.data() + e.offset, e.spec.numel()};
    }
    std::span<T> gradient(std::string_view path) {
        const param_entry& e = entry(path);
        return {gradient_arena() + e.offset, e.spec.numel()};
    }
    static const param_entry& entry(std::string_view path) {
        for (std::size_t t = 0; t < tensor_count; ++t)
            if (graph.tensors[t].path.view() == path) return graph.tensors[t];
        std::string known;
        for (std::size_t t = 0; t < tensor_count && t < 8; ++t) known += (t ? ", " : "") + std::string(graph.tensors[t].path.view());
        if (tensor_count > 8) known += ", ...";
        raise<config_error>("lnfold: no parameter named '" + std::string(path) + "' (the network has " +
                           std::to_string(tensor_count) + ": " + known + ")");
    }

    // The whole arenas (padding between tensors is zero and stays zero). gradients() allocates the gradient arena
    // (zeroed) when there is none yet; its const form is then empty.
    std::span<T> parameters() { return {writable_parameters("Model::parameters"), arena_size}; }
    std::span<const T> parameters() const {
        require_state("Model::parameters");
        return params_.span();
    }
    std::span<T> gradients() { return {gradient_arena(), arena_size}; }
    std::span<const T> gradients() const {
        require_state("Model::gradients");
        return grads_.span();
    }
    // Whether the parameters are the caller's (Model(arena)).
    bool borrows_parameters() const { return params_.borrowed(); }

    // The bytes this Model holds, by part (see model_memory); memory the caller lent it (Model(arena),
    // use_activation_memory) is not counted. Buffers count padded to 64 bytes, as in activation_bytes.
    model_memory memory_report() const {
        require_state("Model::memory_report");
        const auto bytes = [](const aligned_buffer<T>& b) { return padded(b.owned_size()) * sizeof(T); };
        model_memory m;
        m.parameters = params_.owned_size() * sizeof(T);
        m.gradients = grads_.owned_size() * sizeof(T);
        for (std::size_t n = 0; n < node_count; ++n) {
            m.activations += bytes(exec_.outputs[n]) + bytes(exec_.scratch[n]);
            m.backward += bytes(exec_.grads[n]);
        }
        m.backward += bytes(exec_.dx) + bytes(exec_.work);
        return m;
    }
    // The activation bytes (outputs, residual sums, scratch; each padded to 64 bytes) a forward of this layout
    // needs, from the planning pass forward runs, without allocating or computing anything: what
    // memory_report().activations becomes after the first forward of the layout. Token ids are not looked at (their
    // values do not change any size); width is the input's features per row, for networks that accept any width.
    result<std::size_t> activation_bytes(const Layout& layout, std::size_t width = input_width) {
        return plan_only(layout, width, false, "Model::activation_bytes");
    }
    // Runs every forward in `memory` (the caller's, 64-byte aligned, at least activation_bytes(layout, width)
    // bytes, alive as long as the Model uses it) instead of buffers of its own: the buffers of a forward of
    // `layout` are laid out in it now, and a later forward that needs more (a larger layout) fails with
    // allocation_error. Backward's buffers stay the Model's own. A copy of the Model owns copies of the buffers.
    status use_activation_memory(std::span<std::byte> memory, const Layout& layout, std::size_t width = input_width) {
        const result<std::size_t> needed = plan_only(layout, width, false, "Model::use_activation_memory");
        if (!needed) return needed.error();
        if (reinterpret_cast<std::uintptr_t>(memory.data()) % arena_alignment_bytes != 0)
            return status::of<config_error>("lnfold: Model::use_activation_memory: the memory must be aligned to " +
                                            std::to_string(arena_alignment_bytes) + " bytes");
        if (memory.size() < *needed)
            return status::of<allocation_error>("lnfold: Model::use_activation_memory: a forward of " +
                                                layout.describe() + " needs " + std::to_string(*needed) +
                                                " bytes (Model::activation_bytes), got " + std::to_string(memory.size()));
        exec_.carve = reinterpret_cast<T*>(memory.data());
        exec_.carve_left = memory.size() / sizeof(T);
        const result<std::size_t> planned = plan_only(layout, width, true, "Model::use_activation_memory");
        exec_.carve = nullptr;
        exec_.carve_left = 0;
        last_ = {};
        return planned ? status{} : planned.error();
    }

    // Norm eps, per LayerNorm / RMSNorm node (path of the norm, e.g. "h.0.ln_1") or for all of them (a network
    // without norms has no eps: config_error). eps must be finite and > 0 as a double and as T (config_error).
    void set_eps(double eps) {
        require_state("Model::set_eps");
        if constexpr (!has_norms)
            raise<config_error>("lnfold: Model::set_eps: the network has no LayerNorm or RMSNorm, so it has no eps to set");
        check_eps(eps, "all norms");
        for (std::size_t n = 0; n < node_count; ++n)
            if (graph.nodes[n].has_eps) exec_.settings[n].eps = eps;
    }
    void set_eps(std::string_view path, double eps) {
        require_state("Model::set_eps");
        const std::size_t n = norm_node(path);
        check_eps(eps, path);
        exec_.settings[n].eps = eps;
    }
    double eps(std::string_view path) const {
        require_state("Model::eps");
        return exec_.settings[norm_node(path)].eps;
    }

    // Fused residual add + norm (on by default): a Residual whose sum goes straight into a LayerNorm or RMSNorm
    // leaves the addition to the norm, which computes the sum and its output in one pass over memory. Results
    // and gradients are bit-identical either way; off, every add runs on its own (for comparison and timing).
    void set_fused_add_norm(bool enabled) { exec_.fuse_residual_norms = enabled; }
    bool fused_add_norm() const { return exec_.fuse_residual_norms; }

    // Training mode: Dropout draws masks from (seed, step, node, element); inference mode is deterministic.
    void set_training(bool training, std::uint64_t seed = 0) {
        require_state("Model::set_training");
        for (auto& s : exec_.settings) {
            s.training = training;
            s.seed = seed;
        }
    }
    void set_step(std::uint64_t step) {
        require_state("Model::set_step");
        for (auto& s : exec_.settings) s.step = step;
    }

    const executor<T>& state() const { return exec_; }

private:
    // The planning pass alone (no token ids), its plan in bytes; allocates: whether it sizes the buffers. The latest
    // forward's token ids stay where backward reads them.
    result<std::size_t> plan_only(const Layout& layout, std::size_t width, bool allocates, const char* who) {
        if (moved_from()) return moved_from_error(who);
        std::size_t rows = 0;
        if (status s = check_layout(layout, rows); !s) return s;
        const std::int32_t* latest_tokens = std::exchange(exec_.tokens, nullptr);
        const status planned =
            plan_network<Net>(exec_, activation<T>{nullptr, layout, reads_tokens ? 0 : width}, allocates);
        exec_.tokens = latest_tokens;
        if (!planned) return planned;
        std::size_t bytes = 0;
        if (__builtin_mul_overflow(exec_.planned_elements, sizeof(T), &bytes))
            return status::of<shape_error>("lnfold: Model::activation_bytes: " + std::to_string(exec_.planned_elements) +
                                           " values overflow size_t as bytes");
        return bytes;
    }
    // The parameter arena for writing; a config_error when it is the caller's (Model(arena)).
    T* writable_parameters(const char* who) {
        require_state(who);
        if (params_.borrowed())
            raise<config_error>(std::string("lnfold: ") + who + ": the parameters are the caller's (Model(arena)), "
                                "which the Model never writes; copy the Model to get parameters of its own");
        return params_.data();
    }
    // The gradient arena, allocated (zeroed) on first use.
    T* gradient_arena() {
        require_state("Model::gradients");
        if (grads_.size() == 0) grads_.ensure(arena_size, "Model", "the gradient arena");
        return grads_.data();
    }
    // A moved-from Model (see the move constructor) has no per-node state.
    bool moved_from() const { return exec_.outputs.size() != node_count; }
    // (Out of line: the message is built only on this cold path.)
    [[gnu::cold, gnu::noinline]] static status moved_from_error(const char* who) {
        std::string message = "lnfold: ";
        message += who;
        message += ": this Model was moved from and holds no parameters; assign a Model to it first";
        return status::of<config_error>(std::move(message));
    }
    [[gnu::cold, gnu::noinline]] static void raise_moved_from(const char* who) { moved_from_error(who).raise_if_error(); }
    void require_state(const char* who) const {
        if (moved_from()) [[unlikely]] raise_moved_from(who);
    }
    static std::size_t norm_node(std::string_view path) {
        for (std::size_t n = 0; n < node_count; ++n)
            if (graph.nodes[n].has_eps && graph.nodes[n].path.view() == path) return n;
        std::string known;
        for (std::size_t n = 0; n < node_count; ++n)
            if (graph.nodes[n].has_eps) known += (known.empty() ? "" : ", ") + std::string(graph.nodes[n].path.view());
        raise<config_error>("lnfold: no norm (a layer with an eps) at '" + std::string(path) + "' (norms: " +
                           (known.empty() ? std::string("none") : known) + ")");
    }
    // The shortest text that reads back as v ("1e-300", "-1e-05", "inf").
    static std::string number_text(double v) {
        char text[32];
        return std::string(text, std::to_chars(text, text + sizeof text, v).ptr);
    }
    // eps is added to the variance in T: it must be finite and > 0 there too. 1e-300 is a fine double but 0 in
    // float, where a constant row would then give 0 / sqrt(0) = NaN; 1e300 is inf in float.
    static void check_eps(double eps, std::string_view where) {
        constexpr const char* type = std::is_same_v<T, float> ? "float" : "double";
        if (!(eps > 0) || !std::isfinite(eps))
            raise<config_error>("lnfold: eps of " + std::string(where) + " must be a finite number > 0, got " +
                               number_text(eps));
        const bool fits = eps <= static_cast<double>(std::numeric_limits<T>::max()) && static_cast<T>(eps) > T(0);
        if (!fits)
            raise<config_error>("lnfold: eps of " + std::string(where) + " must be a finite number > 0 in " + type +
                               " (the model's element type), got " + number_text(eps) + ", which is " +
                               (eps > 1 ? "inf" : "0") + " in " + type);
    }
    // The rows of a batch layout (batch x tokens), after checking that it is not empty, that an image's tokens are
    // its height x width, and that neither product overflows size_t.
    static status check_layout(const Layout& layout, std::size_t& rows) {
        if (layout.batch == 0 || layout.tokens == 0)
            return status::of<shape_error>("lnfold: Model::forward: the batch layout " + layout.describe() + " is empty");
        status error;
        std::size_t pixels = 0;
        if (layout.is_image()) {
            if (!mul_or_report(pixels, layout.height, "pixels high", layout.width, "pixels wide",
                               "lnfold: Model::forward: the image layout", error))
                return error;
            if (layout.tokens != pixels)
                return status::of<shape_error>("lnfold: Model::forward: an image layout needs tokens == height * "
                                               "width, got " + std::to_string(layout.tokens));
        }
        mul_or_report(rows, layout.batch, "samples", layout.tokens, "tokens", "lnfold: Model::forward: the batch layout",
                      error);
        return error;
    }
    static status check_input(std::size_t size, const Layout& layout, std::size_t rows, std::size_t per_row,
                              const char* what) {
        status error;
        std::size_t expected = 0;
        if (!mul_or_report(expected, rows, "rows", per_row, what, "lnfold: Model::forward: the input", error))
            return error;
        if (size != expected)
            return status::of<shape_error>("lnfold: Model::forward: input of " + layout.describe() + " needs " +
                                           std::to_string(expected) + " " + what + " (" + std::to_string(rows) +
                                           " rows x " + std::to_string(per_row) + "), got " + std::to_string(size));
        return {};
    }
    // Plans the forward (every check and buffer, executor::planning), then computes it.
    result<tensor_view<T>> run(activation<T> in) {
        if (moved_from()) return moved_from_error("Model::forward");
        const result<activation<T>> out = plan_and_run<Net>(exec_, in);
        if (!out) return out.error();
        last_ = {out->data, out->layout, out->width};
        last_input_ = in;
        return last_;
    }

    aligned_buffer<T> params_, grads_;
    executor<T> exec_;
    tensor_view<T> last_{};
    activation<T> last_input_{};  // the latest forward's input (its layout and width; data is the caller's)
};

}  // namespace lnfold
