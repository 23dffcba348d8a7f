#pragma once
// A growable, 64-byte aligned buffer that never shrinks: the parameter arena and the caches.
// Every allocation names who asks and what for: when the memory cannot be had (the allocator returns nothing) or
// its byte count overflows size_t, it throws allocation_error
//   "lnfold: <who>: cannot allocate <bytes> bytes for <what>"
// and the buffer is left empty.
#include <cstddef>
#include <cstring>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "lnfold/core/error.hpp"
#include "lnfold/core/lazy_text.hpp"

namespace lnfold {

inline constexpr std::size_t arena_alignment_bytes = 64;

namespace detail {
// "floats" / "doubles": element counts in messages.
template <class T>
constexpr const char* element_plural() {
    if constexpr (std::is_same_v<T, float>) return "floats";
    else if constexpr (std::is_same_v<T, double>) return "doubles";
    else return "elements";
}
}  // namespace detail

template <class T>
class aligned_buffer {
public:
    aligned_buffer() = default;
    // `count` zeroed elements; who and what name the request in an allocation_error ("Model", "the parameter arena").
    aligned_buffer(std::size_t count, std::string_view who, std::string_view what) { reserve_zeroed(count, who, what); }
    aligned_buffer(const aligned_buffer& other) { copy_from(other); }
    aligned_buffer& operator=(const aligned_buffer& other) {
        if (this != &other) copy_from(other);
        return *this;
    }
    aligned_buffer(aligned_buffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    aligned_buffer& operator=(aligned_buffer&& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        return *this;
    }
    ~aligned_buffer() { release(); }

    // Makes room for at least `count` elements. Allocates only when growing; contents are then zeroed. `what` is a
    // string or a callable returning one (called only when the allocation fails), so a check that passes is free.
    template <class What>
    T* ensure(std::size_t count, std::string_view who, const What& what) {
        if (count > size_) reserve_zeroed(count, who, what);
        return data_;
    }

    T* data() { return data_; }
    const T* data() const { return data_; }
    std::size_t size() const { return size_; }
    std::span<T> span() { return {data_, size_}; }
    std::span<const T> span() const { return {data_, size_}; }

private:
    template <class What>
    void reserve_zeroed(std::size_t count, std::string_view who, const What& what) {
        release();
        if (count > std::numeric_limits<std::size_t>::max() / sizeof(T))
            throw allocation_error("lnfold: " + std::string(who) + ": cannot allocate " + std::to_string(count) + " " +
                                   detail::element_plural<T>() + " for " + detail::lazy_text(what) +
                                   ": the byte count overflows size_t");
        // The nothrow form: a sanitizer's throwing operator new aborts instead of throwing std::bad_alloc.
        data_ = static_cast<T*>(
            ::operator new[](count * sizeof(T), std::align_val_t{arena_alignment_bytes}, std::nothrow));
        if (data_ == nullptr)
            throw allocation_error("lnfold: " + std::string(who) + ": cannot allocate " +
                                   std::to_string(count * sizeof(T)) + " bytes for " + detail::lazy_text(what));
        size_ = count;
        std::memset(static_cast<void*>(data_), 0, count * sizeof(T));
    }
    void copy_from(const aligned_buffer& other) {
        if (size_ != other.size_) {
            release();
            if (other.size_ > 0) reserve_zeroed(other.size_, "aligned_buffer", "a copy of a buffer");
        }
        if (other.size_ > 0) std::memcpy(static_cast<void*>(data_), other.data_, other.size_ * sizeof(T));
    }
    void release() {
        if (data_) ::operator delete[](data_, std::align_val_t{arena_alignment_bytes});
        data_ = nullptr;
        size_ = 0;
    }

    T* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace lnfold
