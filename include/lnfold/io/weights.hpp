#pragma once
// load / save: a Model's parameters from / to a safetensors file, by parameter path ("h.0.ln_1.weight").
//
//   io::load(model, "gpt2.safetensors");                 // strict: every parameter and every file tensor matched
//   io::load_options o;
//   o.rename = [](std::string_view p) { return "transformer." + std::string(p); };
//   o.transpose = [](std::string_view p) { return p.ends_with("c_fc.weight"); };   // Conv1D stores (in, out)
//   io::load(model, "gpt2.safetensors", o);
//   io::save(model, "out.safetensors");                  // F32 for Model<Net, float>, F64 for double
//
// A parameter is stored as one file tensor (possibly renamed, transposed, or with leading size-1 dimensions), or
// as several file tensors concatenated along dim 0 (ViT's query / key / value for lnfold's fused qkv).
// Loading is all-or-nothing: every problem (missing, unexpected, mis-shaped, unreadable dtype, a NaN or infinity,
// an impossible layout, a tied copy that differs) is collected first and reported in one io_error listing all of
// them; the model is only written when there is none.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lnfold/core/error.hpp"
#include "lnfold/graph/model.hpp"
#include "lnfold/io/safetensors.hpp"

namespace lnfold::io {

// How model parameter paths map to tensors in a file (shared by load and save).
struct tensor_naming {
    // Model path -> file tensor name: `names` first, then `rename`, else the path itself. An empty name means
    // "not in the file": load keeps the parameter's current value, save skips it.
    std::map<std::string, std::string, std::less<>> names;
    std::function<std::string(std::string_view)> rename;
    // 2-D parameters stored transposed in the file, by model path: `transposed` or `transpose(path)` is true.
    // lnfold's Linear stores weight (out, in) like torch.nn.Linear; GPT-2's Conv1D stores (in, out).
    std::set<std::string, std::less<>> transposed;
    std::function<bool(std::string_view)> transpose;
    // Parameters stored as k file tensors concatenated along dim 0, by model path: `concatenated[path]`, else
    // `concatenate(path)` when it returns a non-empty list. Each file tensor holds shape[0] / k rows, in order:
    // shape (shape[0] / k, shape[1], ...). ViT's attention.query / key / value (D, D) make lnfold's qkv (3D, D).
    // `names` and `rename` are not used for such a parameter.
    std::map<std::string, std::vector<std::string>, std::less<>> concatenated;
    std::function<std::vector<std::string>(std::string_view)> concatenate;
    // Parameters stored with this many extra leading dimensions of size 1 (the same values in the same order), by
    // model path: `unsqueezed[path]`, else `unsqueeze(path)`. ViT's position_embeddings (1, N + 1, D) is lnfold's
    // (N + 1, D) table with 1.
    std::map<std::string, std::size_t, std::less<>> unsqueezed;
    std::function<std::size_t(std::string_view)> unsqueeze;
    // A parameter has at most one of these layouts: transposed, concatenated, unsqueezed.

