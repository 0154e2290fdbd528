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
#include <string_view>
#include <vector>

#include <boost/fiber/operations.hpp>
#define BOOST_STACKTRACE_USE_BACKTRACE
#include <boost/stacktrace/frame.hpp>
#include <boost/stacktrace/stacktrace.hpp>

#include <iostream>
#include <sstream>

#include "detail/runtime_impl.hpp"
#include "detail/synctest_impl.hpp"
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

// A function's qualified name and parameters, as Go prints them ("main.main()"): drops the
// return type, leading specifiers, trailing qualifiers, GCC's "[with T = ...]" and
// "[clone .constprop.0]". Works on
// GCC's __PRETTY_FUNCTION__ (source_location::function_name(): "int main()", "virtual void
// ns::T::run()", "void f(T) [with T = int]", "main()::<lambda()>") and on demangled symbols
// ("void std::__invoke_impl<void, F&>(std::__invoke_other, F&)", "main::{lambda()#1}::
// operator()() const", "ns::(anonymous namespace)::f(int)").
std::string short_function_name(std::string_view f) {
  if (auto w = f.find(" [with "); w != std::string_view::npos) f = f.substr(0, w);
  // GCC's specialised copies of a function: "f(int) [clone .constprop.0]".
  if (auto c = f.find(" [clone "); c != std::string_view::npos) f = f.substr(0, c);
  auto opens = [](char c) { return c == '<' || c == '{'; };
  auto closes = [](char c) { return c == '>' || c == '}'; };
  // The '(' that opens the outermost function's parameters: outside template arguments
  // and lambda names, and not part of "(anonymous namespace)" or an operator's symbol.
  std::size_t open = std::string_view::npos;
  int depth = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f.compare(i, 8, "operator") == 0) {  // skip the operator's own symbol: () < << ...
      i += 8;
      if (f.compare(i, 2, "()") == 0) ++i;
      else
        while (i + 1 < f.size() && f[i + 1] != '(') ++i;
      continue;
    }
    if (f.compare(i, 21, "(anonymous namespace)") == 0) {
      i += 20;
      continue;
    }
    if (f.compare(i, 9, "decltype(") == 0) {  // a return type: decltype(auto), decltype(x)
      int parens = 0;
      for (i += 8; i < f.size(); ++i) {
        if (f[i] == '(') ++parens;
        else if (f[i] == ')' && --parens == 0) break;
      }
      continue;
    }
    if (opens(f[i])) ++depth;
    else if (closes(f[i])) --depth;
    else if (f[i] == '(' && depth == 0) {
      open = i;
      break;
    }
  }
  if (open == std::string_view::npos) return std::string(f);
  // A member's qualifiers after its parameters say nothing about where it waits.
  for (std::string_view q : {" mutable", " const", " noexcept"})
    while (f.size() >= q.size() && f.substr(f.size() - q.size()) == q) f.remove_suffix(q.size());
  // Back to the space that ends the return type / specifiers, outside template arguments.
  std::size_t start = 0;
  depth = 0;
  for (std::size_t i = open; i-- > 0;) {
    if (closes(f[i])) ++depth;
    else if (opens(f[i])) --depth;
    else if (f[i] == ' ' && depth == 0 && !(i >= 8 && f.compare(i - 8, 8, "operator") == 0) &&
             !(i >= 10 && f.compare(i - 10, 10, "(anonymous") == 0)) {
      start = i + 1;
      break;
    }
  }
  return std::string(f.substr(start));
}

// The file's last path component: the compiler records __FILE__ as it was given (absolute,
// or relative to a build directory when ccache rewrites it), so only the name is stable.
std::string_view base_name(const char* path) {
  std::string_view p(path);
  if (auto slash = p.find_last_of('/'); slash != std::string_view::npos) p.remove_prefix(slash + 1);
  return p;
}

// ---- panic tracebacks ------------------------------------------------------------------

// GOFER_TRACEBACK, Go's GOTRACEBACK: how much a panic report shows (documented in
// gofer/panic.hpp). Read once per report.
enum class traceback { none, single, all };

