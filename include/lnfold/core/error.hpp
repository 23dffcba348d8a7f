#pragma once
// The exceptions lnfold throws. Every message names the layer, tensor or file, and says expected vs actual.
#include <stdexcept>
#include <string>

namespace lnfold {

// Base of every lnfold exception: catch (const lnfold::error&) catches them all.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A run-time shape does not match what a layer expects (batch layout, widths, sequence lengths).
class shape_error : public error {
public:
    using error::error;
};

// An index outside its valid range (token id >= vocabulary, position >= table length).
class index_error : public error {
public:
    using error::error;
};

// An invalid setting (eps <= 0, unknown parameter path, bad option).
class config_error : public error {
public:
    using error::error;
};

// A file that is missing, unreadable, truncated or malformed.
class io_error : public error {
public:
    using error::error;
};

}  // namespace lnfold