    std::string file_name(std::string_view path) const {
        if (auto it = names.find(path); it != names.end()) return it->second;
        if (rename) return rename(path);
        return std::string(path);
    }
    bool is_transposed(std::string_view path) const {
        return transposed.find(path) != transposed.end() || (transpose && transpose(path));
    }
    std::vector<std::string> parts(std::string_view path) const {
        if (auto it = concatenated.find(path); it != concatenated.end()) return it->second;
        if (concatenate) return concatenate(path);
        return {};
    }
    std::size_t leading_ones(std::string_view path) const {
        if (auto it = unsqueezed.find(path); it != unsqueezed.end()) return it->second;
        if (unsqueeze) return unsqueeze(path);
        return 0;
    }
};

struct load_options : tensor_naming {
    // true (default): a file tensor that no parameter reads is an error. false: such tensors are ignored.
    bool strict = true;
    // false (default): a parameter without a tensor in the file is an error. true: it keeps its current value.
    bool allow_missing = false;
    // false (default): a parameter whose file values hold a NaN or an infinity, as read into the model's type T (a
    // finite F64 beyond float's range becomes an infinity in a float model), is an error naming the tensor, how
    // many values are not finite, the first one's element index (row-major as stored in the file) and its value.
    // true: they are loaded as they are (for example to inspect a diverged checkpoint). lnfold-fold keeps false.
    bool allow_non_finite = false;
    // Hugging Face's base-model prefix ("transformer." in GPT2LMHeadModel files, "vit." in
    // ViTForImageClassification files): a file tensor named prefix + name is matched as name, so one naming reads
    // files with and without it. A file holding both forms of one name is an error.
    std::string prefix;
    // File tensors that are not parameters and are skipped even when strict (GPT-2's attn.bias / attn.masked_bias
    // causal-mask buffers), by name without the prefix. They are listed in load_result::ignored.
    std::function<bool(std::string_view)> ignore;
    // File tensors that may repeat a parameter (a tied head saved twice: GPT-2's lm_head.weight = wte.weight),
    // name without the prefix -> model path. Used only when no parameter reads that tensor: then it must have the
    // shape of the parameter's file tensor and the same values (both converted to T). Absent is fine.
    std::map<std::string, std::string, std::less<>> copies;
};

struct load_result {
    std::vector<std::string> loaded;   // model paths read from the file
    std::vector<std::string> kept;     // model paths not in the file (allow_missing, or mapped to "")
    std::vector<std::string> ignored;  // file tensors no parameter read (strict = false, or load_options::ignore)
    std::vector<std::string> copies;   // file tensors checked equal to the parameter they repeat (load_options::copies)
    std::size_t prefixed = 0;          // file tensors whose name carried load_options::prefix
};

struct save_options : tensor_naming {
    std::vector<std::pair<std::string, std::string>> metadata;  // written as "__metadata__"
    // Adds {"format": "pt"} (what Hugging Face loaders look for) unless metadata already has a "format" key.
    bool format_pt = true;
};

namespace detail {

inline std::vector<std::size_t> shape_of(const param_spec& spec) {
    return std::vector<std::size_t>(spec.shape.begin(), spec.shape.begin() + static_cast<std::ptrdiff_t>(spec.rank));
}

// Where one parameter lives in a file: its file tensors (one, k for a concatenation, none when mapped to ""), the
// shape each must have, and whether the single tensor is transposed. `problem` is set when the layout is impossible.
struct parameter_storage {
    struct part {
        std::string name;
        std::vector<std::size_t> shape;
    };
    std::vector<part> parts;
    bool transposed = false;
    std::string problem;
};

inline parameter_storage storage_of(const tensor_naming& naming, std::string_view path, const param_spec& spec) {
    parameter_storage s;
    const std::vector<std::size_t> shape = shape_of(spec);
    const std::vector<std::string> parts = naming.parts(path);
    const std::size_t ones = naming.leading_ones(path);
    s.transposed = naming.is_transposed(path);
    std::string layouts;
    for (const auto& [asked, layout] : {std::pair{s.transposed, "transposed"}, std::pair{!parts.empty(), "concatenated"},
                                        std::pair{ones > 0, "unsqueezed"}})
        if (asked) layouts += (layouts.empty() ? "" : " and ") + std::string(layout);
    if (layouts.find(" and ") != std::string::npos) {
        s.problem = "cannot store " + detail::quoted(path) + " " + layouts + ": a parameter has at most one of these layouts";
        return s;
    }
    if (s.transposed && spec.rank != 2) {
        s.problem = "cannot transpose " + detail::quoted(path) + ": it has shape " + shape_string(shape) +
                    ", only 2-D tensors can be transposed";
        return s;
    }
    if (!parts.empty()) {
        const std::size_t k = parts.size();
        if (spec.rank == 0 || shape[0] % k != 0) {
            s.problem = "cannot split " + detail::quoted(path) + " of shape " + shape_string(shape) + " into " + std::to_string(k) +
                        " file tensors along dim 0";
            return s;
        }
        std::vector<std::size_t> part_shape = shape;
        part_shape[0] /= k;
        for (const std::string& name : parts) {
            if (name.empty()) {
                s.problem = "cannot read " + detail::quoted(path) + " from an empty file tensor name (one of its " +
                            std::to_string(k) + " concatenated parts)";
                return s;
            }
            s.parts.push_back({name, part_shape});
        }
        return s;
    }
    std::string name = naming.file_name(path);
    if (name.empty()) return s;
    std::vector<std::size_t> file_shape(ones, 1);
    file_shape.insert(file_shape.end(), shape.begin(), shape.end());
    if (s.transposed) std::swap(file_shape[0], file_shape[1]);
    s.parts.push_back({std::move(name), std::move(file_shape)});
    return s;
}

// " (file name 'x')" when the file's name differs from the model path; " part i of k" for concatenations.
inline std::string file_name_note(std::string_view path, const parameter_storage& s, std::size_t part,
                                  std::string_view actual_name) {
    std::string note;
    if (s.parts.size() > 1) note += " part " + std::to_string(part + 1) + " of " + std::to_string(s.parts.size());
    if (actual_name != path) note += " (file name " + detail::quoted(actual_name) + ")";
    return note;
}

// "2 of 88 values are not finite (read as double), the first at element 5: nan", or "" when all are finite. Reads the
// tensor a block at a time, converted to T as the load would.
template <class T>
std::string first_non_finite(const safetensors_file& file, const tensor_info& t) {
    if (t.type == dtype::F32 && file.count_non_finite_f32(t) == 0) return {};  // the usual case, at memory speed
    constexpr std::size_t block = 1024;
    T values[block];
    const std::size_t n = t.numel();
    std::size_t count = 0, first = 0;
    T value = 0;
    for (std::size_t begin = 0; begin < n; begin += block) {
        const std::size_t size = std::min(block, n - begin);
        file.read_elements<T>(t, begin, std::span<T>(values, size));
        for (std::size_t i = 0; i < size; ++i)
            if (!std::isfinite(values[i]) && count++ == 0) {
                first = begin + i;
                value = values[i];
            }
    }
    if (count == 0) return {};
    char text[32];
    std::snprintf(text, sizeof text, "%g", static_cast<double>(value));
    return std::to_string(count) + " of " + std::to_string(n) + " values are not finite (read as " +
           (sizeof(T) == sizeof(float) ? "float" : "double") + "), the first at element " + std::to_string(first) +
           ": " + text;
}

// "3 of 88 values differ, the first at element 5: 0.25 vs 0.5", or "" when file tensors a and b (the same shape)
// hold equal values once converted to T (NaN equals NaN). Read a block at a time: a tied copy of GPT-2's table is
// 154 MB, and no copy of it is made.
template <class T>
std::string first_difference(const safetensors_file& file, const tensor_info& a, const tensor_info& b) {
    constexpr std::size_t block = 4096;
    T x[block], y[block];
    const std::size_t n = a.numel();
    std::size_t count = 0, first = 0;
    T first_x = 0, first_y = 0;
    for (std::size_t begin = 0; begin < n; begin += block) {
        const std::size_t size = std::min(block, n - begin);
        file.read_elements<T>(a, begin, std::span<T>(x, size));
        file.read_elements<T>(b, begin, std::span<T>(y, size));
        for (std::size_t i = 0; i < size; ++i)
            if (!(x[i] == y[i]) && !(x[i] != x[i] && y[i] != y[i]) && count++ == 0) {
                first = begin + i;
                first_x = x[i];
                first_y = y[i];
            }
    }
    if (count == 0) return {};
    char values[96];
    std::snprintf(values, sizeof values, "%.9g vs %.9g", static_cast<double>(first_x), static_cast<double>(first_y));
    return std::to_string(count) + " of " + std::to_string(n) + " values differ, the first at element " +
           std::to_string(first) + ": " + values;
}

// dst (rows x cols, row-major) = the transpose of file tensor t, stored (cols, rows): in tiles of 32 x 32, so that
// both sides are read and written a cache line at a time (an element-by-element transpose of a 768 x 3072 Conv1D
// weight misses the cache on every write). F32 is read straight from the file's bytes; other dtypes are converted
// a tile row at a time.
template <class T>
void transpose_into(const safetensors_file& file, const tensor_info& t, std::size_t rows, std::size_t cols, std::span<T> dst) {
    constexpr std::size_t tile = 32;
    T buffer[tile][tile];
    for (std::size_t c0 = 0; c0 < cols; c0 += tile) {
        const std::size_t nc = std::min(tile, cols - c0);
        for (std::size_t r0 = 0; r0 < rows; r0 += tile) {
            const std::size_t nr = std::min(tile, rows - r0);
            for (std::size_t c = 0; c < nc; ++c)  // file row c0 + c, elements r0 .. r0 + nr
                file.read_elements<T>(t, (c0 + c) * rows + r0, std::span<T>(buffer[c], nr));
            for (std::size_t r = 0; r < nr; ++r)
                for (std::size_t c = 0; c < nc; ++c) dst[(r0 + r) * cols + c0 + c] = buffer[c][r];
        }
    }
}

// One io::load, in named steps; nothing is written before every problem is known:
//   load_plan(file, options)  index the file's names (without the prefix); names two tensors share are problems;
//   match(parameter)          for each model parameter: the file tensors it reads (a fused tensor may have parts),
//                             their shapes, dtypes and values checked; a read step per part, or a problem;
//   check_copies()            tied copies (load_options::copies) hold the values of the tensor they copy;
//   check_unread()            tensors nothing read: ignored, or problems under load_options::strict;
//   problems_message()        every problem in one message, when there is any;
//   write()                   the read steps, into the parameters.
template <class T>
class load_plan {
public:
    load_result result;

