// gofer/detail/spinlock.hpp — the short, never-suspending lock that guards a channel.
//
//   spinlock        test-and-test-and-set lock with bounded spinning, then sched_yield
//   spinlock_guard  RAII guard for it
//
// Why not a fibers::mutex: a channel lock is held for a few dozen instructions (queue
// links and one element move) and, by rule, nothing that can suspend the goroutine runs
// under it. A fiber mutex could itself suspend while holding other channel locks (the
// boostorg/fiber #254/#256 hang pattern). Why not std::mutex: it can put the OS thread to
// sleep, which parks every goroutine of that thread; a preempted holder is handled here by
// yielding the CPU after a bounded spin.
//
// Thread-safety: lock()/unlock() from any thread. Not recursive. Never park a goroutine
// while holding one.
#pragma once

#include <atomic>
#include <sched.h>

#include "absl/base/thread_annotations.h"

namespace gofer::detail {

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class ABSL_LOCKABLE spinlock {
 public:
  // Always inlined (callgrind showed ~9 out-of-line calls per worker-pool job: GCC kept it
  // out of line because the spin loop was inlined into it); the loop stays out of line.
  [[gnu::always_inline]] void lock() noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    // Fast path: one exchange when uncontended.
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
    lock_slow();
  }
  bool try_lock() noexcept ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept ABSL_UNLOCK_FUNCTION() { locked_.store(false, std::memory_order_release); }

 private:
  [[gnu::noinline]] void lock_slow() noexcept {
    for (unsigned spins = 0;; ++spins) {
      // Test before test-and-set: spin on a shared cache line, not on the bus.
      while (locked_.load(std::memory_order_relaxed)) {
        if (spins < 64) {
          spin_pause();
          ++spins;
        } else {
          sched_yield();  // the holder may have been preempted; let it run
        }
      }
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
    }
  }
  std::atomic<bool> locked_{false};
};

class ABSL_SCOPED_LOCKABLE spinlock_guard {
 public:
  // Always inlined, like lock() (callgrind: GCC kept the constructor out of line in
  // worker_pool's job path, a call per lock section).
  [[gnu::always_inline]] explicit spinlock_guard(spinlock& l) noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION(l) : l_(l) { l_.lock(); }
  [[gnu::always_inline]] ~spinlock_guard() ABSL_UNLOCK_FUNCTION() { l_.unlock(); }
  spinlock_guard(const spinlock_guard&) = delete;
  spinlock_guard& operator=(const spinlock_guard&) = delete;

 private:
  spinlock& l_;
};

}  // namespace gofer::detail
