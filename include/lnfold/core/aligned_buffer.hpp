#pragma once
// A growable, 64-byte aligned buffer that never shrinks: the parameter arena and the caches.
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <utility>

namespace lnfold {

inline constexpr std::size_t arena_alignment_bytes = 64;

template <class T>
class aligned_buffer {
public:
    aligned_buffer() = default;
    explicit aligned_buffer(std::size_t count) { reserve_zeroed(count); }
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

    // Makes room for at least `count` elements. Allocates only when growing; contents are then zeroed.
    T* ensure(std::size_t count) {
        if (count > size_) reserve_zeroed(count);
        return data_;
    }

    T* data() { return data_; }
    const T* data() const { return data_; }
    std::size_t size() const { return size_; }
    std::span<T> span() { return {data_, size_}; }
    std::span<const T> span() const { return {data_, size_}; }

private:
    void reserve_zeroed(std::size_t count) {
        release();
        data_ = static_cast<T*>(::operator new[](count * sizeof(T), std::align_val_t{arena_alignment_bytes}));
        size_ = count;
        std::memset(static_cast<void*>(data_), 0, count * sizeof(T));
    }
    void copy_from(const aligned_buffer& other) {
        if (size_ != other.size_) {
            release();
            if (other.size_ > 0) reserve_zeroed(other.size_);
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
