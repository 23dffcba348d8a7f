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
// Loading is all-or-nothing: every problem (missing, unexpected, mis-shaped, unreadable dtype, a transpose of a
// non-2-D tensor) is collected first and reported in one io_error listing all of them; the model is only written
// when there is none.
#include <cstddef>
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

    std::string file_name(std::string_view path) const {
        if (auto it = names.find(path); it != names.end()) return it->second;
        if (rename) return rename(path);
        return std::string(path);
    }
    bool is_transposed(std::string_view path) const {
        return transposed.find(path) != transposed.end() || (transpose && transpose(path));
    }
};

struct load_options : tensor_naming {
    // true (default): a file tensor that no parameter reads is an error. false: such tensors are ignored.
    bool strict = true;
    // false (default): a parameter without a tensor in the file is an error. true: it keeps its current value.
    bool allow_missing = false;
};

struct load_result {
    std::vector<std::string> loaded;   // model paths read from the file
    std::vector<std::string> kept;     // model paths not in the file (allow_missing, or mapped to "")
    std::vector<std::string> ignored;  // file tensors no parameter read (strict = false)
};

struct save_options : tensor_naming {
    std::vector<std::pair<std::string, std::string>> metadata;  // written as "__metadata__"
    // Adds {"format": "pt"} (what Hugging Face loaders look for) unless metadata already has a "format" key.
    bool format_pt = true;
};

namespace detail {

inline std::string param_shape(const param_spec& spec, bool transposed) {
    std::vector<std::size_t> shape(spec.shape.begin(), spec.shape.begin() + static_cast<std::ptrdiff_t>(spec.rank));
    if (transposed && shape.size() == 2) std::swap(shape[0], shape[1]);
    return shape_string(shape);
}

}  // namespace detail

// Loads every parameter of `model` from an already validated file.
template <class Net, class T>
load_result load(Model<Net, T>& model, const safetensors_file& file, const load_options& options = {}) {
    struct step {
        std::span<T> dst;
        const tensor_info* src;
        std::size_t rows, cols;  // the model's (rows, cols) for a transposed 2-D tensor
        bool transposed;
    };
    std::vector<step> steps;
    std::vector<std::string> problems;
    std::vector<char> used(file.tensors().size(), 0);
    load_result result;
    const auto& tensors = file.tensors();
    std::unordered_map<std::string_view, std::size_t> index;  // file name -> position in tensors
    for (std::size_t i = 0; i < tensors.size(); ++i) index.emplace(tensors[i].name, i);

    model.visit_parameters([&](parameter_ref<T> p) {
        const std::string path(p.path);
        const std::string name = options.file_name(p.path);
        const bool transposed = options.is_transposed(p.path);
        const std::string called = name == path ? "" : " (file name " + detail::quoted(name) + ")";
        if (transposed && p.spec.rank != 2) {
            problems.push_back("cannot transpose " + detail::quoted(path) + called + ": it has shape " +
                               detail::param_shape(p.spec, false) + ", only 2-D tensors can be transposed");
            return;
        }
        if (name.empty()) {
            result.kept.push_back(path);
            return;
        }
        const auto found = index.find(name);
        if (found == index.end()) {
            if (options.allow_missing) {
                result.kept.push_back(path);
                return;
            }
            std::string hint;
            for (const auto& other : tensors)
                if (other.name.size() > name.size() && other.name.ends_with("." + name)) {
                    hint = "; the file has " + detail::quoted(other.name) + " (map names with load_options::rename)";
                    break;
                }
            problems.push_back("missing " + detail::quoted(path) + called + ": expected shape " +
                               detail::param_shape(p.spec, transposed) + hint);
            return;
        }
        const tensor_info* t = &tensors[found->second];
        used[found->second] = 1;
        std::vector<std::size_t> expected(p.spec.shape.begin(), p.spec.shape.begin() + static_cast<std::ptrdiff_t>(p.spec.rank));
        if (transposed) std::swap(expected[0], expected[1]);
        if (t->shape != expected) {
            problems.push_back("shape mismatch " + detail::quoted(path) + called + (transposed ? ", transposed" : "") +
                               ": expected " + shape_string(expected) + ", the file has " + shape_string(t->shape));
            return;
        }
        if (!is_readable_float(t->type)) {
            problems.push_back("unreadable dtype " + detail::quoted(path) + called + ": the file has " + t->describe() +
                               "; lnfold reads F32, F64, F16 and BF16");
            return;
        }
        steps.push_back({p.values, t, transposed ? p.spec.shape[0] : 0, transposed ? p.spec.shape[1] : 0, transposed});
        result.loaded.push_back(path);
    });
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        if (used[i]) continue;
        if (options.strict)
            problems.push_back("unexpected " + detail::quoted(tensors[i].name) + ": " + tensors[i].describe() +
                               " is in the file but no parameter reads it (load_options::strict = false ignores it)");
        else
            result.ignored.push_back(tensors[i].name);
    }
    if (!problems.empty()) {
        std::string message = "lnfold: cannot load safetensors file " + detail::quoted(file.source()) + " into a model with " +
                              std::to_string(Model<Net, T>::tensor_count) + " parameter tensors: " +
                              std::to_string(problems.size()) + (problems.size() == 1 ? " problem" : " problems");
        constexpr std::size_t max_listed = 200;
        for (std::size_t i = 0; i < problems.size() && i < max_listed; ++i) message += "\n  - " + problems[i];
        if (problems.size() > max_listed) message += "\n  - ... and " + std::to_string(problems.size() - max_listed) + " more";
        throw io_error(message);
    }
    std::vector<T> scratch;
    for (const step& s : steps) {
        if (!s.transposed) {
            file.read_into<T>(*s.src, s.dst);
            continue;
        }
        scratch.resize(s.dst.size());
        file.read_into<T>(*s.src, std::span<T>(scratch));  // (cols, rows) in the file
        for (std::size_t r = 0; r < s.rows; ++r)
            for (std::size_t c = 0; c < s.cols; ++c) s.dst[r * s.cols + c] = scratch[c * s.rows + r];
    }
    return result;
}

