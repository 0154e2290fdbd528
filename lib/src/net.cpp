// lib/src/net.cpp — TCP sockets on the runtime's poller, and gofer::blocking.
//
// Every socket is non-blocking. An operation tries its syscall first; on EAGAIN it parks in
// poller::wait until the socket is ready (or its deadline passes, or it is closed) and
// tries again — Go's netFD loop. conn's read, write, write_gather and send_file take that
// step through one function, io_once (accept and raw_fd::io have shapes of their own:
// accept's backoff when out of descriptors, raw_fd's user callback). Reads and writes are
// each serialized by a gofer::mutex (Go's fdMutex), so at most one goroutine per direction
// waits on the poller.
#include "gofer/net.hpp"
#include "gofer/raw_fd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include <boost/asio/error.hpp>

#include "absl/base/thread_annotations.h"

#include "detail/runtime.hpp"
#include "detail/sigpipe.hpp"
#include "detail/synctest_impl.hpp"
#include "gofer/runtime.hpp"
#include "gofer/select.hpp"
#include "gofer/detail/spinlock.hpp"
#include "gofer/sync.hpp"

namespace gofer {

// ---- blocking: a helper thread pool ----------------------------------------------------

namespace detail {

namespace {

// The helper threads behind gofer::blocking. A call must never wait in the queue behind
// another call while the pool could still grow (a call may wait for another one: that
// would deadlock). So the pool spawns a thread whenever the queued tasks outnumber the
// threads that will take them: `idle` counts the threads not running a task, including
// those notified or just started that have not taken one yet (a notified thread is not
// free for a second task — counting it so was known bug D).
// A std::mutex that clang's -Wthread-safety can check (libstdc++'s is no capability).
// Not absl::Mutex: Debian's Abseil is built without ThreadSanitizer, and absl::Mutex waits
// on the futex directly, so TSan saw none of its ordering and reported every hand-off
// through the pool as a race (tsan preset, net_p.blocking_*); pthread's mutex it sees.
class ABSL_LOCKABLE thread_mutex {
 public:
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { m_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { m_.unlock(); }

 private:
  std::mutex m_;
};

class ABSL_SCOPED_LOCKABLE thread_mutex_lock {
 public:
  explicit thread_mutex_lock(thread_mutex& m) ABSL_EXCLUSIVE_LOCK_FUNCTION(m) : m_(m) { m_.lock(); }
  ~thread_mutex_lock() ABSL_UNLOCK_FUNCTION() { m_.unlock(); }
  thread_mutex_lock(const thread_mutex_lock&) = delete;
  thread_mutex_lock& operator=(const thread_mutex_lock&) = delete;

 private:
  thread_mutex& m_;
};

struct blocking_pool {
  // Plain threads wait here for tasks: a blocking lock with a condition variable is right
  // (annotated, so clang checks what it guards). Goroutines take it only in submit, for a
  // few instructions, never across a park.
  thread_mutex mu;
  std::condition_variable_any cv;  // waits on mu itself (BasicLockable)
  std::deque<std::function<void()>> tasks ABSL_GUARDED_BY(mu);  // queued, not yet taken
  std::size_t idle ABSL_GUARDED_BY(mu) = 0;                     // threads without a task
  int threads ABSL_GUARDED_BY(mu) = 0;
  static constexpr int kMaxThreads = 64;

