// chapters/common/server.cpp — the launcher (server.hpp has the contract).
//
// One launcher thread (a plain std::thread started with the first child, never ended)
// owns the forks and the signal path. It sleeps in read() on a self-pipe:
//   byte 0      a spawn request is queued: fork + exec it, report the pid or the error;
//   byte s > 0  the demo got signal s (the handler only writes the byte, which is
//               async-signal-safe): stop every registered child, remove every registered
//               temp dir, restore the default action and raise s again.
// Forking on this thread (not on a gofer worker, which ends with its run()) keeps
// PR_SET_PDEATHSIG meaningful: it fires when the forking thread exits.
#include "server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include <gofer/net.hpp>
#include <gofer/runtime.hpp>

namespace gofer_demo {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Runs f through gofer::blocking: in a goroutine it parks instead of blocking its thread;
// elsewhere it just calls f.
template <class F>
auto off_thread(F&& f) {
  return gofer::blocking(std::forward<F>(f));
}

// The same for destructors: never throws. While an exception unwinds the stack (a goroutine
// being unwound at shutdown, or an error), f runs inline: blocking() could throw again.
template <class F>
void off_thread_noexcept(F&& f) noexcept {
  if (std::uncaught_exceptions() > 0) {
    f();
    return;
  }
  try {
    gofer::blocking(f);
  } catch (...) {
    // f has run to completion (blocking() waits for it); what arrived meanwhile was the
    // run shutting down, which the goroutine's next park reports again.
  }
}

std::string errno_text(int err) { return std::strerror(err); }

// ---- the registry of live children, for the signal path ---------------------------------

struct registry {
  std::mutex mu;
  std::vector<pid_t> pids;     // guarded by mu: children not yet reaped
  std::vector<fs::path> dirs;  // guarded by mu: temp dirs not yet removed
};
registry& reg() {
  static auto* r = new registry();  // never destroyed: the launcher thread outlives main
  return *r;
}
void forget_pid(pid_t pid) {
  std::lock_guard lk(reg().mu);
  std::erase(reg().pids, pid);
}

// ---- the launcher thread ---------------------------------------------------------------

std::atomic<bool> g_interrupted{false};  // the signal path has begun

struct spawn_request {
  std::vector<std::string> argv;  // argv[0] is a full path
  fs::path output;
  std::promise<pid_t> result;  // the pid, or a server_error
};

struct launcher {
  int pipe_fds[2] = {-1, -1};  // the self-pipe: [0] read by the thread, [1] written by others
  std::mutex mu;
  std::vector<spawn_request*> queue;  // guarded by mu

  launcher() {
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw server_error("launcher: pipe: " + errno_text(errno));
    std::thread([this] { loop(); }).detach();
  }

  void loop() {
    for (;;) {
      unsigned char b = 0;
      ssize_t n = ::read(pipe_fds[0], &b, 1);
      if (n != 1) {
        if (n < 0 && errno == EINTR) continue;
        return;
      }
      if (b == 0) {
        std::vector<spawn_request*> todo;
        {
          std::lock_guard lk(mu);
          todo.swap(queue);
        }
        for (spawn_request* r : todo) fork_exec(*r);
      } else {
        on_signal(b);
      }
    }
  }

  pid_t spawn(spawn_request& r) {
    std::future<pid_t> f = r.result.get_future();
    {
      std::lock_guard lk(mu);
      queue.push_back(&r);
    }
    unsigned char b = 0;
    while (::write(pipe_fds[1], &b, 1) < 0 && errno == EINTR) {
    }
    return f.get();
  }

  // Everything the child needs is prepared before fork(): after it, in a multi-threaded
  // process, only async-signal-safe calls are allowed until exec.
  void fork_exec(spawn_request& r) {
    std::vector<char*> argv;
    for (std::string& a : r.argv) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out = ::open(r.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) {
      r.result.set_exception(std::make_exception_ptr(
          server_error("cannot open " + r.output.string() + ": " + errno_text(errno))));
      return;
    }
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int status_pipe[2];  // the child reports a failed exec here; CLOEXEC: EOF means it worked
    if (devnull < 0 || ::pipe2(status_pipe, O_CLOEXEC) != 0) {
      int err = errno;
      ::close(out);
      if (devnull >= 0) ::close(devnull);
      r.result.set_exception(std::make_exception_ptr(server_error("launcher: " + errno_text(err))));
      return;
    }
    pid_t parent = ::getpid();
    std::lock_guard lk(reg().mu);  // registered before anyone can see the pid
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the demo died before prctl took effect
      ::setpgid(0, 0);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::dup2(devnull, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execv(argv[0], argv.data());
      int err = errno;
      (void)!::write(status_pipe[1], &err, sizeof err);
      ::_exit(127);
    }
    int fork_err = errno;
    ::close(out);
    ::close(devnull);
    ::close(status_pipe[1]);
    if (pid < 0) {
      ::close(status_pipe[0]);
      r.result.set_exception(std::make_exception_ptr(server_error("fork: " + errno_text(fork_err))));
      return;
    }
    int exec_err = 0;
    ssize_t n;
    while ((n = ::read(status_pipe[0], &exec_err, sizeof exec_err)) < 0 && errno == EINTR) {
    }
    ::close(status_pipe[0]);
    if (n > 0) {  // exec failed: the child exits 127 at once; reap it here
      int st;
      ::waitpid(pid, &st, 0);
      r.result.set_exception(std::make_exception_ptr(
          server_error("cannot execute " + r.argv[0] + ": " + errno_text(exec_err))));
      return;
    }
    reg().pids.push_back(pid);
    r.result.set_value(pid);
  }