template <class Net, class T>
load_result load(Model<Net, T>& model, const std::string& path, const load_options& options = {}) {
    return load(model, safetensors_file::open(path), options);
}

// The model's parameters as a writer (F32 for float models, F64 for double), named and transposed per options.
template <class Net, class T>
safetensors_writer to_safetensors(const Model<Net, T>& model, const save_options& options = {}) {
    safetensors_writer writer;
    bool has_format = false;
    for (const auto& [key, value] : options.metadata) {
        writer.add_metadata(key, value);
        has_format = has_format || key == "format";
    }
    if (options.format_pt && !has_format) writer.add_metadata("format", "pt");
    std::vector<T> scratch;
    model.visit_parameters([&](parameter_ref<const T> p) {
        const std::string name = options.file_name(p.path);
        if (name.empty()) return;
        std::vector<std::size_t> shape(p.spec.shape.begin(), p.spec.shape.begin() + static_cast<std::ptrdiff_t>(p.spec.rank));
        if (!options.is_transposed(p.path)) {
            writer.add(name, p.values, shape);
            return;
        }
        if (p.spec.rank != 2)
            throw io_error("lnfold: cannot save " + detail::quoted(p.path) + " transposed: it has shape " +
                           shape_string(shape) + ", only 2-D tensors can be transposed");
        const std::size_t rows = shape[0], cols = shape[1];
        scratch.resize(p.values.size());
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c) scratch[c * rows + r] = p.values[r * cols + c];
        writer.add(name, std::span<const T>(scratch), {cols, rows});
    });
    return writer;
}

template <class Net, class T>
std::vector<std::uint8_t> save_bytes(const Model<Net, T>& model, const save_options& options = {}) {
    return to_safetensors(model, options).bytes();
}

template <class Net, class T>
void save(const Model<Net, T>& model, const std::string& path, const save_options& options = {}) {
    to_safetensors(model, options).write(path);
}

}  // namespace lnfold::io
