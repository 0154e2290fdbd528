// gofer/pool.hpp — a worker pool: N worker goroutines fed by a bounded job queue.
//
//   worker_pool<Job, Result>  N goroutines running fn(ctx, job) for each submitted job
//   future<Result>            the one result of one job: get(), try_get(), c() for select
//   job_result<Result>        absl::StatusOr<Result>, or absl::Status when Result is void
//   pool_options              workers, queue capacity, goroutine name
//   pool_stats                submitted, queued, running, succeeded, failed, cancelled
//
// This is Go by Example's "worker pools" with the loose ends tied: the jobs channel is
// bounded (submit parks while it is full: back-pressure), every job gets exactly one result,
// a job that returns an error or throws fails only that job, and the pool shuts down either
// gracefully (close: queued jobs still run) or at once (stop / context cancelled: queued
// jobs fail with the cancellation cause, without running).
//
// Why a future per job, and not one shared results channel: with a shared bounded results
// channel the worker parks until somebody reads, so a goroutine that submits and then reads
// results deadlocks as soon as both channels fill up (Go's classic worker-pool bug). A
// future is a one-shot slot of its own: delivering never blocks a worker, the job ↔
// result pairing needs no id, and a failed job is a failed future. Streaming consumers
// still get channels: future::c() is a recv_chan usable in select, a chan<future<R>>
// gives results in submission order with bounded read-ahead, and pipeline.hpp's fan_out
// streams results in completion order.
//
// Layering: pool is built on chan, select and context. It reaches the park layer
// (gofer/detail/park.hpp) in two places only: detail::future_state below (a one-shot
// channel on waitq / wait_in / release_all / wake_all), and unpark() for the goroutine that
// the job queue's locked send and receive (chan's send_locked / recv_locked, run under the
// pool's lock) hand back to wake after unlocking.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include "gofer/detail/source_location.hpp"
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gofer/chan.hpp"
#include "gofer/context.hpp"
#include "gofer/defer.hpp"
#include "gofer/detail/park.hpp"
#include "gofer/detail/small_alloc.hpp"
#include "gofer/detail/spinlock.hpp"
#include "gofer/runtime.hpp"
#include "gofer/select.hpp"

namespace gofer {

template <class Job, class Result> class worker_pool;

// What a job ends with: absl::StatusOr<Result>, or absl::Status for Result = void.
template <class Result>
using job_result = std::conditional_t<std::is_void_v<Result>, absl::Status, absl::StatusOr<Result>>;

namespace detail {

// The shared state of one future: a one-shot channel built on the park layer
// (gofer/detail/park.hpp): the result, or the get()s parked for it, and — once c() was
// called — a real chan<V> that carries it instead (select needs a channel).
//
// Why not a chan<V>(1) per job: that was the first version, and it cost two allocations
// (the channel's make_shared) and a send + close per job, where this state is one block
// from the per-thread cache and a delivery nobody waits for takes its lock once: worker_pool
// pool_throughput at 1 thread, callgrind, 1,361 -> 996 instructions per job (bench/RESULTS.md,
// "After the run"). The channel is made only when c() is called.
//
// It uses the park layer's two documented halves and nothing below them: a get() parks on
// `getters` with wait_in (which claims, parks and leaves at shutdown), and deliver() claims
// every parked get() with release_all under the lock and wakes them with wake_all after it.
//
//   phase \ op  | deliver(r) (once, by the worker) | get()                 | c()
//   pending     | -> ready, wakes parked get()s   | parks in `getters`    | makes ch (open)
//   ready       | —                               | takes value -> taken  | makes ch: value sent, closed; -> taken
//   taken       | —                               | FailedPrecondition    | makes ch: closed
//   (ch exists) | sends r into ch, closes it      | ch.recv()             | ch
//
// Invariants: value holds a result iff phase == ready (then ch is nil); once ch exists
// every operation goes through it. pending -> ready happens under the lock (deliver);
// ready -> taken is a compare-exchange, by get()/try_get() without the lock (the taker's
// one lock-free step: a ready result costs the consumer no lock) or by c() under it —
// exactly one wins, and only the winner touches value afterwards.
// Memory ordering: deliver writes value, then stores phase ready (release); the taker's
// acquire load / compare-exchange of ready synchronizes with it. A result that went
// through ch is ordered by ch. Lifetime: counted by hand (refs), not by a shared_ptr —
// one allocation from the per-thread block cache and no control block, ~40 instructions
// per job less (callgrind).
template <class V>
struct future_state {
  enum class phase : std::uint8_t { pending, ready, taken };

