// Must not compile: Linear<768, 3072> after a layer that outputs 512 features.
#include <lnfold/lnfold.hpp>

using namespace lnfold;
#ifdef LNFOLD_EXPECT_COMPILES
using Net = Seq<Linear<64, 512>, ReLU, Linear<512, 3072>>;
#else
using Net = Seq<Linear<64, 512>, ReLU, Linear<768, 3072>>;
#endif

int main() {
    Model<Net> model;
    return static_cast<int>(model.parameter_count % 2);
}
