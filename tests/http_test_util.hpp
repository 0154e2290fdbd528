// tests/http_test_util.hpp — what gofer's HTTP test files share (http_test, http_stream_test,
// http_fs_test, http_fuzz_test, http_adversarial_test, websocket_test); Go's httptest in
// spirit.
//
//   test_server     an http::server on 127.0.0.1:0 serving on its own goroutine; stop()
//                   shuts it down gracefully and checks serve()'s "server closed", or
//                   stop(stop_mode::close) closes it at once (for tests that leave hostile
//                   connections a graceful shutdown would wait for)
//   raw_exchange    dial, write exact bytes, shut the write side, read until the server
//                   closes; raw_exchange_status also says why the reading stopped;
//                   exchange_on does it on a connection the test dialled
//   dial, read_all, read_until, read_to_eof
//                   raw net::conn helpers, each bounded (the bound is a failure bound, never
//                   an ordering device)
//   status_of, status_line, count_of
//                   reading a raw answer
//   recv_within     a channel receive that turns a hang into a failure
//   bg              gofer::background()
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "gofer/gofer.hpp"
#include "gofer/http.hpp"
#include "gofer/net.hpp"

namespace gofer_test {

inline gofer::context bg() { return gofer::background(); }

// How test_server::stop ends the server.
enum class stop_mode {
  shutdown,  // graceful (server::shutdown): in-flight requests finish; serve() must have
             // returned "server closed"
  close,     // server::close: every connection is cut at once, nothing is checked
};

// A server on 127.0.0.1:0 serving on its own goroutine ("http-serve"). The destructor
// calls stop() (a graceful shutdown) unless the test stopped it already.
class test_server {
 public:
  explicit test_server(gofer::http::handler h, gofer::http::server_options o = {}) {
    auto ln = gofer::net::listen("127.0.0.1:0");
    EXPECT_TRUE(ln.ok()) << ln.status();
    addr_ = ln->addr();
    srv_ = std::make_unique<gofer::http::server>(std::move(h), std::move(o));
    served_.add(1);
    gofer::go(gofer::named("http-serve"), [this, l = std::move(*ln)]() mutable {
      serve_status_ = srv_->serve(std::move(l));
      served_.done();
    });
  }
  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;
  ~test_server() { stop(); }

  const std::string& addr() const { return addr_; }
  std::string url(std::string_view path) const { return "http://" + addr_ + std::string(path); }
  gofer::http::server& srv() { return *srv_; }

  // Ends the server once (later calls do nothing) and waits for serve() to return.
  void stop(stop_mode m = stop_mode::shutdown) {
    if (stopped_) return;
    stopped_ = true;
    if (m == stop_mode::close) {
      (void)srv_->close();
      served_.wait();
      return;
    }
    EXPECT_TRUE(srv_->shutdown(gofer::background()).ok());
    served_.wait();
    EXPECT_TRUE(gofer::http::is_server_closed(serve_status_)) << serve_status_;
  }

 private:
  std::string addr_;
  std::unique_ptr<gofer::http::server> srv_;
  gofer::wait_group served_;
  absl::Status serve_status_;
  bool stopped_ = false;
};

// Dials addr; a failure fails the test and returns a closed conn.
inline gofer::net::conn dial(const std::string& addr) {
  auto c = gofer::net::dial(addr);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(*c) : gofer::net::conn{};
}

// Reads c until it ends (EOF, reset, or `bound` passed); *end says why reading stopped.
inline std::string read_all(gofer::net::conn& c, absl::Status* end = nullptr,
                            std::chrono::nanoseconds bound = std::chrono::seconds(20)) {
  c.set_read_deadline(std::chrono::steady_clock::now() + bound);
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = c.read(buf, sizeof buf);
    if (!n.ok()) {
      if (end) *end = n.status();
      break;
    }
    out.append(buf, *n);
  }
  return out;
}

// Reads from c, appending to out, until out contains needle (true) or the connection
// ends or 10 s pass (false).
inline bool read_until(gofer::net::conn& c, std::string& out, std::string_view needle) {
  c.set_read_deadline(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  char buf[4096];
  while (out.find(needle) == std::string::npos) {
    auto n = c.read(buf, sizeof buf);
    if (!n.ok()) return false;
    out.append(buf, *n);
  }
  return true;
}

// Reads until the connection ends (bounded by 10 s), appending to out; true unless the
// bound was hit.
inline bool read_to_eof(gofer::net::conn& c, std::string& out) {
  absl::Status end;
  out += read_all(c, &end, std::chrono::seconds(10));
  return !gofer::net::is_timeout(end);
}

// What one raw exchange produced.
struct exchange {
  std::string out;  // everything read before the end
  absl::Status end;  // why reading stopped (EOF, reset, or a timeout: the server hung)
};

// Writes `bytes` on c (a write may fail once the server answered early and closed: fine),
// shuts the write side — the client's last request ends there — and reads until the
// server closes. The 20 s read bound is a failure bound: the server must answer or close
// long before.
inline exchange exchange_on(gofer::net::conn& c, std::string_view bytes) {
  exchange ex;
  (void)c.write(bytes);
  (void)c.close_write();
  ex.out = read_all(c, &ex.end);
  return ex;
}

// exchange_on a new connection to addr; a failed dial is the exchange's end.
inline exchange raw_exchange_status(const std::string& addr, std::string_view bytes) {
  auto c = gofer::net::dial(addr);
  if (!c.ok()) return {{}, c.status()};
  return exchange_on(*c, bytes);
}

// exchange_on a new connection to addr, its bytes; a failed dial fails the test.
inline std::string raw_exchange(const std::string& addr, std::string_view bytes) {
  gofer::net::conn c = dial(addr);
  if (!c.is_open()) return {};
  return exchange_on(c, bytes).out;
}

// The status code of an answer that starts with "HTTP/1.x NNN ", or -1.
inline int status_of(const std::string& raw) {
  if (raw.size() < 13 || raw.compare(0, 7, "HTTP/1.") != 0 || raw[8] != ' ' || raw[12] != ' ') return -1;
  int code = 0;
  for (int i = 9; i < 12; ++i) {
    if (raw[i] < '0' || raw[i] > '9') return -1;
    code = code * 10 + (raw[i] - '0');
  }
  return code;
}

// The first line of a raw answer, without its CRLF.
inline std::string status_line(const std::string& raw) { return raw.substr(0, raw.find("\r\n")); }

// How many times needle occurs in hay (overlaps counted).
inline int count_of(const std::string& hay, std::string_view needle) {
  int n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// Receives from ch within 10 s into *out; false on timeout (a hang becomes a failure).
template <class T>
bool recv_within(const gofer::chan<T>& ch, T* out = nullptr) {
  return gofer::select(gofer::recv_case(ch,
                                        [&](std::optional<T> v) {
                                          if (out && v) *out = *v;
                                          return true;
                                        }),
                       gofer::recv_case(gofer::after(std::chrono::seconds(10)), [](auto) { return false; }));
}

}  // namespace gofer_test