  std::atomic<std::uint32_t> refs{1};  // handles: futures and the worker's reply (see make_future_state)
  std::atomic<phase> ph{phase::pending};
  // Guards everything below, and pending -> ready. Held for a few instructions and at most
  // one move of V and (in c()) one try_send + close of a channel nobody else holds yet;
  // nothing parks or is woken under it.
  mutable spinlock lock;
  std::optional<V> value;                // written by deliver (lock), moved out by the taker
  waitq getters ABSL_GUARDED_BY(lock);   // get()s parked while pending (every one is woken)
  chan<V> ch ABSL_GUARDED_BY(lock) = nullptr;

  future_state() = default;
  explicit future_state(V r) : ph(phase::ready), value(std::move(r)) {}

  void ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void unref() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  [[gnu::noinline]] void destroy() noexcept {
    small_allocator<future_state> a;
    std::destroy_at(this);
    a.deallocate(this, 1);
  }

  // ready -> taken, if ready: true means this caller owns value now.
  bool claim_ready() noexcept {
    phase p = phase::ready;
    return ph.load(std::memory_order_acquire) == phase::ready &&
           ph.compare_exchange_strong(p, phase::taken, std::memory_order_acquire, std::memory_order_relaxed);
  }
  std::optional<V> take_value() noexcept {
    std::optional<V> r(std::move(value));
    value.reset();
    return r;
  }

  // The worker's one delivery. Never blocks.
  // Takes r by reference: the result is moved once, into the slot or the channel (by value
  // it was moved twice more on the way, ~20 instructions per job for a StatusOr).
  void deliver(V&& r) ABSL_LOCKS_EXCLUDED(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    lock.lock();
    if (__builtin_expect(!ch && getters.empty(), true)) {  // nobody waits, no channel
      value.emplace(std::move(r));
      ph.store(phase::ready, std::memory_order_release);
      lock.unlock();
      return;
    }
    deliver_slow(std::move(r));
  }
  // deliver() when a get() is parked or c() made the channel: called with the lock held.
  [[gnu::noinline]] void deliver_slow(V&& r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    chan<V> to(nullptr);
    if (ch) {
      to = ch;
    } else {
      value.emplace(std::move(r));
      ph.store(phase::ready, std::memory_order_release);
    }
    waiter* woken = release_all(getters);  // claimed under the lock, woken after it
    lock.unlock();
    if (to) {
      bool sent = to.try_send(std::move(r));  // capacity 1, only ever one value
      (void)sent;
      to.close();
    }
    wake_all(woken);
  }

  std::optional<V> try_take() ABSL_LOCKS_EXCLUDED(lock) {
    if (claim_ready()) return take_value();  // lock-free: ready, not through ch
    lock.lock();
    if (ch) {
      chan<V> c = ch;
      lock.unlock();
      return c.try_recv();
    }
    lock.unlock();
    // pending, taken — or ready now (delivered since): claim again.
    if (claim_ready()) return take_value();
    return std::nullopt;
  }

  // The result, parking while pending; nullopt if it was already taken.
  std::optional<V> take(gofer::source_location where) ABSL_LOCKS_EXCLUDED(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (;;) {
      if (claim_ready()) return take_value();  // lock-free: the usual case for a done job
      lock.lock();
      if (ch) {
        chan<V> c = ch;
        lock.unlock();
        return c.recv(where);
      }
      phase p = ph.load(std::memory_order_acquire);
      if (p != phase::pending) {
        lock.unlock();
        if (p == phase::taken) return std::nullopt;
        continue;  // ready: claim it (or lose it to another taker)
      }
      // Releases the lock and parks until deliver() (throws goroutine_exit at shutdown).
      wait_in(lock, getters, wait_reason::chan_recv, "future::get", where);
    }
  }

  bool ready() const ABSL_LOCKS_EXCLUDED(lock) {
    spinlock_guard g(lock);
    return ch ? ch.len() > 0 : ph.load(std::memory_order_acquire) == phase::ready;
  }

