#pragma once
// The errors lnfold reports. Every message names the layer, tensor or file, and says expected vs actual.
//
// With exceptions (the default) every error is thrown as one of the classes below. Without them (compiled with
// -fno-exceptions, or with LNFOLD_NO_EXCEPTIONS defined) the same message goes to the error handler, which by
// default prints it to stderr and aborts; set_error_handler installs another (it must not return: when it does,
// lnfold aborts). Either way, the non-throwing entry points (Model::try_forward, ...) return the error as a status
// instead, for the errors they check before any work starts (see each one's comment).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#if defined(LNFOLD_NO_EXCEPTIONS) || !defined(__cpp_exceptions)
#define LNFOLD_EXCEPTIONS 0
#else
#define LNFOLD_EXCEPTIONS 1
#endif

// try / catch that compile without exceptions: the catch block is then dropped (nothing can throw into it).
#if LNFOLD_EXCEPTIONS
#define LNFOLD_TRY try
#define LNFOLD_CATCH(declaration) catch (declaration)
#define LNFOLD_RETHROW throw
#else
#define LNFOLD_TRY if (true)
#define LNFOLD_CATCH(declaration) else
#define LNFOLD_RETHROW static_cast<void>(0)
#endif

namespace lnfold {

// Which class an error belongs to, for the error handler and for status.
enum class error_kind { shape, index, config, allocation, io };

inline const char* error_kind_name(error_kind kind) {
    switch (kind) {
        case error_kind::shape: return "shape_error";
        case error_kind::index: return "index_error";
        case error_kind::config: return "config_error";
        case error_kind::allocation: return "allocation_error";
        case error_kind::io: return "io_error";
    }
    return "error";
}

// Base of every lnfold exception: catch (const lnfold::error&) catches them all.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A run-time shape does not match what a layer expects (batch layout, widths, sequence lengths).
class shape_error : public error {
public:
    static constexpr error_kind kind = error_kind::shape;
    using error::error;
};

// An index outside its valid range (token id >= vocabulary, position >= table length).
class index_error : public error {
public:
    static constexpr error_kind kind = error_kind::index;
    using error::error;
};

// An invalid setting (eps <= 0 or 0 in the element type, set_eps without norms, unknown parameter path, bad option).
class config_error : public error {
public:
    static constexpr error_kind kind = error_kind::config;
    using error::error;
};

// Memory for a buffer sized by run-time input (activations, caches, gradients, optimizer state) cannot be had: the
// allocator refuses it (instead of std::bad_alloc) or its byte count overflows size_t. The message says who asked, how much,
// and for what, e.g. "lnfold: Model::forward: cannot allocate 3136000000000000 bytes for the activations of
// Linear<1, 784> at 'fc' (1000000000000 rows x 784 floats)". The Model stays usable with smaller inputs.
class allocation_error : public error {
public:
    static constexpr error_kind kind = error_kind::allocation;
    using error::error;
};

// A file that is missing, unreadable, truncated or malformed.
class io_error : public error {
public:
    static constexpr error_kind kind = error_kind::io;
    using error::error;
};

// Receives every error when exceptions are off: its kind and the message (the text the exception would carry).
using error_handler = void (*)(error_kind kind, const char* message) noexcept;

namespace detail {
inline void print_and_abort(error_kind kind, const char* message) noexcept {
    std::fprintf(stderr, "%s: %s\n", error_kind_name(kind), message);
    std::fflush(stderr);
    std::abort();
}
inline std::atomic<error_handler>& installed_error_handler() {
    static std::atomic<error_handler> handler{&print_and_abort};
    return handler;
}
}  // namespace detail

// Installs the handler for errors when exceptions are off (nullptr restores the default) and returns the previous
// one. With exceptions on, the handler is never called.
inline error_handler set_error_handler(error_handler handler) {
    return detail::installed_error_handler().exchange(handler != nullptr ? handler : &detail::print_and_abort);
}

// Reports an error of class E: throws E(message), or without exceptions calls the handler and aborts.
template <class E>
[[noreturn, gnu::cold, gnu::noinline]] void raise(std::string message) {
#if LNFOLD_EXCEPTIONS
    throw E(std::move(message));
#else
    detail::installed_error_handler().load()(E::kind, message.c_str());
    std::abort();  // the handler returned
#endif
}

// The outcome of a non-throwing entry point: ok, or the error's kind and message (the same text the throwing form
// reports).
class status {
public:
    status() = default;  // ok
    status(error_kind kind, std::string message) : failed_(true), kind_(kind), message_(std::move(message)) {}
    template <class E>
    static status of(std::string message) {
        return status(E::kind, std::move(message));
    }

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    error_kind kind() const { return kind_; }
    const std::string& message() const { return message_; }
    // Reports the error through raise (throws, or calls the handler); does nothing when ok.
    void raise_if_error() const {
        if (!failed_) return;
        switch (kind_) {
            case error_kind::shape: raise<shape_error>(message_);
            case error_kind::index: raise<index_error>(message_);
            case error_kind::config: raise<config_error>(message_);
            case error_kind::allocation: raise<allocation_error>(message_);
            case error_kind::io: raise<io_error>(message_);
        }
    }

private:
    bool failed_ = false;
    error_kind kind_ = error_kind::config;
    std::string message_;
};

// Raises E(message), or, for a caller that reports instead (report not null), records it in *report unless an
// earlier failure is there already; the caller then returns at once.
template <class E>
void raise_or_report(status* report, std::string message) {
    if (report == nullptr) raise<E>(std::move(message));
    if (report->ok()) *report = status::of<E>(std::move(message));
}

// A value, or the status that says why there is none.
template <class T>
class result {
public:
    result(T value) : value_(std::move(value)) {}  // NOLINT: implicit, as std::expected
    result(status error) : error_(std::move(error)) {}  // NOLINT
    bool has_value() const { return value_.has_value(); }
    explicit operator bool() const { return has_value(); }
    // The value; without one, reports the error as the throwing form would.
    const T& value() const& {
        if (!value_) error_.raise_if_error();
        return *value_;
    }
    T& value() & {
        if (!value_) error_.raise_if_error();
        return *value_;
    }
    T&& value() && {
        if (!value_) error_.raise_if_error();
        return std::move(*value_);
    }
    const T& operator*() const& { return value(); }
    T& operator*() & { return value(); }
    const T* operator->() const { return &value(); }
    T* operator->() { return &value(); }
    const status& error() const { return error_; }

private:
    std::optional<T> value_;
    status error_;
};

}  // namespace lnfold
