// Must not compile: two sibling layers named "fc" would share the parameter path "fc.weight".
#include <lnfold/lnfold.hpp>

using namespace lnfold;
#ifdef LNFOLD_EXPECT_COMPILES
using Net = Seq<Named<"fc", Linear<8, 8>>, Named<"fc2", Linear<8, 8>>>;
#else
using Net = Seq<Named<"fc", Linear<8, 8>>, Named<"fc", Linear<8, 8>>>;
#endif

int main() {
    Model<Net> model;
    return static_cast<int>(model.parameter_count % 2);
}
