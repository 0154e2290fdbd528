// The per-thread block cache of gofer/detail/small_alloc.hpp (its correctness argument is there).
#include "gofer/detail/small_alloc.hpp"

#include <cstdint>

#if defined(__SANITIZE_ADDRESS__)
#define GOFER_SMALL_ALLOC_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GOFER_SMALL_ALLOC_CACHE 0
#endif
#endif
#ifndef GOFER_SMALL_ALLOC_CACHE
#define GOFER_SMALL_ALLOC_CACHE 1
#endif

namespace gofer::detail {

namespace {

constexpr std::size_t kGrain = 16;
constexpr std::size_t kClasses = small_alloc_max / kGrain;

constexpr std::size_t class_of(std::size_t n) noexcept { return (n - 1) / kGrain; }
constexpr std::size_t class_size(std::size_t c) noexcept { return (c + 1) * kGrain; }

struct free_block {
  free_block* next;
};

// Trivially destructible, so it stays usable storage until the thread is gone; `drained`
// says the lists were handed back (by list_drainer) and nothing may be cached any more.
struct thread_lists {
  free_block* head[kClasses];
  std::uint32_t count[kClasses];
  bool drainer_armed;
  bool drained;
};
thread_local thread_lists lists{};

void give_back(free_block* b, std::size_t c) noexcept {
  ::operator delete(static_cast<void*>(b));  // unsized: clang 14 (the tsa step) has no sized delete by default
}

// Its destructor runs at thread exit and empties the lists.
struct list_drainer {
  ~list_drainer() {
    thread_lists& l = lists;
    l.drained = true;
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (free_block* b = l.head[c]) {
        l.head[c] = b->next;
        give_back(b, c);
      }
      l.count[c] = 0;
    }
  }
};
// Constructed (and its destructor registered) the first time a thread caches a block:
// a function-local thread_local is initialized when control first passes through it.
void arm_drainer() {
  static thread_local list_drainer drainer;
  (void)drainer;
}

}  // namespace

void* small_alloc(std::size_t n) {
  const std::size_t c = class_of(n);
#if GOFER_SMALL_ALLOC_CACHE
  thread_lists& l = lists;
  if (free_block* b = l.head[c]) {
    l.head[c] = b->next;
    --l.count[c];
    return b;
  }
#endif
  return ::operator new(class_size(c));
}

namespace {
// The rest of small_free: arms the drainer on a thread's first cached block, or gives the
// block back. Out of line, so that small_free's usual path is a leaf (no registers saved:
// callgrind, ~31 -> ~12 instructions per call).
[[gnu::noinline]] void small_free_slow(void* p, std::size_t c) noexcept {
#if GOFER_SMALL_ALLOC_CACHE
  thread_lists& l = lists;
  if (l.count[c] < small_alloc_cache_blocks && !l.drained) {
    l.drainer_armed = true;  // first block cached on this thread: make sure it is drained
    arm_drainer();
    auto* b = static_cast<free_block*>(p);
    b->next = l.head[c];
    l.head[c] = b;
    ++l.count[c];
    return;
  }
#endif
  give_back(static_cast<free_block*>(p), c);
}
}  // namespace

void small_free(void* p, std::size_t n) noexcept {
  const std::size_t c = class_of(n);
#if GOFER_SMALL_ALLOC_CACHE
  thread_lists& l = lists;
  if (__builtin_expect(l.count[c] < small_alloc_cache_blocks && l.drainer_armed && !l.drained, true)) {
    auto* b = static_cast<free_block*>(p);
    b->next = l.head[c];
    l.head[c] = b;
    ++l.count[c];
    return;
  }
#endif
  small_free_slow(p, c);
}

}  // namespace gofer::detail