  recv_chan<V> channel() ABSL_LOCKS_EXCLUDED(lock) {
    {
      spinlock_guard g(lock);
      if (ch) return ch;
    }
    chan<V> fresh(1);  // allocated outside the lock
    spinlock_guard g(lock);
    if (!ch) {
      if (claim_ready()) {
        bool sent = fresh.try_send(std::move(*value));  // nobody else holds fresh yet
        (void)sent;
        value.reset();
      }
      // Taken now (by us or a taker), or pending: deliver sends into ch from now on
      // (pending -> ready happens under this lock, so it cannot slip in between).
      if (ph.load(std::memory_order_acquire) == phase::taken) fresh.close();
      ch = std::move(fresh);
    }
    return ch;
  }
};

// A counted handle to a future_state (an intrusive shared pointer).
template <class S>
class state_ref {
 public:
  state_ref() noexcept = default;
  explicit state_ref(S* adopt) noexcept : p_(adopt) {}  // takes over one count
  state_ref(const state_ref& o) noexcept : p_(o.p_) {
    if (p_ != nullptr) p_->ref();
  }
  state_ref(state_ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  state_ref& operator=(state_ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~state_ref() {
    if (p_ != nullptr) p_->unref();
  }
  S* operator->() const noexcept { return p_; }
  S* get() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  friend bool operator==(const state_ref& a, const state_ref& b) noexcept { return a.p_ == b.p_; }

 private:
  S* p_ = nullptr;
};

// Makes a future's state: one allocation, from the thread's small-block cache
// (gofer/detail/small_alloc.hpp) — a pool makes and drops one per job, more than glibc's
// per-thread cache holds when submitters run ahead.
template <class V, class... Args>
state_ref<future_state<V>> make_future_state(Args&&... args) {
  small_allocator<future_state<V>> a;
  future_state<V>* p = a.allocate(1);
  try {
    ::new (static_cast<void*>(p)) future_state<V>(std::forward<Args>(args)...);
  } catch (...) {
    a.deallocate(p, 1);
    throw;
  }
  return state_ref<future_state<V>>(p);
}

// A pending state with two handles at once (the job's future and the worker's reply): the
// second count without an atomic increment.
template <class V>
std::pair<state_ref<future_state<V>>, state_ref<future_state<V>>> make_future_pair() {
  state_ref<future_state<V>> a = make_future_state<V>();
  future_state<V>* p = a.get();
  p->refs.store(2, std::memory_order_relaxed);  // nobody else holds it yet
  return {std::move(a), state_ref<future_state<V>>(p)};
}

}  // namespace detail

// future — the one result of one submitted job (Go's "promise channel": a channel that will
// carry exactly one value).
//
// Zero value: a default-constructed future is nil, like a nil channel: get() parks forever,
// try_get() returns nullopt, c() is a nil channel (never ready in select).
// Copy semantics: copies are handles to one result; exactly one get() (or one receive from
// c()) obtains it, the others see it as already taken.
//
//   op \ state | pending              | ready                  | taken                | nil
//   get()      | parks until ready    | the result; -> taken   | FailedPrecondition   | parks forever
//   try_get()  | nullopt              | the result; -> taken   | nullopt              | nullopt
//   ready()    | false                | true                   | false                | false
//   c().recv() | parks until ready    | the result; -> taken   | nullopt (closed)     | parks forever
//
// The result is sent and its channel closed in one step by the worker, so a taken future's
// c() is a closed channel (ready in select, with nullopt), never a hang.
// Cost: one allocation per future (detail::future_state, above, from a per-thread block
// cache); the channel behind c()
// is made only when c() is first called — from then on the result travels through it.
// Memory ordering: the job's return (and everything it wrote) is synchronized before the
// get() / receive that obtains its result. Thread-safety: any goroutine; get() parks only
// the calling goroutine. get() outside gofer::run throws std::logic_error if it must park.
//
// Example:
//   gofer::future<int> f = pool.submit(21);
//   absl::StatusOr<int> r = f.get();          // parks until a worker ran the job
//   if (r.ok()) std::printf("%d\n", *r);
template <class Result>
class future {
 public:
  using value_type = job_result<Result>;

  future() noexcept = default;  // nil

  // Parks until the job's result is available and returns it. If it was already taken
  // (by another get() or a receive from c()): absl::FailedPreconditionError("future:
  // result already taken"). Nil: parks forever. Thread-safe. Records the call site for
  // dumps (gofer/debug.hpp).
  value_type get(gofer::source_location where = gofer::source_location::current()) const {
    if (!s_) detail::block_forever(detail::wait_reason::chan_recv_nil, where);
    if (s_->claim_ready()) {  // ready: moved straight into the return value
      value_type r(std::move(*s_->value));
      s_->value.reset();
      return r;
    }
    std::optional<value_type> v = s_->take(where);
    if (!v) return taken_error();
    return std::move(*v);
  }
  // The result if it is ready now (taking it); nullopt if pending, already taken, or nil.
  // Never blocks.
  std::optional<value_type> try_get() const { return s_ ? s_->try_take() : std::nullopt; }
  // True if the result is ready and not yet taken. Never blocks (racy by nature if another
  // goroutine takes results from the same future).
  bool ready() const noexcept { return s_ && s_->ready(); }
  // The channel that carries the result (then is closed): for select. The first call makes
  // it (may allocate); every call returns the same channel. Nil future: a nil channel.
  recv_chan<value_type> c() const { return s_ ? s_->channel() : recv_chan<value_type>(); }
  // False for a nil future.
  bool valid() const noexcept { return static_cast<bool>(s_); }

