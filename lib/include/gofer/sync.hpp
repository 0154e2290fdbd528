// gofer/sync.hpp — Go's sync package for goroutines.
//
//   wait_group   sync.WaitGroup: wait for a collection of goroutines to finish
//   mutex        sync.Mutex: mutual exclusion (Lockable: std::lock_guard, std::unique_lock)
//   rw_mutex     sync.RWMutex: many readers or one writer, writer-preferring
//                (SharedLockable: std::shared_lock too)
//   once         sync.Once: run a function exactly once
//   cond         sync.Cond: wait for / announce an event, with a lock
//
// Every type here parks the *goroutine*, never the OS thread: a goroutine waiting for a
// gofer::mutex lets its thread run other goroutines, which std::mutex would not.
//
// Call sites: every operation that may park (wait_group::wait, mutex::lock,
// rw_mutex::lock/lock_shared/rlock, cond::wait, once::call) takes a defaulted trailing
// gofer::source_location and records it, so dump_goroutines and the deadlock report show the
// line that waits (gofer/debug.hpp). std::lock_guard, std::unique_lock, std::scoped_lock and
// std::shared_lock call lock() from inside the standard library, so for a goroutine parked
// in one of them the report names the library's line, e.g.
//   std::lock_guard<_Mutex>::lock_guard(mutex_type&)
//   	std_mutex.h:229
// — what waits, not where. Where the line matters, lock explicitly and adopt:
//   mu.lock();                                     // this line is recorded
//   std::lock_guard<gofer::mutex> lk(mu, std::adopt_lock);
//
// Shutdown: when main returns, a goroutine parked in any of these is unwound (see
// runtime.hpp). While the runtime is stopping, unlocking a mutex that is not locked is
// ignored instead of fatal, because cond::wait cannot re-take its lock while unwinding and
// the caller's std::unique_lock will still unlock it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include "gofer/detail/source_location.hpp"
#include <utility>

#include "absl/base/thread_annotations.h"
#include "gofer/detail/spinlock.hpp"
#include "gofer/defer.hpp"
#include "gofer/detail/park.hpp"

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
  // non-zero counter, throws std::logic_error. Thread-safe. Records the call site.
  void wait(gofer::source_location where = gofer::source_location::current());
  // The counter now (racy by nature; for diagnostics and tests).
  std::int64_t count() const noexcept;

 private:
  mutable detail::spinlock lock_;  // guards count_ and waiters_; never parks while held
  std::int64_t count_ ABSL_GUARDED_BY(lock_) = 0;
  detail::waitq waiters_ ABSL_GUARDED_BY(lock_);  // goroutines in wait(), FIFO
};

// mutex — sync.Mutex.
//
// Zero value: unlocked, normal mode. Not copyable or movable. Not recursive: locking a mutex
// the same goroutine holds parks it forever (Go deadlocks too). It may be unlocked by a
// goroutine other than the one that locked it, like Go's.
//
// Two modes, as Go's sync.Mutex (src/sync/mutex.go):
// - Normal mode: waiters queue FIFO, but a woken waiter does not own the mutex: it competes
//   with goroutines that are arriving right now (running, so they usually win). One that
//   loses is queued again at the *front*. Only one woken waiter competes at a time (Go's
//   mutexWoken: unlock wakes nobody while one is still competing, or while a locker spins).
//   A locker may spin briefly before parking (Go's canSpin: up to 4 rounds of 30 pauses,
//   only with more than one CPU, some other worker running, nothing runnable on its own
//   worker, and the mutex locked in normal mode).
// - Starvation mode: entered when a woken waiter that has waited more than 1 ms loses the
//   race again. unlock hands ownership straight to the first waiter; newcomers neither
//   take the mutex nor spin but queue at the back. The waiter that receives it switches
//   back to normal mode if it is the last waiter or waited less than 1 ms.
//
//   op \ state | unlocked            | locked, normal mode        | locked, starvation mode
//   lock()     | locks               | spins (maybe), then parks  | parks at the back until
//              |                     | until woken; competes again| handed the mutex
//   try_lock() | true, locks         | false                      | false
//   unlock()   | fatal error         | unlocks; wakes the first   | hands the mutex to the
//              |                     | waiter unless one is woken | first waiter (stays locked)
//              |                     | or a locker spins          |
//
// Fatal error: "fatal error: sync: unlock of unlocked mutex" on stderr, exit status 2 —
// like Go, not a catchable panic.
// Fairness: FIFO hand-off only in starvation mode; in normal mode a newcomer may take the
// mutex before a woken waiter, as in Go (far higher throughput under contention: no
// context switch per unlock). No waiter waits much more than 1 ms past its turn.
// Invariants (under the internal spinlock): starving ⇒ locked (a hand-off keeps it
// locked); at most one goroutine owns `woken` (a woken waiter or a spinner), and unlock
// looks at it only in normal mode; starvation mode ends when the waiter handed the mutex
// finds the queue empty or waited less than 1 ms (or when an unlock finds no waiter left).
// Memory ordering: unlock n is synchronized before the return of lock n+1 (both go through
// the internal spinlock, or the park layer's hand-over in starvation mode).
// Thread-safety: all members from any goroutine on any thread. lock() outside a goroutine
// throws std::logic_error if it would have to park.
//
// Example:
//   gofer::mutex mu;
//   int counter = 0;
//   gofer::go([&] { std::lock_guard lk(mu); ++counter; });
namespace detail {
struct mutex_access;
}

