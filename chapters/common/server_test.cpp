// server_test — the launcher (server.hpp) against a real memcached (label `services`).
//
// Start, probe, stop and the process is gone; a missing binary names its package; start()
// parks a goroutine instead of blocking its thread; a SIGTERM to the demo stops its servers
// and removes their temp dirs; a SIGKILLed demo takes its servers with it (PDEATHSIG). The
// last two run this binary again as the "demo" (the helper test below, which only runs with
// GOFER_SERVER_TEST_HELPER set).
#include "server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gofer/gofer.hpp>
#include <gtest/gtest.h>

namespace fs = std::filesystem;
using gofer_demo::server;
using namespace std::chrono_literals;

namespace {

// Sends `request` to 127.0.0.1:port and returns the reply's first line ("" if refused).
std::string ask(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[512];
    while (got.find("\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return got.substr(0, got.find("\r\n"));
}

bool gone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

// Polls until `done()` or 5 s pass (the other process's shutdown has no event to wait on).
template <class F>
bool eventually(F done) {
  for (auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

}  // namespace

TEST(server, starts_answers_and_stops) {
  pid_t pid;
  int port;
  fs::path dir;
  {
    server mc = server::start(gofer_demo::memcached_spec());
    pid = mc.pid();
    port = mc.port();
    dir = mc.dir();
    EXPECT_GT(port, 0);
    EXPECT_TRUE(fs::is_directory(dir));
    EXPECT_EQ(ask(port, "set k 0 0 5\r\nhello\r\n"), "STORED");
    EXPECT_EQ(ask(port, "get k\r\n"), "VALUE k 0 5");
    EXPECT_TRUE(mc.running());
    mc.stop();
    EXPECT_FALSE(mc.running());
    EXPECT_TRUE(gone(pid)) << "stop() returned but pid " << pid << " still exists";
    EXPECT_EQ(ask(port, "version\r\n"), "");
  }
  EXPECT_FALSE(fs::exists(dir)) << "the temp dir outlived the server";
}

// The NATS spec (chapter 7): the probe is the server's INFO greeting; with JetStream the
// greeting says so and the store lives in the temp dir.
TEST(server, nats_greets_with_jetstream_and_stops) {
  pid_t pid;
  fs::path dir;
  {
    server nats = server::start(gofer_demo::nats_spec(/*jetstream=*/true));
    pid = nats.pid();
    dir = nats.dir();
    std::string info = ask(nats.port(), "");
    EXPECT_EQ(info.substr(0, 5), "INFO ") << info;
    EXPECT_NE(info.find("\"jetstream\":true"), std::string::npos) << info;
    EXPECT_TRUE(fs::is_directory(dir / "jetstream")) << nats.log();
  }
  EXPECT_TRUE(gone(pid)) << "nats-server outlived its server object";
  EXPECT_FALSE(fs::exists(dir)) << "the temp dir outlived the server";
}

TEST(server, destructor_stops_it) {
  pid_t pid;
  {
    server mc = server::start(gofer_demo::memcached_spec());
    pid = mc.pid();
  }
  EXPECT_TRUE(gone(pid));
}

TEST(server, move_assignment_stops_the_old_one) {
  server mc = server::start(gofer_demo::memcached_spec());
  pid_t first = mc.pid();
  fs::path first_dir = mc.dir();
  mc = server::start(gofer_demo::memcached_spec());
  EXPECT_TRUE(gone(first));
  EXPECT_FALSE(fs::exists(first_dir));
  EXPECT_EQ(ask(mc.port(), "version\r\n").substr(0, 8), "VERSION ");
}

TEST(server, kill_is_a_crash) {
  server mc = server::start(gofer_demo::memcached_spec());
  mc.kill();
  EXPECT_FALSE(mc.running());
  EXPECT_TRUE(gone(mc.pid()));
  EXPECT_EQ(mc.exit_status(), 128 + SIGKILL);
}

TEST(server, two_instances_get_two_ports) {
  server a = server::start(gofer_demo::memcached_spec());
  server b = server::start(gofer_demo::memcached_spec());
  EXPECT_NE(a.port(), b.port());
  EXPECT_NE(a.dir(), b.dir());
  EXPECT_EQ(ask(a.port(), "set k 0 0 1\r\na\r\n"), "STORED");
  EXPECT_EQ(ask(b.port(), "get k\r\n"), "END");  // separate servers, separate data
}

TEST(server, missing_binary_names_the_package) {
  gofer_demo::server_spec spec = gofer_demo::memcached_spec();
  spec.binary = "gofer-no-such-server";
  spec.package = "gofer-no-such-package";
  try {
    server::start(spec);
    FAIL() << "start() of a missing binary returned";
  } catch (const gofer_demo::server_error& e) {
    EXPECT_STREQ(e.what(),
                 "gofer-no-such-server not found: install the Debian package gofer-no-such-package (./gofer setup)");
  }
}

TEST(server, a_server_that_exits_shows_its_log) {
  gofer_demo::server_spec spec = gofer_demo::memcached_spec();
  spec.args.push_back("--no-such-flag");
  try {
    server::start(spec);
    FAIL() << "start() of a failing server returned";
  } catch (const gofer_demo::server_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("memcached exited with status"), std::string::npos) << what;
    EXPECT_NE(what.find("no-such-flag"), std::string::npos) << what;  // from memcached's log
  }
}

// In a goroutine, start() parks: with one thread, another goroutine runs meanwhile.
TEST(server, start_parks_the_goroutine_not_the_thread) {
  std::atomic<long> spins{0};
  long before = -1, after = -1;
  int status = gofer::run(
      [&] {
        std::atomic<bool> stop{false};
        gofer::wait_group wg;
        wg.add(1);
        gofer::go([&] {
          while (!stop.load()) {
            spins.fetch_add(1);
            gofer::yield();
          }
          wg.done();
        });
        gofer::yield();  // let the spinner start
        before = spins.load();
        {
          server mc = server::start(gofer_demo::memcached_spec());
          after = spins.load();
        }
        stop = true;
        wg.wait();
      },
      gofer::options{.threads = 1});
  EXPECT_EQ(status, 0);
  EXPECT_GT(after, before) << "the only thread was blocked while memcached started";
}

// ---- the demo being interrupted or killed: this binary again, as the helper ----------------

// Run only as a child (GOFER_SERVER_TEST_HELPER=1): starts memcached, prints
// "READY <pid> <port> <dir>" and waits to be signalled.
TEST(server_helper, start_and_wait) {
  if (std::getenv("GOFER_SERVER_TEST_HELPER") == nullptr) GTEST_SKIP() << "runs only as a child of the tests below";
  server mc = server::start(gofer_demo::memcached_spec());
  std::printf("READY %d %d %s\n", mc.pid(), mc.port(), mc.dir().c_str());
  std::fflush(stdout);
  for (;;) ::pause();
}

namespace {

struct helper_run {
  gofer_demo::process proc;
  pid_t server_pid = -1;
  int port = 0;
  fs::path dir;
};

helper_run start_helper(const fs::path& out) {
  ::setenv("GOFER_SERVER_TEST_HELPER", "1", 1);
  helper_run h;
  h.proc = gofer_demo::process::spawn(
      {fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=server_helper.start_and_wait"}, out);
  ::unsetenv("GOFER_SERVER_TEST_HELPER");
  bool ready = eventually([&] {
    std::ifstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ss(line);
      std::string word, dir;
      if (ss >> word >> h.server_pid >> h.port >> dir && word == "READY") {
        h.dir = dir;
        return true;
      }
    }
    return false;
  });
  EXPECT_TRUE(ready) << "the helper did not start memcached";
  return h;
}

}  // namespace

TEST(server, sigterm_of_the_demo_stops_its_servers) {
  fs::path out = fs::temp_directory_path() / ("gofer-server-test-" + std::to_string(::getpid()) + "-term.out");
  helper_run h = start_helper(out);
  ASSERT_GT(h.port, 0);
  EXPECT_EQ(ask(h.port, "version\r\n").substr(0, 8), "VERSION ");
  ::kill(h.proc.pid(), SIGTERM);
  EXPECT_EQ(h.proc.wait(), 128 + SIGTERM);  // the demo still ends by the signal
  EXPECT_TRUE(gone(h.server_pid)) << "memcached outlived the interrupted demo";
  EXPECT_FALSE(fs::exists(h.dir)) << "the temp dir outlived the interrupted demo";
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("stopped 1 child process, removed 1 temp dir"), std::string::npos) << text;
  fs::remove(out);
}

TEST(server, a_killed_demo_takes_its_servers_along) {
  fs::path out = fs::temp_directory_path() / ("gofer-server-test-" + std::to_string(::getpid()) + "-kill.out");
  helper_run h = start_helper(out);
  ASSERT_GT(h.port, 0);
  h.proc.kill();  // SIGKILL: no handler runs; PR_SET_PDEATHSIG must end memcached
  EXPECT_TRUE(eventually([&] { return ask(h.port, "version\r\n").empty(); }))
      << "memcached still answers after its demo was killed";
  std::error_code ec;
  fs::remove_all(h.dir, ec);  // nobody could clean up after a SIGKILL
  fs::remove(out);
}