    load_plan(const safetensors_file& file, const load_options& options)
        : file_(file), options_(options), tensors_(file.tensors()), used_(tensors_.size(), 0),
          prefix_note_(options.prefix.empty() ? "" : ", with or without the prefix " + detail::quoted(options.prefix)) {
        // (name without the prefix, position in tensors), sorted: a lookup is a binary search that finds a name's
        // first tensor, and a name that two tensors share (with and without the prefix) sits next to its first;
        // n log n whatever the file's names are (a hash map could be driven quadratic by colliding names).
        index_.reserve(tensors_.size());
        for (std::size_t i = 0; i < tensors_.size(); ++i) {
            index_.emplace_back(key_of(i), i);
            result.prefixed += index_.back().first.size() != tensors_[i].name.size();
        }
        std::sort(index_.begin(), index_.end());
        for (std::size_t j = 1, first = 0; j < index_.size(); ++j) {
            if (index_[j].first != index_[first].first) {
                first = j;
                continue;
            }
            problems_.push_back("ambiguous " + detail::quoted(index_[j].first) + ": the file has both " +
                                detail::quoted(tensors_[index_[first].second].name) + " and " +
                                detail::quoted(tensors_[index_[j].second].name) + " (load_options::prefix is " +
                                detail::quoted(options_.prefix) + ")");
            used_[index_[j].second] = 1;
        }
    }

