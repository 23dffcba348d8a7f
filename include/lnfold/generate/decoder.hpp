#pragma once
// decoder<Net, T>: incremental decoding of a causal network with a key/value cache (Model::decoder).
//
//   auto state = model.decoder(/*max_batch=*/4, /*max_length=*/256);
//   state.prefill(prompt_ids);                 // the prompt as one batch of rows; logits of every prompt token
//   auto logits = state.step(next_ids);         // one new token per sequence: one row each through every layer
//
// A network decodes when it starts with an Embedding and every layer is row-wise (Linear, norms, activations,
// residual adds, heads) or positional with a decode() (PositionEmbedding, causal SelfAttention): see
// layers/layer_base.hpp, decode_support. A call's rows are the new tokens of each sequence, packed one sequence after
// the other; each sequence continues from its own cached length, so sequences of different lengths share a batch.
//
// The cache: per causal SelfAttention<Dim, Heads>, keys and values of every decoded position, for max_batch slots
// of max_length positions:  2 x max_batch x max_length x Dim values, i.e. 2 x Dim x sizeof(T) bytes per token per
// attention layer (bytes_per_token()). Everything is allocated by the constructor and the first call of each shape;
// a step allocates nothing afterwards.
//
// The decoder reads the Model's parameters where they are, and copies its settings (eps, fused add + norm) at
// construction, inference mode: the Model must outlive it and keep its parameters in place (not be moved, or
// move-assigned to); after changing them, reset() (the cache holds keys and values computed with the old ones).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lnfold/core/aligned_buffer.hpp"
#include "lnfold/core/checked_size.hpp"
#include "lnfold/core/error.hpp"
#include "lnfold/core/layout.hpp"
#include "lnfold/core/tensor_view.hpp"
#include "lnfold/graph/executor.hpp"
#include "lnfold/graph/model.hpp"

namespace lnfold {

// Whether every node of Net can decode incrementally and the network reads token ids.
template <class Net>
constexpr bool decodable() {
    const auto& g = graph_v<Net>;
    if (g.node_count == 0 || !g.nodes[0].reads_tokens) return false;
    for (std::size_t n = 0; n < g.node_count; ++n)
        if (g.nodes[n].decoding == decode_support::none) return false;
    return true;
}

// Which logits a prefill returns: every new token's, or only each sequence's last (what generation needs; the head
// then computes one row per sequence).
enum class logits_rows { all, last };

template <class Net, class T>
class decoder {
    static_assert(decodable<Net>(),
                  "lnfold: Model::decoder needs a causal token network: an Embedding first, then only row-wise "
                  "layers (Linear, norms, activations, residual adds, heads), PositionEmbedding and causal "
                  "SelfAttention (no pooling, class token, convolution or non-causal attention)");
    static constexpr const auto& graph = graph_v<Net>;
    static constexpr std::size_t node_count = graph.node_count;

public:
    using value_type = T;
    // The most positions a sequence can hold: the shortest position table (no limit without one).
    static constexpr std::size_t context = [] {
        std::size_t shortest = std::numeric_limits<std::size_t>::max();
        for (std::size_t n = 0; n < node_count; ++n)
            if (graph.nodes[n].max_positions > 0) shortest = std::min(shortest, graph.nodes[n].max_positions);
        return shortest;
    }();

    decoder(const Model<Net, T>& model, std::size_t max_batch, std::size_t max_length)
        : exec_(std::span<const graph_node>(graph.nodes.data(), node_count)), max_batch_(max_batch),
          max_length_(max_length), lengths_(max_batch, 0), segments_(max_batch) {
        const std::string at = "lnfold: Model::decoder: ";
        if (model.state().outputs.size() != node_count)
            raise<config_error>(at + "the Model was moved from and holds no parameters");
        if (max_batch == 0 || max_length == 0)
            raise<shape_error>(at + "max_batch and max_length must be at least 1, got " + std::to_string(max_batch) +
                               " and " + std::to_string(max_length));
        for (std::size_t n = 0; n < node_count; ++n)
            if (graph.nodes[n].max_positions > 0 && max_length > graph.nodes[n].max_positions)
                raise<shape_error>(at + "max_length " + std::to_string(max_length) + " exceeds the " +
                                   std::to_string(graph.nodes[n].max_positions) + " positions of the " +
                                   std::string(graph.nodes[n].kind_name) + " at '" +
                                   std::string(graph.nodes[n].path.view()) + "'");
        exec_.params = model.state().params;
        exec_.settings = model.state().settings;
        for (node_settings& s : exec_.settings) s.training = false;
        exec_.fuse_residual_norms = model.state().fuse_residual_norms;
        exec_.decoding = true;
        exec_.segments = segments_.data();
        exec_.cache_capacity = max_length;

        // keys | values per node that caches them (causal attention), each max_batch x max_length x width
        const char* what = "lnfold: Model::decoder: the key/value cache";
        std::size_t per_node_total = 0;
        for (std::size_t n = 0; n < node_count; ++n)
            if (graph.nodes[n].caches_keys_values) {
                const std::size_t one = checked_mul(checked_mul(max_batch, "sequences", max_length, "positions", what),
                                                    "tokens", graph.nodes[n].in_width, "values", what);
                per_node_total = checked_add(per_node_total, "values", checked_mul(one, "values", 2, "caches", what),
                                             "values", what);
            }
        cache_.ensure(per_node_total, "Model::decoder", [&] { return std::string("the key/value cache"); });
        std::fill_n(cache_.data(), per_node_total, T(0));
        exec_.cache_keys.assign(node_count, nullptr);
        exec_.cache_values.assign(node_count, nullptr);
        T* next = cache_.data();
        for (std::size_t n = 0; n < node_count; ++n)
            if (graph.nodes[n].caches_keys_values) {
                const std::size_t one = max_batch * max_length * graph.nodes[n].in_width;
                exec_.cache_keys[n] = next;
                exec_.cache_values[n] = next + one;
                next += 2 * one;
            }
        packed_ids_.reserve(std::min(checked_mul(max_batch, "sequences", max_length, "positions", what),
                                     std::size_t(1) << 20));
    }

