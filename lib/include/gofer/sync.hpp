// gofer/sync.hpp — Go's sync package for goroutines.
//
//   wait_group   sync.WaitGroup: wait for a collection of goroutines to finish
//
// (mutex, rw_mutex, once and cond arrive with the select/timers/sync work.)
// Every type here parks the *goroutine*, never the OS thread.
#pragma once

#include <cstdint>
#include <mutex>

#include "gofer/detail/spinlock.hpp"
#include "gofer/detail/wait.hpp"

namespace gofer {

// wait_group — sync.WaitGroup.
//
// A counter of outstanding tasks: add(n) before starting them, done() as each finishes,
// wait() parks until the counter is zero.
//
// Zero value: a default-constructed wait_group has counter 0 (wait() returns at once).
// Copy semantics: not copyable or movable (Go: "must not be copied after first use"); share
// it by reference or pointer and keep it alive until wait() returned and every done() ran.
//
//   op \ state | counter > 0             | counter == 0           | add would go negative
//   add(n)     | counter += n            | counter += n           | throws panic_error
//   done()     | counter -= 1; at 0 wakes| throws panic_error     | throws panic_error
//              | every waiter            |                        |
//   wait()     | parks the goroutine     | returns at once        | —
//
// Panic text: "sync: negative WaitGroup counter" (Go's).
// Invariants: counter >= 0; waiters are queued only while counter > 0.
// Memory ordering: every done() is synchronized before the return of the wait() it
// releases (as in Go). Thread-safety: all members from any goroutine on any thread.
//
// Example:
//   gofer::wait_group wg;
//   for (int i = 0; i < 3; ++i) {
//     wg.add(1);
//     gofer::go([&wg, i] { std::printf("worker %d\n", i); wg.done(); });
//   }
//   wg.wait();
class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;
  ~wait_group() = default;

  // Adds delta (may be negative) to the counter. Wakes every waiter if it reaches zero.
  // Throws panic_error("sync: negative WaitGroup counter") — the counter is left unchanged.
  // Never blocks. Thread-safe.
  void add(std::int64_t delta);
  // add(-1).
  void done() { add(-1); }
  // Parks until the counter is zero; returns at once if it is. Outside a goroutine with a
  // non-zero counter, throws std::logic_error. Thread-safe.
  void wait();
  // The counter now (racy by nature; for diagnostics and tests).
  std::int64_t count() const noexcept;

 private:
  mutable detail::spinlock lock_;  // guards count_ and waiters_; never parks while held
  std::int64_t count_ GOFER_GUARDED_BY(lock_) = 0;
  detail::waitq waiters_ GOFER_GUARDED_BY(lock_);  // goroutines in wait(), FIFO
};

}  // namespace gofer
