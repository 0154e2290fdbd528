// lib/src/detail/timer_heap.hpp — the runtime's pending deadlines (not installed).
//
//   timer_effects what firing timers asks for once the heap lock is released
//   timer_node    one pending deadline in the runtime's timer heap
//   timer_heap    all pending timers of a run, driven by the scheduler's idle wait
//   fire_sleep    the sleep() timer's fire function
//   add_timer     arm a node: add it, wake an idle worker if it is the new earliest deadline
//   func_timer / after_func   a function called once a deadline passes (Go's time.AfterFunc)
//
// Implemented in timer.cpp; the user-facing timers are in time.cpp (gofer/time.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <utility>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "gofer/detail/spinlock.hpp"
#include "detail/goroutine.hpp"

namespace gofer::detail {

using boost::fibers::context;
using clock = std::chrono::steady_clock;

// What firing timers asks for once the heap lock is released: goroutines to wake and
// callbacks to run (context deadlines cancel their context there).
struct timer_effects {
  std::vector<goroutine*> wake;
  std::vector<std::function<void()>> calls;
};

// One deadline in a timer_heap. A sleeping goroutine's node lives on its stack; a timer
// channel's node is owned by its timer/ticker object, or by the heap for after()/tick().
struct timer_node {
  clock::time_point when;
  std::size_t heap_index = npos;  // position in the heap, npos when not in it; guarded by the heap's lock
  // Runs with the heap lock held once `when` has passed (the node is already out of the
  // heap). Appends the goroutines to wake and the callbacks to run after unlocking (a
  // callback must not refer to the node: it may be gone by then). Returns true to re-arm at
  // the (updated) `when`. Lock order: heap lock, then a channel lock, then a park_lock.
  bool (*fire)(timer_node* self, clock::time_point now, timer_effects& fx) = nullptr;
  // If set, the heap owns the node: called after a final fire, and by ~timer_heap.
  void (*dispose)(timer_node* self) = nullptr;
  goroutine* g = nullptr;  // sleep(): the goroutine to claim and wake
  void* arg = nullptr;     // for other kinds of timers (a context deadline: its node)
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
};

// A binary min-heap of timer_node*, ordered by `when`: all pending timers of one run.
class timer_heap {
 public:
  ~timer_heap();
  // Called (outside the heap lock) when a removal leaves the heap empty: idle workers that
  // sleep until a deadline that no longer exists must re-evaluate, or the deadlock detector
  // (which needs "no timer pending") would wait for a timer that was stopped.
  std::function<void()> on_emptied;
  // Adds t; returns true if t is now the earliest deadline (the caller then wakes an idle
  // worker so that it sleeps until the new deadline).
  bool add(timer_node* t) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes t if it is still pending; returns whether it was.
  bool remove(timer_node* t) ABSL_LOCKS_EXCLUDED(mu_);
  // The same with the lock already held (spinlock_guard lk(heap.mutex())), for stop/reset
  // that must also drain a channel atomically with respect to fire_due.
  spinlock& mutex() const ABSL_LOCK_RETURNED(mu_) { return mu_; }
  bool add_locked(timer_node* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool remove_locked(timer_node* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // sets emptied_ when it empties the heap
  // After a remove_locked under lock(): calls on_emptied if the heap was emptied.
  void after_unlock() ABSL_LOCKS_EXCLUDED(mu_);
  // Fires every timer due at `now` (under the heap lock) and wakes the goroutines they
  // released after unlocking.
  void fire_due(clock::time_point now) ABSL_LOCKS_EXCLUDED(mu_);
  // The earliest deadline, or time_point::max(). Lock-free (may be slightly stale).
  clock::time_point next() const noexcept {
    return clock::time_point(clock::duration(next_.load(std::memory_order_acquire)));
  }
  // No timer pending and none being fired: nothing in the time layer can wake a goroutine.
  // (next() alone is not enough: fire_due pops a due node under the lock, then unparks its
  // goroutine after unlocking — in between, next() may say "no timer" while the goroutine
  // still looks parked; the leak check saw such a sleeper as a leftover.) Correctness:
  // fire_due raises firing_ before it pops (under mu_, before publish_next's release
  // store) and lowers it (release) only after its unparks and calls; reading next_
  // (acquire) first and firing_ (acquire) second, a caller that sees a popped heap also
  // sees firing_ raised, or lowered with the unparks visible.
  bool quiet() const noexcept {
    if (next() != clock::time_point::max()) return false;
    return firing_.load(std::memory_order_acquire) == 0;
  }
  std::size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // The clock this heap's deadlines are on: steady_clock, or a synctest bubble's virtual
  // clock (set_virtual_now; then only the bubble's synctest::run fires the heap).
  clock::time_point now() const noexcept {
    if (__builtin_expect(virtual_, false)) return clock::time_point(clock::duration(vnow_.load(std::memory_order_acquire)));
    return clock::now();
  }
  bool is_virtual() const noexcept { return virtual_; }
  void set_virtual_now(clock::time_point t) noexcept {
    virtual_ = true;  // set once, before any other thread sees the heap
    vnow_.store(t.time_since_epoch().count(), std::memory_order_release);
  }

 private:
  void sift_up(std::size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void sift_down(std::size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void swap_nodes(std::size_t a, std::size_t b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void publish_next() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Guards heap_, emptied_ and every node's heap_index. A spinlock (lib/DESIGN.md,
  // "Locks"): goroutines take it (sleep, timers, deadlines) for a few dozen instructions,
  // and fire_due holds it only while it pops due nodes and runs their fire functions (which
  // take channel locks and park_locks, never park, never run user code).
  mutable spinlock mu_;
  // A node and a copy of its `when` (a node's `when` changes only while it is out of the
  // heap): sifting compares entries in this array instead of loading `when` from nodes
  // spread over goroutine stacks — with 1,000s of sockets waiting on deadlines, those
  // loads were cache misses (perf, ./gofer bench c10k: sift_down ~4 % of the server).
  struct entry {
    clock::rep when;
    timer_node* node;
  };
  std::vector<entry> heap_ ABSL_GUARDED_BY(mu_);
  bool emptied_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<clock::rep> next_{clock::time_point::max().time_since_epoch().count()};
  std::atomic<int> firing_{0};  // fire_due calls between their first pop and last wake-up
  bool virtual_ = false;
  std::atomic<clock::rep> vnow_{0};
};

// The sleep() timer: claims node->g and queues it for waking.
bool fire_sleep(timer_node* self, clock::time_point now, timer_effects& fx);

struct runtime;

// Arms t on heap (the run's, or a synctest bubble's): adds it and, if it is now the
// earliest deadline of a real-time heap, wakes an idle worker so that one sleeps until it.
// Every timer of the runtime is armed through here (sleep, timer channels, the poller's
// deadlines, func_timer).
void add_timer(runtime& rt, timer_heap& heap, timer_node* t);

// A function called once, when a deadline passes: Go's time.AfterFunc, for the runtime's
// own use (context deadlines).
//
// Where f runs: Go runs an AfterFunc's f in a goroutine of its own. Here f runs on the timer
// path — on the thread that fires the heap (a worker's dispatcher, or a synctest bubble's
// driver), after the heap lock is released (timer_effects::calls) — so it must be short and
// must never park, take a gofer::mutex or run user code; closing a channel and taking
// spinlocks are fine (a context's cancel). Why not a goroutine: a deadline would cost a
// spawn and count as a live goroutine (num_goroutine, the leak check, a bubble's
// members), which the context deadlines it serves never did; a user-facing AfterFunc would
// spawn one from f.
//
// A default-constructed or moved-from func_timer holds nothing (stop() returns false).
// Not copyable; movable (the node is on the heap, so a move never changes its address).
//
//   op \ state | made, not armed      | armed, pending       | fired               | stopped
//   arm(rt)    | -> pending           | (never twice)        | (never)             | no-op
//   stop()     | -> stopped, false    | -> stopped, true     | false (f ran / runs)| false
//   deadline   |                      | -> fired: f queued   |                     |
//
// Invariants: f runs at most once, and never after a stop() that returned true; a stop()
// before arm() keeps arm() from adding it (so a creator that publishes the timer before
// arming it needs no re-check: a concurrent stop() wins either way).
//
// Memory ordering: arm and stop take the heap lock; a stop() that returns true is ordered
// before the deadline's pop, one that returns false after it (f may still be running on
// the timer path then: f must hold what it touches, e.g. through a weak_ptr).
//
// Thread-safety: arm/stop from any thread, one object at a time (like any C++ object);
// the destructor stops.
//
//   func_timer t(timers_here(rt), deadline, [weak] { if (auto n = weak.lock()) cancel(n); });
//   publish(&t);            // others may stop() it from now on
//   t.arm(rt);              // pending unless already stopped
class func_timer {
 public:
  func_timer() = default;
  func_timer(std::shared_ptr<timer_heap> heap, clock::time_point when, std::function<void()> f);
  func_timer(func_timer&&) noexcept = default;
  func_timer& operator=(func_timer&& o) noexcept {  // stops the timer it held
    if (this != &o) {
      stop();
      node_ = std::move(o.node_);
      heap_ = std::move(o.heap_);
    }
    return *this;
  }
  ~func_timer() { stop(); }
  void arm(runtime& rt);
  bool stop() noexcept;
  explicit operator bool() const noexcept { return node_ != nullptr; }

 private:
  struct node;
  struct node_delete {
    void operator()(node* n) const noexcept;
  };
  std::unique_ptr<node, node_delete> node_;
  std::shared_ptr<timer_heap> heap_;
};

// Go's time.AfterFunc(d, f) on the runtime's timers: a func_timer on the calling goroutine's
// heap (its synctest bubble's, or the run's), armed. Throws std::logic_error outside
// gofer::run. f runs on the timer path (see func_timer).
func_timer after_func(clock::duration d, std::function<void()> f);

}  // namespace gofer::detail
