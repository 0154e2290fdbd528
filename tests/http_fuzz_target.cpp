// tests/http_fuzz_target.cpp — a libFuzzer target for the HTTP server's request path.
//
// Built only with clang and -DGOFER_FUZZ=ON (tests/CMakeLists.txt). One gofer::run, started
// once on a background thread, serves http on 127.0.0.1:0 with small limits and timeouts;
// each input is sent by the fuzzer's own thread over a plain TCP socket (write, shut the
// write side, read until the server closes). The process aborts — a finding — when the
// server crashes, does not answer or close within 10 s, or answers with something that is
// not an HTTP/1.x status line, or is a 5xx other than 501/505.
// Coverage feedback covers this harness only unless the library is instrumented too
// (-fsanitize=fuzzer-no-link on gofer); with clang 14 on Debian, libbacktrace's header
// lives in GCC's directory: add -DCMAKE_CXX_FLAGS=-I<a dir with links to backtrace.h and
// backtrace-supported.h from /usr/lib/gcc/x86_64-linux-gnu/12/include>.
//
//   cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
//         -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOFER_FUZZ=ON
//   cmake --build build/fuzz --target http_fuzz_target
//   build/fuzz/tests/http_fuzz_target -max_total_time=60 -max_len=8192
//
// tests/http_fuzz_test.cpp is the always-on, seeded version of the same check.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "gofer/gofer.hpp"
#include "gofer/http.hpp"
#include "gofer/net.hpp"

namespace {

std::atomic<int> g_port{0};

void start_server_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::thread([] {
      gofer::run([] {
        auto ln = gofer::net::listen("127.0.0.1:0");
        if (!ln.ok()) {
          std::fprintf(stderr, "http_fuzz_target: listen: %s\n", ln.status().ToString().c_str());
          std::abort();
        }
        std::string a = ln->addr();
        gofer::http::server srv(
            [](const gofer::http::request& r, gofer::http::response_writer& w) {
              w.write("served " + r.method + " " + std::to_string(r.body().size()));
            },
            {.read_header_timeout = std::chrono::seconds(2),
             .read_timeout = std::chrono::seconds(2),
             .idle_timeout = std::chrono::seconds(2),
             .max_header_bytes = 4096,
             .max_body_bytes = 1024});
        g_port.store(std::atoi(a.c_str() + a.rfind(':') + 1));
        (void)srv.serve(std::move(*ln));  // until the process exits
      }, {.threads = 2});
    }).detach();
    while (g_port.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
}

[[noreturn]] void finding(const char* what, const std::string& answer) {
  std::fprintf(stderr, "http_fuzz_target: %s\nanswer (%zu bytes): %.300s\n", what, answer.size(), answer.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  start_server_once();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(g_port.load()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) finding("connect to the server failed", "");
  for (std::size_t off = 0; off < size;) {
    ssize_t n = ::send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server answered early and closed: fine
    off += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(limit - std::chrono::steady_clock::now()).count();
    if (left <= 0) finding("the server neither answered nor closed within 10 s", answer);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;  // EOF or reset
    answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (answer.empty()) return 0;
  if (answer.size() < 13 || answer.compare(0, 7, "HTTP/1.") != 0) finding("not a status line", answer);
  int code = std::atoi(answer.c_str() + 9);
  if (code < 100 || code > 599) finding("status code out of range", answer);
  if (code >= 500 && code != 501 && code != 505) finding("a server error", answer);
  return 0;
}
