// lib/src/detail/runtime_impl.hpp — the runtime's internal state (not installed).
//
//   goroutine     the runtime record of one goroutine (Boost fiber_properties of its fiber)
//   timer_node    one pending deadline in the runtime's timer heap
//   timer_heap    all pending timers of a run, driven by the scheduler's idle wait
//   worker        one scheduler thread: its run queue and its sleep/wake state
//   sched_algo    gofer's Boost.Fiber scheduling algorithm (one per worker thread)
//   runtime       one gofer::run: workers, the injection queue, the goroutine registry
//
// See lib/DESIGN.md for the scheduler's invariants and lock order.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include "gofer/detail/source_location.hpp"
#include <string>
#include <thread>
#include <vector>

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/detail/spinlock.hpp>
#include <boost/fiber/properties.hpp>
#include "absl/status/status.h"
#include <concurrentqueue/concurrentqueue.h>

#include "gofer/detail/spinlock.hpp"
#include "gofer/detail/wait.hpp"
#include "gofer/runtime.hpp"
#include "detail/tsan.hpp"

namespace gofer::detail {

using boost::fibers::context;
using clock = std::chrono::steady_clock;

struct runtime;
struct bubble;  // a synctest bubble (detail/synctest_impl.hpp)

// The runtime record of a goroutine. Owned by its fiber's context (Boost deletes the
// properties object when the context is destroyed, after the goroutine returned).
struct goroutine final : boost::fibers::fiber_properties {
  goroutine(context* c, std::uint64_t gid) noexcept : fiber_properties(c), ctx(c), id(gid) {}

  context* const ctx;
  const std::uint64_t id;

  // --- the claim protocol (gofer/detail/wait.hpp) ---
  // 0: a wait is open (begin_wait ran, nobody claimed it yet); 1: claimed / not waiting.
  std::atomic<std::uint32_t> claim{1};
  // Written by the claim winner before unpark(); read by this goroutine after park().
  waiter* fired = nullptr;
  bool shutdown_woken = false;

  // --- parking: guards `parked` and `wake_pending`. Boost's spinlock type, because
  // context::suspend(lock) releases it only after this goroutine's stack is switched out,
  // so a waker that takes it can never schedule a goroutine that is still running.
  boost::fibers::detail::spinlock park_lock;
  bool parked = false;        // suspended in park(), waiting for unpark()
  bool wake_pending = false;  // unpark() came before park(): the next park() returns at once
  std::uint32_t unparks = 0;  // parked -> not parked transitions (the leak check's snapshot)

  // --- diagnostics ---
  std::string name;                                    // immutable after spawn
  std::atomic<wait_reason> reason{wait_reason::none};  // set in park()
  std::atomic<std::int64_t> parked_since_ms{0};        // coarse clock, set in park()
  // The user's call that parked it (wait.hpp, "Call sites"), set in park(). An atomic
  // because dumps read it from other threads; one pointer, so lock-free (asserted below).
  std::atomic<gofer::source_location> where{gofer::source_location{}};

  // --- tracing (trace.cpp), only when GOFER_TRACE is set ---
  std::uint64_t trace_flow = 0;  // a pending wake-up flow to end when it next runs
  bool trace_named = false;      // its name is recorded in the tracer

  // --- synctest (detail/synctest_impl.hpp): the bubble this goroutine belongs to, or the
  // bubble its synctest::run is starting (then bub_member is false). Written by the
  // goroutine itself or before it starts; bub_durable is guarded by park_lock.
  bubble* bub = nullptr;
  bool bub_member = false;   // counted in bub's active/members
  bool bub_durable = false;  // parked durably: unpark() counts it active again