  // A future that is ready with r at once (for example a rejected submission).
  static future ready_with(value_type r) {
    return future(detail::make_future_state<value_type>(std::move(r)));
  }

 private:
  using state = detail::future_state<value_type>;
  explicit future(detail::state_ref<state> s) noexcept : s_(std::move(s)) {}
  static value_type taken_error() { return absl::FailedPreconditionError("future: result already taken"); }

  detail::state_ref<state> s_;

  template <class, class> friend class worker_pool;
};

struct pool_options {
  // Worker goroutines: at most this many jobs run at once. 0: num_threads() of the run.
  std::size_t workers = 0;
  // Capacity of the job queue (jobs waiting for a worker). 0: unbuffered, as make(chan
  // Job): submit() returns once an idle worker has taken the job.
  std::size_t queue = 0;
  // Workers are goroutines named "<name>-<i>" (goroutine dumps, deadlock reports).
  std::string name = "worker";
};

// A snapshot of a pool's counters, consistent with itself (taken under the pool's lock).
struct pool_stats {
  std::uint64_t submitted = 0;  // accepted by submit()/try_submit() (rejections not counted)
  std::uint64_t queued = 0;     // accepted, not started: in the queue or in a parked submit()
  std::uint64_t running = 0;    // in the job function now (<= workers)
  std::uint64_t succeeded = 0;  // returned OK
  std::uint64_t failed = 0;     // returned an error status, or threw
  std::uint64_t cancelled = 0;  // never ran: dropped by stop() or a cancelled context
  // Jobs that have finished one way or another.
  std::uint64_t completed() const noexcept { return succeeded + failed + cancelled; }
};

namespace detail {

// Calls fn(ctx, job) or fn(job) and turns what it returns into a job_result<Result>:
//   Result = void: fn returns void (OK) or something convertible to absl::Status;
//   otherwise:     fn returns Result, absl::StatusOr<Result>, or something convertible.
template <class F, class Job>
decltype(auto) call_job(F& fn, const context& ctx, Job&& job) {
  if constexpr (std::is_invocable_v<F&, const context&, Job&&>) {
    return std::invoke(fn, ctx, std::move(job));
  } else {
    return std::invoke(fn, std::move(job));
  }
}

template <class F, class Job>
concept job_callable = std::is_invocable_v<F&, const context&, Job&&> || std::is_invocable_v<F&, Job&&>;

template <class F, class Job, class Result>
constexpr bool job_function_v() {
  if constexpr (!job_callable<F, Job>) {
    return false;
  } else {
    using ret = decltype(call_job(std::declval<F&>(), std::declval<const context&>(), std::declval<Job&&>()));
    if constexpr (std::is_void_v<Result>) {
      return std::is_void_v<ret> || std::is_convertible_v<ret, absl::Status>;
    } else {
      return std::is_convertible_v<ret, absl::StatusOr<Result>>;
    }
  }
}

// fn can be called with a job (and the context) and returns something job_result<Result>
// can be made from.
template <class F, class Job, class Result>
concept job_function = job_function_v<F, Job, Result>();

template <class Result, class F, class Job>
job_result<Result> invoke_job(F& fn, const context& ctx, Job&& job) {
  if constexpr (std::is_void_v<Result>) {
    if constexpr (std::is_void_v<decltype(call_job(fn, ctx, std::move(job)))>) {
      call_job(fn, ctx, std::move(job));
      return absl::OkStatus();
    } else {
      return absl::Status(call_job(fn, ctx, std::move(job)));
    }
  } else {
    return job_result<Result>(call_job(fn, ctx, std::move(job)));
  }
}

// The state the workers share with the pool's handles.
template <class Job, class Result>
struct pool_core {
  using result_t = job_result<Result>;
  using reply_t = state_ref<future_state<result_t>>;
  struct item {
    Job job;
    reply_t reply;  // the job's future: delivering never parks
  };

  // The job function, type-erased by hand: one indirect call per job (a std::function
  // around a lambda around a shared F made two), and a move-only F needs no copyable wrapper.
  using call_fn = result_t (*)(void* fn, const context&, Job&&);