traceback traceback_level() noexcept {
  const char* v = std::getenv("GOFER_TRACEBACK");
  if (v == nullptr) return traceback::single;
  std::string_view s(v);
  if (s == "none" || s == "0") return traceback::none;
  // Go's 1 and 2 are synonyms of all and system; crash adds a core dump in Go.
  if (s == "all" || s == "system" || s == "crash" || s == "1" || s == "2") return traceback::all;
  return traceback::single;
}

bool starts_with(std::string_view s, std::string_view p) noexcept { return s.substr(0, p.size()) == p; }

// Frames a learner did not write and cannot act on: gofer itself (the panic's own frames,
// channel internals, the goroutine entry), std::invoke / std::function / std::apply
// machinery, Boost.Context and Boost.Fiber. Hidden unless GOFER_TRACEBACK=all.
bool is_machinery(std::string_view name) noexcept {
  static constexpr std::string_view prefixes[] = {
      "gofer::",         "std::__invoke",    "std::invoke",      "std::_Function_handler",
      "std::function<",  "std::__apply_impl", "std::apply",      "std::_Bind",
      "boost::context::", "boost::fibers::", "make_fcontext",    "jump_fcontext",
      "ontop_fcontext",
  };
  for (std::string_view p : prefixes)
    if (name.substr(0, p.size()) == p) return true;
  return false;
}

// The user's callable F inside an entry frame that may have inlined F's body: gofer's
// goroutine thunk gofer::detail::go_named<F, ...>(...)::... and std::function's
// std::_Function_handler<Sig, F>::_M_invoke. Empty for any other frame.
std::string inlined_callable(std::string_view name) {
  std::size_t want;  // which template argument is F
  if (starts_with(name, "gofer::detail::go_named<")) {
    name.remove_prefix(24);
    want = 0;
  } else if (starts_with(name, "std::_Function_handler<")) {
    name.remove_prefix(23);
    want = 1;
  } else {
    return {};
  }
  int depth = 0;
  std::size_t arg = 0, begin = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool end = (c == '>' && depth == 0) || (c == ',' && depth == 0);
    if (end) {
      if (arg == want) {
        std::string_view f = name.substr(begin, i - begin);
        while (!f.empty() && f.front() == ' ') f.remove_prefix(1);
        return std::string(f);
      }
      if (c == '>') return {};
      ++arg;
      begin = i + 1;
    } else if (c == '<' || c == '(' || c == '{' || c == '[') {
      ++depth;
    } else if (c == '>' || c == ')' || c == '}' || c == ']') {
      --depth;
    }
  }
  return {};
}

// Prints frames[skip..n) innermost first, as Go does: "function" then "\tfile:line" when
// the binary has line information. single: only the program's own frames, down to the
// goroutine's entry; all: every frame, gofer's and the libraries' included, as symbolized.
void print_frames(std::FILE* out, void* const* frames, int n, int skip, traceback level) {
  if (level == traceback::none) return;
  std::string last;  // the last frame printed (single)
  for (int i = skip; i < n; ++i) {
    boost::stacktrace::frame f(frames[i]);
    std::string full = f.name();  // demangled
    // Unnamed frames, and ".cold" sections (error paths split off a function, which the
    // symbolizer attributes to whatever symbol precedes them), would only mislead.
    if (full.empty() || full.find(".cold") != std::string::npos) continue;
    std::string name = short_function_name(full);
    bool entry = starts_with(name, "gofer::detail::goroutine_main");
    std::string file = f.source_file();
    if (level == traceback::all) {
      std::fprintf(out, "%s\n", full.c_str());
      if (!file.empty()) std::fprintf(out, "\t%s:%zu\n", file.c_str(), f.source_line());
      continue;  // down to the fiber's first frame
    }
    if (!is_machinery(name)) {
      std::fprintf(out, "%s\n", name.c_str());
      if (!file.empty()) std::fprintf(out, "\t%s:%zu\n", std::string(base_name(file.c_str())).c_str(), f.source_line());
      last = std::move(name);
    } else if (std::string fn = inlined_callable(name);
               !fn.empty() && fn.find("(*") == std::string::npos && !is_machinery(fn) &&
               !starts_with(last, fn)) {
      // The compiler inlined the goroutine's function (a lambda) into gofer's or
      // std::function's entry frame: name the function, which is the user's code (its
      // line is not known: the frame's line information is the library's).
      last = fn + "::operator()()";
      std::fprintf(out, "%s\n", last.c_str());
    }
    // Below the goroutine's entry is only the runtime's trampoline.
    if (entry) break;
  }
}

