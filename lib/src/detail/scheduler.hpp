// lib/src/detail/scheduler.hpp — one scheduler thread and its algorithm (not installed).
//
//   sched_algo    gofer's Boost.Fiber scheduling algorithm (one per worker thread)
//   worker        one scheduler thread: its run queue and its sleep/wake state
//   current_worker / schedule_new / flush_stack_cache   the per-thread entry points
//   parse_schedule   schedule::random (schedule.cpp; its generator: detail/random.hpp)
//
// Implemented in scheduler.cpp (stack.cpp: the stack cache). See lib/DESIGN.md ("The
// scheduler") for the invariants and the idle protocol.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/context.hpp>

#include "absl/base/thread_annotations.h"
#include "gofer/detail/spinlock.hpp"
#include "gofer/runtime.hpp"
#include "detail/random.hpp"
#include "detail/tracer.hpp"

namespace gofer::detail {

using boost::fibers::context;
using clock = std::chrono::steady_clock;

struct runtime;

// Parses GOFER_SCHEDULE ("random:SEED" or "random:SEED:yield=P"); throws
// std::invalid_argument on anything else.
gofer::schedule parse_schedule(const char* text);

// gofer's scheduling algorithm: one instance per worker thread, installed with
// boost::fibers::use_scheduling_algorithm. See lib/DESIGN.md ("The scheduler").
class sched_algo final : public boost::fibers::algo::algorithm {
 public:
  sched_algo(runtime& rt, worker& w) noexcept : rt_(rt), w_(w) {}
  void awakened(context* ctx) noexcept override;
  context* pick_next() noexcept override;
  bool has_ready_fibers() const noexcept override;
  void suspend_until(std::chrono::steady_clock::time_point const& abs_time) noexcept override;
  void notify() noexcept override;

 private:
  context* steal() noexcept;
  bool runnext_stale(worker& v, context* c) noexcept;
  bool stealable_runnext() noexcept;
  inline bool take_injected(context*& c) noexcept;
  inline context* pick_next_impl() noexcept;
  context* pick_random() noexcept;  // schedule::random (schedule.cpp)
  runtime& rt_;
  worker& w_;
};

struct worker {
  runtime* rt = nullptr;
  unsigned index = 0;
  std::thread thread;

  // Runnable goroutines (detached contexts), FIFO. Other workers steal from the front.
  gofer::detail::spinlock runq_lock;  // guards runq; never held while switching fibers
  std::deque<context*> runq ABSL_GUARDED_BY(runq_lock);
  std::atomic<std::size_t> runq_size{0};  // == runq.size(), readable without the lock

  // Go's runnext: the goroutine most recently readied by a goroutine running on this
  // worker runs next, here (a ping-pong stays on one thread, hot in cache). Set by
  // make_ready(c, true), i.e. by unpark() called from a goroutine of this worker; a
  // displaced runnext goes to the back of runq. Detached, like runq's entries: a thief
  // takes it (compare-exchange) once the owner has kept it for kRunnextGrace without a
  // switch (Go's runqsteal with stealRunNextG; scheduler.cpp, steal()).
  std::atomic<context*> runnext{nullptr};
  // The thief's memory of each victim's runnext (indexed by victim): what it saw, the
  // victim's sched_tick then, and since when. Owner-only (the thief's).
  struct runnext_sighting {
    context* c = nullptr;
    std::uint64_t tick = 0;
    std::chrono::steady_clock::time_point since{};
  };
  std::vector<runnext_sighting> runnext_seen;