    void match(parameter_ref<T> p) {
        const std::string path(p.path);
        const parameter_storage s = storage_of(options_, p.path, p.spec);
        read_from_[p.path] = -2;
        if (!s.problem.empty()) {
            problems_.push_back(s.problem);
            return;
        }
        if (s.parts.empty()) {
            result.kept.push_back(path);
            read_from_[p.path] = -1;
            return;
        }
        std::vector<const tensor_info*> found(s.parts.size(), nullptr);
        std::size_t present = 0;
        for (std::size_t k = 0; k < s.parts.size(); ++k)
            if (const std::size_t* at = lookup(s.parts[k].name)) {
                found[k] = &tensors_[*at];
                used_[*at] = 1;
                ++present;
            }
        if (present == 0 && options_.allow_missing) {
            result.kept.push_back(path);
            read_from_[p.path] = -1;
            return;
        }
        bool ok = true;
        for (std::size_t k = 0; k < s.parts.size(); ++k) ok = check_part(path, s, k, found[k]) && ok;
        if (!ok) return;
        const std::size_t part_size = p.values.size() / s.parts.size();
        for (std::size_t k = 0; k < s.parts.size(); ++k)
            steps_.push_back({p.values.subspan(k * part_size, part_size), found[k], s.transposed ? p.spec.shape[0] : 0,
                              s.transposed ? p.spec.shape[1] : 0, s.transposed});
        read_from_[p.path] = s.parts.size() == 1 ? found[0] - tensors_.data() : -1;
        result.loaded.push_back(path);
    }

