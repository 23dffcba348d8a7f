// Must not compile: the TiedHead reads the table of a layer Named "wte", but the Embedding is Named "tok".
#include <lnfold/lnfold.hpp>

using namespace lnfold;
#ifdef LNFOLD_EXPECT_COMPILES
using Net = Seq<Named<"wte", Embedding<16, 8>>, Linear<8, 8>, Named<"head", TiedHead<8, 16, "wte">>>;
#else
using Net = Seq<Named<"tok", Embedding<16, 8>>, Linear<8, 8>, Named<"head", TiedHead<8, 16, "wte">>>;
#endif

int main() {
    Model<Net> model;
    return static_cast<int>(model.parameter_count % 2);
}
