// gofer/runtime.hpp — goroutines and the scheduler that runs them.
//
//   options        threads (GOMAXPROCS), goroutine stack size, deadlock detection, the
//                  test mode (report, check_leaks) and the schedule of one run()
//   schedule       normal (the M:N scheduler) or random(seed): seeded schedule exploration
//   run_report     how a run in test mode ended: returned, panicked or deadlocked; leaks
//   run            Go's main(): starts the scheduler, runs main_fn as goroutine 1, returns
//   go             `go f(args...)`: starts a goroutine
//   yield          runtime.Gosched()
//   sleep          time.Sleep
//   num_goroutine  runtime.NumGoroutine()
//   num_threads    runtime.GOMAXPROCS(0) of the current run
//   goroutine_id   the current goroutine's number (1 is main), 0 outside a goroutine
//   goroutine_name the current goroutine's name (from named), "" if none or outside one
//   named          go(named("fetcher-3"), f, args...): a goroutine with a name for dumps
//   exit           os.Exit: ends the process now with a status (C stdio flushed first)
//
// A goroutine is a Boost.Fiber fiber run by gofer's own M:N scheduler: `threads` OS threads,
// each with a run queue; idle threads steal from busy ones and sleep when there is nothing
// to do. Goroutines migrate between threads, so never keep a pointer to a thread_local
// across an operation that may block (lib/DESIGN.md, "Thread-locals").
//
// Lifetime (Go's rules, and what C++ adds):
//   - run() returns 0 once main_fn returns. Goroutines still alive then are *unwound*: a
//     goroutine parked in a gofer operation (or parking later) gets detail::goroutine_exit
//     thrown from that operation, so its destructors run; one that was never started is
//     dropped without running. run() returns when all of them are gone. A goroutine that
//     spins without ever calling into gofer cannot be stopped (preemption happens only at
//     gofer calls).
//
// Time slices (Go 1.2-1.13's cooperative preemption): a goroutine that has run for 10 ms
// without a switch yields at its next safe point — a channel operation (try_* included),
// select, mutex lock, sleep — and goes behind the other runnable goroutines, like yield().
// A loop with no gofer call at all still holds its thread (lib/DESIGN.md).
//   - An exception escaping a goroutine (main_fn included) is Go's unrecovered panic: the
//     runtime prints "panic: <what()>" and "goroutine N [running]:" to stderr and exits
//     the process with status 2. A deadlock (options::detect_deadlocks) does the same.
//   - Test mode (options::report set; gofer/testing.hpp wraps it for GoogleTest): the
//     panic's or the deadlock's report goes to the run_report instead of stderr, and instead
//     of exiting, the run *stops*: every goroutine, main included, is unwound as above, and
//     run() returns 2. The process and its other tests go on. With options::check_leaks,
//     goroutines still alive when main returns are counted and dumped (Go's goleak) before
//     they are unwound. A later panic in a goroutine being unwound is not reported (Go too
//     stops at the first). Other fatal errors ("fatal error: sync: unlock of unlocked
//     mutex", std::exit called from a goroutine) and SIGQUIT still exit the process, as
//     they end `go test` in Go.
//   - run() may be called again after it returned; runs do not nest and do not overlap.
//   - Ending the process from a goroutine: gofer::exit(code) (Go's os.Exit), or return from
//     main_fn. std::exit (or pthread_exit) called on a goroutine cannot work: it runs the
//     scheduler thread's thread_local destructors first, which would tear Boost.Fiber's
//     scheduler down under the running goroutine (the process would hang). gofer catches
//     it instead: "fatal error: std::exit called from goroutine N on a scheduler thread
//     ...", the other goroutines, and exit status 2 (the status given to std::exit is
//     lost). std::exit from a thread that runs no goroutine (main after run returned, or
//     any thread of the program's own) is unaffected.
//   - A blocking operation outside run() (or on a thread that is not a gofer thread)
//     throws std::logic_error instead of hanging the thread; non-blocking ones work.
//
// SIGPIPE (what writing to a socket or pipe whose reader is gone raises; its default
// disposition kills the process): gofer's own I/O never dies of it. conn::write sends with
// MSG_NOSIGNAL; for conn::send_file's sendfile(2), which has no such flag, run() installs
// gofer's SIGPIPE handler for the run when the disposition is SIG_DFL (what a program starts
// with) and puts SIG_DFL back before it returns (unless the program replaced the handler
// meanwhile). Signal masks are not touched, and a send_file call costs no extra syscall.
//   disposition before run | during the run                   | send_file to a gone peer
//   SIG_DFL                | gofer's handler                  | EPIPE (the SIGPIPE dropped)
//   SIG_IGN                | SIG_IGN (left alone)             | EPIPE
//   the program's handler  | kept; never overridden           | EPIPE; the handler is not
//                          |                                  | called (SIGPIPE blocked around
//                          |                                  | each sendfile: 3-4 syscalls)
//   signal::notify(SIGPIPE) relays a SIGPIPE sent to the process (kill -PIPE) as any
//   signal; gofer's own EPIPEs are not relayed (write's never raise one either).
// Every other SIGPIPE gofer's handler sees gets SIG_DFL's treatment: the program's own
// write(2) to a closed pipe, socket or stdout (`demo | head`) ends it by SIGPIPE, exactly as
// without gofer. Go differs: its runtime ignores SIGPIPE and returns EPIPE, except for
// writes to fds 1 and 2, where the program dies. gofer does not own the program's raw
// writes, so it keeps C's default for them (Go's outcome on stdout and stderr; a plain
// fd dies too); a program that wants EPIPE on every fd sets signal(SIGPIPE, SIG_IGN)
// before run, as C servers do. A handler set *during* a run replaces gofer's (and is then
// called for send_file's EPIPEs): set it before run, or use signal::notify. A kill -PIPE
// that happens to land on a thread inside a send_file syscall is dropped with its own.
//
// Thread-safety: go(), num_goroutine() from any goroutine; run() from a plain thread.
//
// Example:
//   int main() {
//     return gofer::run([] {
//       gofer::chan<int> done;
//       gofer::go([done] { std::puts("hello from a goroutine"); done.send(1); });
//       done.recv();
//     });
//   }
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include "gofer/detail/source_location.hpp"
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/context/stack_context.hpp>
#include <boost/fiber/context.hpp>

