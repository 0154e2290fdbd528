// lib/src/runtime.cpp — run(), spawning goroutines, the registry, shutdown, sleep, yield.
// Parking is in park.cpp (gofer/detail/park.hpp); diagnostics — panic reports, dumps, the
// deadlock detector, the leak check, SIGQUIT — are in debug.cpp.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/fiber/operations.hpp>

#include "detail/eh_swap.hpp"
#include "detail/runtime.hpp"
#include "detail/sigpipe.hpp"
#include "detail/synctest_impl.hpp"
#include "gofer/runtime.hpp"

namespace gofer::detail {

std::atomic<runtime*> g_runtime{nullptr};

namespace {

std::mutex g_run_mu;  // one run() at a time
thread_local worker* tls_worker = nullptr;

}  // namespace

[[gnu::noinline]] worker* current_worker() noexcept {
  asm volatile("" ::: "memory");
  return tls_worker;
}
[[gnu::noinline]] void set_current_worker(worker* w) noexcept { tls_worker = w; }

std::uint64_t lost_wakeups_rescued() noexcept {
  runtime* rt = current_runtime();
  return rt != nullptr ? rt->lost_wakeups_rescued.load(std::memory_order_relaxed) : 0;
}

bool mutex_can_spin(int iter) noexcept {
  static const unsigned ncpu = std::thread::hardware_concurrency();
  if (iter >= 4 || ncpu <= 1) return false;  // Go's active_spin = 4
  worker* w = current_worker();
  if (w == nullptr) return false;
  runtime* rt = w->rt;
  // Go: gomaxprocs > npidle + nmspinning + 1, i.e. some other worker runs a goroutine
  // (likely the holder, about to unlock); spinning on a machine where nobody else runs
  // only delays the holder.
  if (static_cast<int>(rt->nthreads) <= rt->idle_count.load(std::memory_order_relaxed) +
                                            rt->spinning.load(std::memory_order_relaxed) + 1)
    return false;
  // Go: runqempty(p) — spinning would delay goroutines that are ready on this worker.
  return w->runq_size.load(std::memory_order_relaxed) == 0 &&
         w->runnext.load(std::memory_order_relaxed) == nullptr;
}

bool runtime_stopping() noexcept {
  runtime* rt = current_runtime();
  return rt != nullptr && rt->stopping.load(std::memory_order_acquire);
}

// ---- registry and shutdown ----------------------------------------------------------

void runtime::register_goroutine(goroutine* g) {
  registry_shard& sh = registry[g->id % kRegistryShards];
  spinlock_guard lk(sh.mu);
  g->reg_next = sh.head;
  if (sh.head != nullptr) sh.head->reg_prev = g;
  sh.head = g;
}

void runtime::unregister_goroutine(goroutine* g) {
  registry_shard& sh = registry[g->id % kRegistryShards];
  spinlock_guard lk(sh.mu);
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
    spinlock_guard lk(sh.mu);
    for (goroutine* g = sh.head; g != nullptr; g = g->reg_next)
      if (claim_for_shutdown(g)) claimed.push_back(g);
  }
  // Safe outside the shard locks: a claimed goroutine cannot finish before we unpark it.
  for (goroutine* g : claimed) unpark(g);
}