    void check_copies() {
        for (std::size_t i = 0; i < tensors_.size(); ++i) {
            if (used_[i]) continue;
            const auto copy = options_.copies.find(key_of(i));
            if (copy == options_.copies.end()) continue;
            used_[i] = 1;
            const auto source = read_from_.find(copy->second);
            const std::string what = "copy " + detail::quoted(tensors_[i].name) + " of " + detail::quoted(copy->second);
            if (source == read_from_.end()) {
                problems_.push_back(what + ": the model has no parameter " + detail::quoted(copy->second));
                continue;
            }
            if (source->second == -2) continue;  // that parameter's own problem is reported
            if (source->second == -1) {
                problems_.push_back(what + ": cannot check it, " + detail::quoted(copy->second) +
                                    " is not read from one file tensor");
                continue;
            }
            const tensor_info& original = tensors_[static_cast<std::size_t>(source->second)];
            if (tensors_[i].shape != original.shape) {
                problems_.push_back(what + ": expected the shape of " + detail::quoted(original.name) + " " +
                                    shape_string(original.shape) + ", the file has " + shape_string(tensors_[i].shape));
                continue;
            }
            if (!is_readable_float(tensors_[i].type)) {
                problems_.push_back(what + ": unreadable dtype, the file has " + tensors_[i].describe());
                continue;
            }
            if (const std::string diff = first_difference<T>(file_, tensors_[i], original); !diff.empty())
                problems_.push_back(what + " differs from " + detail::quoted(original.name) + ": " + diff +
                                    " (a tied copy must hold the same values)");
            else
                result.copies.push_back(tensors_[i].name);
        }
    }

    void check_unread() {
        for (std::size_t i = 0; i < tensors_.size(); ++i) {
            if (used_[i]) continue;
            if (options_.ignore && options_.ignore(key_of(i)))
                result.ignored.push_back(tensors_[i].name);
            else if (options_.strict)
                problems_.push_back("unexpected " + detail::quoted(tensors_[i].name) + ": " + tensors_[i].describe() +
                                    " is in the file but no parameter reads it (load_options::strict = false ignores it)");
            else
                result.ignored.push_back(tensors_[i].name);
        }
    }

    bool has_problems() const { return !problems_.empty(); }
    std::string problems_message(std::size_t parameter_tensors) const {
        std::string message = "lnfold: cannot load safetensors file " + detail::quoted(file_.source()) + " into a model with " +
                              std::to_string(parameter_tensors) + " parameter tensors: " +
                              std::to_string(problems_.size()) + (problems_.size() == 1 ? " problem" : " problems");
        constexpr std::size_t max_listed = 200;
        for (std::size_t i = 0; i < problems_.size() && i < max_listed; ++i) message += "\n  - " + problems_[i];
        if (problems_.size() > max_listed)
            message += "\n  - ... and " + std::to_string(problems_.size() - max_listed) + " more";
        return message;
    }

    void write() const {
        for (const step& s : steps_) {
            if (s.transposed) transpose_into<T>(file_, *s.src, s.rows, s.cols, s.dst);  // (cols, rows) in the file
            else file_.read_into<T>(*s.src, s.dst);
        }
    }

private:
    struct step {
        std::span<T> dst;
        const tensor_info* src;
        std::size_t rows, cols;  // the model's (rows, cols) for a transposed 2-D tensor
        bool transposed;
    };

