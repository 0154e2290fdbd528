// bench/adapters.hpp — one small adapter per implementation, so that each benchmark
// scenario is written once, as a template over the adapter (as in moodycamel's benchmarks).
//
//   adapter              tasks are                         queue is
//   gofer_impl           goroutines (gofer::run, N threads) gofer::chan<T>
//   boost_fiber_impl     fibers on 1 thread (round_robin)   boost::fibers::{un,}buffered_channel
//   moodycamel_thread    std::threads                       moodycamel::BlockingConcurrentQueue
//   moodycamel_fiber     goroutines (gofer::run, N threads) moodycamel::ConcurrentQueue, an empty
//                                                           queue is polled with gofer::yield()
//   mutex_cv_thread      std::threads                       bounded deque, std::mutex + 2 condvars
//   absl_thread          std::threads                       bounded deque, absl::Mutex + Condition
//
// An adapter A provides:
//   A::name                         the implementation's name in benchmark names (BM_<name>_...)
//   A::run(threads, fn)             runs fn as the scenario's "main" task with `threads` OS
//                                   threads (gofer: the scheduler's threads, GOMAXPROCS; thread
//                                   adapters: every task thread is pinned to the first `threads`
//                                   CPUs); returns after fn returned
//   A::spawn(fn) -> task            starts fn concurrently; task.join() waits for it
//   A::make<T>(cap) -> handle       a queue; cap 0 = unbuffered (rendezvous) where supported
//   A::send(q, v), A::recv(q) -> T  blocking send and receive (no close: every scenario gives
//                                   each receiver an exact count, or sends stop values)
//
// Where an implementation cannot follow the semantics exactly, the adapter says so and
// bench/RESULTS.md's legend repeats it: moodycamel's queues are unbounded (cap is ignored,
// "unbuffered" is a queue too); Boost's buffered_channel needs a power-of-two capacity and
// holds capacity − 1, so cap c becomes the smallest power of two ≥ max(2, c).
#pragma once

// gofer first: Boost.Fiber's detail/cpu_relax.hpp #defines a function-like macro
// cpu_relax(), which breaks gofer/detail/spinlock.hpp when included after it.
#include "gofer/chan.hpp"
#include "gofer/runtime.hpp"
#include "gofer/sync.hpp"

#include <absl/synchronization/mutex.h>
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/concurrentqueue.h>
#include <sched.h>

#include <boost/fiber/buffered_channel.hpp>
#include <boost/fiber/channel_op_status.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/unbuffered_channel.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <variant>

namespace bench {

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "bench: %s\n", what);
  std::abort();
}

// Share k of `total` items split over `parts` workers (the first ones take the remainder).
inline std::int64_t quota(std::int64_t total, std::int64_t parts, std::int64_t k) {
  return total / parts + (k < total % parts ? 1 : 0);
}

// ---- gofer ----------------------------------------------------------------------------

struct gofer_impl {
  static constexpr const char* name = "gofer";

  static void run(unsigned threads, std::function<void()> fn) {
    gofer::options opts;
    opts.threads = threads;
    gofer::run(std::move(fn), opts);
  }

  struct task {
    gofer::chan<int> done;  // closed when the goroutine's function returned
    void join() { done.recv(); }
  };
  template <class F>
  static task spawn(F fn) {
    task t;
    gofer::go([fn = std::move(fn), done = t.done]() {
      fn();
      done.close();
    });
    return t;
  }

  template <class T>
  static gofer::chan<T> make(std::size_t cap) { return gofer::chan<T>(cap); }
  template <class T>
  static void send(gofer::chan<T>& c, T v) { c.send(std::move(v)); }
  template <class T>
  static T recv(gofer::chan<T>& c) {
    std::optional<T> v = c.recv();
    if (!v) fail("gofer_impl: receive from a closed channel");
    return std::move(*v);
  }
};

// ---- Boost.Fiber ----------------------------------------------------------------------

// Raw Boost.Fiber: fibers on one thread with Boost's default round_robin scheduler. Each
// run uses a fresh std::thread, so its fiber scheduler is Boost's default whatever
// gofer::run did to the threads it used earlier in this process.
struct boost_fiber_impl {
  static constexpr const char* name = "boost_fiber";