  // --- runtime registry links, guarded by the mutex of the registry shard of `id` ---
  goroutine* reg_prev = nullptr;
  goroutine* reg_next = nullptr;

#ifdef GOFER_TSAN
  tsan_fiber tsan;  // ThreadSanitizer's fiber for this goroutine (detail/tsan.hpp)
#endif
};

static_assert(std::atomic<gofer::source_location>::is_always_lock_free,
              "goroutine::where must be a plain pointer store");

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

struct worker;

// One socket's registration with the poller (Go's pollDesc). Records are never freed, only
// recycled with a new generation, so an epoll event that arrives after close() finds a
// record whose generation no longer matches and is ignored.
struct poll_desc {
  gofer::detail::spinlock lock;  // guards everything below but `index`
  int fd ABSL_GUARDED_BY(lock) = -1;
  std::uint32_t index = 0;       // position in the poller's table (epoll data); immutable
  std::uint32_t gen ABSL_GUARDED_BY(lock) = 0;  // bumped by close()
  bool closing ABSL_GUARDED_BY(lock) = false;
  bool rready ABSL_GUARDED_BY(lock) = false;  // an edge arrived while nobody waited
  bool wready ABSL_GUARDED_BY(lock) = false;
  waiter* rwaiter ABSL_GUARDED_BY(lock) = nullptr;  // the goroutine parked reading (one at a time)
  waiter* wwaiter ABSL_GUARDED_BY(lock) = nullptr;  // the goroutine parked writing
};

// Why a goroutine parked on a socket was woken (waiter::index).
enum : std::uint32_t { io_ready = 0, io_closed = 1, io_rearm = 2 };

// The runtime's epoll instance: sockets register once (edge-triggered); an idle worker
// waits in epoll_wait instead of its condition variable whenever goroutines wait on
// sockets (see sched_algo::suspend_until). An eventfd interrupts it.
class poller {
 public:
  poller();
  ~poller();
  // Registers fd; returns its record and generation, or nullptr with errno set when epoll
  // refuses the descriptor (EPERM for a regular file or a directory).
  poll_desc* open(int fd, std::uint32_t& gen);
  // Marks closing, wakes both waiters (io_closed), deregisters; the caller closes the fd.
  void close(poll_desc* pd, std::uint32_t gen);
  // Wakes a parked reader/writer so it re-reads its deadline (io_rearm).
  void rearm(poll_desc* pd, std::uint32_t gen, bool write);
  // Parks the calling goroutine until fd is ready for reading (writing), the deadline
  // passes, *interrupt becomes true (if given), or close(). `deadline` holds a
  // clock::time_point's count, 0 for none; it and *interrupt are read under the record's
  // lock, so a writer that stores and then calls rearm() is never missed. Returns OK
  // ("something changed: re-check, retry the syscall") when ready, re-armed or
  // interrupted; "i/o timeout" when the deadline has passed; closed after close().
  // `where`: the user's call, for dumps (gofer/detail/wait.hpp, "Call sites").
  absl::Status wait(poll_desc* pd, std::uint32_t gen, bool write, const std::atomic<clock::rep>& deadline,
                    const std::atomic<bool>* interrupt = nullptr, gofer::source_location where = {});
  // epoll_wait for up to timeout_ms (-1: forever) and wake the goroutines whose sockets
  // became ready. Returns how many were woken.
  int poll(int timeout_ms);
  void interrupt() noexcept;  // ends a poll() in progress
  std::atomic<int> waiters{0};      // goroutines parked in wait()
  std::atomic<bool> polling{false}; // a worker is inside poll() (blocking)