  // The demo got `sig`: stop every child (SIGTERM, up to 2 s, SIGKILL), remove the temp
  // dirs, then end the demo by the same signal.
  void on_signal(int sig) {
    g_interrupted.store(true);
    std::vector<pid_t> pids;
    std::vector<fs::path> dirs;
    {
      std::lock_guard lk(reg().mu);
      pids = reg().pids;
      dirs = reg().dirs;
    }
    for (pid_t p : pids) ::kill(p, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + 2s;
    std::vector<pid_t> left = pids;
    while (!left.empty() && std::chrono::steady_clock::now() < deadline) {
      std::erase_if(left, [](pid_t p) {
        int st;
        pid_t r = ::waitpid(p, &st, WNOHANG);
        return r == p || (r < 0 && errno == ECHILD);
      });
      if (!left.empty()) std::this_thread::sleep_for(10ms);
    }
    for (pid_t p : left) {
      ::kill(p, SIGKILL);
      int st;
      ::waitpid(p, &st, 0);
    }
    for (const fs::path& d : dirs) {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
    std::fflush(stdout);  // what the demo printed so far, before the note
    std::fprintf(stderr, "\ninterrupted (%s): stopped %zu child process%s, removed %zu temp dir%s\n",
                 ::strsignal(sig), pids.size(), pids.size() == 1 ? "" : "es", dirs.size(),
                 dirs.size() == 1 ? "" : "s");
    std::fflush(stderr);
    ::signal(sig, SIG_DFL);
    ::kill(::getpid(), sig);
    ::pause();
  }
};

int g_signal_fd = -1;  // the launcher's pipe_fds[1], for the handler

extern "C" void on_demo_signal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  (void)!::write(g_signal_fd, &b, 1);
  errno = saved;
}

launcher& the_launcher() {
  static launcher* l = [] {
    auto* p = new launcher();  // never destroyed: its thread outlives main
    g_signal_fd = p->pipe_fds[1];
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction old {};
      ::sigaction(sig, nullptr, &old);
      if (old.sa_handler != SIG_DFL) continue;  // the demo handles it: leave it alone
      struct sigaction sa {};
      sa.sa_handler = on_demo_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      ::sigaction(sig, &sa, nullptr);
    }
    return p;
  }();
  return *l;
}

std::string substitute(std::string s, int port, const fs::path& dir) {
  for (auto [key, value] : {std::pair<std::string, std::string>{"{port}", std::to_string(port)},
                            std::pair<std::string, std::string>{"{dir}", dir.string()}}) {
    for (std::size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), value);
  }
  return s;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One readiness attempt: connect, send the probe, read the start of the reply.
bool probe(int port, const server_spec& spec) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (ok && !spec.probe_send.empty())
    ok = ::send(fd, spec.probe_send.data(), spec.probe_send.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(spec.probe_send.size());
  if (ok && !spec.probe_expect.empty()) {
    std::string got;
    char buf[256];
    while (got.size() < spec.probe_expect.size()) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    ok = got.compare(0, spec.probe_expect.size(), spec.probe_expect) == 0;
  }
  ::close(fd);
  return ok;
}

// The same for a unix socket (server_spec::ready_unix_socket): it exists and accepts.
bool probe_unix(const std::string& path) {
  sockaddr_un a{};
  if (path.size() >= sizeof a.sun_path) return false;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

int to_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

}  // namespace

// ---- free functions ----------------------------------------------------------------------

server_spec memcached_spec(int memory_mb) {
  server_spec s;
  s.name = "memcached";
  s.binary = "memcached";
  s.package = "memcached";
  // -l loopback, -p {port}, -U 0 no UDP, -m cache MB, -t 1 thread, -c connections.
  s.args = {"-l", "127.0.0.1", "-p", "{port}", "-U", "0", "-m", std::to_string(memory_mb), "-t", "1", "-c", "1024"};
  if (::geteuid() == 0) s.args.insert(s.args.end(), {"-u", "root"});  // memcached refuses root without -u
  s.probe_send = "version\r\n";
  s.probe_expect = "VERSION ";
  return s;
}

server_spec mariadb_spec(int max_connections) {
  server_spec s;
  s.name = "mariadb";
  s.binary = "mariadbd";
  s.package = "mariadb-server";
  s.args = {"--no-defaults",  // first: ignore /etc/mysql/my.cnf and ~/.my.cnf
            "--datadir={dir}",
            "--socket={dir}/mariadb.sock",
            "--pid-file={dir}/mariadb.pid",
            "--port={port}",
            "--bind-address=127.0.0.1",
            "--skip-grant-tables",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=32M",
            "--innodb-flush-log-at-trx-commit=0",
            "--max-connections=" + std::to_string(max_connections)};
  if (::geteuid() == 0) s.args.push_back("--user=root");  // mariadbd refuses root without it
  s.ready_unix_socket = "{dir}/mariadb.sock";  // what the demos connect to
  s.ready_timeout = std::chrono::seconds(30);
  return s;
}

fs::path mariadb_socket(const fs::path& dir) { return dir / "mariadb.sock"; }

server_spec nats_spec(bool jetstream) {
  server_spec s;
  s.name = "nats";
  s.binary = "nats-server";
  s.package = "nats-server";
  // -a loopback, -p {port}; a NATS server greets every connection with INFO before any
  // request, so the probe sends nothing and waits for that line.
  s.args = {"-a", "127.0.0.1", "-p", "{port}"};
  if (jetstream) s.args.insert(s.args.end(), {"-js", "-sd", "{dir}/jetstream"});
  s.probe_expect = "INFO ";
  return s;
}

server_spec redis_spec() {
  server_spec s;
  s.name = "redis";
  s.binary = "redis-server";
  s.package = "redis-server";
  // Each argument is one argv entry: --save "" (an empty string) turns snapshots off.
  s.args = {"--port", "{port}", "--bind", "127.0.0.1", "--dir", "{dir}", "--save", "", "--appendonly", "no"};
  s.probe_send = "PING\r\n";
  s.probe_expect = "+PONG";
  return s;
}

std::optional<fs::path> find_binary(const std::string& binary) {
  auto usable = [](const fs::path& p) { return ::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p); };
  if (binary.find('/') != std::string::npos) {
    if (usable(binary)) return fs::path(binary);
    return std::nullopt;
  }
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  path += ":/usr/sbin:/usr/local/sbin:/sbin";
  std::stringstream ss(path);
  for (std::string dir; std::getline(ss, dir, ':');) {
    if (dir.empty()) continue;
    fs::path p = fs::path(dir) / binary;
    if (usable(p)) return p;
  }
  return std::nullopt;
}