  template <class F>
  static void run(unsigned threads, F fn) {
    if (threads != 1) fail("boost_fiber_impl: single-threaded only");
    std::thread(std::move(fn)).join();
  }

  struct task {
    boost::fibers::fiber f;
    void join() { f.join(); }
  };
  template <class F>
  static task spawn(F fn) { return task{boost::fibers::fiber(std::move(fn))}; }

  // Boost channels are neither copyable nor movable: the handle owns one of the two.
  template <class T>
  struct channel {
    std::unique_ptr<boost::fibers::unbuffered_channel<T>> u;
    std::unique_ptr<boost::fibers::buffered_channel<T>> b;
  };
  static std::size_t boost_capacity(std::size_t cap) {
    std::size_t p = 2;
    while (p < cap) p *= 2;
    return p;
  }
  template <class T>
  static channel<T> make(std::size_t cap) {
    channel<T> c;
    if (cap == 0) {
      c.u = std::make_unique<boost::fibers::unbuffered_channel<T>>();
    } else {
      c.b = std::make_unique<boost::fibers::buffered_channel<T>>(boost_capacity(cap));
    }
    return c;
  }
  template <class T>
  static void send(channel<T>& c, T v) {
    auto st = c.u ? c.u->push(std::move(v)) : c.b->push(std::move(v));
    if (st != boost::fibers::channel_op_status::success) fail("boost_fiber_impl: push failed");
  }
  template <class T>
  static T recv(channel<T>& c) {
    T v{};
    auto st = c.u ? c.u->pop(v) : c.b->pop(v);
    if (st != boost::fibers::channel_op_status::success) fail("boost_fiber_impl: pop failed");
    return v;
  }
};

// ---- OS threads -----------------------------------------------------------------------

// Tasks are std::threads. run() starts the main task on a thread pinned to the first
// `threads` CPUs; threads it starts inherit that mask (Linux copies it on clone).
struct thread_tasks {
  template <class F>
  static void run(unsigned threads, F fn) {
    std::thread([threads, &fn] {
      cpu_set_t set;
      CPU_ZERO(&set);
      const unsigned n = std::max(1U, std::min(threads, std::thread::hardware_concurrency()));
      for (unsigned i = 0; i < n; ++i) CPU_SET(i, &set);
      if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("bench: sched_setaffinity");
      fn();
    }).join();
  }
  struct task {
    std::thread t;
    void join() { t.join(); }
  };
  template <class F>
  static task spawn(F fn) { return task{std::thread(std::move(fn))}; }
};

// moodycamel's BlockingConcurrentQueue (a lock-free queue plus a lightweight semaphore)
// between threads. Unbounded: cap is ignored.
struct moodycamel_thread : thread_tasks {
  static constexpr const char* name = "moodycamel_thread";
  template <class T>
  using queue = std::unique_ptr<moodycamel::BlockingConcurrentQueue<T>>;
  template <class T>
  static queue<T> make(std::size_t /*cap*/) {
    return std::make_unique<moodycamel::BlockingConcurrentQueue<T>>();
  }
  template <class T>
  static void send(queue<T>& q, T v) {
    if (!q->enqueue(std::move(v))) fail("moodycamel_thread: enqueue failed");
  }
  template <class T>
  static T recv(queue<T>& q) {
    T v{};
    q->wait_dequeue(v);
    return v;
  }
};

// A bounded queue under one lock: cap items at most; cap 0 is a rendezvous (the sender
// waits until its item was taken). Lock is std::mutex + std::condition_variable.
template <class T>
class cv_queue {
 public:
  explicit cv_queue(std::size_t cap) : cap_(cap) {}
  void send(T v) {
    std::unique_lock lk(mu_);
    not_full_.wait(lk, [&] { return q_.size() < std::max<std::size_t>(cap_, 1); });
    q_.push_back(std::move(v));
    const std::uint64_t ticket = ++pushed_;
    not_empty_.notify_one();
    if (cap_ == 0) taken_.wait(lk, [&] { return popped_ >= ticket; });
  }
  T recv() {
    std::unique_lock lk(mu_);
    not_empty_.wait(lk, [&] { return !q_.empty(); });
    T v = std::move(q_.front());
    q_.pop_front();
    ++popped_;
    not_full_.notify_one();
    if (cap_ == 0) taken_.notify_all();
    return v;
  }

