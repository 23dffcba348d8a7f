// Must not compile: SelfAttention<48, 5>: 5 heads cannot split 48 features evenly.
#include <lnfold/lnfold.hpp>

using namespace lnfold;
#ifdef LNFOLD_EXPECT_COMPILES
using Net = Seq<Linear<16, 48>, SelfAttention<48, 4>, Linear<48, 16>>;
#else
using Net = Seq<Linear<16, 48>, SelfAttention<48, 5>, Linear<48, 16>>;
#endif

int main() {
    Model<Net> model;
    return static_cast<int>(model.parameter_count % 2);
}
