// slowloris1 — a server without deadlines, held open by slow clients (book, chapter 6:
// "Timing out and moving on").
//
// A "slowloris" client opens a connection and sends its request slowly — a header line
// every few seconds, or nothing at all — so the server keeps the connection, its socket and
// its goroutine for as long as the client likes. A few thousand of them use up a server's
// file descriptors without sending a single whole request. The book's server sets
// ReadTimeout and WriteTimeout (10 s, then 1 s); Go's zero http.Server has none, and
// neither does the one below.
//
// The tests connect a silent client, a client that drips one byte every 100 ms, and a
// client that goes idle after one request, and wait (up to 5 s) for the server to hang up
// on each; a normal client, and a handler that takes 300 ms, must still be served.
//
// Goal: a client gets 1 s to send its request header and 2 s for the whole request; the
// answer may take 2 s to write (the handler's time included); an idle kept-alive
// connection is closed after 2 s. The tests pass.
// Question: from when does each limit count, and what happens to the connection when one
// passes? (lib/include/gofer/http.hpp, server_options.)

#include <chrono>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include <gofer/gtest.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

using namespace std::chrono_literals;
namespace http = gofer::http;

// The server's limits.
http::server_options limits() {
  http::server_options o;
  // Each limit is a deadline on the connection; when it passes, the server closes it.
  o.read_header_timeout = 1s;  // from the first byte (accept, for a new connection) to the header's end
  o.read_timeout = 2s;         // ... to the body's end
  o.write_timeout = 2s;        // from the header's end to the answer's end: handler included
  o.idle_timeout = 2s;         // waiting for the next request on a kept-alive connection
  return o;
}

// ---- the tests: no need to change anything below ----

using clock_type = std::chrono::steady_clock;

// Runs `client(addr)` against a server with limits() whose "GET /slow" takes 300 ms.
template <class F>
void with_server(F client) {
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    http::serve_mux mux;
    mux.handle("GET /", [](const http::request&, http::response_writer& w) { w.write("hello\n"); });
    mux.handle("GET /slow", [](const http::request&, http::response_writer& w) {
      gofer::sleep(300ms);
      w.write("slow hello\n");
    });
    http::server srv(mux, limits());
    auto ln = gofer::net::listen("127.0.0.1:0").value();
    std::string addr = ln.addr();
    gofer::go(gofer::named("server"), [&srv, l = std::move(ln)]() mutable { srv.serve(std::move(l)); });
    client(addr);
    srv.close();
  }));
}

// Reads until the server hangs up (EOF or reset) or 5 s pass; returns how long it took,
// or nullopt if the server kept the connection for 5 s.
std::optional<double> seconds_until_hang_up(gofer::net::conn& c) {
  auto t0 = clock_type::now();
  c.set_read_deadline(t0 + 5s);
  char buf[1024];
  for (;;) {
    auto n = c.read(buf, sizeof buf);
    if (n.ok()) continue;  // an answer: keep reading until the hang-up
    if (gofer::net::is_timeout(n.status())) return std::nullopt;
    return std::chrono::duration<double>(clock_type::now() - t0).count();
  }
}

TEST(slowloris1, a_silent_client_is_cut_off) {
  with_server([](const std::string& addr) {
    auto c = gofer::net::dial(addr).value();
    std::string part = "GET / HTTP/1.1\r\nHo";
    ASSERT_TRUE(c.write(part.data(), part.size()).ok());
    auto s = seconds_until_hang_up(c);
    ASSERT_TRUE(s.has_value()) << "the server kept a client that sent half a header for 5 s";
    EXPECT_LT(*s, 3.0);
  });
}

TEST(slowloris1, a_dripping_client_is_cut_off) {
  with_server([](const std::string& addr) {
    auto c = gofer::net::dial(addr).value();
    std::string req = "GET / HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(200, 'a');
    gofer::wait_group dripped;
    dripped.add(1);
    gofer::go(gofer::named{"dripper"}, [&c, &dripped, req] {
      for (char ch : req) {  // one byte every 100 ms, until the server hangs up
        if (!c.write(&ch, 1).ok()) break;
        gofer::sleep(100ms);
      }
      dripped.done();
    });
    auto s = seconds_until_hang_up(c);
    c.close();  // stops the dripper if the server did not
    dripped.wait();
    ASSERT_TRUE(s.has_value()) << "the server kept a client dripping one byte every 100 ms for 5 s";
    EXPECT_LT(*s, 3.0);
  });
}

TEST(slowloris1, an_idle_keep_alive_connection_is_closed) {
  with_server([](const std::string& addr) {
    auto c = gofer::net::dial(addr).value();
    std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_TRUE(c.write(req.data(), req.size()).ok());
    auto s = seconds_until_hang_up(c);  // reads the answer, then waits
    ASSERT_TRUE(s.has_value()) << "the server kept an idle connection for 5 s";
    EXPECT_LT(*s, 4.0);
  });
}

TEST(slowloris1, normal_and_slow_handlers_are_still_served) {
  with_server([](const std::string& addr) {
    http::client c;
    auto fast = c.get(gofer::background(), "http://" + addr + "/");
    ASSERT_TRUE(fast.ok()) << fast.status();
    EXPECT_EQ(fast->body, "hello\n");
    auto slow = c.get(gofer::background(), "http://" + addr + "/slow");
    ASSERT_TRUE(slow.ok()) << slow.status();
    EXPECT_EQ(slow->body, "slow hello\n");
  });
}