    // A file tensor's name without the prefix.
    std::string_view key_of(std::size_t i) const {
        std::string_view key = tensors_[i].name;
        if (!options_.prefix.empty() && key.starts_with(options_.prefix)) key.remove_prefix(options_.prefix.size());
        return key;
    }
    const std::size_t* lookup(std::string_view name) const {
        const auto at = std::lower_bound(index_.begin(), index_.end(), name,
                                         [](const auto& entry, std::string_view n) { return entry.first < n; });
        return at != index_.end() && at->first == name ? &at->second : nullptr;
    }
    // Part k of a parameter's storage, found as t (null: missing): its shape, dtype and values; false on a problem.
    bool check_part(const std::string& path, const parameter_storage& s, std::size_t k, const tensor_info* t) {
        const std::string& name = s.parts[k].name;
        if (t == nullptr) {
            std::string hint;
            for (const auto& other : tensors_)
                if (other.name.size() > name.size() && other.name.ends_with("." + name)) {
                    hint = "; the file has " + detail::quoted(other.name) + " (map names with load_options::prefix or rename)";
                    break;
                }
            problems_.push_back("missing " + detail::quoted(path) + file_name_note(path, s, k, name) + prefix_note_ +
                                ": expected shape " + shape_string(s.parts[k].shape) + hint);
            return false;
        }
        const std::string called = file_name_note(path, s, k, t->name);
        if (t->shape != s.parts[k].shape) {
            problems_.push_back("shape mismatch " + detail::quoted(path) + called + (s.transposed ? ", transposed" : "") +
                                ": expected " + shape_string(s.parts[k].shape) + ", the file has " +
                                shape_string(t->shape));
            return false;
        }
        if (!is_readable_float(t->type)) {
            problems_.push_back("unreadable dtype " + detail::quoted(path) + called + ": the file has " + t->describe() +
                                "; lnfold reads F32, F64, F16 and BF16");
            return false;
        }
        if (!options_.allow_non_finite) {
            if (const std::string bad = first_non_finite<T>(file_, *t); !bad.empty()) {
                problems_.push_back("non-finite values in " + detail::quoted(path) + called + ": " + bad +
                                    " (load_options::allow_non_finite = true loads them)");
                return false;
            }
        }
        return true;
    }