  pool_core(const context& parent, std::size_t nworkers, std::size_t capacity,
            std::shared_ptr<void> f, call_fn call)
      : queue(capacity), fn_obj(std::move(f)), fn_call(call), workers(nworkers) {
    std::tie(ctx, cancel) = with_cancel_cause(parent);
    cancelled = cancelled_flag(ctx);
    done = ctx.done();
    live_workers = nworkers;
  }

  chan<item> queue;          // the bounded job queue; closed once, by take_queue_close_locked's winner
  context ctx;               // the pool's context: child of the user's, cancelled by stop()
  cancel_cause_func cancel;  // cancels ctx (thread-safe, idempotent)
  recv_chan<std::monostate> done;  // ctx.done(), kept: select cases borrow it
  const std::atomic<bool>* cancelled = nullptr;  // ctx's cancelled flag (lives with ctx)

  // !ctx.err().ok(), as one load: checked before every job.
  bool is_cancelled() const noexcept {
    return cancelled != nullptr && cancelled->load(std::memory_order_acquire);
  }
  std::shared_ptr<void> fn_obj;  // the user's F (shared by nobody else; never null)
  call_fn fn_call;               // calls *static_cast<F*>(fn_obj.get())
  chan<std::monostate> finished;  // closed by the last worker to exit
  const std::size_t workers;

  // Guards everything below. Held for a few instructions — and, in submit()'s fast path and
  // try_submit(), one non-blocking queue.try_send (lock order: this lock, then the queue
  // channel's lock; the send may unpark an idle worker), so that "not closing" and "queued"
  // are one atomic step and the queue is never closed under a sender. Nothing parks and no
  // user code runs under it; never take it while holding a channel lock.
  mutable spinlock lock;
  bool closing ABSL_GUARDED_BY(lock) = false;       // close()/stop()/cancel: no new submits
  bool queue_closed ABSL_GUARDED_BY(lock) = false;  // queue.close() has been decided
  std::size_t active_submitters ABSL_GUARDED_BY(lock) = 0;  // submit()s parked on the queue
  std::size_t live_workers ABSL_GUARDED_BY(lock) = 0;
  pool_stats stats ABSL_GUARDED_BY(lock);

  // Decides whether the queue may be closed now: closing and no submit() still parked on
  // it (closing it under a parked sender would make that sender panic). Exactly one caller
  // gets true and must then call queue.close() after unlocking.
  bool take_queue_close_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    if (!closing || queue_closed || active_submitters != 0) return false;
    queue_closed = true;
    return true;
  }

  // No new submissions; the queue closes as soon as no submit() is parked on it. Idempotent.
  // Never blocks.
  void close() ABSL_LOCKS_EXCLUDED(lock) {
    bool close_now;
    {
      spinlock_guard g(lock);
      closing = true;
      close_now = take_queue_close_locked();
    }
    if (close_now) queue.close();
  }

  // Runs the job function on `job`: its result, or the failure an exception becomes.
  // goroutine_exit (the runtime unwinding us) passes through, with `running` put right.
  result_t run_job(Job&& job) {
    try {
      return fn_call(fn_obj.get(), ctx, std::move(job));
    } catch (const goroutine_exit&) {
      spinlock_guard g(lock);
      --stats.running;
      throw;
    } catch (const std::exception& e) {
      return absl::InternalError(std::string("panic: ") + e.what());
    } catch (...) {
      return absl::InternalError("panic: unknown exception");
    }
  }

  // The queue's non-blocking send and receive for use under `lock`: no safe point (one may
  // yield the goroutine, and nothing may switch away while holding a spinlock that another
  // goroutine of this thread may be spinning on) and no wake-up under it — the goroutine
  // to wake is returned in `wake`, to unpark after unlocking.
  bool queue_send_locked(item& it, goroutine*& wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    chan_impl<item>* q = chan_access::get(queue);
    spinlock_guard g(q->lock);
    // Never closed here: the queue closes only once closing is set and no submitter is in
    // flight, and every sender checks closing in this same section.
    return q->send_locked(it, wake) == op_result::done;
  }
  void queue_recv_locked(std::optional<item>& it, goroutine*& wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    chan_impl<item>* q = chan_access::get(queue);
    spinlock_guard g(q->lock);
    (void)q->recv_locked(it, wake);
  }

  void worker_exited() ABSL_LOCKS_EXCLUDED(lock) {
    bool last;
    {
      spinlock_guard g(lock);
      last = --live_workers == 0;
    }
    if (last) {
      cancel(absl::OkStatus());  // release the context (Go: always call cancel)
      finished.close();
    }
  }

