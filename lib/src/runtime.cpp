// lib/src/runtime.cpp — run(), goroutines, parking, shutdown.
//
// Parking (park/unpark) implements the claim protocol documented in
// gofer/detail/wait.hpp. The hand-over that makes it race-free: park() marks the goroutine
// parked under its park_lock and suspends with context::suspend(lock), which releases the
// lock only after the goroutine's stack has been switched out. unpark() takes the same
// lock, so when it sees `parked` the goroutine is fully suspended and may be scheduled on
// any thread. An unpark() that comes before park() leaves wake_pending, and park() then
// returns at once.
#include <cxxabi.h>
#include <execinfo.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include <boost/fiber/operations.hpp>
#define BOOST_STACKTRACE_USE_BACKTRACE
#include <boost/stacktrace/frame.hpp>
#include <boost/stacktrace/stacktrace.hpp>

#include <iostream>
#include <sstream>

#include "detail/runtime_impl.hpp"
#include "gofer/debug.hpp"
#include "gofer/panic.hpp"
#include "gofer/runtime.hpp"

namespace gofer::detail {

namespace {

std::atomic<runtime*> g_runtime{nullptr};
std::mutex g_run_mu;  // one run() at a time
thread_local worker* tls_worker = nullptr;

// ---- per-goroutine exception state --------------------------------------------------
// The C++ runtime keeps "exceptions being handled" per *thread* (__cxa_get_globals). A
// goroutine that parks inside a catch block may resume on another thread, so park() moves
// that state into the goroutine while it is parked and back onto whichever thread resumes
// it. __cxa_get_globals is declared __attribute__((const)); the noinline wrapper with an
// asm barrier stops the compiler from reusing one thread's answer on another thread
// (boostorg/context #323).
struct eh_globals {
  void* caught;
  unsigned int uncaught;
};

[[gnu::noinline]] eh_globals* eh_here() noexcept {
  asm volatile("" ::: "memory");
  return reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
}

// Moves the thread's exception-handling state into a goroutine across one switch.
class eh_swap {
 public:
  eh_swap() noexcept {
    eh_globals* eh = eh_here();
    saved_ = *eh;
    *eh = eh_globals{nullptr, 0};
  }
  ~eh_swap() { *eh_here() = saved_; }  // possibly another thread's
  eh_swap(const eh_swap&) = delete;
  eh_swap& operator=(const eh_swap&) = delete;

