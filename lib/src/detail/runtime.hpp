// lib/src/detail/runtime.hpp — one gofer::run's state (not installed).
//
//   runtime       one gofer::run: workers, the injection queue, the goroutine registry,
//                 the timer heap, the poller, the tracer, shutdown and the deadlock detector
//   current_runtime, signal_run_ended
//   on_panic, dump_to, start/stop_sigquit_watcher   diagnostics (debug.cpp)
//
// Includes every other runtime header (the runtime holds them all): a file that needs
// only one type includes that type's header instead. See lib/DESIGN.md ("File map") for
// what each header holds and the scheduler's invariants and lock order.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "absl/base/thread_annotations.h"
#include "gofer/detail/spinlock.hpp"

#include "gofer/runtime.hpp"
#include "detail/goroutine.hpp"
#include "detail/poller.hpp"
#include "detail/scheduler.hpp"
#include "detail/timer_heap.hpp"
#include "detail/tracer.hpp"

namespace gofer::detail {

using boost::fibers::context;
using clock = std::chrono::steady_clock;

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
  // A spinlock (lib/DESIGN.md, "Locks"): spawn and goroutine exit take it for a few
  // instructions; dumps, shutdown and the leak check walk one shard under it. It also
  // guards the reg_prev/reg_next links of the goroutines in the shard.
  struct registry_shard {
    spinlock mu;
    goroutine* head ABSL_GUARDED_BY(mu) = nullptr;
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


// The runtime of the current run (one at a time), nullptr outside run.
// signal.cpp: drops the run's signal::notify registrations (gofer::run, once main is done).
void signal_run_ended(runtime* rt);
extern std::atomic<runtime*> g_runtime;  // runtime.cpp; set by run() around the run
inline runtime* current_runtime() noexcept { return g_runtime.load(std::memory_order_acquire); }
// The one "outside gofer::run" error of an operation that needs a run but does not block:
// std::logic_error "gofer: <what> called outside gofer::run". (One that would park throws
// throw_outside_run's "would block outside a goroutine", gofer/detail/park.hpp.)
[[noreturn]] void throw_called_outside_run(const char* what);
inline runtime& runtime_or_throw(const char* what) {
  runtime* rt = current_runtime();
  if (__builtin_expect(rt == nullptr, false)) throw_called_outside_run(what);
  return *rt;
}

// ---- diagnostics (debug.cpp) ----
// An unrecovered panic, called in the goroutine's catch handler: Go's report on stderr
// and exit status 2; in test mode (options::report) the report stops the run instead.
// Not inlined: the report skips its own two frames (write_panic and this).
[[gnu::noinline]] void on_panic(runtime& rt, goroutine* g, const std::exception* e) noexcept;
// std::exit (or pthread_exit) called on goroutine g: found by the worker thread's
// exit_sentinel (runtime.cpp) when the thread's thread_local destructors start, before
// Boost.Fiber's scheduler is torn down under g. Prints Go's fatal error and every other
// goroutine to stderr and _Exits(2): the process cannot finish a normal exit from here.
[[noreturn]] void on_exit_from_goroutine(runtime* rt, goroutine* g) noexcept;
// Every goroutine but skip_id (only the members of `only`, if given) in the shape of Go's
// traceback (gofer/debug.hpp).
void dump_to(runtime& rt, std::ostream& out, std::uint64_t skip_id = 0, const bubble* only = nullptr);
// SIGQUIT during a run: dump and exit 2, like Go. The watcher thread prints outside the
// signal handler; stop restores the previous handler and joins it.
std::thread start_sigquit_watcher(runtime* rt);
void stop_sigquit_watcher(std::thread& t);

}  // namespace gofer::detail