void dump_to(runtime& rt, std::ostream& out, std::uint64_t skip_id = 0, const bubble* only = nullptr);

// Go's unrecovered panic report: "panic: <what>", the goroutine, its stack.
[[gnu::noinline]] void write_panic(std::FILE* out, goroutine* g, const std::exception* e) noexcept {
  const traceback level = traceback_level();
  const char* what = e != nullptr ? e->what() : "unknown exception (not derived from std::exception)";
  std::fprintf(out, "panic: %s\n\ngoroutine %llu%s%s%s [running]:\n", what,
               static_cast<unsigned long long>(g != nullptr ? g->id : 0),
               g != nullptr && !g->name.empty() ? " \"" : "", g != nullptr ? g->name.c_str() : "",
               g != nullptr && !g->name.empty() ? "\"" : "");
  if (auto* p = dynamic_cast<const panic_error*>(e)) {
    print_frames(out, p->frames(), p->frame_count(), 2, level);  // skip capture() and the ctor
  } else if (level != traceback::none) {
    std::fprintf(out, "(the exception was not a gofer::panic_error: the C++ runtime unwound "
                      "its stack before gofer saw it; this is where it left the goroutine)\n");
    void* frames[32];
    int n = ::backtrace(frames, 32);
    print_frames(out, frames, n, 2, level);  // skip write_panic and on_panic
  }
  // Go's GOTRACEBACK=all: every other goroutine too, where it waits.
  if (level == traceback::all) {
    if (runtime* rt = current_runtime()) {
      std::ostringstream others;
      dump_to(*rt, others, g != nullptr ? g->id : 0);
      if (!others.str().empty()) std::fprintf(out, "\n%s", others.str().c_str());
    }
  }
}