 private:
  eh_globals saved_;
};

std::int64_t coarse_now_ms() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void print_frames(std::FILE* out, void* const* frames, int n, int skip) {
  for (int i = skip; i < n; ++i) {
    boost::stacktrace::frame f(frames[i]);
    std::string name = f.name();
    // Unnamed frames, and ".cold" sections (error paths split off a function, which the
    // symbolizer attributes to whatever symbol precedes them), would only mislead.
    if (name.empty() || name.find(".cold") != std::string::npos) continue;
    std::string file = f.source_file();
    std::fprintf(out, "%s\n", name.c_str());
    if (!file.empty()) std::fprintf(out, "\t%s:%zu\n", file.c_str(), f.source_line());
    // Stop at the goroutine's entry: below it is only the runtime's trampoline.
    if (name.find("gofer::detail::goroutine_main") != std::string::npos) break;
  }
}

// Go's unrecovered panic: "panic: <what>", the goroutine, its stack; exit status 2.
[[noreturn]] void panic_exit(goroutine* g, const std::exception* e) noexcept {
  std::fflush(stdout);
  const char* what = e != nullptr ? e->what() : "unknown exception (not derived from std::exception)";
  std::fprintf(stderr, "panic: %s\n\ngoroutine %llu%s%s%s [running]:\n", what,
               static_cast<unsigned long long>(g != nullptr ? g->id : 0),
               g != nullptr && !g->name.empty() ? " \"" : "", g != nullptr ? g->name.c_str() : "",
               g != nullptr && !g->name.empty() ? "\"" : "");
  if (auto* p = dynamic_cast<const panic_error*>(e)) {
    print_frames(stderr, p->frames(), p->frame_count(), 2);  // skip capture() and the ctor
  } else {
    std::fprintf(stderr, "(the exception was not a gofer::panic_error: the C++ runtime unwound "
                         "its stack before gofer saw it; this is where it left the goroutine)\n");
    void* frames[32];
    int n = ::backtrace(frames, 32);
    print_frames(stderr, frames, n, 1);
  }
  std::fprintf(stderr, "exit status 2\n");
  std::fflush(stderr);
  std::_Exit(2);
}

}  // namespace

runtime* current_runtime() noexcept { return g_runtime.load(std::memory_order_acquire); }

[[gnu::noinline]] worker* current_worker() noexcept {
  asm volatile("" ::: "memory");
  return tls_worker;
}
[[gnu::noinline]] void set_current_worker(worker* w) noexcept { tls_worker = w; }

goroutine* current_goroutine() noexcept {
  if (current_worker() == nullptr) return nullptr;
  return static_cast<goroutine*>(context::active()->get_properties());
}

goroutine* current_goroutine_or_throw(const char* op) {
  goroutine* g = current_goroutine();
  if (g == nullptr) {
    throw std::logic_error(std::string("gofer: ") + op +
                           " would block outside a goroutine; call it inside gofer::run");
  }
  return g;
}

// ---- the claim protocol ---------------------------------------------------------------

void begin_wait(goroutine* g) noexcept {
  g->fired = nullptr;
  g->shutdown_woken = false;
  // seq_cst: pairs with begin_shutdown()'s stopping store + scan (see park()).
  g->claim.store(0, std::memory_order_seq_cst);
}

bool try_claim(goroutine* g) noexcept {
  std::uint32_t open = 0;
  return g->claim.compare_exchange_strong(open, 1, std::memory_order_acq_rel);
}

void set_fired(goroutine* g, waiter* w) noexcept { g->fired = w; }
waiter* fired(goroutine* g) noexcept { return g->fired; }
bool woken_by_shutdown(goroutine* g) noexcept { return g->shutdown_woken; }

namespace {
// park(), and (self_claim == false) park_through_shutdown(), which skips the shutdown
// self-claim below: for a wait whose wake-up is certain even during shutdown.
void park_impl(goroutine* g, wait_reason why, const void* on, bool self_claim) noexcept {
  g->parked_since_ms.store(coarse_now_ms(), std::memory_order_relaxed);
  if (__builtin_expect(g_tracing, false)) trace_park(g, why);
  g->wait_on.store(on, std::memory_order_relaxed);
  g->reason.store(why, std::memory_order_release);
  // Shutdown started after begin_wait? Then nobody may ever claim us: claim ourselves.
  // (Either we see `stopping` here, or begin_shutdown's scan sees our open claim: both
  // sides are seq_cst, store-then-load.)
  runtime* rt = current_runtime();
  if (self_claim && rt != nullptr && rt->stopping.load(std::memory_order_seq_cst) && try_claim(g)) {
    g->shutdown_woken = true;
    g->reason.store(wait_reason::none, std::memory_order_relaxed);
    return;
  }
  {
    eh_swap eh;
    boost::fibers::detail::spinlock_lock lk(g->park_lock);
    if (g->wake_pending) {
      g->wake_pending = false;
    } else {
      g->parked = true;
      // pick_next (called inside suspend) detaches us from this thread: see scheduler.cpp.
      current_worker()->parking = g->ctx;
      // Boost unlocks park_lock after the switch, in uninstrumented code: tell TSan.
      tsan_release(&g->park_lock);
      g->ctx->suspend(lk);  // releases park_lock after the switch; may resume on another thread
    }
  }
  g->reason.store(wait_reason::none, std::memory_order_relaxed);
}
}  // namespace

void park(goroutine* g, wait_reason why, const void* on) noexcept { park_impl(g, why, on, true); }
void park_through_shutdown(goroutine* g, wait_reason why, const void* on) noexcept {
  park_impl(g, why, on, false);
}

void unpark(goroutine* g) noexcept {
  boost::fibers::detail::spinlock_lock lk(g->park_lock);
  if (!g->parked) {
    g->wake_pending = true;
    return;
  }
  g->parked = false;
  lk.unlock();
  if (__builtin_expect(g_tracing, false)) trace_unpark(g);
  // g is detached (pick_next detached it as it parked) and now ours to make ready, on the
  // waker's worker (Go's ready()): into runnext when a goroutine readies it, so a hand-off
  // runs on the waker's thread next; at the back of the run queue when the dispatcher does
  // (timers, the poller); through the injection queue from a thread that is no worker
  // (gofer::blocking's threads, foreign threads).
  worker* w = current_worker();
  if (w != nullptr) {
    w->make_ready(g->ctx, context::active()->get_properties() != nullptr);
    return;
  }
  runtime* rt = current_runtime();
  // Counted before g can run: g may be main, which may return, and run() then destroys rt
  // while we are still in wake_one_idle (TSan: debug_no_deadlock.detector_off_main_released_
  // by_a_plain_thread). The increment happens-before g runs (the injection queue orders
  // it), hence before run() sees main_done and loads foreign_wakers; that load reads 0
  // only from our release decrement, after our last access to rt.
  rt->foreign_wakers.fetch_add(1, std::memory_order_relaxed);
  rt->inject.enqueue(g->ctx);
  rt->wake_one_idle();
  rt->foreign_wakers.fetch_sub(1, std::memory_order_release);
}

void throw_goroutine_exit() { throw goroutine_exit{}; }

void fatal_error(const char* msg) noexcept {
  goroutine* g = current_goroutine();
  std::fflush(stdout);
  std::fprintf(stderr, "fatal error: %s\n\ngoroutine %llu [running]:\n", msg,
               static_cast<unsigned long long>(g != nullptr ? g->id : 0));
  std::fflush(stderr);
  std::_Exit(2);
}

bool runtime_stopping() noexcept {
  runtime* rt = current_runtime();
  return rt != nullptr && rt->stopping.load(std::memory_order_acquire);
}

void block_forever(wait_reason why) {
  goroutine* g = current_goroutine_or_throw("blocking forever (nil channel or empty select)");
  begin_wait(g);
  park(g, why, nullptr);
  // Only the runtime's shutdown claims a goroutine that waits on nothing.
  throw_goroutine_exit();
}

const char* wait_reason_text(wait_reason r) noexcept {
  switch (r) {
    case wait_reason::none: return "running";
    case wait_reason::chan_send: return "chan send";
    case wait_reason::chan_recv: return "chan receive";
    case wait_reason::chan_send_nil: return "chan send (nil chan)";
    case wait_reason::chan_recv_nil: return "chan receive (nil chan)";
    case wait_reason::select: return "select";
    case wait_reason::select_no_cases: return "select (no cases)";
    case wait_reason::sleep: return "sleep";
    case wait_reason::sync_mutex_lock: return "sync.Mutex.Lock";
    case wait_reason::sync_rwmutex_rlock: return "sync.RWMutex.RLock";
    case wait_reason::sync_rwmutex_lock: return "sync.RWMutex.Lock";
    case wait_reason::sync_waitgroup_wait: return "sync.WaitGroup.Wait";
    case wait_reason::sync_cond_wait: return "sync.Cond.Wait";
    case wait_reason::io_wait: return "IO wait";
  }
  return "unknown";
}

// ---- registry and shutdown ----------------------------------------------------------

void runtime::register_goroutine(goroutine* g) {
  registry_shard& sh = registry[g->id % kRegistryShards];
  std::lock_guard<std::mutex> lk(sh.mu);
  g->reg_next = sh.head;
  if (sh.head != nullptr) sh.head->reg_prev = g;
  sh.head = g;
}

void runtime::unregister_goroutine(goroutine* g) {
  registry_shard& sh = registry[g->id % kRegistryShards];
  std::lock_guard<std::mutex> lk(sh.mu);
  if (g->reg_prev != nullptr) g->reg_prev->reg_next = g->reg_next;
  else sh.head = g->reg_next;
  if (g->reg_next != nullptr) g->reg_next->reg_prev = g->reg_prev;
  g->reg_prev = g->reg_next = nullptr;
}

// Runs on the main goroutine once main_fn returned. Every goroutine whose wait is open is
// claimed here and woken with shutdown_woken; it then unlinks its waiters and unwinds.
// Goroutines that are running or runnable notice `stopping` at their next park or yield.
void runtime::begin_shutdown() {
  stopping.store(true, std::memory_order_seq_cst);
  std::vector<goroutine*> claimed;
  for (registry_shard& sh : registry) {
    std::lock_guard<std::mutex> lk(sh.mu);
    for (goroutine* g = sh.head; g != nullptr; g = g->reg_next) {
      if (try_claim(g)) {
        g->shutdown_woken = true;
        claimed.push_back(g);
      }
    }
  }
  // Safe outside the shard locks: a claimed goroutine cannot finish before we unpark it.
  for (goroutine* g : claimed) unpark(g);
}

// ---- diagnostics: dumps and the deadlock detector ------------------------------------

namespace {

void dump_to(runtime& rt, std::ostream& out) {
  goroutine* self = current_goroutine();
  std::int64_t now = coarse_now_ms();
  for (runtime::registry_shard& sh : rt.registry) {
    std::lock_guard<std::mutex> lk(sh.mu);
    for (goroutine* g = sh.head; g != nullptr; g = g->reg_next) {
      out << "goroutine " << g->id;
      if (!g->name.empty()) out << " \"" << g->name << '"';
      wait_reason r = g->reason.load(std::memory_order_acquire);
      if (g == self) {
        out << " [running]:\n";
      } else if (r == wait_reason::none) {
        out << " [runnable]:\n";
      } else {
        out << " [" << wait_reason_text(r);
        std::int64_t ms = now - g->parked_since_ms.load(std::memory_order_relaxed);
        if (ms >= 60000) out << ", " << ms / 60000 << " minutes";
        else if (ms >= 1000) out << ", " << ms / 1000 << '.' << (ms % 1000) / 100 << 's';
        out << "]:\n";
      }
    }
  }
}

}  // namespace

void runtime::check_deadlock() {
  if (!detect_deadlocks || stopping.load() || stop_threads.load()) return;
  // Take every worker's sleep lock (index order; nobody else holds two of them): no worker
  // can be woken while we look.
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(workers.size());
  for (auto& w : workers) locks.emplace_back(w->sleep_mu);
  for (auto& w : workers)
    if (!w->sleeping_forever || w->wakeup) return;
  if (has_work_anywhere()) return;
  if (timers->next() != clock::time_point::max()) return;  // a timer will wake someone
  if (external_waits.load() > 0) return;                    // I/O or a blocking call will
  if (live.load() == 0 || stopping.load()) return;
  std::fflush(stdout);
  std::ostringstream report;
  report << "fatal error: all goroutines are asleep - deadlock!\n\n";
  dump_to(*this, report);
  report << "exit status 2\n";
  std::fputs(report.str().c_str(), stderr);
  std::fflush(stderr);
  std::_Exit(2);
}

// ---- SIGQUIT: dump and exit, like Go ----

namespace {

int g_sigquit_pipe[2] = {-1, -1};
struct sigaction g_old_sigquit;

void on_sigquit(int) {
  char c = 'q';
  [[maybe_unused]] ssize_t n = ::write(g_sigquit_pipe[1], &c, 1);
}

// Runs on its own thread during a run: turns SIGQUIT into a dump (outside the signal
// handler, where printing is safe). run() stops it by writing 'x'.
void sigquit_watcher(runtime* rt) {
  for (;;) {
    char c = 0;
    ssize_t n = ::read(g_sigquit_pipe[0], &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == 'x') return;
    std::fflush(stdout);
    std::ostringstream report;
    report << "SIGQUIT: quit\n\n";
    dump_to(*rt, report);
    report << "exit status 2\n";
    std::fputs(report.str().c_str(), stderr);
    std::fflush(stderr);
    std::_Exit(2);
  }
}

}  // namespace

std::thread start_sigquit_watcher(runtime* rt) {
  if (::pipe(g_sigquit_pipe) != 0) return {};
  struct sigaction sa {};
  sa.sa_handler = &on_sigquit;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGQUIT, &sa, &g_old_sigquit);
  return std::thread(sigquit_watcher, rt);
}

