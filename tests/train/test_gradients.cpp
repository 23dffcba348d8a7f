// Gradient checks: every layer's backward against central finite differences in double (relative error
// <= 1e-6 for smooth layers), each placed after a Linear so that its input gradient is checked through that
// Linear's weight gradient; then whole example networks.
#include "gradient_check.hpp"

using namespace lnfold;
using namespace lnfold_test;

namespace {
constexpr double smooth = 1e-6;

template <class Net>
void require_gradients(const Layout& layout, double bound = smooth, std::size_t vocab = 0) {
    const gradient_report r = check_gradients<Net>(layout, 17, 24, vocab);
    INFO("worst relative error " << r.worst_relative << " at " << r.worst_path << " over " << r.probes << " probes");
    CHECK(r.probes > 0);
    CHECK(r.worst_relative <= bound);
}
}  // namespace

TEST_CASE("Linear, with and without bias") {
    require_gradients<Seq<Linear<5, 7>, Linear<7, 3>>>(Layout::rows(4));
    require_gradients<Seq<Linear<5, 7, false>, Linear<7, 1, false>>>(Layout::sequence(2, 3));
}

TEST_CASE("LayerNorm and RMSNorm (with and without bias)") {
    require_gradients<Seq<Linear<4, 9>, LayerNorm<9>>>(Layout::rows(5));
    require_gradients<Seq<Linear<4, 9>, RMSNorm<9>>>(Layout::rows(5));
    require_gradients<Seq<Linear<4, 9>, RMSNorm<9, true>>>(Layout::rows(5));
    require_gradients<Seq<Linear<4, 1>, LayerNorm<1>, Linear<1, 2>>>(Layout::rows(3));
}

TEST_CASE("activations") {
    require_gradients<Seq<Linear<4, 6>, GELU, Linear<6, 2>>>(Layout::rows(5));
    require_gradients<Seq<Linear<4, 6>, GELUTanh, Linear<6, 2>>>(Layout::rows(5));
    require_gradients<Seq<Linear<4, 6>, SiLU, Linear<6, 2>>>(Layout::rows(5));
    // ReLU is piecewise linear: away from its kink the difference quotient is exact.
    require_gradients<Seq<Linear<4, 6>, ReLU, Linear<6, 2>>>(Layout::rows(5));
}

TEST_CASE("residual streams sum the gradients of their consumers") {
    require_gradients<Seq<Linear<3, 6>, Residual<Seq<LayerNorm<6>, Linear<6, 6>, GELU>>,
                          Repeat<2, Residual<Seq<RMSNorm<6, true>, Linear<6, 6>>>>, Linear<6, 2>>>(Layout::rows(4));
}
