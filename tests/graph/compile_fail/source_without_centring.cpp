// Must not compile: a layer whose fold role is source (the fold may centre its output) but which does not say how
// (no centring / centred_tensor).
#include <lnfold/lnfold.hpp>

using namespace lnfold;

// y = x W^T, a layer written outside the library.
template <std::size_t In, std::size_t Out>
struct PlainProjection : layer_defaults {
    static constexpr std::string_view kind_name = "PlainProjection";
    static constexpr fold_role role = fold_role::source;
#ifdef LNFOLD_EXPECT_COMPILES
    static constexpr output_centring centring = output_centring::weight_columns;
#endif
    static constexpr std::size_t in_width = In;
    static constexpr std::size_t resolve_out(std::size_t) { return Out; }
    static constexpr std::array params{param_spec{"weight", {Out, In}, 2, init_kind::fan_in_weight, In}};
    static std::string type_name() { return "PlainProjection"; }
    template <class T>
    static void forward(const layer_call<T>& c) {
        for (std::size_t r = 0; r < c.in.row_count(); ++r)
            for (std::size_t o = 0; o < Out; ++o) {
                T sum = 0;
                for (std::size_t i = 0; i < In; ++i) sum += c.params[o * In + i] * c.x[r * In + i];
                c.y[r * Out + o] = sum;
            }
    }
};

int main() {
    Model<Seq<PlainProjection<4, 4>, LayerNorm<4>>> model;
    return static_cast<int>(model.parameter_count % 2);
}