void stop_sigquit_watcher(std::thread& t) {
  if (!t.joinable()) return;
  ::sigaction(SIGQUIT, &g_old_sigquit, nullptr);
  char c = 'x';
  [[maybe_unused]] ssize_t n = ::write(g_sigquit_pipe[1], &c, 1);
  t.join();
  ::close(g_sigquit_pipe[0]);
  ::close(g_sigquit_pipe[1]);
  g_sigquit_pipe[0] = g_sigquit_pipe[1] = -1;
}

// ---- spawning ---------------------------------------------------------------------------

void schedule_new(runtime& rt, context* c) {
  worker* w = current_worker();
  if (w != nullptr && w->rt == &rt) {
    w->push_local(c);
  } else {
    rt.inject.enqueue(c);
    rt.wake_one_idle();
  }
}

void check_spawn_allowed() {
  if (current_runtime() == nullptr) {
    throw std::logic_error("gofer: go() called outside gofer::run");
  }
}

void spawn(boost::intrusive_ptr<context> ctx, std::string name) {
  runtime* rt = current_runtime();
  if (rt == nullptr) throw std::logic_error("gofer: go() called outside gofer::run");
  context* c = ctx.get();
  auto* g = new goroutine(c, rt->next_id.fetch_add(1, std::memory_order_relaxed));
  g->name = std::move(name);
  c->set_properties(g);
  rt->live.fetch_add(1, std::memory_order_relaxed);
  rt->register_goroutine(g);
  schedule_new(*rt, c);
  // `ctx` drops its reference here; the remaining one is released when the fiber ends.
}