namespace gofer {

struct run_report;

// How a run chooses what runs next. normal(): gofer's M:N scheduler. random(seed): schedule
// exploration (Loom/Coyote-style, for tests): one thread, and every scheduling choice —
// which ready goroutine runs next, which ready case a select takes — is drawn from a
// generator seeded with `seed`, so the same seed gives the same interleaving (and, for a
// program whose output depends only on its interleaving, the same output byte for byte)
// and other seeds give other interleavings. yield_probability p > 0 adds PCT-style
// preemption: at every safe point (channel operations, try_*, select, mutex locks, sleep)
// the goroutine yields with probability p, so bugs that need a goroutine to be preempted at
// an unlucky point show up. The environment variable GOFER_SCHEDULE=random:SEED or
// random:SEED:yield=P sets it for a run whose options leave it normal (any program; what
// `./gofer explore` uses). Not reproducible: real time (timers fire when they are due in
// real time — run timer-driven code in gofer::synctest::run for virtual, deterministic
// time), I/O readiness, gofer::blocking and threads outside gofer. No time slices (no
// monitor): a goroutine runs until it blocks or yields, or yields at random (p > 0).
struct schedule {
  enum class kind { normal, random };
  kind mode = kind::normal;
  std::uint64_t seed = 0;
  double yield_probability = 0;
  static schedule normal() noexcept { return {}; }
  static schedule random(std::uint64_t seed, double yield_probability = 0) noexcept {
    return {kind::random, seed, yield_probability};
  }
};

struct options {
  // OS threads running goroutines (GOMAXPROCS). 0: the GOFER_THREADS environment variable
  // if set, else std::thread::hardware_concurrency().
  unsigned threads = 0;
  // Virtual size of each goroutine stack in bytes. 0: 64 KiB, or GOFER_STACK_SIZE.
  // Stacks are carved from large lazily-committed arenas, so a goroutine costs the pages it
  // touches (a blocked goroutine: ~8 KiB), not this size. Stacks do not grow: deep recursion
  // or large locals need a bigger size. Debug builds put a guard page below each stack.
  std::size_t stack_size = 0;
  // Go's deadlock detector: when every goroutine is blocked and nothing (a timer, I/O, a
  // blocking call in progress) can wake any of them, print "fatal error: all goroutines are
  // asleep - deadlock!" and every goroutine, and exit with status 2. Turn it off if
  // threads outside gofer wake goroutines (e.g. try_send from a std::thread).
  bool detect_deadlocks = true;
  // Test mode (see "Lifetime" above): when set, an unrecovered panic or a deadlock is
  // written to *report and stops the run, which returns 2, instead of printing to stderr
  // and exiting the process. run() resets *report when it starts and fills it in before it
  // returns; it must outlive the run. gofer::testing::run (gofer/testing.hpp) sets this.
  run_report* report = nullptr;
  // Test mode only (ignored without report): once main_fn returns, wait until every other
  // goroutine has ended, or until those left can never run again (all parked, with no
  // timer, I/O or runnable goroutine that could wake one), or for at most 2 s; then record
  // how many are left and their dump in report->leaked and report->leak_dump, and unwind
  // them as usual. Costs nothing when no goroutine is left; goroutines parked for good are
  // reported at once; one still running, or waiting for a timer or I/O, is waited for (2 s).
  bool check_leaks = false;
  // Hogs, seen: when non-zero, the runtime's monitor prints a warning on stderr naming a
  // goroutine (id, name, the call where it last parked if any) that has run this long on
  // its thread without a switch — without reaching a gofer call that could yield (a loop
  // with no gofer call, a blocking syscall, a std::mutex) — once per such episode:
  //   gofer: goroutine 7 "crunch" has run 100 ms without a gofer call, holding its thread
  // 0: off, unless the GOFER_DEBUG environment variable holds `hog` (100 ms) or `hog=<ms>`
  // (comma-separated, like Go's GODEBUG). At least 20 ms is used (two time slices: a
  // goroutine that makes gofer calls yields at its next one after a 10 ms slice).
  std::chrono::milliseconds warn_hogs{0};
  // schedule::random(seed): seeded schedule exploration on one thread (overrides
  // `threads`); see gofer::schedule. normal: GOFER_SCHEDULE if set, else the M:N scheduler.
  gofer::schedule schedule = {};
};

// How a run in test mode (options::report) ended. Plain data; run() writes it once, after
// every goroutine is gone.
struct run_report {
  enum class ending {
    returned,    // main_fn returned (or was unwound by nothing): run() returned 0
    panicked,    // an exception escaped a goroutine: run() returned 2
    deadlocked,  // every goroutine was blocked with nothing to wake one: run() returned 2
  };
  ending end = ending::returned;
  // panicked or deadlocked: the report Go prints, e.g. "panic: boom\n\ngoroutine 7 [running]:
  // ..." or "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan
  // receive]: ...", without Go's final "exit status 2" (the process does not exit).
  std::string fatal;
  // With options::check_leaks, when main_fn returned: the goroutines still alive (main
  // excluded) and their dump in dump_goroutines' format. 0 and "" otherwise.
  std::size_t leaked = 0;
  std::string leak_dump;
};

// A goroutine's name, for goroutine dumps and the deadlock report: go(named("x"), f).
// (A constructor, not an aggregate: clang before 16 has no parenthesised aggregate init, so
// `named("x")` would not compile there.)
struct named {
  explicit named(std::string n) : name(std::move(n)) {}
  std::string name;
};

// Runs main_fn as the main goroutine on a fresh scheduler and returns 0 when it returns
// (after unwinding leftover goroutines, see above); in test mode (options::report), 2 when
// a panic or a deadlock stopped the run. Throws std::logic_error if called from inside a
// goroutine or while another run() is active.
int run(std::function<void()> main_fn, options opts = {});

namespace detail {
// Allocates goroutine stacks from gofer's thread-safe stack pool (lib/src/stack.cpp).
struct stack_allocator {
  boost::context::stack_context allocate();
  void deallocate(boost::context::stack_context& sctx) noexcept;
};
// Hands a new, not yet started goroutine context to the scheduler.
void spawn(boost::intrusive_ptr<boost::fibers::context> ctx, std::string name = {});
// Runs in every goroutine: bookkeeping around body(arg), Go's panic report.
void goroutine_main(void (*body)(void*), void* arg) noexcept;
// Throws std::logic_error unless called inside gofer::run.
void check_spawn_allowed();
// ThreadSanitizer builds only (lib/src/detail/tsan.hpp): makes the context in
// lib/src/tsan_spawn.cpp, compiled without instrumentation, so that Boost.Context's entry
// templates run no TSan hooks; run(p) is the body, destroy(p) frees it afterwards.
void spawn_tsan(void (*run)(void*), void (*destroy)(void*) noexcept, void* p, std::string name);
}  // namespace detail

#if defined(__SANITIZE_THREAD__)
#define GOFER_DETAIL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GOFER_DETAIL_TSAN 1
#endif
#endif

// `go f(args...)`. f and args are decay-copied now, in the calling goroutine (Go evaluates
// a go statement's function value and arguments before the new goroutine starts), and the
// call runs later on some scheduler thread. The new goroutine starts after the caller's
// next blocking operation or yield at the earliest, possibly on another thread at once.
// May allocate (a pooled stack and a runtime record). Throws std::logic_error outside run.
namespace detail {
template <class F, class... Args>
void go_named(std::string name, F&& f, Args&&... args) {
  check_spawn_allowed();
  auto body = [fn = std::decay_t<F>(std::forward<F>(f)),
               tup = std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)]() mutable {
    std::apply(std::move(fn), std::move(tup));
  };
  using body_t = decltype(body);
#ifdef GOFER_DETAIL_TSAN
  spawn_tsan(+[](void* p) { (*static_cast<body_t*>(p))(); },
             +[](void* p) noexcept { delete static_cast<body_t*>(p); },
             new body_t(std::move(body)), std::move(name));
#else
  spawn(boost::fibers::make_worker_context(
            boost::fibers::launch::post, stack_allocator{},
            [b = std::move(body)]() mutable {
              goroutine_main(+[](void* p) { (*static_cast<body_t*>(p))(); }, &b);
            }),
        std::move(name));
#endif
}
}  // namespace detail

