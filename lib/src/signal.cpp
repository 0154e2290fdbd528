// lib/src/signal.cpp — os/signal: a sigaction handler that writes to a pipe, and a relay
// thread that try_sends each signal to the channels registered for it (gofer/signal.hpp).
//
// Why a thread and not a goroutine: the relay must not be a goroutine of the user's run —
// it would show in dumps and leak checks and would have to be unwound at shutdown — and it
// never parks on a gofer object, only in read(2) on the pipe. try_send never parks, so a
// plain thread may call it; it wakes a parked receiver through the injection queue
// (runtime.cpp, unpark from a thread that is no worker).
//
// Lifetime: the pipe and the relay thread are made on first use and live as long as the
// process (the thread is detached and blocked in read(2); the state is never destroyed, so
// nothing is torn down under it at exit). Registrations belong to one run and end with it
// (signal_run_ended, called by gofer::run once main is done).
//
// Also SIGPIPE during a run (detail/sigpipe.hpp): gofer's handler, installed by gofer::run
// over SIG_DFL, drops the SIGPIPE of gofer's own sendfile and kills the process for any other,
// as SIG_DFL would; the relay handler drops sendfile's SIGPIPE too.
#include "gofer/signal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <bitset>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "detail/runtime.hpp"
#include "detail/sigpipe.hpp"
#include "gofer/panic.hpp"

