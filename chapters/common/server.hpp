// chapters/common/server.hpp — the ONE launcher for the real servers (and child processes)
// that demos, exercises and tests start, like Go's httptest.NewServer for a real program.
//
//   server_spec     what to start: binary, Debian package, args with {port}/{dir}, a probe
//   memcached_spec  the spec for a private memcached
//   mariadb_spec    the spec for a private MariaDB (empty datadir, no grant tables, a
//                   unix socket at {dir}/mariadb.sock as well as the loopback port)
//   nats_spec       the spec for a private NATS server (optionally with JetStream)
//   redis_spec      the spec for a private Redis (no persistence)
//   server          a running private instance: free loopback port, temp dir, log file,
//                   ready when start() returns, stopped by its destructor
//   process         a child process of the demo (e.g. the demo itself with --worker),
//                   tied to the demo the same way
//   server_error    what start() throws: missing binary (naming the package), not ready
//
// What "private instance" means here:
//   - a free loopback port: the launcher binds 127.0.0.1:0, reads the port the kernel gave,
//     closes the socket and hands the port to the server as {port} (if the server then
//     fails because another program took the port meanwhile, start() tries another one);
//   - a fresh temp dir ({dir}: $TMPDIR/gofer-<name>-XXXXXX) holding the server's log
//     (stdout and stderr) and whatever else the server writes; removed when it stops;
//   - ready when start() returns: start() connects to the port until the server answers
//     the spec's probe (memcached: "version" → "VERSION ..."), and its ready_unix_socket
//     (if any) accepts, within ready_timeout; a server that exits or does not answer in
//     time is an error that shows its log;
//   - stopped on every path: the destructor (or stop()) sends SIGTERM, waits `grace`, then
//     SIGKILL, and reaps it; a SIGINT/SIGTERM/SIGHUP of the demo stops every child the
//     launcher started and removes their temp dirs, then lets the signal end the demo as it
//     would have (the handlers are installed with the first child, and only over the
//     default action); a demo killed outright (SIGKILL, a crash) takes its children with
//     it through prctl(PR_SET_PDEATHSIG, SIGKILL). Children run in their own process group,
//     so a Ctrl-C in the terminal reaches the demo only, which then stops them in order.
//   - a missing binary is a server_error naming the Debian package:
//     "memcached not found: install the Debian package memcached (./gofer setup)".
//
// Blocking: start(), stop(), kill(), process::wait() and the destructors wait for other
// processes. In a goroutine they do it through gofer::blocking (the goroutine parks, its
// thread runs other goroutines); outside gofer::run they block the calling thread. Forks
// happen on one launcher thread that lives as long as the process, because
// PR_SET_PDEATHSIG fires when the *thread* that forked exits, and gofer's worker threads end
// with each run().
//
// Copy semantics: server and process are move-only owners; a moved-from one owns nothing
// and its destructor does nothing. Thread-safety: distinct objects may be used from
// distinct goroutines; one object from one goroutine at a time.
//
// Example:
//   auto mc = gofer_demo::server::start(gofer_demo::memcached_spec());
//   std::printf("memcached on %s\n", mc.addr().c_str());   // 127.0.0.1:<free port>
//   ...                                                     // stopped at scope exit
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gofer_demo {

class server_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct server_spec {
  std::string name;     // for messages and the temp dir: "memcached"
  std::string binary;   // looked up in $PATH, then /usr/sbin, /usr/local/sbin, /sbin
  std::string package;  // the Debian package that installs the binary
  std::vector<std::string> args;  // "{port}" and "{dir}" are replaced in each argument
  // Readiness: connect to 127.0.0.1:{port}, send probe_send (if any) and wait for a reply
  // starting with probe_expect (if empty, an accepted connection is enough).
  std::string probe_send;
  std::string probe_expect;
  // If set ("{dir}" replaced): ready only once this unix socket accepts a connection too
  // (MariaDB listens on TCP a moment before it creates its socket file).
  std::string ready_unix_socket;
  std::chrono::milliseconds ready_timeout{10000};
  std::chrono::milliseconds grace{3000};  // SIGTERM → SIGKILL
};

// A private memcached: loopback only, no UDP, `memory_mb` of cache, one worker thread.
server_spec memcached_spec(int memory_mb = 16);

// A private MariaDB (Debian: mariadb-server) for demos: mariadbd with --no-defaults (no
// /etc/mysql config), the temp dir as its (empty) datadir, TCP on 127.0.0.1:{port} and the
// unix socket mariadb_socket(dir); --skip-grant-tables, so any user connects without a
// password and may create databases (a throwaway instance, never a template for production);
// no binary log, a small InnoDB buffer pool, `max_connections` clients. As root it runs with
// --user=root (mariadbd refuses root otherwise). No mariadb-install-db step: without grant
// tables an empty datadir starts in about a second (the install takes seconds more); the
// log then warns about the missing mysql.* system tables, which is expected.
// Ready when its port accepts a connection (it greets first, so there is nothing to send).
server_spec mariadb_spec(int max_connections = 1024);
// The unix socket of a server started from mariadb_spec(): dir/mariadb.sock.
std::filesystem::path mariadb_socket(const std::filesystem::path& dir);
// A private NATS server (Debian: nats-server): loopback only, no monitoring port, no
// cluster; with `jetstream`, JetStream stores its streams under {dir}/jetstream. Ready when
// a connection receives the server's greeting ("INFO {...}").
server_spec nats_spec(bool jetstream = false);
// A private Redis (Debian: redis-server): loopback only, {dir} as its working dir, no RDB
// snapshots (--save '') and no append-only file: a throwaway in-memory instance. Ready when
// PING answers +PONG.
server_spec redis_spec();

// The path of `binary` if it is an executable in $PATH or an sbin directory, else nullopt.
std::optional<std::filesystem::path> find_binary(const std::string& binary);

// A free TCP port on 127.0.0.1 (bound and released: it may be taken again before use).
int free_port();

// True once a SIGINT/SIGTERM/SIGHUP is stopping the children: a demo that sees a child die
// meanwhile can stay quiet, since the signal ends it in a moment. Never blocks.
bool interrupted() noexcept;

// A child process. spawn() forks (on the launcher thread) and execs argv with stdin from
// /dev/null and stdout+stderr appended to `output`; its lifetime is tied to the demo as
// described at the top.
class process {
 public:
  process() = default;
  process(process&&) noexcept;
  process& operator=(process&&) noexcept;
  ~process();  // terminate() if still running

  // Starts argv[0] (a path, or a name found by find_binary). Throws server_error if the
  // program cannot be found or executed (the exec error is reported, not a silent 127).
  static process spawn(const std::vector<std::string>& argv, const std::filesystem::path& output);

  pid_t pid() const { return pid_; }
  bool running();                        // never blocks; reaps it if it has exited
  std::optional<int> exit_status() const;  // once reaped: exit code, or 128+signal
  int wait();                            // parks until it exits; returns exit_status()
  void terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  void kill();                           // SIGKILL (a crash, for demos), then reap

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  void reaped(int wait_status);
  void stop_noexcept() noexcept;
};

class server {
 public:
  server() = default;
  server(server&&) noexcept;
  server& operator=(server&&) noexcept;
  ~server();  // stop(), then remove the temp dir

  // Starts a private instance and returns once it answers its probe. Throws server_error.
  static server start(const server_spec& spec);

  int port() const { return port_; }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& dir() const { return dir_; }
  pid_t pid() const { return proc_.pid(); }
  const std::string& name() const { return spec_.name; }
  bool running() { return proc_.running(); }
  std::optional<int> exit_status() const { return proc_.exit_status(); }  // once reaped
  std::string log() const;  // what the server printed so far

  void stop();  // SIGTERM, grace, SIGKILL; reaps. Idempotent. The temp dir stays until ~server.
  void kill();  // SIGKILL at once: the server crashes (what a demo shows), then reaps

 private:
  server_spec spec_;
  int port_ = 0;
  std::filesystem::path dir_;
  process proc_;
  void remove_dir() noexcept;
  void release() noexcept;
};

}  // namespace gofer_demo
