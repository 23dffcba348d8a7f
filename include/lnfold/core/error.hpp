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

// An invalid setting (eps <= 0 or 0 in the element type, set_eps without norms, unknown parameter path, bad option).
class config_error : public error {
public:
    using error::error;
};

// Memory for a buffer sized by run-time input (activations, caches, gradients, optimizer state) cannot be had: the
// allocator refuses it (instead of std::bad_alloc) or its byte count overflows size_t. The message says who asked, how much,
// and for what, e.g. "lnfold: Model::forward: cannot allocate 3136000000000000 bytes for the activations of
// Linear<1, 784> at 'fc' (1000000000000 rows x 784 floats)". The Model stays usable with smaller inputs.
class allocation_error : public error {
public:
    using error::error;
};

// A file that is missing, unreadable, truncated or malformed.
class io_error : public error {
public:
    using error::error;
};

}  // namespace lnfold
