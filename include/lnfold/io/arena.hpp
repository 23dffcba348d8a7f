#pragma once
// A Model's whole parameter arena as one safetensors tensor, to run on in place. save_arena writes the tensor
// "lnfold.arena" (F32 or F64, shape [arena_size]: the arena exactly as parameters() holds it, padding included) and
// the network's layout (arena_signature) in the metadata; arena_of finds it in a file opened with
// safetensors_file::map (nothing copied: the pages come from the file as they are read) and checks dtype, size,
// byte order, alignment, the layout and that every value is finite, giving the span Model(arena) runs on.
//
//   io::save_arena(model, "gpt.arena.safetensors");
//   const io::safetensors_file file = io::safetensors_file::map("gpt.arena.safetensors");  // outlives the Model
//   Model<Gpt> in_place(io::arena_of<Gpt, float>(file));
//
// Files for io::load (tensors by name, PyTorch layouts) are a different thing: load copies and converts them.
#include <bit>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

#include "lnfold/core/error.hpp"
#include "lnfold/graph/model.hpp"
#include "lnfold/io/safetensors.hpp"

namespace lnfold::io {

inline constexpr const char* arena_tensor_name = "lnfold.arena";
inline constexpr const char* arena_signature_key = "lnfold.arena_layout";

// The network's arena layout as text, one "path[shape]@offset;" per tensor: equal texts, equal layouts.
template <class Net>
std::string arena_signature() {
    const auto& g = graph_v<Net>;
    std::string s;
    for (std::size_t t = 0; t < g.tensor_count; ++t) {
        const param_entry& e = g.tensors[t];
        s += e.path.view();
        s += '[';
        for (std::size_t d = 0; d < e.spec.rank; ++d) s += (d ? "x" : "") + std::to_string(e.spec.shape[d]);
        s += "]@" + std::to_string(e.offset) + ";";
    }
    return s;
}

// Writes the model's parameter arena to `path` (atomically, as io::save) for arena_of.
template <class Net, class T>
void save_arena(const Model<Net, T>& model, const std::string& path) {
    safetensors_writer writer;
    writer.add_view(arena_tensor_name, model.parameters(), {Model<Net, T>::arena_size});
    writer.add_metadata(arena_signature_key, arena_signature<Net>());
    writer.write(path);
}

// The parameter arena of Model<Net, T> inside `file`, in place (the span points into the file's bytes; open the
// file with safetensors_file::map to copy nothing, and keep it alive while a Model runs on the span). io_error when
// the file holds no arena, one of another layout or element type, or one whose bytes cannot be used as T in place.
template <class Net, class T>
std::span<const T> arena_of(const safetensors_file& file) {
    constexpr dtype wanted = std::is_same_v<T, float> ? dtype::F32 : dtype::F64;
    const std::string where = "lnfold: safetensors file " + detail::quoted(file.source()) + ": ";
    const tensor_info& t = file.at(arena_tensor_name);
    const std::string* layout = nullptr;
    for (const auto& [key, value] : file.metadata())
        if (key == arena_signature_key) layout = &value;
    if (layout == nullptr)
        raise<io_error>(where + "no " + arena_signature_key + " in the metadata: not written by io::save_arena");
    if (*layout != arena_signature<Net>())
        raise<io_error>(where + "its arena is of another network (the parameter paths, shapes or offsets differ)");
    if (t.type != wanted)
        raise<io_error>(where + "its arena holds " + std::string(dtype_name(t.type)) + ", this Model needs " +
                        std::string(dtype_name(wanted)) + " (save the arena from a Model of that element type)");
    if (t.shape.size() != 1 || t.shape[0] != Model<Net, T>::arena_size)
        raise<io_error>(where + "its arena has shape " + shape_string(t.shape) + ", the network needs [" +
                        std::to_string(Model<Net, T>::arena_size) + "]");
    if constexpr (std::endian::native != std::endian::little)
        raise<io_error>(where + "the arena is little-endian, this machine is not: it cannot be used in place");
    const std::span<const std::uint8_t> bytes = file.bytes_of(t);
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(T) != 0)
        raise<io_error>(where + "the arena's data is not aligned to " + std::to_string(alignof(T)) +
                        " bytes in memory, so it cannot be used in place");
    const std::span<const T> values(reinterpret_cast<const T*>(bytes.data()), Model<Net, T>::arena_size);
    for (std::size_t i = 0; i < values.size(); ++i)
        if (!std::isfinite(values[i]))
            raise<io_error>(where + "the arena holds a non-finite value at element " + std::to_string(i));
    return values;
}

}  // namespace lnfold::io