  // One worker goroutine: takes jobs until the queue is closed and drained. When the
  // context is cancelled it closes the pool and keeps draining, failing every job it takes
  // (so no future is left pending and no submitter parked).
  //
  // The job path takes the pool's lock once per job while jobs keep coming: the section
  // that counts a job's end (running -> succeeded/failed) also takes the next job from the
  // queue (lock order: the pool's lock, then the queue's) and counts its start (queued ->
  // running). Counters still change before the result is delivered (deliver comes after
  // the section), so whoever gets a result sees them.
  static void worker_main(std::shared_ptr<pool_core> cp) {
    pool_core& c = *cp;
    gofer::defer exited([&c] { c.worker_exited(); });
    recv_chan<std::monostate> done = c.done;
    std::optional<item> it;  // the job to run next
    bool started = false;    // its start is counted already (queued -> running)
    for (;;) {
      if (!it) {
        it = c.queue.try_recv();  // fast path: no select when busy
        if (!it) {
          if (gofer::select(recv_case(c.queue, it), recv_case(done)) == 1) {
            c.close();
            done = nullptr;  // seen; from now on only the queue matters
            continue;
          }
          if (!it) return;  // closed and drained
        }
        started = false;
      }
      if (c.is_cancelled()) {  // cancelled: stop taking jobs, fail the queued ones
        c.close();
        {
          spinlock_guard g(c.lock);
          --(started ? c.stats.running : c.stats.queued);
          ++c.stats.cancelled;
        }
        reply_t reply = std::move(it->reply);
        it.reset();
        reply->deliver(result_t(gofer::cause(c.ctx)));
        continue;
      }
      if (!started) {
        spinlock_guard g(c.lock);
        --c.stats.queued;
        ++c.stats.running;
      }
      result_t r = c.run_job(std::move(it->job));
      reply_t reply = std::move(it->reply);
      it.reset();
      goroutine* wake = nullptr;  // a submit() parked on the full queue, given room
      {
        spinlock_guard g(c.lock);
        --c.stats.running;
        ++(r.ok() ? c.stats.succeeded : c.stats.failed);
        c.queue_recv_locked(it, wake);  // the next job, in the same section
        started = it.has_value();
        if (started) {
          --c.stats.queued;
          ++c.stats.running;
        }
      }
      if (wake != nullptr) unpark(wake);
      reply->deliver(std::move(r));
      // A safe point per job (the queue operation above has none): a worker that always
      // finds a next job still yields when its time slice is over.
      safe_point();
    }
  }
};

struct pool_access;

}  // namespace detail

// worker_pool — a fixed set of worker goroutines running one job function over a bounded
// queue of jobs (Go by Example's worker pools, with results, shutdown and cancellation).
//
//   gofer::worker_pool<Job, Result> pool(ctx, {.workers = N, .queue = Q}, fn);
//
// fn is called as fn(const gofer::context&, Job) or fn(Job), on a worker goroutine, with
// the pool's context (a child of ctx, cancelled by stop()). It returns Result or
// absl::StatusOr<Result> (Result = void: nothing or absl::Status). A non-OK status fails
// the job; so does an exception, which becomes absl::InternalError("panic: <what()>")
// instead of crashing the program (Go's worker with a recover). At most N jobs run at once.
//
// Zero value: none — a pool needs its job function. Construction starts the workers (inside
// gofer::run only). Copy semantics: copies are handles to one pool, so several goroutines
// can submit; a moved-from handle may only be destroyed or assigned to. When the last
// handle goes away the pool is close()d (never waited for: destructors don't park), so
// queued jobs still run and the workers then exit; nothing leaks.
//
//   op \ state      | open                      | closing (close())        | stopped / ctx cancelled | finished
//   submit(j)       | queues j; parks while     | future: FailedPrecond.   | future: FailedPrecond.  | same
//                   | the queue is full         | "submit after close"     | (cancelled if it raced) |
//   try_submit(j)   | future, or nullopt if full| future: FailedPrecond.   | future: FailedPrecond.  | same
//   queued jobs     | run in FIFO order         | still run                | fail: cause(ctx), unrun | —
//   parked submit() | waits for room            | waits, then queued       | returns, cancelled      | —
//   running jobs    | run                       | run                      | run; ctx is cancelled   | —
//   close()         | -> closing                | no-op                    | no-op                   | no-op
//   stop()          | cancel, drop, wait        | same                     | waits                   | returns
//   wait()          | parks until finished      | parks until finished     | parks until finished    | returns
//
// "finished": every worker has exited (done() is closed). The cause of dropped jobs is
// cause(ctx): CancelledError("worker_pool: stopped") after stop(), or the parent's error
// (context canceled / deadline exceeded) if ctx was cancelled first.
//
// Invariants (pool_stats, under the pool's lock):
//   - submitted == queued + running + succeeded + failed + cancelled;
//   - running <= workers; once finished, queued == running == 0;
//   - every accepted job ends exactly once: run once (succeeded/failed) or never (cancelled),
//     and its future receives exactly one result.
// Memory ordering: a submit() that queued a job is synchronized before the job starts; the
// job's return is synchronized before its future's get() returns; the counters are updated
// before the result is delivered; every job's end is synchronized before wait() returns.
// Thread-safety: every member from any goroutine on any thread (stats() and close() even
// outside gofer::run). wait()/shutdown()/stop() from inside a job deadlock (the pool waits
// for that job), as in Go.
//
// Example:
//   gofer::worker_pool<int, int> pool({.workers = 3, .queue = 5}, [](int j) {
//     std::printf("worker took job %d\n", j);
//     return j * 2;
//   });
//   std::vector<gofer::future<int>> results;
//   for (int j = 1; j <= 5; ++j) results.push_back(pool.submit(j));
//   pool.shutdown();                                   // close(jobs); wg.Wait()
//   for (auto& r : results) std::printf("result %d\n", *r.get());
template <class Job, class Result = void>
class worker_pool {
  using core_t = detail::pool_core<Job, Result>;
  using item = typename core_t::item;