  void submit(std::function<void()> t) ABSL_LOCKS_EXCLUDED(mu) {
    thread_mutex_lock lk(mu);
    tasks.push_back(std::move(t));
    if (tasks.size() > idle && threads < kMaxThreads) {
      ++threads;
      ++idle;  // it will take a task as soon as it runs
      std::thread([this] { loop(); }).detach();
    } else {
      cv.notify_one();
    }
  }
  [[noreturn]] void loop() ABSL_LOCKS_EXCLUDED(mu) {
    mu.lock();  // held except while a task runs; the thread never ends
    for (;;) {
      while (tasks.empty()) cv.wait(mu);
      --idle;
      auto t = std::move(tasks.front());
      tasks.pop_front();
      mu.unlock();
      t();
      t = nullptr;  // destroy the task's state outside the lock
      mu.lock();
      ++idle;
    }
  }
};

blocking_pool& pool() {
  static auto* p = new blocking_pool();  // never destroyed: its threads outlive main
  return *p;
}

// What a call and its helper share. Lives in a shared_ptr: the helper touches it after
// the goroutine may have returned.
struct blocking_call {
  spinlock mu;  // goroutine code on one side: a few instructions, never held across a park
  bool finished ABSL_GUARDED_BY(mu) = false;  // fn returned
  bool waiting ABSL_GUARDED_BY(mu) = false;   // g is (about to be) parked waiting for finished
  goroutine* g = nullptr;                     // immutable once submitted
};

// Parks g until the helper reported `finished` (returns) or, with through_shutdown false,
// until shutdown claims g (returns too: the caller looks at woken_by_shutdown).
void wait_for_helper(blocking_call& c, goroutine* g, bool through_shutdown) {
  begin_wait(g);
  {
    spinlock_guard lk(c.mu);
    if (c.finished) {
      (void)try_claim(g);  // close our own wait (a shutdown scan may have claimed it: fine)
      return;
    }
    c.waiting = true;
  }
  // No user call site: gofer::blocking is a template that would need one more parameter.
  if (through_shutdown) park_through_shutdown(g, wait_reason::io_wait, {});
  else park(g, wait_reason::io_wait, {});
  spinlock_guard lk(c.mu);
  c.waiting = false;
}

}  // namespace

void run_blocking(std::function<void()> fn) {
  goroutine* g = current_goroutine();
  if (g == nullptr) {
    fn();
    return;
  }
  runtime* rt = current_runtime();
  auto call = std::make_shared<blocking_call>();
  call->g = g;
  rt->external_waits.fetch_add(1, std::memory_order_seq_cst);  // not a deadlock meanwhile
  // fn lives on our stack: the helper may use it only until it sets `finished`, and we
  // return only after that.
  pool().submit([&fn, call] {
    fn();
    bool wake;
    {
      spinlock_guard lk(call->mu);
      call->finished = true;
      // Claiming under the lock: while `waiting`, g cannot leave wait_for_helper, so it is
      // alive; the claim winner alone may unpark it.
      wake = call->waiting && try_claim(call->g);
    }
    if (wake) unpark(call->g);
  });
  wait_for_helper(*call, g, false);
  bool unwinding = woken_by_shutdown(g);
  // Woken by shutdown (or by a straggling wake-up) before fn returned: fn uses our stack's
  // objects, so wait for it — parked, not spinning, so that this thread runs the
  // goroutines being unwound meanwhile (fn may wait for one of them; spinning on the
  // worker thread hung shutdown: known bug E).
  for (;;) {
    {
      spinlock_guard lk(call->mu);
      if (call->finished) break;
    }
    wait_for_helper(*call, g, true);
  }
  rt->external_waits.fetch_sub(1, std::memory_order_seq_cst);
  if (unwinding) throw_goroutine_exit();
}

}  // namespace detail

namespace net {

namespace {

const absl::Status& closed_error() {
  static const absl::Status s = absl::FailedPreconditionError("use of closed network connection");
  return s;
}
const absl::Status& timeout_error() {
  static const absl::Status s = absl::DeadlineExceededError("i/o timeout");
  return s;
}
const absl::Status& eof_error() {
  static const absl::Status s = absl::OutOfRangeError("EOF");
  return s;
}

absl::Status errno_error(const char* op, const std::string& addr, int err) {
  std::string msg = std::string(op) + (addr.empty() ? "" : " " + addr) + ": " + std::strerror(err);
  switch (err) {
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
    case ENETUNREACH:
    case EHOSTUNREACH:
      return absl::UnavailableError(msg);
    case EADDRINUSE:
      return absl::AlreadyExistsError(msg);
    case EINVAL:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::InternalError(msg);
  }
}

std::string format_addr(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {0};
  unsigned port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "?";
}

// Go's SplitHostPort: "host:port", "[v6]:port", ":port".
absl::Status split_host_port(std::string_view a, std::string& host, std::string& port) {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos) return absl::InvalidArgumentError("address " + std::string(a) + ": missing port in address");
  host = std::string(a.substr(0, colon));
  port = std::string(a.substr(colon + 1));
  if (!host.empty() && host.front() == '[') {
    if (host.back() != ']') return absl::InvalidArgumentError("address " + std::string(a) + ": missing ']' in address");
    host = host.substr(1, host.size() - 2);
  }
  if (port.empty()) return absl::InvalidArgumentError("address " + std::string(a) + ": missing port in address");
  return absl::OkStatus();
}

// Resolves host:port to socket addresses. IP literals and "" need no lookup; names go
// through getaddrinfo on a helper thread.
absl::StatusOr<std::vector<sockaddr_storage>> resolve(std::string_view address, bool passive) {
  std::string host, port;
  if (auto st = split_host_port(address, host, port); !st.ok()) return st;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = (passive ? AI_PASSIVE : 0) | AI_NUMERICSERV;
  in6_addr tmp6;
  in_addr tmp4;
  bool literal = host.empty() || ::inet_pton(AF_INET, host.c_str(), &tmp4) == 1 ||
                 ::inet_pton(AF_INET6, host.c_str(), &tmp6) == 1;
  if (literal) hints.ai_flags |= AI_NUMERICHOST;
  addrinfo* res = nullptr;
  int rc = 0;
  auto lookup = [&] { rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res); };
  if (literal) lookup();
  else blocking(lookup);
  if (rc != 0) return absl::NotFoundError("lookup " + host + ": " + ::gai_strerror(rc));
  std::vector<sockaddr_storage> out;
  for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
    sockaddr_storage ss{};
    std::memcpy(&ss, p->ai_addr, p->ai_addrlen);
    out.push_back(ss);
  }
  ::freeaddrinfo(res);
  if (out.empty()) return absl::NotFoundError("lookup " + host + ": no addresses");
  return out;
}

socklen_t addr_len(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

using clk = gofer::detail::clock;

// A deadline as stored in a socket (0: none). Set inside a synctest bubble, t is on the
// bubble's clock (gofer::now() there); as Go's SetDeadline (time.Until(t) on the caller's
// clock, then a wait of that long on the runtime's real clock), it becomes real now + (t -
// the bubble's now): a socket deadline always expires in real time (gofer/synctest.hpp).
clk::rep deadline_rep(time_point t) noexcept {
  if (t == time_point{}) return 0;
  if (__builtin_expect(gofer::detail::g_bubbles.load(std::memory_order_relaxed) != 0, false)) {
    if (gofer::detail::bubble* b = gofer::detail::current_bubble()) t = clk::now() + (t - b->timers->now());
  }
  clk::rep v = t.time_since_epoch().count();
  return v != 0 ? v : 1;
}

}  // namespace

namespace detail {

// One socket: the fd, its poller record, deadlines and the per-direction locks.
//
// Closing while another goroutine is inside a syscall on the fd (Go's fdMutex reference
// count): `fd` turns -1 at close(), so new operations fail with is_closed and parked
// waiters wake at once (poll.close), but the descriptor itself is released with close(2)
// only when the last reference is dropped. Every syscall runs under a reference
// (acquire/release, or fd_hold), the socket holds one of its own until close(), and
// `refs` never rises again from 0 — so no syscall can run on a number that close(2) has
// already handed back to the kernel for a newer socket to reuse (a recv on someone else's
// connection; ThreadSanitizer reported the close racing a reader's recv).
// Correctness: do_close stores -1 before dropping the socket's reference. An acquire that
// got its reference (CAS from r > 0: the final release has not happened) and then reads
// fd >= 0 is ordered before that store in the seq_cst order, so its reference was taken
// before close's release and the final release — and close(2) — comes after its own.
struct socket {
  // `owns`: close(2) the descriptor with the last reference (net::raw_fd::borrow: don't).
  // A descriptor epoll refuses leaves pd null and open_errno set: the socket starts closed.
  socket(gofer::detail::runtime& r, int f, bool own = true) : rt(&r), fd(f), raw_fd(f), owns(own) {
    pd = rt->poll.open(f, gen);
    if (pd == nullptr) {
      open_errno = errno;
      fd.store(-1);
      refs.store(0);
    }
  }
  ~socket() { (void)do_close(); }

