#pragma once
// The OS's words for an errno value, for the reason part of lnfold's file errors.
#include <string>
#include <system_error>

namespace lnfold::io::detail {

// "No such file or directory" for ENOENT; thread-safe, unlike std::strerror.
inline std::string errno_text(int error) { return std::system_category().message(error); }

}  // namespace lnfold::io::detail
