#pragma once
// A growable, 64-byte aligned buffer that never shrinks: the parameter arena and the caches. Or a view of memory
// the caller owns (borrow): it then never grows, and asking it for more is an allocation_error.
// Every allocation names who asks and what for: when the memory cannot be had (the allocator returns nothing) or
// its byte count overflows size_t, it throws allocation_error
//   "lnfold: <who>: cannot allocate <bytes> bytes for <what>"
// and the buffer is left empty.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>  // madvise
#endif

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
    aligned_buffer(std::size_t count, std::string_view who, std::string_view what) {
        reserve_zeroed(count, who, what).raise_if_error();
    }
    aligned_buffer(const aligned_buffer& other) { copy_from(other); }
    aligned_buffer& operator=(const aligned_buffer& other) {
        if (this != &other) copy_from(other);
        return *this;
    }
    aligned_buffer(aligned_buffer&& other) noexcept
        : block_(std::exchange(other.block_, nullptr)), data_(std::exchange(other.data_, nullptr)),
          size_(std::exchange(other.size_, 0)), borrowed_(std::exchange(other.borrowed_, false)) {}
    aligned_buffer& operator=(aligned_buffer&& other) noexcept {
        std::swap(block_, other.block_);
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        std::swap(borrowed_, other.borrowed_);
        return *this;
    }
    ~aligned_buffer() { release(); }

    // Makes room for at least `count` elements. Allocates only when growing; contents are then zeroed. `what` is a
    // string or a callable returning one (called only when the allocation fails), so a check that passes is free.
    template <class What>
    T* ensure(std::size_t count, std::string_view who, const What& what) {
        if (count > size_) reserve_zeroed(count, who, what).raise_if_error();
        return data_;
    }
    // The same, reporting a failure as a status instead of raising it.
    template <class What>
    status try_ensure(std::size_t count, std::string_view who, const What& what) {
        return count > size_ ? reserve_zeroed(count, who, what) : status{};
    }

    // Views `count` elements at `data`, which the caller owns and keeps alive (frees what the buffer held).
    void borrow(T* data, std::size_t count) {
        release();
        data_ = data;
        size_ = count;
        borrowed_ = true;
    }
    bool borrowed() const { return borrowed_; }
    // Elements this buffer owns (0 for a view).
    std::size_t owned_size() const { return borrowed_ ? 0 : size_; }

    T* data() { return data_; }
    const T* data() const { return data_; }
    std::size_t size() const { return size_; }
    std::span<T> span() { return {data_, size_}; }
    std::span<const T> span() const { return {data_, size_}; }

private:
    template <class What>
    status reserve_zeroed(std::size_t count, std::string_view who, const What& what) {
        if (borrowed_)
            return status::of<allocation_error>("lnfold: " + std::string(who) + ": the caller's memory holds " +
                                                std::to_string(size_) + " " + detail::element_plural<T>() + " for " +
                                                detail::lazy_text(what) + ", which needs " + std::to_string(count));
        release();
        if (count > (std::numeric_limits<std::size_t>::max() - arena_alignment_bytes) / sizeof(T))
            return status::of<allocation_error>("lnfold: " + std::string(who) + ": cannot allocate " + std::to_string(count) + " " +
                                   detail::element_plural<T>() + " for " + detail::lazy_text(what) +
                                   ": the byte count overflows size_t");
        // calloc (which returns null rather than throwing, also under sanitizers), aligned by hand: a large block
        // comes zeroed from the OS, page by page when first touched, so a 500 MB arena costs no time and no memory
        // until it is written (a gradient arena that inference never touches stays free), where new + memset
        // would write every page at once.
        block_ = std::calloc(count * sizeof(T) + arena_alignment_bytes, 1);
        if (block_ == nullptr)
            return status::of<allocation_error>("lnfold: " + std::string(who) + ": cannot allocate " +
                                   std::to_string(count * sizeof(T)) + " bytes for " + detail::lazy_text(what));
        const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(block_);
        data_ = reinterpret_cast<T*>((at + arena_alignment_bytes - 1) & ~std::uintptr_t{arena_alignment_bytes - 1});
        size_ = count;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        // A large arena in transparent huge pages where the kernel has them (advice only): a GPT-2-small arena is
        // then first written with a few hundred page faults instead of 120,000.
        constexpr std::uintptr_t huge = std::uintptr_t{1} << 21;
        const std::uintptr_t from = (at + huge - 1) & ~(huge - 1), to = (at + count * sizeof(T)) & ~(huge - 1);
        if (count * sizeof(T) >= (std::size_t{32} << 20) && from < to)
            ::madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);
#endif
        return {};
    }
    void copy_from(const aligned_buffer& other) {
        if (size_ != other.size_ || borrowed_) {
            release();
            if (other.size_ > 0) reserve_zeroed(other.size_, "aligned_buffer", "a copy of a buffer").raise_if_error();
        }
        if (other.size_ > 0) std::memcpy(static_cast<void*>(data_), other.data_, other.size_ * sizeof(T));
    }
    void release() {
        std::free(block_);
        block_ = nullptr;
        data_ = nullptr;
        size_ = 0;
        borrowed_ = false;
    }

    void* block_ = nullptr;  // what calloc returned; data_ is its first 64-byte aligned address
    T* data_ = nullptr;
    std::size_t size_ = 0;
    bool borrowed_ = false;  // data_ is the caller's (block_ is null)
};

}  // namespace lnfold