  absl::Status do_close() {
    if (fd.exchange(-1, std::memory_order_seq_cst) < 0) return closed_error();
    rt->poll.close(pd, gen);  // wakes parked readers/writers with is_closed
    release();                // the socket's own reference
    return absl::OkStatus();
  }
  // A reference for one syscall: the descriptor, or -1 once closed (then nothing is held).
  int acquire() noexcept {
    std::uint32_t r = refs.load(std::memory_order_seq_cst);
    do {
      if (r == 0) return -1;
    } while (!refs.compare_exchange_weak(r, r + 1, std::memory_order_seq_cst));
    if (fd.load(std::memory_order_seq_cst) < 0) {
      release();
      return -1;
    }
    return raw_fd;
  }
  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      int saved = errno;  // callers read errno after their syscall and a release
      if (owns) ::close(raw_fd);
      errno = saved;
    }
  }
  // Go's netpollcheckerr: has this direction's deadline passed? Checked before every
  // syscall, so an expired deadline fails I/O even when it would not have to wait.
  bool expired(bool write) const {
    auto v = (write ? wdeadline : rdeadline).load(std::memory_order_seq_cst);
    return v != 0 && clk::time_point(clk::duration(v)) <= clk::now();
  }
  void set_deadline(bool write, clk::rep v) {
    (write ? wdeadline : rdeadline).store(v, std::memory_order_seq_cst);
    rt->poll.rearm(pd, gen, write);  // a parked waiter re-reads it now
  }
  // Parks until ready, the deadline passes, *interrupt is set (then rearm() wakes us) or
  // close(). OK: re-check and retry the syscall.
  absl::Status wait(bool write, const std::atomic<bool>* interrupt = nullptr,
                    gofer::source_location where = {}) {
    return rt->poll.wait(pd, gen, write, write ? wdeadline : rdeadline, interrupt, where);
  }