void goroutine_main(void (*body)(void*), void* arg) noexcept {
  runtime* rt = current_runtime();
  goroutine* g = current_goroutine();
  // A goroutine that had not started when main returned never runs its body.
  if (!rt->stopping.load(std::memory_order_acquire)) {
    try {
      body(arg);
    } catch (const goroutine_exit&) {
      // unwound by shutdown: its destructors ran, nothing to report
    } catch (const std::exception& e) {
      panic_exit(g, &e);
    } catch (...) {
      panic_exit(g, nullptr);
    }
  }
  if (g->id == 1) {
    // main returned: unwind every other goroutine, then let run() finish.
    rt->begin_shutdown();
  }
  rt->unregister_goroutine(g);
#ifdef GOFER_TSAN
  tsan_release(&g->tsan);  // g's last access: ordered before its deletion (detail/tsan.hpp)
#endif
  if (rt->live.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard<std::mutex> lk(rt->done_mu);
    rt->main_done = true;
    rt->done_cv.notify_all();
  }
}

}  // namespace gofer::detail

namespace gofer {

namespace {

unsigned env_unsigned(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  unsigned long n = std::strtoul(v, &end, 10);
  return (end != nullptr && *end == '\0') ? static_cast<unsigned>(n) : 0;
}

void worker_main(detail::runtime* rt, detail::worker* w) {
  detail::tsan_thread_init();  // before Boost's per-thread scheduler exists (TSan builds only)
  detail::set_current_worker(w);
  boost::fibers::use_scheduling_algorithm<detail::sched_algo>(*rt, *w);
  // This thread's main context waits, suspended, until the run is over: pick_next hands
  // control back to it once stop_threads is set. Boost's scheduler destructor (at thread
  // exit) then releases the fibers that ended on this thread.
  w->main_ctx = boost::fibers::context::active();
  boost::fibers::context::active()->suspend();
  detail::flush_stack_cache(*w);
  detail::set_current_worker(nullptr);
}

}  // namespace

int run(std::function<void()> main_fn, options opts) {
  if (detail::current_goroutine() != nullptr) {
    throw std::logic_error("gofer::run called from inside a goroutine");
  }
  std::unique_lock<std::mutex> run_lock(detail::g_run_mu, std::try_to_lock);
  if (!run_lock.owns_lock()) throw std::logic_error("gofer::run: another run is active");

  auto rt = std::make_unique<detail::runtime>();
  unsigned n = opts.threads != 0 ? opts.threads : env_unsigned("GOFER_THREADS");
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  rt->nthreads = n;
  rt->stack_size = opts.stack_size != 0 ? opts.stack_size : env_unsigned("GOFER_STACK_SIZE");
  rt->detect_deadlocks = opts.detect_deadlocks;
  // A stopped timer may leave idle workers sleeping until its old deadline: wake them so
  // they re-evaluate (and the deadlock detector can run).
  rt->timers->on_emptied = [r = rt.get()] {
    if (r->timed_sleepers.load() > 0) r->wake_all();
  };
  if (const char* path = std::getenv("GOFER_TRACE"); path != nullptr && *path != '\0') {
    rt->trace = std::make_unique<detail::tracer>(path);
    detail::g_tracing = true;
  }
  detail::g_runtime.store(rt.get(), std::memory_order_release);
  std::thread sigquit = detail::start_sigquit_watcher(rt.get());

  // The main goroutine (id 1) goes to the injection queue; the first worker takes it.
  go(std::move(main_fn));

  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<detail::worker>();
    w->rt = rt.get();
    w->index = i;
    w->rng = 0x9E3779B97F4A7C15ULL * (i + 1);
    rt->workers.push_back(std::move(w));
  }
  for (auto& w : rt->workers) w->thread = std::thread(worker_main, rt.get(), w.get());
  rt->start_monitor();