 private:
  int epfd_ = -1;
  int evfd_ = -1;
  std::mutex table_mu_;                // guards table_ growth and free_
  std::deque<poll_desc> table_;        // stable addresses
  std::vector<std::uint32_t> free_;
};

// One trace event, recorded in the buffer of the worker it happened on (no locks).
struct trace_event {
  char ph;                 // 'X' run slice, 'i' park, 's'/'f' wake-up flow start/end
  wait_reason reason;      // for 'i'
  std::int64_t ts_ns;      // since the tracer's origin
  std::int64_t dur_ns;     // for 'X'
  std::uint64_t gid;
  std::uint64_t flow;      // for 's'/'f'
};

// GOFER_TRACE=path.json: a Chrome/Perfetto trace-event file written when run() returns.
class tracer {
 public:
  explicit tracer(std::string path) : path_(std::move(path)), origin_(clock::now()) {}
  std::int64_t now_ns() const noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - origin_).count();
  }
  void name_goroutine(goroutine* g);
  std::uint64_t next_flow() noexcept { return flow_.fetch_add(1, std::memory_order_relaxed) + 1; }
  // Writes every worker's events; returns false (and says why on stderr) on failure.
  bool write(const runtime& rt);

 private:
  std::string path_;
  clock::time_point origin_;
  std::atomic<std::uint64_t> flow_{0};
  std::mutex names_mu_;
  std::vector<std::pair<std::uint64_t, std::string>> names_;  // guarded by names_mu_
};

// True while a run is being traced: set before the workers start, cleared after they
// stopped, so a plain (non-atomic) read is race-free. One predictable branch per hook site.
extern bool g_tracing;

// True while a run uses schedule::random (schedule.cpp); same discipline as g_tracing.
extern bool g_sched_random;
// The run's seeded generator (schedule::random only; one thread, so no lock).
std::uint64_t sched_random() noexcept;
// Parses GOFER_SCHEDULE ("random:SEED" or "random:SEED:yield=P"); throws
// std::invalid_argument on anything else.
gofer::schedule parse_schedule(const char* text);

// Hooks, called only when tracing (runtime::trace != nullptr).
void trace_switch(worker& w, context* next) noexcept;  // from pick_next
void trace_park(goroutine* g, wait_reason why) noexcept;
void trace_unpark(goroutine* g) noexcept;

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

struct runtime {
  unsigned nthreads = 1;
  std::size_t stack_size = 0;
  std::vector<std::unique_ptr<worker>> workers;

  // Goroutines made runnable from outside the workers (the main goroutine, go() on a
  // foreign thread). Lock-free MPMC.
  moodycamel::ConcurrentQueue<context*> inject;

  // Idle workers, for waking one when work appears (Go's wakep).
  std::mutex idle_mu;
  std::vector<worker*> idle_list;  // guarded by idle_mu
  std::atomic<int> idle_count{0};
  // Times the monitor found work queued and untouched while workers slept and woke them
  // (scheduler.cpp: a lost wake-up; a regression signal, 0 when the idle protocol is
  // right). Written by the monitor thread only.
  std::atomic<std::uint64_t> lost_wakeups_rescued{0};
  // Workers spinning for work before they sleep: while one spins, publishers need not wake
  // anybody (Go's nmspinning).
  std::atomic<int> spinning{0};
  // Call after publishing work (from any thread): fences, then wakes one idle worker unless
  // a worker spins or none is idle (scheduler.cpp, "Idle protocol").
  void wake_one_idle() noexcept;
  void wake_all() noexcept;

  // The monitor (Go's sysmon, preemption only): a thread that wakes every few ms and asks
  // a worker whose goroutine ran a whole time slice without a switch to preempt it.
  // Hog warnings (options::warn_hogs, GOFER_DEBUG=hog): zero when off. Set before the
  // workers start, never changed.
  clock::duration hog_after{0};
  void warn_hog(std::uint64_t gid, clock::duration ran);
  std::thread monitor;
  std::mutex monitor_mu;
  std::condition_variable monitor_cv;
  bool monitor_stop = false;  // guarded by monitor_mu
  void start_monitor();
  void stop_monitor();

  // Shared so that a timer object outliving its run can still stop itself safely.
  std::shared_ptr<timer_heap> timers = std::make_shared<timer_heap>();

  // Every live goroutine, for shutdown and dumps; sharded by id so that spawning and
  // ending goroutines on several threads rarely meet on one lock.
  static constexpr std::size_t kRegistryShards = 16;
  struct registry_shard {
    std::mutex mu;
    goroutine* head = nullptr;  // guarded by mu
  };
  registry_shard registry[kRegistryShards];
  void register_goroutine(goroutine* g);
  void unregister_goroutine(goroutine* g);