  gofer::detail::runtime* rt;
  std::atomic<int> fd;  // raw_fd while open, -1 from close() on
  const int raw_fd;     // valid for syscalls while a reference is held
  std::atomic<std::uint32_t> refs{1};  // the socket's own (until close) + one per syscall
  const bool owns;                     // close(2) raw_fd at the last release
  int open_errno = 0;                  // why the poller refused the descriptor (pd null)
  gofer::detail::poll_desc* pd = nullptr;
  std::uint32_t gen = 0;
  std::atomic<clk::rep> rdeadline{0}, wdeadline{0};  // 0: none
  gofer::mutex rmu, wmu;  // Go's fdMutex: one reader, one writer at a time
};

}  // namespace detail

namespace {

// One syscall's reference on a socket's descriptor (socket::acquire): get() is the fd, or
// -1 when the socket is closed (or absent).
class fd_hold {
 public:
  explicit fd_hold(detail::socket* s) noexcept : s_(s), fd_(s != nullptr ? s->acquire() : -1) {}
  ~fd_hold() {
    if (fd_ >= 0) s_->release();
  }
  fd_hold(const fd_hold&) = delete;
  fd_hold& operator=(const fd_hold&) = delete;
  int get() const noexcept { return fd_; }

 private:
  detail::socket* s_;
  int fd_;
};

// One syscall of a conn's data path, to completion or error (Go's internal/poll FD.Read /
// FD.Write loop body): under a reference to the descriptor and after checking the
// direction's deadline, `call(fd, err)` makes the syscall and returns its result (errno in
// err). EINTR tries again; EAGAIN parks until the socket is ready for that direction (or
// its deadline passes, or it is closed) and tries again. Returns what the syscall returned
// (>= 0: bytes moved; 0 is the caller's to interpret: EOF for recv, the file ending early
// for sendfile, and never seen from send/sendmsg with bytes left) or the error:
// closed_error, timeout_error, the wait's error, or errno_error(op, peer, errno).
template <class Call>
absl::StatusOr<std::size_t> io_once(const conn& c, detail::socket& s, bool write, const char* op,
                                    gofer::source_location where, Call call) {
  for (;;) {
    ssize_t r;
    int err;
    {
      fd_hold h(&s);
      if (h.get() < 0) return closed_error();
      if (s.expired(write)) return timeout_error();
      r = call(h.get(), err);
    }
    if (r >= 0) return static_cast<std::size_t>(r);
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) return errno_error(op, c.remote_addr(), err);
    if (auto st = s.wait(write, nullptr, where); !st.ok()) return st;
  }
}

// ctx's error, once the interrupter saw ctx done (err is set before done is closed).
absl::Status context_error(const gofer::context& ctx) {
  absl::Status e = ctx.err();
  return e.ok() ? absl::CancelledError("context canceled") : e;
}

// Go's connect "interrupter", per call: a goroutine that waits for ctx.done() and then
// sets this call's flag and re-arms the socket's waiter, which sees the flag (read under
// the poller record's lock, so the wake-up cannot be missed) and returns ctx's error.
// The flag belongs to this call alone: an interrupter that runs late — ctx cancelled just
// as the call returned — changes no socket state (known bug C: it used to set the
// listener's deadline to "now" and break every later accept); at most a later waiter on
// the socket gets a spurious re-arm wake, and it simply retries its syscall.
class interrupter {
 public:
  interrupter(const gofer::context& ctx, std::shared_ptr<detail::socket> s, bool write) {
    if (ctx.done() == nullptr) return;  // never cancelled
    flag_ = std::make_shared<std::atomic<bool>>(false);
    gofer::go([ctx, stop = stop_, s = std::move(s), flag = flag_, write]() {
      bool cancelled = false;
      gofer::select(gofer::recv_case(ctx.done(), [&](auto) { cancelled = true; }), gofer::recv_case(stop));
      if (cancelled) {
        flag->store(true, std::memory_order_seq_cst);
        s->rt->poll.rearm(s->pd, s->gen, write);
      }
    });
  }
  ~interrupter() { stop_.close(); }
  interrupter(const interrupter&) = delete;
  interrupter& operator=(const interrupter&) = delete;
  const std::atomic<bool>* flag() const noexcept { return flag_.get(); }
  bool fired() const noexcept { return flag_ && flag_->load(std::memory_order_seq_cst); }

