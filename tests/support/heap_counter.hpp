#pragma once
// Counts every heap call of the process: malloc, calloc, realloc, free, aligned_alloc, posix_memalign, memalign,
// valloc, pvalloc. The program's definitions replace glibc's for every library in the process (glibc documents this
// replacement), and forward to glibc's own allocator (__libc_*). operator new and delete (libstdc++), Eigen, xsimd,
// OpenMP and the BLAS libraries all allocate through these, so one counter sees them all.
// Include it in exactly one translation unit of a program, linked dynamically against glibc.
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#if defined(__x86_64__) || defined(__i386__)
#include <mm_malloc.h>  // declares posix_memalign too (clang's without noexcept): it must come before the definition
#endif

#if !defined(__GLIBC__)
#error "heap_counter.hpp replaces glibc's malloc: it needs glibc"
#endif

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void __libc_free(void* p);
void* __libc_memalign(std::size_t alignment, std::size_t size);
}

namespace heap_counter {
// Allocations (every call that may return new memory: malloc, calloc, realloc, the aligned forms) and frees.
inline constinit std::atomic<std::uint64_t> allocations{0};
inline constinit std::atomic<std::uint64_t> frees{0};
inline std::uint64_t calls() { return allocations.load() + frees.load(); }
}  // namespace heap_counter

extern "C" {
void* malloc(std::size_t size) noexcept {
    heap_counter::allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
    heap_counter::allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
    heap_counter::allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, size);
}
void free(void* p) noexcept {
    if (p != nullptr) heap_counter::frees.fetch_add(1, std::memory_order_relaxed);
    __libc_free(p);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
    heap_counter::allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept { return memalign(alignment, size); }
int posix_memalign(void** p, std::size_t alignment, std::size_t size) noexcept {
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void* block = memalign(alignment, size);
    if (block == nullptr) return ENOMEM;
    *p = block;
    return 0;
}
void* valloc(std::size_t size) noexcept { return memalign(4096, size); }
void* pvalloc(std::size_t size) noexcept { return memalign(4096, (size + 4095) / 4096 * 4096); }
}
