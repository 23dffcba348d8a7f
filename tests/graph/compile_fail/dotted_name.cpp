// Must not compile: a '.' inside a Named<> segment would make "h.0" look like two path segments.
#include <lnfold/lnfold.hpp>

using namespace lnfold;
#ifdef LNFOLD_EXPECT_COMPILES
using Net = Seq<Named<"h", Named<"0", Linear<8, 8>>>, ReLU, Linear<8, 4>>;
#else
using Net = Seq<Named<"h.0", Linear<8, 8>>, ReLU, Linear<8, 4>>;
#endif

int main() {
    Model<Net> model;
    return static_cast<int>(model.parameter_count % 2);
}