 private:
  gofer::chan<std::monostate> stop_;
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace

bool is_eof(const absl::Status& s) noexcept { return s == eof_error(); }
bool is_timeout(const absl::Status& s) noexcept { return absl::IsDeadlineExceeded(s) && s.message() == "i/o timeout"; }
bool is_closed(const absl::Status& s) noexcept { return s == closed_error(); }

// ---- conn ----

conn::conn() noexcept = default;
conn::conn(std::shared_ptr<detail::socket> s) noexcept : s_(std::move(s)) {}
conn::conn(conn&&) noexcept = default;
conn& conn::operator=(conn&&) noexcept = default;
conn::~conn() = default;

bool conn::is_open() const noexcept { return s_ && s_->fd.load() >= 0; }

bool conn::read_ready() const noexcept {
  fd_hold h(s_.get());
  if (h.get() < 0) return true;
  char b;
  for (;;) {
    ssize_t r = ::recv(h.get(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    return !(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }
}

absl::StatusOr<std::size_t> conn::read(void* buf, std::size_t n, gofer::source_location where) {
  if (!s_) return closed_error();
  s_->rmu.lock(where);
  std::lock_guard<gofer::mutex> lk(s_->rmu, std::adopt_lock);
  auto r = io_once(*this, *s_, false, "read", where, [&](int fd, int& err) {
    ssize_t got = ::recv(fd, buf, n, 0);
    err = errno;
    return got;
  });
  if (!r.ok() || *r > 0) return r;
  return n == 0 ? absl::StatusOr<std::size_t>(0) : eof_error();
}

absl::StatusOr<std::size_t> conn::write(const void* buf, std::size_t n, gofer::source_location where) {
  if (!s_) return closed_error();
  s_->wmu.lock(where);
  std::lock_guard<gofer::mutex> lk(s_->wmu, std::adopt_lock);
  const char* p = static_cast<const char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    auto r = io_once(*this, *s_, true, "write", where, [&](int fd, int& err) {
      ssize_t sent = ::send(fd, p + done, n - done, MSG_NOSIGNAL);
      err = errno;
      return sent;
    });
    if (!r.ok()) return r.status();
    done += *r;
  }
  return n;
}

namespace {
// sendfile(2) has no MSG_NOSIGNAL: a peer that is gone raises SIGPIPE on this thread. During
// a run whose SIGPIPE disposition was SIG_DFL (or SIG_IGN), gofer's handler is installed (or
// nothing is needed): the flag tells the handler that this call's SIGPIPE is the EPIPE we
// report, and nothing but sendfile itself is a syscall (detail/sigpipe.hpp). Otherwise (the
// user's own handler, or no run) the old guard: SIGPIPE blocked on this thread around the
// call, a SIGPIPE it raised discarded (unless one was already pending), the mask restored
// (3 syscalls, 4 after an EPIPE or a short count).
// Nothing parks in between, so the goroutine cannot move to another thread meanwhile;
// noinline, so the flag's thread-local address is never kept across the caller's park.
[[gnu::noinline]] ssize_t sendfile_nosignal(int out, int in, off_t* off, std::size_t n, int& err) {
  if (!gofer::detail::sigpipe_guard_needed()) {
    gofer::detail::t_sigpipe_from_sendfile = 1;
    ssize_t r = ::sendfile(out, in, off, n);
    err = errno;
    gofer::detail::t_sigpipe_from_sendfile = 0;
    return r;
  }
  sigset_t pipe_set, old_set, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  ssize_t r = ::sendfile(out, in, off, n);
  err = errno;
  // A short count may hide an EPIPE too: sendfile returns what it sent before the peer's
  // RST, with the SIGPIPE of the failed rest raised (then, unblocked, it would kill).
  bool may_have_raised = r < 0 ? err == EPIPE : static_cast<std::size_t>(r) < n;
  if (may_have_raised && !was_pending) {
    timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  return r;
}
}  // namespace

absl::StatusOr<std::uint64_t> conn::send_file(int fd, std::int64_t offset, std::uint64_t n,
                                              gofer::source_location where) {
  if (!s_) return closed_error();
  s_->wmu.lock(where);
  std::lock_guard<gofer::mutex> lk(s_->wmu, std::adopt_lock);
  constexpr std::uint64_t kMaxPerCall = 4u << 20;  // Go's maxSendfileSize
  off_t off = static_cast<off_t>(offset);
  std::uint64_t done = 0;
  while (done < n) {
    auto r = io_once(*this, *s_, true, "sendfile", where, [&](int out, int& err) {
      return sendfile_nosignal(out, fd, &off, static_cast<std::size_t>(std::min(n - done, kMaxPerCall)), err);
    });
    if (!r.ok()) return r.status();
    if (*r == 0) return absl::DataLossError("unexpected EOF");  // the file ended early
    done += *r;
  }
  return done;
}

absl::Status conn::read_full(void* buf, std::size_t n, gofer::source_location where) {
  char* p = static_cast<char*>(buf);
  std::size_t got = 0;
  while (got < n) {
    auto r = read(p + got, n - got, where);
    if (!r.ok()) {
      if (is_eof(r.status()) && got > 0) return absl::DataLossError("unexpected EOF");
      return r.status();
    }
    got += *r;
  }
  return absl::OkStatus();
}

absl::Status conn::close() { return s_ ? s_->do_close() : closed_error(); }

absl::Status conn::close_write() {
  int err = 0;
  {
    fd_hold h(s_.get());
    if (h.get() < 0) return closed_error();
    if (::shutdown(h.get(), SHUT_WR) != 0) err = errno;
  }
  if (err != 0) return errno_error("shutdown", remote_addr(), err);
  return absl::OkStatus();
}

// SO_RCVBUF / SO_SNDBUF (Go's SetReadBuffer / SetWriteBuffer); the kernel doubles the
// value for its bookkeeping and clamps it to its own minimum and maximum.
static absl::Status set_buffer(detail::socket* s, int opt, int bytes, const char* what, const std::string& addr) {
  int err = 0;
  {
    fd_hold h(s);
    if (h.get() < 0) return closed_error();
    if (::setsockopt(h.get(), SOL_SOCKET, opt, &bytes, sizeof bytes) != 0) err = errno;
  }
  if (err != 0) return errno_error(what, addr, err);
  return absl::OkStatus();
}
absl::Status conn::set_read_buffer(int bytes) { return set_buffer(s_.get(), SO_RCVBUF, bytes, "setsockopt SO_RCVBUF", s_ ? remote_addr() : ""); }
absl::Status conn::set_write_buffer(int bytes) { return set_buffer(s_.get(), SO_SNDBUF, bytes, "setsockopt SO_SNDBUF", s_ ? remote_addr() : ""); }

std::string conn::local_addr() const {
  fd_hold h(s_.get());
  if (h.get() < 0) return "";
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(h.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  return format_addr(ss);
}

std::string conn::remote_addr() const {
  fd_hold h(s_.get());
  if (h.get() < 0) return "";
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(h.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  return format_addr(ss);
}

void conn::set_deadline(time_point t) {
  set_read_deadline(t);
  set_write_deadline(t);
}
void conn::set_read_deadline(time_point t) {
  if (s_) s_->set_deadline(false, gofer::net::deadline_rep(t));
}
void conn::set_write_deadline(time_point t) {
  if (s_) s_->set_deadline(true, gofer::net::deadline_rep(t));
}

std::size_t conn::read_some_raw(void* p, std::size_t n, boost::system::error_code& ec) {
  ec.clear();
  if (n == 0) return 0;
  auto r = read(p, n);
  if (r.ok()) return *r;
  if (is_eof(r.status())) ec = boost::asio::error::eof;
  else if (is_timeout(r.status())) ec = boost::asio::error::timed_out;
  else if (is_closed(r.status())) ec = boost::asio::error::bad_descriptor;
  else ec = boost::asio::error::connection_reset;
  return 0;
}

// Like write(), over several buffers at once: one sendmsg per attempt, advancing through
// the iovecs on a partial write, parking on EAGAIN. Returns the total, or the error.
absl::StatusOr<std::size_t> conn::write_gather(const io_piece* pieces, std::size_t count) {
  if (!s_) return closed_error();
  iovec iov[kMaxGather];
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i) {
    iov[i].iov_base = const_cast<void*>(pieces[i].data);
    iov[i].iov_len = pieces[i].size;
    total += pieces[i].size;
  }
  if (total == 0) return 0;
  std::lock_guard<gofer::mutex> lk(s_->wmu);
  std::size_t first = 0, done = 0;
  while (done < total) {
    auto r = io_once(*this, *s_, true, "write", {}, [&](int fd, int& err) {
      msghdr msg{};
      msg.msg_iov = iov + first;
      msg.msg_iovlen = count - first;
      ssize_t sent = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
      err = errno;
      return sent;
    });
    if (!r.ok()) return r.status();
    done += *r;
    for (std::size_t k = *r; k > 0;) {  // skip what was sent
      if (k >= iov[first].iov_len) {
        k -= iov[first].iov_len;
        ++first;
      } else {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + k;
        iov[first].iov_len -= k;
        k = 0;
      }
    }
  }
  return total;
}

std::size_t conn::write_some_gather(const io_piece* pieces, std::size_t count,
                                    boost::system::error_code& ec) {
  ec.clear();
  auto r = write_gather(pieces, count);
  if (r.ok()) return *r;
  if (is_timeout(r.status())) ec = boost::asio::error::timed_out;
  else if (is_closed(r.status())) ec = boost::asio::error::bad_descriptor;
  else ec = boost::asio::error::broken_pipe;
  return 0;
}

// ---- listener ----

listener::listener() noexcept = default;
listener::listener(std::shared_ptr<detail::socket> s) noexcept : s_(std::move(s)) {}
listener::listener(listener&&) noexcept = default;
listener& listener::operator=(listener&&) noexcept = default;
listener::~listener() = default;

absl::StatusOr<listener> listen(std::string_view address) {
  gofer::detail::runtime& rt = gofer::detail::runtime_or_throw("net");
  auto addrs = resolve(address, true);
  if (!addrs.ok()) return addrs.status();
  absl::Status last = absl::InternalError("listen " + std::string(address) + ": no address");
  for (const sockaddr_storage& ss : *addrs) {
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = errno_error("listen", std::string(address), errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss), addr_len(ss)) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      last = errno_error("listen", std::string(address), errno);
      ::close(fd);
      continue;
    }
    return listener(std::make_shared<detail::socket>(rt, fd));
  }
  return last;
}

absl::StatusOr<conn> listener::accept(gofer::source_location where) {
  return accept_impl(nullptr, nullptr, where);
}

absl::StatusOr<conn> listener::accept(const gofer::context& ctx, gofer::source_location where) {
  if (ctx.done() == nullptr) return accept(where);
  if (auto e = ctx.err(); !e.ok()) return e;
  if (!s_) return closed_error();
  interrupter intr(ctx, s_, false);
  return accept_impl(&ctx, intr.flag(), where);
}

absl::StatusOr<conn> listener::accept_impl(const gofer::context* ctx, const std::atomic<bool>* interrupt,
                                           gofer::source_location where) {
  if (!s_) return closed_error();
  s_->rmu.lock(where);
  std::lock_guard<gofer::mutex> lk(s_->rmu, std::adopt_lock);
  auto backoff = std::chrono::milliseconds(5);
  for (;;) {
    int fd, err;
    {
      fd_hold h(s_.get());
      if (h.get() < 0) return closed_error();
      if (interrupt != nullptr && interrupt->load()) return context_error(*ctx);
      if (s_->expired(false)) return timeout_error();
      fd = ::accept4(h.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      err = errno;
    }
    if (fd >= 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return conn(std::make_shared<detail::socket>(*s_->rt, fd));
    }
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      // Out of descriptors (or memory): keep serving — wait for some to be freed, like Go's
      // http server (5 ms doubling to 1 s). The pending connection stays in the backlog.
      if (ctx != nullptr) {
        bool done = false;
        gofer::select(gofer::recv_case(ctx->done(), [&](auto) { done = true; }, where),
                      gofer::recv_case(gofer::after(backoff)));
        if (done) return context_error(*ctx);
      } else {
        gofer::sleep(backoff, where);
      }
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(1));
      continue;
    }
    if (err != EAGAIN && err != EWOULDBLOCK) return errno_error("accept", addr(), err);
    if (auto st = s_->wait(false, interrupt, where); !st.ok()) return st;
  }
}

absl::Status listener::close() { return s_ ? s_->do_close() : closed_error(); }

std::string listener::addr() const {
  fd_hold h(s_.get());
  if (h.get() < 0) return "";
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(h.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  return format_addr(ss);
}

// ---- dial ----

namespace {

// Go's connect: after the socket reported writable, is it connected? SO_ERROR says
// whether the connect failed; a socket registered before connect() may report writable
// (an edge of the unconnected socket) while the connect is still in progress, so success
// is confirmed with getpeername (Go does the same). Returns 0 when connected, EINPROGRESS
// to keep waiting, or the connect's error.
int connect_result(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  switch (err) {
    case EINPROGRESS:
    case EALREADY:
    case EINTR:
      return EINPROGRESS;
    case EISCONN:
      return 0;
    case 0: {
      sockaddr_storage ss{};
      socklen_t sl = sizeof ss;
      return ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &sl) == 0 ? 0 : EINPROGRESS;
    }
    default:
      return err;
  }
}

}  // namespace

absl::StatusOr<conn> dial(std::string_view address, const gofer::context& ctx) {
  gofer::detail::runtime& rt = gofer::detail::runtime_or_throw("net");
  if (auto e = ctx.err(); !e.ok()) return e;
  auto addrs = resolve(address, false);
  if (!addrs.ok()) return addrs.status();
  absl::Status last = absl::InternalError("dial " + std::string(address) + ": no address");
  for (const sockaddr_storage& ss : *addrs) {
    if (auto e = ctx.err(); !e.ok()) return e;
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = errno_error("dial", std::string(address), errno);
      continue;
    }
    auto sock = std::make_shared<detail::socket>(rt, fd);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&ss), addr_len(ss));
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS || err == EALREADY || err == EINTR) {
      // Wait until connected. The context bounds the wait — its deadline through its own
      // timer, which cancels it — so an expired dial always reports the context's error
      // (known bug F: a socket deadline racing the context's timer said "i/o timeout").
      interrupter intr(ctx, sock, true);
      for (;;) {
        if (intr.fired()) return context_error(ctx);
        if (auto st = sock->wait(true, intr.flag()); !st.ok()) {
          err = -1;
          last = st;
          break;
        }
        if (intr.fired()) return context_error(ctx);  // a re-arm wake: not connected (bug B)
        err = connect_result(fd);
        if (err != EINPROGRESS) break;
      }
      if (err == -1) continue;
    }
    if (err == EISCONN) err = 0;
    if (err != 0) {
      last = errno_error("dial", std::string(address), err);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return conn(std::move(sock));
  }
  return last;
}

