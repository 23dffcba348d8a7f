// Each io header compiles on its own: one include per translation unit (this one, and the tests).
#include "lnfold/io/json.hpp"