namespace gofer::detail {

namespace {

constexpr int kMaxSignal = 64;  // Linux: 1..64 (SIGRTMAX)

struct registration {
  runtime* rt;
  send_chan<int> c;     // or, for notify_context:
  cancel_func cancel;   // cancels the context (on every delivery; idempotent)
  std::bitset<kMaxSignal + 1> sigs;
  const void* token = nullptr;  // notify_context's registration, for its stop function
};

struct signal_state {
  std::mutex mu;  // guards everything below; held by the relay while it delivers
  std::vector<registration> regs;
  bool installed[kMaxSignal + 1] = {};
  struct sigaction old[kMaxSignal + 1];
  runtime* counted = nullptr;  // the run whose external_waits we raised (one run at a time)
  bool started = false;        // pipe and relay thread exist
};

signal_state& state() {
  static signal_state* s = new signal_state;  // never destroyed: the relay outlives main()
  return *s;
}

int g_pipe_w = -1;  // written once, before the first handler is installed

void on_signal(int sig) {
  // net.cpp's sendfile to a peer that is gone: send_file returns EPIPE, and a notified
  // channel hears of it no more than of conn::write's EPIPE (send with MSG_NOSIGNAL).
  if (sig == SIGPIPE && t_sigpipe_from_sendfile != 0) return;
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = ::write(g_pipe_w, &b, 1);  // non-blocking: a full pipe drops
  errno = saved;
}

void deliver(int sig) {
  signal_state& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  for (std::size_t i = 0; i < s.regs.size();) {
    registration& r = s.regs[i];
    if (!r.sigs.test(static_cast<std::size_t>(sig))) {
      ++i;
      continue;
    }
    if (r.cancel) {
      // notify_context: cancel (idempotent; closes a channel, never parks). Like Go, the
      // registration stays until its stop function: a second Ctrl-C is caught too.
      r.cancel();
      ++i;
      continue;
    }
    try {
      (void)r.c.try_send(sig);  // Go: never blocks; a full channel misses this signal
      ++i;
    } catch (const std::exception& e) {
      // Closed without signal::stop (Go would panic in its signal loop): say so, drop it.
      std::fprintf(stderr, "gofer: signal: %s; the channel is no longer notified (call signal::stop before closing it)\n",
                   e.what());
      s.regs.erase(s.regs.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
}

void relay_loop(int fd) {
  for (;;) {
    unsigned char b;
    ssize_t n = ::read(fd, &b, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    deliver(b);
  }
}

// Under s.mu.
void start_relay(signal_state& s) {
  if (s.started) return;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(std::string("gofer::signal: pipe: ") + std::strerror(errno));
  ::fcntl(p[1], F_SETFL, ::fcntl(p[1], F_GETFL) | O_NONBLOCK);
  g_pipe_w = p[1];
  std::thread(relay_loop, p[0]).detach();
  s.started = true;
}

// Under s.mu: install handlers for signals now wanted, restore those no longer wanted, and
// keep the run's external_waits raised while it has registrations.
void sync_handlers(signal_state& s) {
  std::bitset<kMaxSignal + 1> wanted;
  runtime* rt = nullptr;
  for (const registration& r : s.regs) {
    wanted |= r.sigs;
    rt = r.rt;
  }
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    bool want = wanted.test(static_cast<std::size_t>(sig));
    if (want && !s.installed[sig]) {
      struct sigaction sa {};
      sa.sa_handler = &on_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      if (::sigaction(sig, &sa, &s.old[sig]) != 0) {
        throw std::invalid_argument("gofer::signal::notify: signal " + std::to_string(sig) + ": " +
                                    std::strerror(errno));
      }
      s.installed[sig] = true;
    } else if (!want && s.installed[sig]) {
      ::sigaction(sig, &s.old[sig], nullptr);
      s.installed[sig] = false;
    }
  }
  if (s.counted != rt) {
    if (s.counted != nullptr) s.counted->external_waits.fetch_sub(1, std::memory_order_seq_cst);
    if (rt != nullptr) rt->external_waits.fetch_add(1, std::memory_order_seq_cst);
    s.counted = rt;
  }
}

std::bitset<kMaxSignal + 1> check_signals(const char* fn, std::initializer_list<int> sigs) {
  auto bad = [&](const std::string& why) { return std::invalid_argument(std::string(fn) + ": " + why); };
  if (sigs.size() == 0) throw bad("no signals given (Go's \"all signals\" is not supported: name them)");
  std::bitset<kMaxSignal + 1> set;
  for (int sig : sigs) {
    if (sig < 1 || sig > kMaxSignal) throw bad("signal " + std::to_string(sig) + " out of range");
    const char* name = sigabbrev_np(sig);
    std::string label = name != nullptr ? std::string("SIG") + name : std::to_string(sig);
    if (sig == SIGKILL || sig == SIGSTOP) throw bad(label + " cannot be caught");
    if (sig == SIGQUIT) throw bad("SIGQUIT is the runtime's goroutine dump (gofer/runtime.hpp)");
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP) {
      throw bad(label + " is a synchronous fault of this program, not a message");
    }
    set.set(static_cast<std::size_t>(sig));
  }
  return set;
}

// ---- SIGPIPE (detail/sigpipe.hpp; runtime.hpp, "SIGPIPE") ----

bool g_sigpipe_installed = false;  // by sigpipe_run_started; runs do not overlap

void on_sigpipe(int) {
  if (t_sigpipe_from_sendfile != 0) return;  // sendfile's EPIPE: send_file reports it
  // Any other SIGPIPE (the program wrote to a closed pipe or stdout; kill -PIPE): what SIG_DFL
  // does. SIGPIPE is blocked while this handler runs, so the raised one stays pending until
  // the handler returns and then terminates the process with the default action (Go's
  // dieFromSignal). sigaction and raise are async-signal-safe.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGPIPE, &dfl, nullptr);
  ::raise(SIGPIPE);
}

bool is_handler(const struct sigaction& sa, void (*h)(int)) {
  return (sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == h;
}

}  // namespace

std::atomic<bool> g_sigpipe_guard{true};

void sigpipe_run_started() {
  struct sigaction cur {};
  ::sigaction(SIGPIPE, nullptr, &cur);
  if (is_handler(cur, SIG_DFL)) {
    struct sigaction sa {};
    sa.sa_handler = &on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    g_sigpipe_installed = ::sigaction(SIGPIPE, &sa, nullptr) == 0;
    g_sigpipe_guard.store(!g_sigpipe_installed, std::memory_order_relaxed);
  } else {
    // SIG_IGN: sendfile just fails with EPIPE. The user's own handler: never overridden, and
    // send_file keeps the mask guard so that it is not called for a client that left.
    g_sigpipe_installed = false;
    g_sigpipe_guard.store(!is_handler(cur, SIG_IGN), std::memory_order_relaxed);
  }
}

void sigpipe_run_ended() {
  g_sigpipe_guard.store(true, std::memory_order_relaxed);
  if (!g_sigpipe_installed) return;
  g_sigpipe_installed = false;
  // Back to SIG_DFL unless someone replaced gofer's handler meanwhile (left as they set it).
  struct sigaction cur {};
  ::sigaction(SIGPIPE, nullptr, &cur);
  if (!is_handler(cur, &on_sigpipe)) return;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGPIPE, &dfl, nullptr);
}

void signal_run_ended(runtime* rt) {
  signal_state& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  std::erase_if(s.regs, [rt](const registration& r) { return r.rt == rt; });
  sync_handlers(s);
}

}  // namespace gofer::detail

namespace gofer::signal {

void notify(send_chan<int> c, std::initializer_list<int> sigs) {
  using namespace gofer::detail;
  runtime* rt = &runtime_or_throw("signal::notify");
  if (c == nullptr) throw std::invalid_argument("gofer::signal::notify: nil channel");
  auto set = check_signals("gofer::signal::notify", sigs);
  signal_state& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  start_relay(s);
  bool found = false;
  for (registration& r : s.regs) {
    if (!r.cancel && r.c == c) {
      r.sigs |= set;
      found = true;
    }
  }
  if (!found) s.regs.push_back(registration{rt, std::move(c), nullptr, set, nullptr});
  sync_handlers(s);
}

void stop(send_chan<int> c) {
  using namespace gofer::detail;
  signal_state& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  std::erase_if(s.regs, [&](const registration& r) { return !r.cancel && r.c == c; });
  sync_handlers(s);
}

std::pair<context, cancel_func> notify_context(const context& parent, std::initializer_list<int> sigs) {
  using namespace gofer::detail;
  runtime* rt = &runtime_or_throw("signal::notify_context");
  auto set = check_signals("gofer::signal::notify_context", sigs);
  auto [ctx, cancel] = with_cancel(parent);
  // The registration is found again (by stop_fn) through a token of its own.
  auto token = std::make_shared<char>(0);
  {
    signal_state& s = state();
    std::lock_guard<std::mutex> lk(s.mu);
    start_relay(s);
    s.regs.push_back(registration{rt, send_chan<int>(), cancel, set, token.get()});
    sync_handlers(s);
  }
  cancel_func stop_fn = [cancel = cancel, token] {
    signal_state& s = state();
    {
      std::lock_guard<std::mutex> lk(s.mu);
      std::erase_if(s.regs, [&](const registration& r) { return r.token == token.get(); });
      sync_handlers(s);
    }
    cancel();
  };
  return {ctx, stop_fn};
}

}  // namespace gofer::signal