bool runtime::stop_on_fatal(run_report::ending how, std::string text) {
  if (test_report == nullptr) return false;
  // Only the first panic or deadlock is the report; later ones (say, a goroutine that
  // panics while being unwound) are dropped, as Go stops at the first.
  if (fatal_claimed.exchange(true, std::memory_order_acq_rel)) return true;
  test_report->end = how;
  test_report->fatal = std::move(text);
  begin_shutdown();
  // A deadlock is found by a worker about to sleep with no deadline: wake every worker
  // (that one included), so that they run the goroutines being unwound.
  wake_all();
  return true;
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

void throw_called_outside_run(const char* what) {
  throw std::logic_error(std::string("gofer: ") + what + " called outside gofer::run");
}

void check_spawn_allowed() { (void)runtime_or_throw("go()"); }

void spawn(boost::intrusive_ptr<context> ctx, std::string name) {
  runtime* rt = &runtime_or_throw("go()");  // go_named checked already; spawn_tsan did not
  context* c = ctx.get();
  auto* g = new goroutine(c, rt->next_id.fetch_add(1, std::memory_order_relaxed));
  g->name = std::move(name);
  c->set_properties(g);
  if (__builtin_expect(g_bubbles.load(std::memory_order_relaxed) != 0, false)) bubble_on_spawn(g);
  rt->live.fetch_add(1, std::memory_order_relaxed);
  rt->register_goroutine(g);
  schedule_new(*rt, c);
  // `ctx` drops its reference here; the remaining one is released when the fiber ends.
}

void goroutine_main(void (*body)(void*), void* arg) noexcept {
  runtime* rt = current_runtime();
  goroutine* g = current_goroutine();
  bool returned = false;
  // A goroutine that had not started when main returned never runs its body.
  if (!rt->stopping.load(std::memory_order_acquire)) {
    try {
      body(arg);
      returned = true;
    } catch (const goroutine_exit&) {
      // unwound by shutdown: its destructors ran, nothing to report
    } catch (const std::exception& e) {
      on_panic(*rt, g, &e);  // returns only in test mode, having stopped the run
    } catch (...) {
      on_panic(*rt, g, nullptr);
    }
  }
  if (g->id == 1) {
    // Test mode: who is still alive now that main returned? (Not after a panic or a
    // deadlock: those stopped the run and are the report.)
    if (returned && rt->check_leaks && !rt->stopping.load(std::memory_order_acquire)) {
      try {
        rt->check_for_leaks(g);
      } catch (const goroutine_exit&) {
        // a panic elsewhere stopped the run while main waited: that is the report
      }
    }
    // main returned: unwind every other goroutine, then let run() finish.
    rt->begin_shutdown();
  }
  rt->unregister_goroutine(g);
  if (__builtin_expect(g->bub_member, false)) bubble_on_exit(g);  // synctest.cpp
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

// GOFER_DEBUG=hog (100 ms) or hog=<ms>, among comma-separated settings (options::warn_hogs).
std::chrono::milliseconds env_hog_threshold() {
  const char* v = std::getenv("GOFER_DEBUG");
  if (v == nullptr) return std::chrono::milliseconds(0);
  std::string_view all(v);
  while (!all.empty()) {
    std::string_view item = all.substr(0, all.find(','));
    all.remove_prefix(std::min(all.size(), item.size() + 1));
    if (item == "hog") return std::chrono::milliseconds(100);
    if (item.substr(0, 4) == "hog=") {
      std::string n(item.substr(4));
      char* end = nullptr;
      long ms = std::strtol(n.c_str(), &end, 10);
      if (end != nullptr && *end == '\0' && ms > 0) return std::chrono::milliseconds(ms);
      std::fprintf(stderr, "gofer: GOFER_DEBUG: bad hog threshold %s (want hog=<milliseconds>)\n", n.c_str());
    }
  }
  return std::chrono::milliseconds(0);
}

// One per worker thread, constructed after Boost.Fiber's per-thread state (the
// context_initializer thread_local that context::active() creates, whose destructor
// deletes the thread's scheduler and joins its dispatcher). thread_local destructors run
// in reverse order of construction, so this one runs first. At the run's end, worker_main
// has returned to the thread's main context and cleared its worker: nothing to do. If a
// goroutine is still running on this thread, its code called exit() or pthread_exit():
// letting Boost's destructor run would join the dispatcher from that goroutine, which
// never returns (the other goroutines keep running and the process hangs). Stop here with
// a fatal error instead (runtime.hpp, "Ending the process from a goroutine").
struct exit_sentinel {
  detail::runtime* rt = nullptr;
  exit_sentinel() = default;
  exit_sentinel(const exit_sentinel&) = delete;
  exit_sentinel& operator=(const exit_sentinel&) = delete;
  ~exit_sentinel() {
    if (detail::goroutine* g = detail::current_goroutine(); g != nullptr) detail::on_exit_from_goroutine(rt, g);
  }
};

void arm_exit_sentinel(detail::runtime* rt) {
  // A function-local thread_local: constructed here, on first use, after Boost's.
  static thread_local exit_sentinel sentinel;
  sentinel.rt = rt;
}

void worker_main(detail::runtime* rt, detail::worker* w) {
  detail::tsan_thread_init();  // before Boost's per-thread scheduler exists (TSan builds only)
  detail::set_current_worker(w);
  boost::fibers::use_scheduling_algorithm<detail::sched_algo>(*rt, *w);
  arm_exit_sentinel(rt);  // after Boost's thread-locals, so its destructor runs before theirs
  // This thread's main context waits, suspended, until the run is over: pick_next hands
  // control back to it once stop_threads is set. Boost's scheduler destructor (at thread
  // exit) then releases the fibers that ended on this thread.
  w->main_ctx = boost::fibers::context::active();
  boost::fibers::context::active()->suspend();
  detail::flush_stack_cache(*w);
  detail::set_current_worker(nullptr);
}

}  // namespace

void exit(int code) noexcept {
  std::fflush(nullptr);  // the one difference from Go's os.Exit: printed output is kept
  std::_Exit(code);
}

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
  if (std::chrono::milliseconds hog = opts.warn_hogs.count() > 0 ? opts.warn_hogs : env_hog_threshold();
      hog.count() > 0) {
    rt->hog_after = std::max<std::chrono::milliseconds>(hog, std::chrono::milliseconds(20));
  }
  gofer::schedule sched = opts.schedule;
  if (sched.mode == gofer::schedule::kind::normal) {
    if (const char* s = std::getenv("GOFER_SCHEDULE"); s != nullptr && *s != '\0') sched = detail::parse_schedule(s);
  }
  if (sched.mode == gofer::schedule::kind::random) {
    n = rt->nthreads = 1;
    rt->sched_rng = sched.seed;
    rt->sched_yield_p = sched.yield_probability;
    detail::g_sched_random = true;
    // PCT-style yields: every safe point takes preempt_slow's path, which draws.
    if (sched.yield_probability > 0) detail::g_preempt_hint.store(true, std::memory_order_relaxed);
  }
  if (opts.report != nullptr) {
    *opts.report = run_report{};
    rt->test_report = opts.report;
    rt->check_leaks = opts.check_leaks;
  }
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
  detail::sigpipe_run_started();  // before any worker exists: runtime.hpp, "SIGPIPE"

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
  if (!detail::g_sched_random) rt->start_monitor();  // time slices are real time: not reproducible

  {
    std::unique_lock<std::mutex> lk(rt->done_mu);
    rt->done_cv.wait(lk, [&] { return rt->main_done; });
  }
  detail::signal_run_ended(rt.get());  // its channels die with the run: no more relays to them
  rt->stop_threads.store(true, std::memory_order_seq_cst);
  if (!detail::g_sched_random) rt->stop_monitor();
  rt->wake_all();
  for (auto& w : rt->workers) w->thread.join();
  // A thread that is no worker may still be finishing the unpark that readied main.
  while (rt->foreign_wakers.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  // Timer objects may outlive the run and keep the heap (a shared_ptr) alive; their stop()
  // must not call back into this runtime, which dies when run returns (found by ASan).
  {
    detail::spinlock_guard lk(rt->timers->mutex());
    rt->timers->on_emptied = nullptr;
  }
  detail::stop_sigquit_watcher(sigquit);
  detail::sigpipe_run_ended();  // after signal_run_ended, which may restore gofer's handler
  detail::g_tracing = false;
  detail::g_sched_random = false;
  detail::g_preempt_hint.store(false, std::memory_order_relaxed);
  if (rt->trace) rt->trace->write(*rt);
  detail::g_runtime.store(nullptr, std::memory_order_release);
  return opts.report != nullptr && opts.report->end != run_report::ending::returned ? 2 : 0;
}

namespace detail {
// The slow path of safe_point() (gofer/detail/park.hpp; the monitor is in scheduler.cpp):
// yields if the monitor asked this worker's goroutine to. No stopping check (never throws).
void preempt_slow() noexcept {
  worker* w = current_worker();
  if (w == nullptr) return;
  if (g_sched_random) {  // schedule::random with yields: yield with probability p
    runtime* rt = w->rt;
    if (rt->sched_yield_p <= 0 || context::active()->get_properties() == nullptr) return;
    if (static_cast<double>(sched_random() >> 11) * 0x1.0p-53 >= rt->sched_yield_p) return;
    eh_swap eh;
    boost::this_fiber::yield();
    return;
  }
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

void sleep(std::chrono::nanoseconds d, gofer::source_location where) {
  if (d <= std::chrono::nanoseconds::zero()) {
    detail::safe_point();
    return;
  }
  detail::goroutine* g = detail::current_goroutine_or_throw("sleep");
  detail::runtime* rt = detail::current_runtime();
  // In a synctest bubble, its heap and virtual clock (one untaken branch otherwise).
  detail::timer_heap& heap = __builtin_expect(g->bub != nullptr, false) ? *detail::timers_here(*rt) : *rt->timers;
  detail::timer_node t;
  t.when = heap.now() + std::chrono::duration_cast<detail::clock::duration>(d);
  t.fire = &detail::fire_sleep;
  t.g = g;
  detail::begin_wait(g);
  detail::add_timer(*rt, heap, &t);
  detail::park(g, detail::wait_reason::sleep, where);
  if (detail::woken_by_shutdown(g)) {
    heap.remove(&t);
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

std::uint64_t goroutine_id() noexcept {
  detail::goroutine* g = detail::current_goroutine();
  return g != nullptr ? g->id : 0;
}

std::string_view goroutine_name() noexcept {
  detail::goroutine* g = detail::current_goroutine();
  return g != nullptr ? std::string_view(g->name) : std::string_view();
}

}  // namespace gofer