class mutex {
 public:
  mutex() = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  // Locks, spinning or parking while another goroutine holds it. Records the call site
  // (see the top of the file for what a std::lock_guard shows).
  void lock(gofer::source_location where = gofer::source_location::current());
  // Go's TryLock: false if locked or in starvation mode; never spins or parks.
  bool try_lock() noexcept;
  void unlock();

 private:
  void lock_slow(gofer::source_location where) ABSL_UNLOCK_FUNCTION(lock_);
  // The spin phase's look at the state without lock_ (see sync.cpp): locked in normal mode.
  bool spin_worthwhile() const noexcept ABSL_NO_THREAD_SAFETY_ANALYSIS;

  detail::spinlock lock_;  // guards the state and waiters_; never parks while held
  // locked_ and starving_ are written only under lock_; atomics only so that the spin
  // phase may read them (relaxed, as a hint) without it.
  std::atomic<bool> locked_ ABSL_GUARDED_BY(lock_){false};
  std::atomic<bool> starving_ ABSL_GUARDED_BY(lock_){false};
  bool woken_ ABSL_GUARDED_BY(lock_) = false;  // a woken waiter or a spinner competes
  detail::waitq waiters_ ABSL_GUARDED_BY(lock_);  // goroutines parked in lock()

  friend struct detail::mutex_access;
};

namespace detail {
// A consistent snapshot of a mutex's state (under its spinlock), for tests and
// diagnostics only (tests/sync_test.cpp observes "the woken waiter lost and waits again").
struct mutex_access {
  struct state {
    bool locked = false;
    bool starving = false;
    bool woken = false;
    std::size_t waiters = 0;  // queued waiters, stale (shutdown-claimed) ones included
  };
  static state get(mutex& m) noexcept {
    spinlock_guard lk(m.lock_);
    state s;
    s.locked = m.locked_.load(std::memory_order_relaxed);
    s.starving = m.starving_.load(std::memory_order_relaxed);
    s.woken = m.woken_;
    for (const waiter* w = m.waiters_.front(); w != nullptr; w = w->next) ++s.waiters;
    return s;
  }
};
}  // namespace detail

// rw_mutex — sync.RWMutex.
//
// Any number of readers or one writer. Writer-preferring, like Go: once a writer waits,
// new readers wait too, so a recursive read lock can deadlock (as in Go). When a writer
// unlocks, every waiting reader is admitted before the next writer.
//
//   op \ state      | free        | readers        | writer      | readers + writer waiting
//   lock_shared()   | reads       | reads          | parks       | parks
//   lock()          | writes      | parks          | parks       | parks
//   unlock_shared() | fatal error | one reader less; the last admits a waiting writer
//   unlock()        | fatal error | fatal error    | frees; admits waiting readers, else a writer
//
// Fatal errors (Go's texts): "sync: RUnlock of unlocked RWMutex",
// "sync: Unlock of unlocked RWMutex". Go's names rlock/runlock are provided too.
// Memory ordering: as Go's (an unlock is synchronized before the locks it admits).
// Thread-safety: any goroutine, any thread.
class rw_mutex {
 public:
  rw_mutex() = default;
  rw_mutex(const rw_mutex&) = delete;
  rw_mutex& operator=(const rw_mutex&) = delete;