bool interrupted() noexcept { return g_interrupted.load(); }

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw server_error("socket: " + errno_text(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int err = errno;
    ::close(fd);
    throw server_error("bind 127.0.0.1:0: " + errno_text(err));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// ---- process -----------------------------------------------------------------------------

process::process(process&& o) noexcept : pid_(std::exchange(o.pid_, -1)), status_(o.status_) {}
// Stops a child still running, for the destructor and move-assignment: never throws.
void process::stop_noexcept() noexcept {
  if (pid_ > 0 && !status_) {
    off_thread_noexcept([&] {
      try {
        terminate();
      } catch (...) {
      }
    });
  }
}
process& process::operator=(process&& o) noexcept {
  if (this != &o) {
    stop_noexcept();
    pid_ = std::exchange(o.pid_, -1);
    status_ = o.status_;
  }
  return *this;
}
process::~process() { stop_noexcept(); }

process process::spawn(const std::vector<std::string>& argv, const fs::path& output) {
  if (argv.empty()) throw server_error("process::spawn: empty argv");
  auto path = find_binary(argv[0]);
  if (!path) throw server_error(argv[0] + " not found");
  spawn_request r;
  r.argv = argv;
  r.argv[0] = path->string();
  r.output = output;
  launcher& l = the_launcher();
  process p;
  p.pid_ = off_thread([&] { return l.spawn(r); });
  return p;
}

void process::reaped(int wait_status) {
  status_ = to_status(wait_status);
  forget_pid(pid_);
}

bool process::running() {
  if (pid_ <= 0 || status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) reaped(st);
  else if (r < 0 && errno == ECHILD) reaped(255 << 8);  // reaped elsewhere (the signal path)
  return !status_;
}

std::optional<int> process::exit_status() const { return status_; }

int process::wait() {
  if (pid_ <= 0) throw server_error("process::wait: no process");
  if (!status_) {
    int st = off_thread([&] {
      int s = 0;
      while (::waitpid(pid_, &s, 0) < 0) {
        if (errno != EINTR) return 255 << 8;
      }
      return s;
    });
    reaped(st);
  }
  return *status_;
}

void process::terminate(std::chrono::milliseconds grace) {
  if (pid_ <= 0 || status_) return;
  int st = off_thread([&] {
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    int s = 0;
    for (;;) {
      pid_t r = ::waitpid(pid_, &s, WNOHANG);
      if (r == pid_) return s;
      if (r < 0 && errno != EINTR) return 255 << 8;
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(5ms);
    }
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &s, 0) < 0) {
      if (errno != EINTR) return 255 << 8;
    }
    return s;
  });
  reaped(st);
}