namespace detail {
// White-box, for tests: how many times in the current run (0 outside run) the monitor found
// goroutines waiting in the injection queue, untouched for two of its periods while a
// worker slept, and woke every worker (lib/src/scheduler.cpp). A lost wake-up: 0 when the
// idle protocol is right. Thread-safe.
std::uint64_t lost_wakeups_rescued() noexcept;
}  // namespace detail

template <class F, class... Args>
  requires(!std::is_same_v<std::decay_t<F>, named>)
void go(F&& f, Args&&... args) {
  detail::go_named(std::string(), std::forward<F>(f), std::forward<Args>(args)...);
}

// go with a name: shown by dump_goroutines (debug.hpp), SIGQUIT and the deadlock report.
template <class F, class... Args>
void go(named n, F&& f, Args&&... args) {
  detail::go_named(std::move(n.name), std::forward<F>(f), std::forward<Args>(args)...);
}

// Go's os.Exit: ends the process at once with status `code` (its low 8 bits, as _exit).
// Nothing else runs: no deferred function (gofer::defer), no destructor of any goroutine's
// locals, no static or thread_local destructor, no atexit handler, and other goroutines
// simply stop. One difference from Go, where os.Exit loses what sits in a bufio.Writer:
// C stdio buffers (printf, std::cout) are flushed first, std::fflush(nullptr), so a
// program's printed output is never lost. Other buffers are not: an spdlog logger's
// unflushed lines, an std::ofstream's buffer. Callable anywhere: in a goroutine, on any
// thread, inside or outside run(). Never returns. Thread-safe.
//   gofer::run([] { if (bad) { std::puts("usage: ..."); gofer::exit(64); } ... });
[[noreturn]] void exit(int code) noexcept;

// Lets other goroutines run; the caller stays runnable (runtime.Gosched). Outside a
// goroutine it returns at once.
void yield();

// Parks the calling goroutine for at least d (time.Sleep); d <= 0 returns at once.
// Throws std::logic_error outside a goroutine (for d > 0). Records the call site for
// dumps (gofer/debug.hpp): leave `where` defaulted.
void sleep(std::chrono::nanoseconds d, gofer::source_location where = gofer::source_location::current());

// Goroutines that exist now, main included (runtime.NumGoroutine). 0 outside run.
std::size_t num_goroutine() noexcept;

// Scheduler threads of the current run, 0 outside run.
unsigned num_threads() noexcept;

// The calling goroutine's id (main is 1), 0 outside a goroutine.
std::uint64_t goroutine_id() noexcept;

// The calling goroutine's name as given by go(named("x"), ...); "" for an unnamed goroutine
// (main included) and outside a goroutine. The view stays valid while the calling goroutine
// lives (the name never changes after go). Never blocks. Thread-safe.
std::string_view goroutine_name() noexcept;

}  // namespace gofer