// ---- raw_fd: any pollable descriptor on the poller (raw_fd.hpp) ----

raw_fd::raw_fd() noexcept = default;
raw_fd::raw_fd(std::shared_ptr<detail::socket> s) noexcept : s_(std::move(s)) {}
raw_fd::raw_fd(raw_fd&&) noexcept = default;
raw_fd& raw_fd::operator=(raw_fd&& o) noexcept {
  if (this != &o) {
    (void)close();
    s_ = std::move(o.s_);
  }
  return *this;
}
raw_fd::~raw_fd() { (void)close(); }

absl::StatusOr<raw_fd> raw_fd::open(int fd, bool owns) {
  if (fd < 0) return absl::InvalidArgumentError("raw_fd: invalid file descriptor " + std::to_string(fd));
  gofer::detail::runtime& rt = gofer::detail::runtime_or_throw("net");
  if (owns) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
      return errno_error("fcntl", "fd " + std::to_string(fd), errno);
    }
  }
  auto s = std::make_shared<detail::socket>(rt, fd, owns);
  if (s->pd == nullptr) return errno_error("epoll_ctl", "fd " + std::to_string(fd), s->open_errno);
  return raw_fd(std::move(s));
}

absl::StatusOr<raw_fd> raw_fd::adopt(int fd) { return open(fd, true); }
absl::StatusOr<raw_fd> raw_fd::borrow(int fd) { return open(fd, false); }