void process::kill() {
  if (pid_ <= 0 || status_) return;
  int st = off_thread([&] {
    ::kill(pid_, SIGKILL);
    int s = 0;
    while (::waitpid(pid_, &s, 0) < 0) {
      if (errno != EINTR) return 255 << 8;
    }
    return s;
  });
  reaped(st);
}

// ---- server ------------------------------------------------------------------------------

server::server(server&& o) noexcept
    : spec_(std::move(o.spec_)), port_(o.port_), dir_(std::move(o.dir_)), proc_(std::move(o.proc_)) {
  o.dir_.clear();
}
server& server::operator=(server&& o) noexcept {
  if (this != &o) {
    release();
    spec_ = std::move(o.spec_);
    port_ = o.port_;
    dir_ = std::exchange(o.dir_, {});
    proc_ = std::move(o.proc_);
  }
  return *this;
}
server::~server() { release(); }

// Stops the server (SIGTERM, grace, SIGKILL) and removes its temp dir. Never throws.
void server::release() noexcept {
  off_thread_noexcept([&] {
    try {
      if (proc_.pid() > 0 && !proc_.exit_status()) proc_.terminate(spec_.grace);
    } catch (...) {
    }
  });
  remove_dir();
}

void server::remove_dir() noexcept {
  if (dir_.empty()) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
  std::lock_guard lk(reg().mu);
  std::erase(reg().dirs, dir_);
  dir_.clear();
}

std::string server::log() const { return dir_.empty() ? std::string() : read_file(dir_ / (spec_.name + ".log")); }

void server::stop() { proc_.terminate(spec_.grace); }
void server::kill() { proc_.kill(); }

server server::start(const server_spec& spec) {
  auto binary = find_binary(spec.binary);
  if (!binary) {
    throw server_error(spec.binary + " not found: install the Debian package " + spec.package + " (./gofer setup)");
  }
  constexpr int kAttempts = 3;  // a port taken between free_port() and the server's bind
  for (int attempt = 1;; ++attempt) {
    server s;
    s.spec_ = spec;
    std::string tmpl = (fs::temp_directory_path() / ("gofer-" + spec.name + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw server_error("mkdtemp " + tmpl + ": " + errno_text(errno));
    s.dir_ = tmpl;
    {
      std::lock_guard lk(reg().mu);
      reg().dirs.push_back(s.dir_);
    }
    s.port_ = free_port();
    std::vector<std::string> argv{binary->string()};
    for (const std::string& a : spec.args) argv.push_back(substitute(a, s.port_, s.dir_));
    fs::path log = s.dir_ / (spec.name + ".log");
    s.proc_ = process::spawn(argv, log);

    // Ready when it answers the probe; an exit meanwhile is a failure.
    enum { ready, exited, timed_out } outcome = off_thread([&] {
      auto deadline = std::chrono::steady_clock::now() + spec.ready_timeout;
      for (;;) {
        if (probe(s.port_, spec) &&
            (spec.ready_unix_socket.empty() || probe_unix(substitute(spec.ready_unix_socket, s.port_, s.dir_))))
          return ready;
        if (!s.proc_.running()) return exited;
        if (std::chrono::steady_clock::now() >= deadline) return timed_out;
        std::this_thread::sleep_for(10ms);
      }
    });
    if (outcome == ready) return s;
    std::string text = s.log();
    if (outcome == exited && attempt < kAttempts && text.find("in use") != std::string::npos) continue;
    std::string what = outcome == exited
                           ? spec.name + " exited with status " + std::to_string(*s.proc_.exit_status()) +
                                 " before it was ready on " + s.addr()
                           : spec.name + " did not become ready on " + s.addr() + " within " +
                                 std::to_string(spec.ready_timeout.count()) + " ms";
    what += "; its log (" + log.string() + "):\n" + (text.empty() ? "(empty)\n" : text);
    throw server_error(what);  // ~server stops it and removes the dir
  }
}

}  // namespace gofer_demo