// An unrecovered panic, called in the goroutine's catch handler: Go's report on stderr
// and exit status 2; in test mode (options::report) the report stops the run instead.
[[gnu::noinline]] void on_panic(runtime& rt, goroutine* g, const std::exception* e) noexcept {
  if (rt.test_report != nullptr) {
    char* buf = nullptr;
    std::size_t len = 0;
    if (std::FILE* mem = ::open_memstream(&buf, &len)) {
      write_panic(mem, g, e);
      std::fclose(mem);
      std::string text(buf, len);
      std::free(buf);
      if (rt.stop_on_fatal(run_report::ending::panicked, std::move(text))) return;
    }
  }
  std::fflush(stdout);
  write_panic(stderr, g, e);
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
void park_impl(goroutine* g, wait_reason why, const void* on, gofer::source_location where,
               bool self_claim) noexcept {
  g->parked_since_ms.store(coarse_now_ms(), std::memory_order_relaxed);
  if (__builtin_expect(g_tracing, false)) trace_park(g, why);
  g->where.store(where, std::memory_order_relaxed);  // published by the release store below
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
      if (__builtin_expect(g->bub_member, false)) bubble_on_park(g, why);  // synctest.cpp
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

void park(goroutine* g, wait_reason why, const void* on, gofer::source_location where) noexcept {
  park_impl(g, why, on, where, true);
}
void park_through_shutdown(goroutine* g, wait_reason why, const void* on,
                           gofer::source_location where) noexcept {
  park_impl(g, why, on, where, false);
}

void unpark(goroutine* g) noexcept {
  boost::fibers::detail::spinlock_lock lk(g->park_lock);
  if (!g->parked) {
    g->wake_pending = true;
    return;
  }
  g->parked = false;
  ++g->unparks;
  if (__builtin_expect(g->bub_durable, false)) bubble_on_unpark(g);  // synctest.cpp
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

std::uint64_t lost_wakeups_rescued() noexcept {
  runtime* rt = current_runtime();
  return rt != nullptr ? rt->lost_wakeups_rescued.load(std::memory_order_relaxed) : 0;
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

void block_forever(wait_reason why, gofer::source_location where) {
  goroutine* g = current_goroutine_or_throw("blocking forever (nil channel or empty select)");
  begin_wait(g);
  park(g, why, nullptr, where);
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
    case wait_reason::synctest_run: return "synctest.Run";
    case wait_reason::synctest_wait: return "synctest.Wait";
    case wait_reason::chan_send_durable: return "chan send (durable)";
    case wait_reason::chan_recv_durable: return "chan receive (durable)";
    case wait_reason::select_durable: return "select (durable)";
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

// ---- diagnostics: dumps and the deadlock detector ------------------------------------

namespace {

// One goroutine as a dump shows it, copied under its registry shard's lock.
struct dump_entry {
  std::uint64_t id;
  std::string name;
  wait_reason reason;
  bool self;
  std::int64_t since_ms;
  gofer::source_location where;
};

// Every goroutine (but skip_id), sorted by id, in the shape of Go's traceback:
//   goroutine 7 "fetcher-3" [chan receive, 2.5s]:
//   main()::<lambda()>
//   \tfetch.cpp:42
// with a blank line between goroutines. See gofer/debug.hpp.
void dump_to(runtime& rt, std::ostream& out, std::uint64_t skip_id, const bubble* only) {
  goroutine* self = current_goroutine();
  std::vector<dump_entry> all;
  for (runtime::registry_shard& sh : rt.registry) {
    std::lock_guard<std::mutex> lk(sh.mu);
    for (goroutine* g = sh.head; g != nullptr; g = g->reg_next) {
      if (g->id == skip_id) continue;
      if (only != nullptr && (g->bub != only || !g->bub_member)) continue;
      wait_reason r = g->reason.load(std::memory_order_acquire);
      all.push_back({g->id, g->name, r, g == self,
                     g->parked_since_ms.load(std::memory_order_relaxed),
                     g->where.load(std::memory_order_relaxed)});
    }
  }
  std::sort(all.begin(), all.end(), [](const dump_entry& a, const dump_entry& b) { return a.id < b.id; });
  const std::int64_t now = coarse_now_ms();
  bool first = true;
  for (const dump_entry& e : all) {
    if (!first) out << '\n';
    first = false;
    out << "goroutine " << e.id;
    if (!e.name.empty()) out << " \"" << e.name << '"';
    if (e.self) {
      out << " [running]:\n";
      continue;
    }
    if (e.reason == wait_reason::none) {
      out << " [runnable]:\n";
      continue;
    }
    out << " [" << wait_reason_text(e.reason);
    std::int64_t ms = now - e.since_ms;
    if (ms >= 60000) out << ", " << ms / 60000 << " minutes";  // Go's words, "1 minutes" too
    else if (ms >= 1000) out << ", " << ms / 1000 << '.' << (ms % 1000) / 100 << 's';
    out << "]:\n";
    if (e.where.line() != 0) {
      const char* fn = e.where.function_name();
      if (fn != nullptr && *fn != '\0') out << short_function_name(fn) << '\n';
      out << '\t' << base_name(e.where.file_name()) << ':' << e.where.line() << '\n';
    }
  }
}

}  // namespace

void dump_bubble(runtime& rt, std::ostream& out, const bubble* b) { dump_to(rt, out, 0, b); }

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
  if (!timers->quiet()) return;                             // a timer will wake someone
  if (external_waits.load() > 0) return;                    // I/O or a blocking call will
  if (live.load() == 0 || stopping.load()) return;
  std::fflush(stdout);
  std::ostringstream report;
  report << "fatal error: all goroutines are asleep - deadlock!\n\n";
  dump_to(*this, report);
  if (test_report != nullptr) {
    locks.clear();  // stopping the run wakes workers: not under their sleep locks
    if (stop_on_fatal(run_report::ending::deadlocked, report.str())) return;
  }
  report << "exit status 2\n";
  std::fputs(report.str().c_str(), stderr);
  std::fflush(stderr);
  std::_Exit(2);
}

// ---- test mode: the leak check (Go's goleak) ----

namespace {

// True when no goroutine but `self` can ever run again without help from outside: at one
// instant, every other goroutine was parked and not yet woken, and no timer or I/O was
// pending that could wake one.
//
// Other threads run goroutines while we look, so one pass over the registry is no snapshot:
// a goroutine seen parked early may be woken by one seen parked later, and one seen parked
// late may have armed a timer after the timer check. Hence two passes with the timer and
// I/O checks between them (instant M): a goroutine seen parked in both passes with the same
// `unparks` count was parked throughout, so at M too; a registry that changed between the
// passes (a spawn, an exit) is no snapshot either. A timer pending or being fired at M, or
// an I/O wait, could still wake someone (timer_heap::quiet). Lock order: a registry shard,
// then a park_lock (nothing takes them the other way round).
bool only_parked_left(runtime& rt, const goroutine* self) {
  struct seen {
    const goroutine* g;
    std::uint32_t unparks;
    bool operator==(const seen&) const = default;
  };
  auto pass = [&](std::vector<seen>& out) {
    for (runtime::registry_shard& sh : rt.registry) {
      std::lock_guard<std::mutex> lk(sh.mu);
      for (goroutine* g = sh.head; g != nullptr; g = g->reg_next) {
        if (g == self) {
          out.push_back({g, 0});
          continue;
        }
        boost::fibers::detail::spinlock_lock pl(g->park_lock);
        if (!g->parked) return false;
        out.push_back({g, g->unparks});
      }
    }
    // A goroutine that is ending has left the registry before it leaves `live`
    // (goroutine_main): it is no parked leftover, and it is about to go.
    return out.size() == rt.live.load(std::memory_order_acquire);
  };
  std::vector<seen> first, second;
  if (!pass(first)) return false;
  if (!rt.timers->quiet()) return false;
  if (rt.external_waits.load(std::memory_order_seq_cst) > 0) return false;
  if (!pass(second)) return false;
  return first == second;
}

}  // namespace

void runtime::check_for_leaks(goroutine* self) {
  // A goroutine that ends right after handing main its last value is no leak: give the
  // others time to finish (goleak retries too), but stop waiting as soon as those left are
  // parked for good. Without the deadlock detector, threads outside gofer may wake
  // goroutines, so "parked for good" cannot be known: then only the time limit ends the wait.
  constexpr auto kGrace = std::chrono::seconds(2);
  const auto give_up = clock::now() + kGrace;
  std::chrono::microseconds pause(10);
  for (int round = 0; live.load(std::memory_order_acquire) > 1; ++round) {
    if (detect_deadlocks && only_parked_left(*this, self)) break;
    if (clock::now() >= give_up) break;
    if (round < 8) {
      gofer::yield();  // throws goroutine_exit once a panic elsewhere stopped the run
    } else {
      gofer::sleep(pause);  // likewise
      pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
    }
  }
  std::size_t alive = live.load(std::memory_order_acquire);
  if (alive <= 1) return;
  std::ostringstream dump;
  dump_to(*this, dump, self->id);
  test_report->leaked = alive - 1;
  test_report->leak_dump = dump.str();
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
    auto lk = rt->timers->lock();
    rt->timers->on_emptied = nullptr;
  }
  detail::stop_sigquit_watcher(sigquit);
  detail::g_tracing = false;
  detail::g_sched_random = false;
  detail::g_preempt_hint.store(false, std::memory_order_relaxed);
  if (rt->trace) rt->trace->write(*rt);
  detail::g_runtime.store(nullptr, std::memory_order_release);
  return opts.report != nullptr && opts.report->end != run_report::ending::returned ? 2 : 0;
}

namespace detail {
// The slow path of safe_point() (gofer/detail/wait.hpp; the monitor is in scheduler.cpp):
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
  if (heap.add(&t) && !heap.is_virtual()) rt->wake_one_idle();
  detail::park(g, detail::wait_reason::sleep, nullptr, where);
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

void dump_goroutines(std::ostream& out) {
  if (detail::runtime* rt = detail::current_runtime()) detail::dump_to(*rt, out);
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