    decoder(const decoder&) = delete;  // the executor points into this decoder's own buffers
    decoder& operator=(const decoder&) = delete;
    // A moved-from decoder holds no slot: every call on it is a clear error.
    decoder(decoder&& other) noexcept
        : exec_(std::move(other.exec_)), cache_(std::move(other.cache_)), max_batch_(std::exchange(other.max_batch_, 0)),
          max_length_(std::exchange(other.max_length_, 0)), batch_(std::exchange(other.batch_, 0)),
          lengths_(std::move(other.lengths_)), segments_(std::move(other.segments_)),
          packed_ids_(std::move(other.packed_ids_)), last_(std::exchange(other.last_, {})),
          one_row_per_sequence_(other.one_row_per_sequence_) {}
    decoder& operator=(decoder&&) = delete;

    std::size_t max_batch() const { return max_batch_; }
    std::size_t max_length() const { return max_length_; }
    // Sequences in use: set by the first prefill after construction or reset().
    std::size_t batch() const { return batch_; }
    // Tokens decoded so far in sequence `sequence`.
    std::size_t length(std::size_t sequence) const {
        if (sequence >= lengths_.size())
            raise<index_error>("lnfold: decoder::length: sequence " + std::to_string(sequence) + " is outside the " +
                               std::to_string(lengths_.size()) + " slots (max_batch)");
        return lengths_[sequence];
    }
    // Cache bytes per token per attention layer, and the whole cache.
    static constexpr std::size_t bytes_per_token(std::size_t dim) { return 2 * dim * sizeof(T); }
    std::size_t cache_bytes() const { return cache_.size() * sizeof(T); }

    // Forgets every sequence (the caches keep their memory).
    void reset() {
        batch_ = 0;
        std::fill(lengths_.begin(), lengths_.end(), std::size_t(0));
        last_ = {};
    }

    // Prefill with equal lengths: ids holds `batch` sequences of ids.size() / batch tokens each, one after the other.
    // Starts `batch` sequences (after construction or reset) or continues the current ones. Returns the logits of
    // every new token: batch x tokens rows, sequence by sequence (logits_rows::last: the last token's of each
    // sequence, batch rows, when the network ends in a row-wise layer such as its head). Logits stay valid until
    // the next call.
    // A call that fails (a status from try_*, or a raise) keeps the sequences and their lengths as they were; the
    // latest logits may be gone.
    tensor_view<T> prefill(std::span<const std::int32_t> ids, std::size_t batch = 1, logits_rows rows = logits_rows::all) {
        return try_prefill(ids, batch, rows).value();
    }
    result<tensor_view<T>> try_prefill(std::span<const std::int32_t> ids, std::size_t batch = 1,
                                       logits_rows rows = logits_rows::all) {
        if (batch == 0 || ids.empty() || ids.size() % batch != 0)
            return status::of<shape_error>("lnfold: decoder::prefill: " + std::to_string(ids.size()) +
                                           " ids must split into " + std::to_string(batch) +
                                           " sequences of at least one token each");
        const std::size_t tokens = ids.size() / batch;
        if (status s = start(batch, "prefill"); !s) return s;
        for (std::size_t b = 0; b < batch; ++b) segments_[b] = {b * tokens, tokens, lengths_[b], b};
        return run(ids.data(), batch, Layout{batch, tokens}, rows);
    }
    // Prefill with one prompt per sequence, of any lengths (at least one token each); the rows of the result are
    // the prompts' tokens, packed one prompt after the other (logits_rows::last: one row per prompt, its last).
    tensor_view<T> prefill(std::span<const std::span<const std::int32_t>> prompts, logits_rows rows = logits_rows::all) {
        return try_prefill(prompts, rows).value();
    }
    result<tensor_view<T>> try_prefill(std::span<const std::span<const std::int32_t>> prompts,
                                       logits_rows rows = logits_rows::all) {
        if (status s = start(prompts.size(), "prefill"); !s) return s;
        for (std::size_t b = 0; b < prompts.size(); ++b)
            if (prompts[b].empty())
                return status::of<shape_error>("lnfold: decoder::prefill: prompt " + std::to_string(b) +
                                               " is empty; every sequence needs at least one token");
        std::size_t total = 0;
        for (std::size_t b = 0; b < prompts.size(); ++b) {
            segments_[b] = {total, prompts[b].size(), lengths_[b], b};
            total += prompts[b].size();
        }
        packed_ids_.clear();
        for (const auto& prompt : prompts) packed_ids_.insert(packed_ids_.end(), prompt.begin(), prompt.end());
        return run(packed_ids_.data(), prompts.size(), Layout{1, total}, rows);
    }