// Go's rawConn.Read/Write: f under a reference (close(2) waits for it), park on "not done".
// f == nullptr: wait_read/wait_write (one park, no syscall of ours).
absl::Status raw_fd::io(bool write, absl::FunctionRef<bool(int)>* f, gofer::source_location where) {
  if (!s_) return closed_error();
  gofer::mutex& mu = write ? s_->wmu : s_->rmu;
  mu.lock(where);
  std::lock_guard<gofer::mutex> lk(mu, std::adopt_lock);
  for (;;) {
    {
      fd_hold h(s_.get());
      if (h.get() < 0) return closed_error();
      if (s_->expired(write)) return timeout_error();
      if (f != nullptr && (*f)(h.get())) return absl::OkStatus();
    }
    absl::Status st = s_->wait(write, nullptr, where);
    if (f == nullptr || !st.ok()) return st;
  }
}

absl::Status raw_fd::read(absl::FunctionRef<bool(int)> f, gofer::source_location where) {
  return io(false, &f, where);
}
absl::Status raw_fd::write(absl::FunctionRef<bool(int)> f, gofer::source_location where) {
  return io(true, &f, where);
}
absl::Status raw_fd::wait_read(gofer::source_location where) { return io(false, nullptr, where); }
absl::Status raw_fd::wait_write(gofer::source_location where) { return io(true, nullptr, where); }

void raw_fd::set_deadline(time_point t) {
  set_read_deadline(t);
  set_write_deadline(t);
}
void raw_fd::set_read_deadline(time_point t) {
  if (s_) s_->set_deadline(false, gofer::net::deadline_rep(t));
}
void raw_fd::set_write_deadline(time_point t) {
  if (s_) s_->set_deadline(true, gofer::net::deadline_rep(t));
}

absl::Status raw_fd::close() { return s_ ? s_->do_close() : closed_error(); }
bool raw_fd::is_open() const noexcept { return s_ && s_->fd.load() >= 0; }
int raw_fd::fd() const noexcept { return s_ ? s_->fd.load() : -1; }

}  // namespace net
}  // namespace gofer
