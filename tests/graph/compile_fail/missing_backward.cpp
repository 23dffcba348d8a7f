// Must not compile: Model::backward on a network with a layer that has no backward pass. The error names the
// layer (layer_without_backward<Doubler>).
#include <lnfold/lnfold.hpp>

#include <vector>

using namespace lnfold;

// y = 2x, a layer written outside the library.
struct Doubler : layer_defaults, width_preserving {
    static constexpr std::string_view kind_name = "Doubler";
    static constexpr fold_role role = fold_role::breaker;
    static std::string type_name() { return "Doubler"; }
    template <class T>
    static void forward(const layer_call<T>& c) {
        for (std::size_t i = 0; i < c.in.row_count() * c.in_width; ++i) c.y[i] = 2 * c.x[i];
    }
#ifdef LNFOLD_EXPECT_COMPILES
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        if (c.dx)
            for (std::size_t i = 0; i < c.in.row_count() * c.in_width; ++i) c.dx[i] = 2 * c.dy[i];
    }
#endif
};

int main() {
    Model<Seq<Linear<4, 4>, Doubler>> model;
    const std::vector<float> x(8, 1.0f), dy(8, 1.0f);
    model.forward(x, Layout::rows(2));
    model.backward(dy);
    return 0;
}