    // One new token per sequence (next_ids[b] continues sequence b): batch() rows of logits, one per sequence.
    tensor_view<T> step(std::span<const std::int32_t> next_ids) { return try_step(next_ids).value(); }
    result<tensor_view<T>> try_step(std::span<const std::int32_t> next_ids) {
        if (batch_ == 0)
            return status::of<config_error>("lnfold: decoder::step: no sequence yet; call prefill first");
        if (next_ids.size() != batch_)
            return status::of<shape_error>("lnfold: decoder::step: expected one id per sequence (" +
                                           std::to_string(batch_) + "), got " + std::to_string(next_ids.size()));
        for (std::size_t b = 0; b < batch_; ++b) segments_[b] = {b, 1, lengths_[b], b};
        return run(next_ids.data(), batch_, Layout{batch_, 1}, logits_rows::all);
    }

    // The logits of sequence `sequence`'s latest token, from the latest prefill or step.
    std::span<const T> last_logits(std::size_t sequence) const {
        if (last_.data == nullptr || sequence >= batch_)
            raise<index_error>("lnfold: decoder::last_logits: sequence " + std::to_string(sequence) +
                               " has no logits (" + std::to_string(batch_) + " sequences decoded)");
        const decode_segment& seg = segments_[sequence];
        const std::size_t row = one_row_per_sequence_ ? sequence : seg.first_row + seg.rows - 1;
        return {last_.data + row * last_.width, last_.width};
    }

private:
    // Checks that `count` sequences can take part (a first prefill sets them).
    status start(std::size_t count, const char* call) {
        const std::string at = std::string("lnfold: decoder::") + call + ": ";
        if (count == 0 || count > max_batch_)
            return status::of<shape_error>(at + "the batch must hold 1 to " + std::to_string(max_batch_) +
                                           " sequences (max_batch), got " + std::to_string(count));
        if (batch_ != 0 && count != batch_)
            return status::of<shape_error>(at + "the decoder holds " + std::to_string(batch_) + " sequences, got " +
                                           std::to_string(count) + "; reset() first to start new ones");
        return {};
    }

    // Plans (every check and buffer), then runs one decoding call over segments_[0, count); the lengths advance only
    // when it succeeds.
    result<tensor_view<T>> run(const std::int32_t* ids, std::size_t count, Layout layout, logits_rows rows) {
        last_ = {};
        std::size_t longest = 0;
        for (std::size_t b = 0; b < count; ++b) {
            const decode_segment& seg = segments_[b];
            if (seg.rows > max_length_ - seg.past)
                return status::of<shape_error>("lnfold: decoder: sequence " + std::to_string(b) + " holds " +
                                               std::to_string(seg.past) + " of " + std::to_string(max_length_) +
                                               " positions (max_length) and cannot take " + std::to_string(seg.rows) +
                                               " more; reset() the decoder (every sequence) or make one with a "
                                               "longer max_length");
            longest = std::max(longest, seg.rows);
        }
        exec_.segment_count = count;
        exec_.last_rows_only = rows == logits_rows::last;
        exec_.longest_segment = longest;
        exec_.tokens = ids;
        const result<activation<T>> planned_and_run = plan_and_run<Net>(exec_, activation<T>{nullptr, layout, 0});
        if (!planned_and_run) return planned_and_run.error();
        const activation<T>& out = *planned_and_run;
        batch_ = count;
        for (std::size_t b = 0; b < count; ++b) lengths_[b] += segments_[b].rows;
        last_ = {out.data, out.layout, out.width};
        one_row_per_sequence_ = last_.rows() == count;  // a step, or logits_rows::last (the head took the last rows)
        return last_;
    }

    executor<T> exec_;
    aligned_buffer<T> cache_;
    std::size_t max_batch_, max_length_, batch_ = 0;
    std::vector<std::size_t> lengths_;
    std::vector<decode_segment> segments_;
    std::vector<std::int32_t> packed_ids_;
    tensor_view<T> last_{};
    bool one_row_per_sequence_ = false;  // last_ holds row s for sequence s
};

}  // namespace lnfold
