// gofer/detail/small_alloc.hpp — a per-thread cache of small blocks, for objects that are made
// and dropped once per operation (a worker pool's future state: one per job).
//
//   small_alloc(n) / small_free(p, n)   a block of n <= small_alloc_max bytes
//   small_allocator<T>                  the same as a standard allocator (allocate_shared)
//
// Why: glibc's tcache keeps 7 blocks per size; a producer that runs hundreds of jobs ahead of
// the goroutine freeing their futures overflows it on every call, and each malloc/free then
// takes the arena's slow path (callgrind, bench/RESULTS.md "callgrind": ~225 instructions per
// job of the pool benchmark went to malloc + free). This cache keeps up to
// small_alloc_cache_blocks blocks per 16-byte size class per OS thread.
//
// Correctness argument. A block is taken from, or returned to, the calling *OS thread's*
// lists, inside one call that never parks — so a goroutine migrating between threads never
// holds a stale thread-local pointer (the brief's rule: never cache a thread-local across a
// park). A block may be allocated on one thread and freed on another: it then joins the
// freeing thread's list; nothing else ties a block to a thread, so that is safe, and the
// per-class cap bounds what a thread can hoard. Publication between threads is the caller's
// business exactly as with operator new/delete (shared_ptr's release/acquire count does it).
// At thread exit the lists are given back to operator delete; a block freed on that thread
// after that point (a later thread_local destructor) goes straight to operator delete.
// Under AddressSanitizer the cache is off (every call is operator new/delete), so ASan still
// sees every use after free.
//
// Thread-safety: every function from any thread. Never blocks (beyond operator new).
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace gofer::detail {

inline constexpr std::size_t small_alloc_max = 256;      // larger blocks: operator new
inline constexpr std::size_t small_alloc_cache_blocks = 512;  // per size class and thread

// A block of at least n bytes (1 <= n <= small_alloc_max), aligned as operator new aligns
// (__STDCPP_DEFAULT_NEW_ALIGNMENT__). Throws
// std::bad_alloc like operator new.
void* small_alloc(std::size_t n);
// Gives back a block from small_alloc(n) (the same n). Never throws.
void small_free(void* p, std::size_t n) noexcept;

// A standard allocator over small_alloc for single objects of up to small_alloc_max bytes
// (alignment up to operator new's default); anything else goes to operator new/delete.
template <class T>
struct small_allocator {
  using value_type = T;
  small_allocator() noexcept = default;
  template <class U>
  small_allocator(const small_allocator<U>&) noexcept {}

  static constexpr bool cached =
      sizeof(T) <= small_alloc_max && alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;

  T* allocate(std::size_t n) {
    if (cached && n == 1) return static_cast<T*>(small_alloc(sizeof(T)));
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (cached && n == 1) {
      small_free(p, sizeof(T));
    } else {
      std::allocator<T>().deallocate(p, n);
    }
  }
  template <class U>
  friend bool operator==(const small_allocator&, const small_allocator<U>&) noexcept {
    return true;
  }
};

}  // namespace gofer::detail
