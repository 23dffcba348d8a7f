// Must not compile: asks for the third LayerNorm of a network that has two.
#include <lnfold/lnfold.hpp>

using namespace lnfold;
using Net = Seq<Linear<8, 8>, LayerNorm<8>, Linear<8, 8>, LayerNorm<8>>;
#ifdef LNFOLD_EXPECT_COMPILES
constexpr std::size_t which = 1;
#else
constexpr std::size_t which = 2;
#endif

int main() { return is_foldable_v<Net, which> ? 0 : 1; }