  {
    std::unique_lock<std::mutex> lk(rt->done_mu);
    rt->done_cv.wait(lk, [&] { return rt->main_done; });
  }
  rt->stop_threads.store(true, std::memory_order_seq_cst);
  rt->stop_monitor();
  rt->wake_all();
  for (auto& w : rt->workers) w->thread.join();
  // A thread that is no worker may still be finishing the unpark that readied main.
  while (rt->foreign_wakers.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  // Timer objects may outlive the run and keep the heap (a shared_ptr) alive; their stop()
  // must not call back into this runtime, which dies when run returns (found by ASan).
  {
    auto lk = rt->timers->lock();
    rt->timers->on_emptied = nullptr;
  }
  detail::stop_sigquit_watcher(sigquit);
  detail::g_tracing = false;
  if (rt->trace) rt->trace->write(*rt);
  detail::g_runtime.store(nullptr, std::memory_order_release);
  return 0;
}

namespace detail {
// The slow path of safe_point() (gofer/detail/wait.hpp; the monitor is in scheduler.cpp):
// yields if the monitor asked this worker's goroutine to. No stopping check (never throws).
void preempt_slow() noexcept {
  worker* w = current_worker();
  if (w == nullptr) return;
  std::uint64_t t = w->preempt_at.load(std::memory_order_relaxed);
  if (t != w->sched_tick.load(std::memory_order_relaxed)) return;  // switched since: stale
  w->preempt_at.store(~std::uint64_t{0}, std::memory_order_relaxed);
  if (context::active()->get_properties() == nullptr) return;  // the dispatcher
  eh_swap eh;  // may resume on another thread
  boost::this_fiber::yield();
}
}  // namespace detail

void yield() {
  detail::goroutine* g = detail::current_goroutine();
  if (g == nullptr) return;
  detail::runtime* rt = detail::current_runtime();
  if (rt->stopping.load(std::memory_order_acquire)) detail::throw_goroutine_exit();
  detail::eh_swap eh;  // a yield may resume on another thread too
  boost::this_fiber::yield();
}

void sleep(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) {
    detail::safe_point();
    return;
  }
  detail::goroutine* g = detail::current_goroutine_or_throw("sleep");
  detail::runtime* rt = detail::current_runtime();
  detail::timer_node t;
  t.when = detail::clock::now() + std::chrono::duration_cast<detail::clock::duration>(d);
  t.fire = &detail::fire_sleep;
  t.g = g;
  detail::begin_wait(g);
  if (rt->timers->add(&t)) rt->wake_one_idle();
  detail::park(g, detail::wait_reason::sleep, nullptr);
  if (detail::woken_by_shutdown(g)) {
    rt->timers->remove(&t);
    detail::throw_goroutine_exit();
  }
}

std::size_t num_goroutine() noexcept {
  detail::runtime* rt = detail::current_runtime();
  return rt != nullptr ? rt->live.load(std::memory_order_relaxed) : 0;
}

unsigned num_threads() noexcept {
  detail::runtime* rt = detail::current_runtime();
  return rt != nullptr ? rt->nthreads : 0;
}

void dump_goroutines(std::ostream& out) {
  if (detail::runtime* rt = detail::current_runtime()) detail::dump_to(*rt, out);
}

std::uint64_t goroutine_id() noexcept {
  detail::goroutine* g = detail::current_goroutine();
  return g != nullptr ? g->id : 0;
}

}  // namespace gofer
