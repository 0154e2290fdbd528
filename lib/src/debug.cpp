// lib/src/debug.cpp — the runtime's diagnostics (gofer/debug.hpp, gofer/panic.hpp):
// Go's unrecovered-panic report, fatal errors, goroutine dumps, the deadlock detector, the
// test mode's leak check and the SIGQUIT dump.
//
// Everything here runs off the hot paths: once per report, dump or idle worker about to
// sleep for good. The state it reads (the registry, the workers' sleep flags, the timer
// heap) is the runtime's (detail/runtime.hpp); parking is in park.cpp / runtime.cpp.
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#define BOOST_STACKTRACE_USE_BACKTRACE
#include <boost/stacktrace/frame.hpp>
#include <boost/stacktrace/stacktrace.hpp>

#include "detail/runtime.hpp"
#include "detail/synctest_impl.hpp"
#include "gofer/debug.hpp"
#include "gofer/panic.hpp"

namespace gofer::detail {

namespace {

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

}  // namespace


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

void fatal_error(const char* msg) noexcept {
  goroutine* g = current_goroutine();
  std::fflush(stdout);
  std::fprintf(stderr, "fatal error: %s\n\ngoroutine %llu [running]:\n", msg,
               static_cast<unsigned long long>(g != nullptr ? g->id : 0));
  std::fflush(stderr);
  std::_Exit(2);
}

void on_exit_from_goroutine(runtime* rt, goroutine* g) noexcept {
  std::fflush(stdout);
  std::fprintf(stderr,
               "fatal error: std::exit called from goroutine %llu on a scheduler thread; use "
               "gofer::exit(code) (Go's os.Exit) or return from main\n"
               "(exit() runs this thread's thread_local destructors, which would destroy the "
               "scheduler under the running goroutine; the status given to exit is lost)\n\n"
               "goroutine %llu",
               static_cast<unsigned long long>(g->id), static_cast<unsigned long long>(g->id));
  if (!g->name.empty()) std::fprintf(stderr, " \"%s\"", g->name.c_str());
  std::fputs(" [running]:\n", stderr);
  if (rt != nullptr) {
    try {
      std::ostringstream others;
      dump_to(*rt, others, g->id);
      if (!others.str().empty()) std::fprintf(stderr, "\n%s", others.str().c_str());
    } catch (...) {  // out of memory: the message above is what matters
    }
  }
  std::fputs("exit status 2\n", stderr);
  std::fflush(stderr);
  std::_Exit(2);
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

}  // namespace

// Every goroutine (but skip_id), sorted by id, in the shape of Go's traceback:
//   goroutine 7 "fetcher-3" [chan receive, 2.5s]:
//   main()::<lambda()>
//   \tfetch.cpp:42
// with a blank line between goroutines. See gofer/debug.hpp.
void dump_to(runtime& rt, std::ostream& out, std::uint64_t skip_id, const bubble* only) {
  goroutine* self = current_goroutine();
  std::vector<dump_entry> all;
  for (runtime::registry_shard& sh : rt.registry) {
    spinlock_guard lk(sh.mu);
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
      spinlock_guard lk(sh.mu);
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

}  // namespace gofer::detail

namespace gofer {

void dump_goroutines(std::ostream& out) {
  if (detail::runtime* rt = detail::current_runtime()) detail::dump_to(*rt, out);
}

}  // namespace gofer