  // Sockets (net.cpp) and the idle workers' epoll wait.
  poller poll;

  // Non-null while tracing (GOFER_TRACE); set before the workers start, never changed.
  std::unique_ptr<tracer> trace;

  // --- the deadlock detector (runtime.cpp) ---
  bool detect_deadlocks = true;
  std::atomic<int> forever_sleepers{0};  // workers waiting with no deadline
  std::atomic<int> timed_sleepers{0};    // workers waiting until a timer's deadline
  // Goroutines waiting on something outside the scheduler that will wake them (I/O, a
  // blocking call on a helper thread): while non-zero, nothing is a deadlock.
  std::atomic<int> external_waits{0};
  // Called by the last worker to start waiting with no deadline: if every worker is so
  // waiting and nothing can wake anyone, prints Go's report and exits with status 2.
  void check_deadlock();

  // schedule::random (schedule.cpp): the seeded generator and the yield probability.
  std::uint64_t sched_rng = 0;
  double sched_yield_p = 0;

  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::size_t> live{0};
  std::atomic<bool> stopping{false};        // main returned: unwind everything
  std::atomic<bool> stop_threads{false};    // every goroutine is gone: workers exit
  // Threads that are no worker, inside unpark's injection path (enqueue, then
  // wake_one_idle): the goroutine they readied may finish the run before they leave, so
  // run() waits for this to be 0 before it destroys the runtime.
  std::atomic<int> foreign_wakers{0};

  // run()'s thread waits here for the end of the run.
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool main_done = false;  // guarded by done_mu

  // Called by the main goroutine when main_fn returned, and in test mode by the first
  // panic or deadlock. A second call finds nothing left to claim.
  void begin_shutdown();

  // --- test mode (options::report; runtime.hpp "Lifetime") ---
  // Set before the workers start, never changed. *report is written by the one fatal
  // report (after winning fatal_claimed) and by the main goroutine's leak check, and read
  // by run() after the workers joined (the joins order it). Named test_report, not report:
  // check_deadlock's local `report` would shadow it.
  run_report* test_report = nullptr;
  bool check_leaks = false;
  std::atomic<bool> fatal_claimed{false};
  // Test mode: records the first panic or deadlock report and stops the run
  // (begin_shutdown + wake every worker). Returns false outside test mode: the caller then
  // prints and exits as Go does. Callable from a goroutine or a worker's scheduler, holding
  // no lock.
  bool stop_on_fatal(run_report::ending how, std::string text);
  // Test mode with check_leaks, on the main goroutine once main_fn returned: see
  // options::check_leaks. May park main (sleep); lets goroutine_exit through if a panic
  // elsewhere stops the run meanwhile.
  void check_for_leaks(goroutine* self);
  bool has_work_anywhere() const noexcept;
};

// park() without the shutdown self-claim: once `stopping` is set, park() returns at once
// (claimed by shutdown), but a goroutine that must wait for a wake-up that will surely come
// (gofer::blocking waiting for its helper thread to finish fn) parks with this instead, so
// its thread runs the goroutines being unwound meanwhile. Same contract as park() otherwise.
void park_through_shutdown(goroutine* g, wait_reason why, const void* on,
                           gofer::source_location where) noexcept;

// The runtime of the current run (one at a time), nullptr outside run.
// signal.cpp: drops the run's signal::notify registrations (gofer::run, once main is done).
void signal_run_ended(runtime* rt);
runtime* current_runtime() noexcept;
// The worker this thread is, nullptr on other threads. Read through a noinline accessor
// so the compiler never caches the thread-local's address across a fiber switch.
worker* current_worker() noexcept;
void set_current_worker(worker* w) noexcept;

// Returns this worker's cached stacks to the global pool (at the end of a run).
void flush_stack_cache(worker& w) noexcept;

// Pushes a fresh (never started) goroutine context to a run queue.
void schedule_new(runtime& rt, context* c);

}  // namespace gofer::detail