  // The locks record their call sites (see the top of the file).
  void lock(gofer::source_location where = gofer::source_location::current());
  bool try_lock() noexcept;
  void unlock();
  void lock_shared(gofer::source_location where = gofer::source_location::current());
  bool try_lock_shared() noexcept;
  void unlock_shared();
  void rlock(gofer::source_location where = gofer::source_location::current()) { lock_shared(where); }
  void runlock() { unlock_shared(); }

 private:
  detail::spinlock lock_;  // guards everything below; never parks while held
  std::int64_t readers_ ABSL_GUARDED_BY(lock_) = 0;  // active readers
  bool writer_ ABSL_GUARDED_BY(lock_) = false;       // a writer holds it
  detail::waitq readers_waiting_ ABSL_GUARDED_BY(lock_);
  detail::waitq writers_waiting_ ABSL_GUARDED_BY(lock_);
};

// once — sync.Once.
//
// call(f) runs f the first time it is called on this object and never again; every call
// returns only after that first f has finished. If f throws, the exception propagates to
// its caller and the once still counts as done (Go: "if f panics, Do considers it to have
// returned"). Calling call() from inside f deadlocks (as in Go).
//
// Why not a compare-and-swap on `done` (Go's once.go explains it too): with
//   if (done.exchange(true)) return; f();
// a second caller could return while the first is still running f — and see its effects
// half-done. So the slow path takes a mutex and sets `done` only after f has returned.
// The fast path is one acquire load, which pairs with the release store after f.
//
// Memory ordering: the completion of f is synchronized before the return of every call().
// Thread-safety: any goroutine, any thread. Not copyable.
class once {
 public:
  once() = default;
  once(const once&) = delete;
  once& operator=(const once&) = delete;

  // Records the call site while it waits for another caller's f.
  template <class F>
  void call(F&& f, gofer::source_location where = gofer::source_location::current()) {
    if (done_.load(std::memory_order_acquire)) return;  // fast path
    m_.lock(where);
    std::lock_guard<mutex> lk(m_, std::adopt_lock);
    if (done_.load(std::memory_order_relaxed)) return;
    // Marked done even if f throws: Go's Once counts a panicking f as done.
    gofer::defer mark_done([this] { done_.store(true, std::memory_order_release); });
    std::invoke(std::forward<F>(f));
  }
  bool done() const noexcept { return done_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> done_{false};
  mutex m_;
};

// cond — sync.Cond.
//
// A rendezvous point for goroutines waiting for an event, tied to a lock L (a gofer::mutex,
// a rw_mutex, or any type with lock()/unlock()). wait() atomically unlocks L and parks; when
// woken it re-locks L before returning. Because other goroutines may run between the wake
// and the re-lock, wait in a loop: `while (!condition) c.wait();`.
//
//   wait()      requires L held; parks until signal/broadcast; returns with L held again.
//               Records its call site, for the wait and for re-locking L if L's lock()
//               takes a gofer::source_location (gofer::mutex, rw_mutex) too
//   signal()    wakes the oldest waiter, if any (L need not be held)
//   broadcast() wakes every waiter
//
// No lost wake-ups: a waiter is queued before L is unlocked, so a signal issued after the
// waiter released L always finds it. Memory ordering: a signal/broadcast is synchronized
// before the wake-up of the waiters it wakes. Thread-safety: any goroutine, any thread.
// Not copyable; L must outlive the cond.
//
// Example:
//   gofer::mutex mu; gofer::cond ready(mu); bool go_ahead = false;
//   gofer::go([&] { std::lock_guard lk(mu); go_ahead = true; ready.broadcast(); });
//   std::unique_lock lk(mu);
//   while (!go_ahead) ready.wait();
class cond {
 public:
  template <class L>
  explicit cond(L& l) noexcept
      : l_(&l),
        lock_([](void* p, gofer::source_location where) {
          if constexpr (requires(L& m, gofer::source_location w) { m.lock(w); }) static_cast<L*>(p)->lock(where);
          else static_cast<L*>(p)->lock();
        }),
        unlock_([](void* p) { static_cast<L*>(p)->unlock(); }) {}
  cond(const cond&) = delete;
  cond& operator=(const cond&) = delete;

  void wait(gofer::source_location where = gofer::source_location::current());
  void signal();
  void broadcast();

 private:
  void* l_;
  void (*lock_)(void*, gofer::source_location);
  void (*unlock_)(void*);
  detail::spinlock sl_;  // guards waiters_
  detail::waitq waiters_ ABSL_GUARDED_BY(sl_);
};

}  // namespace gofer
