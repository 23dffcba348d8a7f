// The io headers compile after <iomanip> (which <filesystem> includes): their detail::quoted must not collide with
// std::quoted, which argument-dependent lookup finds for a std::string argument.
#include <filesystem>
#include <iomanip>

#include "lnfold/io/weights.hpp"