    const safetensors_file& file_;
    const load_options& options_;
    const std::vector<tensor_info>& tensors_;
    std::vector<char> used_;
    std::string prefix_note_;
    std::vector<std::pair<std::string_view, std::size_t>> index_;
    std::vector<step> steps_;
    std::vector<std::string> problems_;
    // Model path -> the one file tensor it was read from; -1: kept or read from several; -2: it has a problem.
    std::unordered_map<std::string_view, std::ptrdiff_t> read_from_;
};

// io::load, its failures raised or (report not null) recorded in *report, with nothing loaded.
template <class Net, class T>
load_result load_from(Model<Net, T>& model, const safetensors_file& file, const load_options& options,
                      status* report) {
    if (model.borrows_parameters()) {
        raise_or_report<config_error>(report, "lnfold: io::load: the parameters are the caller's (Model(arena)), "
                                              "which the Model never writes; load into a Model of its own");
        return {};
    }
    load_plan<T> plan(file, options);
    model.visit_parameters([&](parameter_ref<T> p) { plan.match(p); });
    plan.check_copies();
    plan.check_unread();
    if (plan.has_problems()) {
        raise_or_report<io_error>(report, plan.problems_message(Model<Net, T>::tensor_count));
        return {};
    }
    plan.write();
    return std::move(plan.result);
}
}  // namespace detail

// Reads the model's parameters from a safetensors file (names, layouts and checks per options; load_result says
// what was loaded, kept, copied and ignored). Every problem is found before any parameter is written: on failure
// the model is unchanged, and io_error lists them all.
template <class Net, class T>
load_result load(Model<Net, T>& model, const safetensors_file& file, const load_options& options = {}) {
    return detail::load_from(model, file, options, nullptr);
}
template <class Net, class T>
load_result load(Model<Net, T>& model, const std::string& path, const load_options& options = {}) {
    return load(model, safetensors_file::open(path), options);
}

// The same, returning any failure (opening or reading the file, its header, the problems load lists) as a status
// with the message load raises, with or without exceptions; the model is then unchanged.
template <class Net, class T>
result<load_result> try_load(Model<Net, T>& model, const safetensors_file& file, const load_options& options = {}) {
    status error;
    load_result loaded = detail::load_from(model, file, options, &error);
    if (!error.ok()) return error;
    return loaded;
}
template <class Net, class T>
result<load_result> try_load(Model<Net, T>& model, const std::string& path, const load_options& options = {}) {
    result<safetensors_file> file = safetensors_file::try_open(path);
    if (!file) return file.error();
    return try_load(model, *file, options);
}

namespace detail {

// The model's parameters as a writer, named and laid out per options: copies of the values, or (refer = true)
// views of the model's arena, valid while the model lives and is not modified.
template <class Net, class T>
safetensors_writer writer_of(const Model<Net, T>& model, const save_options& options, bool refer) {
    safetensors_writer writer;
    bool has_format = false;
    for (const auto& [key, value] : options.metadata) {
        writer.add_metadata(key, value);
        has_format = has_format || key == "format";
    }
    if (options.format_pt && !has_format) writer.add_metadata("format", "pt");
    std::vector<T> scratch;
    model.visit_parameters([&](parameter_ref<const T> p) {
        if (options.is_transposed(p.path) && p.spec.rank != 2)
            raise<io_error>("lnfold: cannot save " + detail::quoted(p.path) + " transposed: it has shape " +
                           shape_string(detail::shape_of(p.spec)) + ", only 2-D tensors can be transposed");
        const detail::parameter_storage s = detail::storage_of(options, p.path, p.spec);
        if (!s.problem.empty()) raise<io_error>("lnfold: " + s.problem);
        if (s.parts.empty()) return;
        if (!s.transposed) {
            const std::size_t part_size = p.values.size() / s.parts.size();
            for (std::size_t k = 0; k < s.parts.size(); ++k) {
                if (refer) writer.add_view(s.parts[k].name, p.values.subspan(k * part_size, part_size), s.parts[k].shape);
                else writer.add(s.parts[k].name, p.values.subspan(k * part_size, part_size), s.parts[k].shape);
            }
            return;
        }
        const std::size_t rows = p.spec.shape[0], cols = p.spec.shape[1];
        if (refer) {
            writer.add_transposed_view(s.parts[0].name, p.values, rows, cols);
            return;
        }
        scratch.resize(p.values.size());
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c) scratch[c * rows + r] = p.values[r * cols + c];
        writer.add(s.parts[0].name, std::span<const T>(scratch), s.parts[0].shape);
    });
    return writer;
}

}  // namespace detail

// The model's parameters as a writer (F32 for float models, F64 for double), named and laid out per options. The
// writer holds a copy of the values.
template <class Net, class T>
safetensors_writer to_safetensors(const Model<Net, T>& model, const save_options& options = {}) {
    return detail::writer_of(model, options, false);
}

// The file's bytes. save_bytes, save and save_to make no copy of the weights besides what they produce: the
// values are converted (and transposed) a piece at a time as the bytes are made.
template <class Net, class T>
std::vector<std::uint8_t> save_bytes(const Model<Net, T>& model, const save_options& options = {}) {
    return detail::writer_of(model, options, true).bytes();
}

template <class Net, class T>
void save(const Model<Net, T>& model, const std::string& path, const save_options& options = {}) {
    detail::writer_of(model, options, true).write(path);
}

// Writes the model's file into an open atomic_file (lnfold-fold writes into the temporary it verifies; the caller
// finishes and commits it).
template <class Net, class T>
void save_to(const Model<Net, T>& model, atomic_file& file, const save_options& options = {}) {
    detail::writer_of(model, options, true).write_to(file);
}

}  // namespace lnfold::io
