// gofer/detail/spinlock.hpp — the short, never-suspending lock that guards a channel.
//
//   spinlock        test-and-test-and-set lock; contended: Go's spin with back-off, then sched_yield
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
  // Contended: Go's runtime lock spin (runtime/lock_futex.go, lock2): look, and if the lock
  // is still held back off for 30 pauses, four times; then give the CPU away once
  // (sched_yield: the holder may have been preempted) and start again. The back-off is the
  // point. A waiter that looks after every pause keeps pulling the lock's cache line into
  // its own core, so each lock and unlock of the holder waits for a transfer between cores;
  // looking every 30 pauses lets the holder keep the line for several critical sections in
  // a row. Measured on 2 cores (bench/RESULTS.md, "The channel lock's back-off"): 4x4
  // producers/consumers on one channel 57-95 -> 10-23 ns per item, the chan worker pool
  // 100-175 -> 30-67 ns per job. Unlike Go it never sleeps on a futex: that needs an
  // atomic read-modify-write in unlock() to learn about sleepers, and it measured no better.
  [[gnu::noinline]] void lock_slow() noexcept {
    for (;;) {
      for (int look = 0; look < 4; ++look) {
        // Test before test-and-set: read the shared line; write only when it looks free.
        if (!locked_.load(std::memory_order_relaxed) &&
            !locked_.exchange(true, std::memory_order_acquire)) {
          return;
        }
        for (int k = 0; k < 30; ++k) spin_pause();
      }
      if (!locked_.load(std::memory_order_relaxed) &&
          !locked_.exchange(true, std::memory_order_acquire)) {
        return;
      }
      sched_yield();
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