 private:
  const std::size_t cap_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_, taken_;
  std::deque<T> q_;
  std::uint64_t pushed_ = 0, popped_ = 0;
};

struct mutex_cv_thread : thread_tasks {
  static constexpr const char* name = "mutex_cv_thread";
  template <class T>
  static std::unique_ptr<cv_queue<T>> make(std::size_t cap) { return std::make_unique<cv_queue<T>>(cap); }
  template <class T>
  static void send(std::unique_ptr<cv_queue<T>>& q, T v) { q->send(std::move(v)); }
  template <class T>
  static T recv(std::unique_ptr<cv_queue<T>>& q) { return q->recv(); }
};

// The same bounded queue on absl::Mutex, waiting with LockWhen/Await on absl::Condition
// (absl::Mutex re-evaluates conditions on unlock: no condition variables).
template <class T>
class absl_queue {
 public:
  explicit absl_queue(std::size_t cap) : cap_(std::max<std::size_t>(cap, 1)), rendezvous_(cap == 0) {}
  void send(T v) {
    mu_.LockWhen(absl::Condition(this, &absl_queue::has_room));
    q_.push_back(std::move(v));
    if (rendezvous_) {
      ticket t{this, ++pushed_};
      mu_.Await(absl::Condition(+[](ticket* k) { return k->q->popped_ >= k->n; }, &t));
    }
    mu_.Unlock();
  }
  T recv() {
    mu_.LockWhen(absl::Condition(this, &absl_queue::has_item));
    T v = std::move(q_.front());
    q_.pop_front();
    ++popped_;
    mu_.Unlock();
    return v;
  }

 private:
  struct ticket {
    absl_queue* q;
    std::uint64_t n;
  };
  bool has_room() const { return q_.size() < cap_; }
  bool has_item() const { return !q_.empty(); }

  const std::size_t cap_;
  const bool rendezvous_;
  absl::Mutex mu_;
  std::deque<T> q_;
  std::uint64_t pushed_ = 0, popped_ = 0;
};

struct absl_thread : thread_tasks {
  static constexpr const char* name = "absl_thread";
  template <class T>
  static std::unique_ptr<absl_queue<T>> make(std::size_t cap) { return std::make_unique<absl_queue<T>>(cap); }
  template <class T>
  static void send(std::unique_ptr<absl_queue<T>>& q, T v) { q->send(std::move(v)); }
  template <class T>
  static T recv(std::unique_ptr<absl_queue<T>>& q) { return q->recv(); }
};

// ---- moodycamel inside goroutines -----------------------------------------------------

// moodycamel's non-blocking ConcurrentQueue between goroutines: a receiver finding it
// empty calls gofer::yield() and tries again (a fiber cannot block on the queue's
// semaphore without blocking its whole thread). Unbounded: cap is ignored.
struct moodycamel_fiber {
  static constexpr const char* name = "moodycamel_fiber";
  static void run(unsigned threads, std::function<void()> fn) { gofer_impl::run(threads, std::move(fn)); }
  using task = gofer_impl::task;
  template <class F>
  static task spawn(F fn) { return gofer_impl::spawn(std::move(fn)); }

  template <class T>
  using queue = std::unique_ptr<moodycamel::ConcurrentQueue<T>>;
  template <class T>
  static queue<T> make(std::size_t /*cap*/) { return std::make_unique<moodycamel::ConcurrentQueue<T>>(); }
  template <class T>
  static void send(queue<T>& q, T v) {
    if (!q->enqueue(std::move(v))) fail("moodycamel_fiber: enqueue failed");
  }
  template <class T>
  static T recv(queue<T>& q) {
    T v{};
    while (!q->try_dequeue(v)) gofer::yield();
    return v;
  }
};

}  // namespace bench
