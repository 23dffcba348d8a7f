// Must not compile: a residual branch that maps 64 features to 32.
#include <lnfold/lnfold.hpp>

using namespace lnfold;
#ifdef LNFOLD_EXPECT_COMPILES
using Net = Seq<Linear<8, 64>, Residual<Seq<LayerNorm<64>, Linear<64, 64>>>>;
#else
using Net = Seq<Linear<8, 64>, Residual<Seq<LayerNorm<64>, Linear<64, 32>>>>;
#endif

int main() {
    Model<Net> model;
    return static_cast<int>(model.parameter_count % 2);
}