 public:
  using job_type = Job;
  using result_type = Result;
  using future_type = gofer::future<Result>;
  using result_t = job_result<Result>;

  // Starts opts.workers worker goroutines running fn over a queue of opts.queue jobs, with
  // a child of ctx as the pool's context. May allocate. Throws std::logic_error outside
  // gofer::run.
  template <class F>
    requires detail::job_function<F, Job, Result>
  worker_pool(const context& ctx, pool_options opts, F fn) {
    std::size_t n = opts.workers != 0 ? opts.workers : std::max<std::size_t>(1, num_threads());
    auto core = std::make_shared<core_t>(
        ctx, n, opts.queue, std::make_shared<F>(std::move(fn)),
        [](void* f, const context& c, Job&& job) -> result_t {
          return detail::invoke_job<Result>(*static_cast<F*>(f), c, std::move(job));
        });
    o_ = std::make_shared<owner>(core);
    for (std::size_t i = 0; i < n; ++i) {
      gofer::go(named{opts.name + "-" + std::to_string(i + 1)}, &core_t::worker_main, core);
    }
  }
  // The same with background() as the parent context.
  template <class F>
    requires detail::job_function<F, Job, Result>
  worker_pool(pool_options opts, F fn) : worker_pool(background(), std::move(opts), std::move(fn)) {}

  // Queues job and returns its future. Outcomes:
  //   - room in the queue (or an idle worker, when unbuffered): queued at once;
  //   - queue full: parks until a worker makes room (back-pressure), then queued — or, if
  //     the pool's context is cancelled meanwhile, returns a future failed with cause(ctx)
  //     (counted as cancelled);
  //   - context already cancelled: a future failed with cause(ctx) (counted as cancelled);
  //   - pool closed or stopped: a future failed with FailedPreconditionError("worker_pool:
  //     submit after close"), not counted.
  // May allocate (the future's state). Thread-safe. Parks only the calling goroutine;
  // records the call site for dumps while it waits (gofer/debug.hpp).
  future_type submit(Job job, gofer::source_location where = gofer::source_location::current()) const {
    core_t& c = *o_->core;
    auto [fs, reply] = detail::make_future_pair<result_t>();
    future_type f(std::move(fs));
    item it{std::move(job), std::move(reply)};
    detail::safe_point();  // before the lock: see pool_core::queue_send_locked
    {
      detail::goroutine* wake = nullptr;  // an idle worker parked on the empty queue
      bool queued;
      {
        detail::spinlock_guard g(c.lock);
        if (c.closing) return rejected();
        ++c.stats.submitted;
        ++c.stats.queued;
        queued = c.queue_send_locked(it, wake);  // fast path: room in the queue
        if (!queued) ++c.active_submitters;
      }
      if (queued) {
        if (wake != nullptr) detail::unpark(wake);
        return f;
      }
    }
    // Slow path: the queue is full. Park until it has room or the pool is cancelled.
    // (Counted as queued meanwhile; the queue cannot close under us: active_submitters.)
    bool sent = false;
    gofer::defer leave([&c, &sent] {
      bool close_now;
      {
        detail::spinlock_guard g(c.lock);
        --c.active_submitters;
        if (!sent) {
          --c.stats.queued;
          ++c.stats.cancelled;
        }
        close_now = c.take_queue_close_locked();
      }
      if (close_now) c.queue.close();
    });
    if (c.ctx.err().ok()) {
      gofer::select(send_case(c.queue, std::move(it), [&] { sent = true; }, where), recv_case(c.done));
    }
    if (!sent) f.s_->deliver(result_t(gofer::cause(c.ctx)));
    return f;
  }