  // The goroutine suspending in park() right now (set by park() under its park_lock,
  // just before context::suspend). pick_next detaches it from this thread's scheduler, so
  // a parked goroutine belongs to no thread and whoever wakes it runs it on their own
  // thread (Go's ready() puts the woken G on the waker's P). Owner-only.
  context* parking = nullptr;
  // The lock park() hands to context::suspend(lock). It must not live on the parking
  // goroutine's stack: Boost releases it in the ontop step of the switch, on this thread,
  // as `lk.unlock()` = park_lock.unlock() *then* a store of lk's owns flag = false. Between
  // the two, a waker on another thread may already unpark the goroutine and run it, and
  // the goroutine may reach its next park, whose lock object sits at the same stack
  // address: the late store then clears the *new* lock's owns flag, the next switch's
  // unlock throws EPERM inside Boost (std::terminate) and park_lock stays held for good
  // (select_bench fan_in, ~1 run in 20 at 2 threads). Here the late store lands in this
  // worker's own object, which only this thread touches, after the switch. Owner-only.
  boost::fibers::detail::spinlock_lock park_lk;
  // The goroutine this worker is running: set by pick_next to the record of the context it
  // returns (every switch on a worker thread goes through pick_next, as the TSan hooks rely
  // on too); nullptr while the dispatcher or the thread's main context runs. Read by
  // current_goroutine() and unpark() instead of Boost's context::active(), which is a
  // thread-local of libboost_fiber.so (__tls_get_addr: ~25 instructions a call, ~50 per
  // worker_pool job). Owner-only.
  goroutine* current = nullptr;

  // Pinned contexts (this thread's dispatcher), owned by this thread: no lock.
  std::deque<context*> pinned;
  context* main_ctx = nullptr;  // the thread's main context while it waits for stop
  std::uint64_t tick = 0;
  // For the monitor (preemption): `tick` as of the last pick, and whether this worker
  // waits for work in suspend_until. `preempt_at`: the monitor asks the goroutine running
  // here to yield at its next safe point while sched_tick still equals it.
  std::atomic<std::uint64_t> sched_tick{0};
  std::atomic<bool> in_idle{false};
  std::atomic<std::uint64_t> preempt_at{~std::uint64_t{0}};
  // The id of the goroutine picked last (0: none or the dispatcher), stored by every pick
  // only while hog warnings are on (runtime::hog_after), for the monitor's warning.
  std::atomic<std::uint64_t> running_gid{0};
  std::uint64_t last_netpoll = 0;  // tick of this worker's last non-blocking netpoll
  // Goroutines this worker took from the injection queue (owner-only writes; the monitor
  // reads it to tell a queue nobody takes from from a busy one).
  std::atomic<std::uint64_t> inject_taken{0};
  std::uint64_t rng = 0;

  // Tracing: this worker's events and the goroutine running now (trace.cpp). Owner-only.
  std::vector<trace_event> trace_buf;
  goroutine* trace_running = nullptr;
  std::int64_t trace_since = 0;

  // Goroutine stacks freed or taken on this thread (stack.cpp), of size stack_cache_size;
  // refilled from / spilled to the global pool in batches. Owner-only.
  std::vector<void*> stack_cache;
  std::size_t stack_cache_size = 0;

  // Sleeping: guards `wakeup`. The only lock a worker thread blocks on.
  std::mutex sleep_mu;
  std::condition_variable sleep_cv;
  bool wakeup = false;
  bool sleeping_forever = false;       // in the cv wait with no deadline; guarded by sleep_mu
  bool polling = false;                // inside poller::poll; guarded by sleep_mu
  bool asleep = false;                 // in a sleep_cv wait; guarded by sleep_mu
  std::atomic<bool> wake_flag{false};  // mirrors `wakeup` for the lock-free spin phase
  bool idle = false;  // in runtime::idle_list; guarded by runtime::idle_mu

  void push_local(context* c);
  context* pop_local();
  // Makes a parked (detached) goroutine runnable from code running on this worker: into
  // runnext when `next`, else at the back of runq (detached, stealable either way).
  void make_ready(context* c, bool next);
  void wake();  // from any thread: ends this worker's sleep in suspend_until
};

// The worker this thread is, nullptr on other threads. Read through a noinline accessor
// so the compiler never caches the thread-local's address across a fiber switch.
worker* current_worker() noexcept;
void set_current_worker(worker* w) noexcept;

// Returns this worker's cached stacks to the global pool (at the end of a run).
void flush_stack_cache(worker& w) noexcept;

// Pushes a fresh (never started) goroutine context to a run queue.
void schedule_new(runtime& rt, context* c);

}  // namespace gofer::detail
