// lib/src/detail/timer_heap.hpp — the runtime's pending deadlines (not installed).
//
//   timer_effects what firing timers asks for once the heap lock is released
//   timer_node    one pending deadline in the runtime's timer heap
//   timer_heap    all pending timers of a run, driven by the scheduler's idle wait
//   fire_sleep    the sleep() timer's fire function
//
// Implemented in timer.cpp; the user-facing timers are in time.cpp (gofer/time.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <vector>

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
  bool add(timer_node* t);
  // Removes t if it is still pending; returns whether it was.
  bool remove(timer_node* t);
  // The same with the lock already held (lock()), for stop/reset that must also drain a
  // channel atomically with respect to fire_due.
  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mu_); }
  bool add_locked(timer_node* t);
  bool remove_locked(timer_node* t);  // sets emptied_ when it empties the heap
  // After a remove_locked under lock(): calls on_emptied if the heap was emptied.
  void after_unlock();
  // Fires every timer due at `now` (under the heap lock) and wakes the goroutines they
  // released after unlocking.
  void fire_due(clock::time_point now);
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
  std::size_t size() const;
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
  void sift_up(std::size_t i);
  void sift_down(std::size_t i);
  void swap_nodes(std::size_t a, std::size_t b);
  void publish_next();

  // A node and a copy of its `when` (a node's `when` changes only while it is out of the
  // heap): sifting compares entries in this array instead of loading `when` from nodes
  // spread over goroutine stacks — with 1,000s of sockets waiting on deadlines, those
  // loads were cache misses (perf, ./gofer bench c10k: sift_down ~4 % of the server).
  struct entry {
    clock::rep when;
    timer_node* node;
  };
  mutable std::mutex mu_;              // guards heap_, emptied_ and every node's heap_index
  std::vector<entry> heap_;
  bool emptied_ = false;
  std::atomic<clock::rep> next_{clock::time_point::max().time_since_epoch().count()};
  std::atomic<int> firing_{0};  // fire_due calls between their first pop and last wake-up
  bool virtual_ = false;
  std::atomic<clock::rep> vnow_{0};
};

// The sleep() timer: claims node->g and queues it for waking.
bool fire_sleep(timer_node* self, clock::time_point now, timer_effects& fx);

}  // namespace gofer::detail