  // Queues job only if that needs no waiting. Returns nullopt if the queue is full (job is
  // left untouched); otherwise a future (job moved from) — failed at once with
  // FailedPreconditionError("worker_pool: submit after close") if the pool is closed (job
  // untouched then too). A cancelled pool context fails the job later, in the queue.
  // Never blocks. May allocate. Thread-safe.
  std::optional<future_type> try_submit(Job& job) const {
    core_t& c = *o_->core;
    auto [fs, reply] = detail::make_future_pair<result_t>();
    future_type f(std::move(fs));
    item it{std::move(job), std::move(reply)};
    detail::safe_point();  // before the lock: see pool_core::queue_send_locked
    detail::goroutine* wake = nullptr;
    {
      detail::spinlock_guard g(c.lock);
      if (c.closing) {
        job = std::move(it.job);
        return rejected();
      }
      if (!c.queue_send_locked(it, wake)) {
        job = std::move(it.job);
        return std::nullopt;
      }
      ++c.stats.submitted;
      ++c.stats.queued;
    }
    if (wake != nullptr) detail::unpark(wake);
    return f;
  }
  std::optional<future_type> try_submit(Job&& job) const { return try_submit(job); }

  // close(jobs): no new submissions; queued jobs (and submit()s parked on the full queue)
  // still run; workers exit once the queue is drained. Idempotent. Never blocks.
  void close() const { o_->core->close(); }

  // Parks until every worker has exited (after close(), stop() or cancellation of the
  // pool's context; before that it parks until one of them happens). Thread-safe; many
  // goroutines may wait. Records the call site for dumps (gofer/debug.hpp).
  void wait(gofer::source_location where = gofer::source_location::current()) const {
    o_->core->finished.recv(where);
  }

  // Graceful shutdown: close(), then wait() — every queued job runs. Records the call site.
  void shutdown(gofer::source_location where = gofer::source_location::current()) const {
    close();
    wait(where);
  }

  // Immediate shutdown: cancels the pool's context with cause
  // CancelledError("worker_pool: stopped"), closes the pool, fails every queued job with
  // that cause without running it (counted as cancelled), wakes parked submit()s (their
  // futures fail the same way), and parks until the running jobs have returned and every
  // worker has exited. Running jobs are not interrupted (no preemption): they see their
  // context cancelled and their results count as they return. Idempotent.
  // Records the call site while it waits.
  void stop(gofer::source_location where = gofer::source_location::current()) const {
    core_t& c = *o_->core;
    c.cancel(absl::CancelledError("worker_pool: stopped"));
    c.close();
    wait(where);
  }

  // A consistent snapshot of the counters. Never blocks. Thread-safe.
  pool_stats stats() const {
    detail::spinlock_guard g(o_->core->lock);
    return o_->core->stats;
  }
  // Closed when every worker has exited: for select.
  recv_chan<std::monostate> done() const noexcept { return o_->core->finished; }
  // The context jobs receive (cancelled by stop(), and once the pool is finished).
  context job_context() const { return o_->core->ctx; }
  std::size_t workers() const noexcept { return o_->core->workers; }
  std::size_t queue_capacity() const noexcept { return o_->core->queue.cap(); }

  friend bool operator==(const worker_pool& a, const worker_pool& b) noexcept { return a.o_ == b.o_; }

 private:
  // Shared by the handles (not the workers): the last handle to go closes the pool.
  struct owner {
    explicit owner(std::shared_ptr<core_t> c) : core(std::move(c)) {}
    owner(const owner&) = delete;
    owner& operator=(const owner&) = delete;
    ~owner() { core->close(); }
    std::shared_ptr<core_t> core;
  };

  static future_type rejected() {
    return future_type::ready_with(result_t(absl::FailedPreconditionError("worker_pool: submit after close")));
  }

  std::shared_ptr<owner> o_;

  friend struct detail::pool_access;
};

namespace detail {
// White-box access for tests (the job queue, to watch parked submitters).
struct pool_access {
  template <class Job, class Result>
  static auto queue(const worker_pool<Job, Result>& p) {
    return p.o_->core->queue;
  }
};
}  // namespace detail

}  // namespace gofer
