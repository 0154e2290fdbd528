// tests/websocket_test.cpp — gofer::websocket: messages, control frames, the close
// handshake both ways, concurrent writers, limits, malformed frames, deadlines, refusals.
//
// Every test runs a gofer::http server on 127.0.0.1:0 whose "/ws" route hands the
// upgraded connection to the test's server function, under 1, 2 and 4 scheduler threads.
// Ordering uses channels and wait groups; the only clock is the deadline under test.
// The malformed-frame tests speak raw TCP: the handshake text and a few hand-made frames
// (the bytes a broken client would send), and they read the server's close frame back.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gofer/gofer.hpp"
#include "gofer/http.hpp"
#include "gofer/net.hpp"
#include "gofer/websocket.hpp"
#include "http_test_util.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

namespace http = gofer::http;
namespace net = gofer::net;
namespace ws = gofer::websocket;
using namespace std::chrono_literals;

// An http server whose "/ws" upgrades and runs fn(conn) on the connection's goroutine.
// stop() waits for every fn to return, then shuts the server down.
class ws_server {
 public:
  explicit ws_server(std::function<void(ws::conn&)> fn, ws::options o = {}) : ts_(mux(fn, o)) {}
  ~ws_server() { stop(); }
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    handlers_.wait();
    ts_.stop();
  }
  std::string url() const { return "ws://" + addr() + "/ws"; }
  std::string http_url() const { return ts_.url("/ws"); }
  const std::string& addr() const { return ts_.addr(); }

 private:
  http::serve_mux mux(std::function<void(ws::conn&)> fn, ws::options o) {
    http::serve_mux m;
    m.handle("/ws", [this, fn, o](const http::request& r, http::response_writer& w) {
      auto c = ws::upgrade(r, w, o);
      if (!c.ok()) return;
      handlers_.add(1);
      gofer::defer done([this] { handlers_.done(); });
      fn(*c);
    });
    return m;
  }

  gofer::wait_group handlers_;  // (before ts_: the handlers it counts run on ts_'s server)
  test_server ts_;
  bool stopped_ = false;
};

// A status to hand to another goroutine: the same code and message in a rep of its own.
// (Copies of one absl::Status share a reference-counted rep; Debian's Abseil is not built
// with TSan, so the tsan preset cannot see that count's ordering and reports the last
// owner's delete as a race with the other thread's earlier read.)
absl::Status detached(const absl::Status& st) { return absl::Status(st.code(), std::string(st.message())); }

// Echoes every message back with its type, until the peer closes.
void echo(ws::conn& c) {
  for (;;) {
    auto m = c.read();
    if (!m.ok()) return;
    if (!c.write(m->type, m->data).ok()) return;
  }
}

class websocket_p : public threads_test {};

TEST_P(websocket_p, echoes_text_and_binary_messages) {
  run_main(threads(), [] {
    ws_server srv(echo);
    auto c = ws::dial(gofer::background(), srv.url());
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(c->write_text("hello, gopher").ok());
    auto m = c->read();
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(m->is_text());
    EXPECT_EQ(m->data, "hello, gopher");
    std::string bin("\x00\x01\xff\xfe binary", 11);
    bin += std::string(100000, 'x');  // several frames' worth of buffer
    ASSERT_TRUE(c->write_binary(bin).ok());
    m = c->read();
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->type, ws::message_type::binary);
    EXPECT_EQ(m->data, bin);
    ASSERT_TRUE(c->write_text("").ok());  // an empty message is a message
    m = c->read();
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->data, "");
    ASSERT_TRUE(c->close().ok());
    auto end = c->read();
    EXPECT_EQ(ws::close_code_of(end.status()), ws::close_code::normal) << end.status();
  });
}

TEST_P(websocket_p, ping_is_answered_with_pong_carrying_its_payload) {
  run_main(threads(), [] {
    gofer::chan<std::string> server_pings(1), pongs(1);
    ws::options so;
    so.on_ping = [server_pings](std::string_view p) { server_pings.send(std::string(p)); };
    ws_server srv(echo, so);
    ws::options co;
    co.on_pong = [pongs](std::string_view p) { pongs.send(std::string(p)); };
    auto c = ws::dial(gofer::background(), srv.url(), co);
    ASSERT_TRUE(c.ok()) << c.status();
    gofer::wait_group reading;
    reading.add(1);
    absl::Status last;
    gofer::go([&] {  // the client's reader: pongs arrive through read()
      for (;;) {
        auto m = c->read();
        if (!m.ok()) {
          last = m.status();
          break;
        }
      }
      reading.done();
    });
    ASSERT_TRUE(c->ping("are you there").ok());
    EXPECT_EQ(*server_pings.recv(), "are you there");
    EXPECT_EQ(*pongs.recv(), "are you there");
    EXPECT_EQ(c->ping(std::string(126, 'p')).code(), absl::StatusCode::kInvalidArgument);
    ASSERT_TRUE(c->close(ws::close_code::going_away, "done").ok());
    reading.wait();
    EXPECT_EQ(ws::close_code_of(last), ws::close_code::going_away) << last;
  });
}

TEST_P(websocket_p, server_initiated_close_carries_code_and_reason_both_ways) {
  run_main(threads(), [] {
    gofer::chan<absl::Status> server_saw(1);
    ws_server srv([server_saw](ws::conn& c) {
      EXPECT_TRUE(c.write_text("last words").ok());
      EXPECT_TRUE(c.close(ws::close_code::policy_violation, "go away").ok());
      EXPECT_EQ(c.write_text("after close").code(), absl::StatusCode::kFailedPrecondition);
      auto m = c.read();  // the client's answering close frame
      server_saw.send(detached(m.status()));
    });
    auto c = ws::dial(gofer::background(), srv.url());
    ASSERT_TRUE(c.ok()) << c.status();
    auto m = c->read();
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->data, "last words");
    auto end = c->read();
    EXPECT_EQ(end.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_EQ(end.status().message(), "websocket: close 1008 (policy violation): go away");
    EXPECT_TRUE(ws::is_close_error(end.status(), {ws::close_code::policy_violation}));
    auto st = *server_saw.recv();
    EXPECT_EQ(ws::close_code_of(st), ws::close_code::policy_violation) << st;
    // The client answered the close automatically; writing now is refused.
    EXPECT_FALSE(c->write_text("too late").ok());
  });
}

TEST_P(websocket_p, client_initiated_close_is_answered_and_seen_by_the_server_reader) {
  run_main(threads(), [] {
    gofer::chan<absl::Status> server_saw(1);
    ws_server srv([server_saw](ws::conn& c) {
      auto m = c.read();
      server_saw.send(detached(m.status()));
    });
    auto c = ws::dial(gofer::background(), srv.url());
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(c->close(ws::close_code::normal, "bye").ok());
    EXPECT_EQ(c->close().code(), absl::StatusCode::kFailedPrecondition);
    auto st = *server_saw.recv();
    EXPECT_EQ(st.message(), "websocket: close 1000 (normal): bye");
    auto end = c->read();  // the server's answer
    EXPECT_EQ(ws::close_code_of(end.status()), ws::close_code::normal) << end.status();
  });
}

TEST_P(websocket_p, concurrent_writers_never_interleave_messages) {
  constexpr int kWriters = 8, kEach = 200;
  run_main(threads(), [] {
    ws_server srv([](ws::conn& c) {
      gofer::wait_group wg;
      for (int w = 0; w < kWriters; ++w) {
        wg.add(1);
        gofer::go(gofer::named{"ws-writer"}, [&c, &wg, w] {
          for (int i = 0; i < kEach; ++i) {
            // Long enough to need several socket writes when the buffer fills.
            std::string msg = std::to_string(w) + ":" + std::to_string(i) + ":" + std::string(3000, char('a' + w));
            EXPECT_TRUE(c.write_text(msg).ok());
          }
          wg.done();
        });
      }
      wg.wait();
      (void)c.close();
      (void)c.read();
    });
    auto c = ws::dial(gofer::background(), srv.url());
    ASSERT_TRUE(c.ok()) << c.status();
    std::vector<int> next(kWriters, 0);
    for (int n = 0; n < kWriters * kEach; ++n) {
      auto m = c->read();
      ASSERT_TRUE(m.ok()) << m.status() << " after " << n;
      std::size_t c1 = m->data.find(':'), c2 = m->data.find(':', c1 + 1);
      int w = std::stoi(m->data.substr(0, c1)), i = std::stoi(m->data.substr(c1 + 1, c2 - c1 - 1));
      ASSERT_EQ(i, next[w]) << "writer " << w << " out of order";
      ++next[w];
      ASSERT_EQ(m->data.substr(c2 + 1), std::string(3000, char('a' + w))) << "a message was torn";
    }
    auto end = c->read();
    EXPECT_EQ(ws::close_code_of(end.status()), ws::close_code::normal) << end.status();
  });
}

TEST_P(websocket_p, oversized_message_is_refused_with_close_1009) {
  run_main(threads(), [] {
    gofer::chan<absl::Status> server_saw(1);
    ws::options so;
    so.read_limit = 1024;
    ws_server srv(
        [server_saw](ws::conn& c) {
          auto ok = c.read();
          EXPECT_TRUE(ok.ok()) << ok.status();
          auto m = c.read();
          server_saw.send(detached(m.status()));
        },
        so);
    auto c = ws::dial(gofer::background(), srv.url());
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(c->write_text(std::string(1024, 'k')).ok());  // exactly the limit: fine
    ASSERT_TRUE(c->write_text(std::string(1025, 'k')).ok());
    auto st = *server_saw.recv();
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
    EXPECT_EQ(ws::close_code_of(st), ws::close_code::too_big);
    auto end = c->read();
    EXPECT_EQ(ws::close_code_of(end.status()), ws::close_code::too_big) << end.status();
  });
}

// A raw TCP client: the opening handshake by hand, then whatever bytes the test sends.
net::conn raw_upgrade(const std::string& addr) {
  auto c = net::dial(addr);
  EXPECT_TRUE(c.ok()) << c.status();
  std::string req =
      "GET /ws HTTP/1.1\r\nHost: " + addr +
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  EXPECT_TRUE(c->write(req).ok());
  std::string got;
  char ch;
  while (got.find("\r\n\r\n") == std::string::npos) {  // byte by byte: no frame is read early
    auto n = c->read(&ch, 1);
    if (!n.ok()) break;
    got += ch;
  }
  EXPECT_EQ(got.rfind("HTTP/1.1 101", 0), 0u) << got;
  EXPECT_NE(got.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos) << got;  // RFC 6455's example
  return std::move(*c);
}

// The close code in the server's close frame (server frames are unmasked:
// 0x88, length, code big-endian, reason).
int read_close_frame_code(net::conn& c) {
  unsigned char h[4];
  auto st = c.read_full(h, 4);
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(h[0], 0x88);
  return h[2] << 8 | h[3];
}

struct bad_frame {
  const char* name;
  std::string bytes;
  int code;
  absl::StatusCode status;
};

TEST_P(websocket_p, malformed_frames_get_a_protocol_error_close) {
  const std::string mask("\x01\x02\x03\x04", 4);
  auto masked = [&](unsigned char b0, std::string payload) {
    std::string f;
    f += char(b0);
    f += char(0x80 | payload.size());
    f += mask;
    for (std::size_t i = 0; i < payload.size(); ++i) f += char(payload[i] ^ mask[i % 4]);
    return f;
  };
  const std::vector<bad_frame> cases = {
      {"unmasked client frame", std::string("\x81\x02hi", 4), 1002, absl::StatusCode::kInvalidArgument},
      {"reserved opcode 3", masked(0x83, "x"), 1002, absl::StatusCode::kInvalidArgument},
      {"RSV1 without an extension", masked(0xC1, "x"), 1002, absl::StatusCode::kInvalidArgument},
      {"fragmented ping", masked(0x09, "x"), 1002, absl::StatusCode::kInvalidArgument},
      {"bad UTF-8 in a text", masked(0x81, "\xc3\x28"), 1007, absl::StatusCode::kInvalidArgument},
  };
  run_main(threads(), [&] {
    gofer::chan<absl::Status> server_saw(1);
    ws_server srv([server_saw](ws::conn& c) {
      auto m = c.read();
      server_saw.send(detached(m.status()));
    });
    for (const auto& bc : cases) {
      net::conn c = raw_upgrade(srv.addr());
      ASSERT_TRUE(c.write(bc.bytes).ok());
      auto st = *server_saw.recv();
      // (No SCOPED_TRACE here: gtest's trace stack is per thread, and goroutines migrate.)
      EXPECT_EQ(st.code(), bc.status) << bc.name << ": " << st;
      EXPECT_EQ(ws::close_code_of(st), bc.code) << bc.name << ": " << st;
      EXPECT_EQ(read_close_frame_code(c), bc.code) << bc.name;
      // Then the server closes the TCP connection.
      char rest[256];
      absl::Status end;
      for (;;) {
        auto n = c.read(rest, sizeof rest);
        if (!n.ok()) {
          end = n.status();
          break;
        }
      }
      EXPECT_TRUE(net::is_eof(end)) << bc.name << ": " << end;
    }
  });
}

TEST_P(websocket_p, frames_sent_right_behind_the_handshake_are_not_lost) {
  run_main(threads(), [] {
    ws_server srv(echo);
    auto c = net::dial(srv.addr());
    ASSERT_TRUE(c.ok());
    const std::string mask("\x0a\x0b\x0c\x0d", 4);
    std::string frame("\x81\x85", 2);
    frame += mask;
    std::string payload = "early";
    for (std::size_t i = 0; i < payload.size(); ++i) frame += char(payload[i] ^ mask[i % 4]);
    // The request and a frame in one write: the server's HTTP reader may read both.
    std::string req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    ASSERT_TRUE(c->write(req + frame).ok());
    std::string got;
    char buf[512];
    while (got.find("early") == std::string::npos) {
      auto n = c->read(buf, sizeof buf);
      ASSERT_TRUE(n.ok()) << n.status() << " got " << got;
      got.append(buf, *n);
    }
    EXPECT_NE(got.find(std::string("\x81\x05" "early", 7)), std::string::npos);
    (void)c->close();
  });
}

TEST_P(websocket_p, read_deadline_expires_with_i_o_timeout) {
  run_main(threads(), [] {
    gofer::chan<absl::Status> server_saw(2);
    gofer::chan<std::chrono::nanoseconds> took(1);
    ws_server srv([server_saw, took](ws::conn& c) {
      auto t0 = std::chrono::steady_clock::now();
      c.set_read_deadline(t0 + 50ms);
      auto m = c.read();
      took.send(std::chrono::steady_clock::now() - t0);
      server_saw.send(detached(m.status()));
      // After a failed read the reading side is done (gorilla: the state is corrupt).
      server_saw.send(detached(c.read().status()));
    });
    auto c = ws::dial(gofer::background(), srv.url());
    ASSERT_TRUE(c.ok()) << c.status();
    auto d = *took.recv();
    auto st = *server_saw.recv();
    EXPECT_TRUE(net::is_timeout(st)) << st;
    auto again = *server_saw.recv();
    EXPECT_EQ(again.message(), "websocket: use of closed connection") << again;
    EXPECT_GE(d, 50ms);
    EXPECT_LT(d, 5s);
    c->close_now();
  });
}

TEST_P(websocket_p, write_deadline_expires_when_the_peer_never_reads) {
  run_main(threads(), [] {
    gofer::chan<absl::Status> server_saw(1);
    ws_server srv([server_saw](ws::conn& c) {
      c.set_write_deadline(std::chrono::steady_clock::now() + 100ms);
      absl::Status st;
      std::string big(1 << 16, 'z');
      while (st.ok()) st = c.write_binary(big);  // the client never reads: the socket fills
      server_saw.send(detached(st));
    });
    auto c = ws::dial(gofer::background(), srv.url());
    ASSERT_TRUE(c.ok()) << c.status();
    auto st = *server_saw.recv();
    EXPECT_TRUE(net::is_timeout(st)) << st;
    c->close_now();
  });
}

TEST_P(websocket_p, non_upgrade_requests_to_a_websocket_route_are_refused) {
  run_main(threads(), [] {
    ws_server srv(echo);
    http::client hc;
    auto r = hc.get(gofer::background(), srv.http_url());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 426);
    EXPECT_EQ(r->headers.get("Upgrade"), "websocket");
    r = hc.post(gofer::background(), srv.http_url(), "x", "text/plain");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 405);
    // Upgrade requests missing a piece (raw: the client sets its own Connection field).
    auto raw = [&](const std::string& extra) {
      auto c = net::dial(srv.addr());
      EXPECT_TRUE(c.ok());
      std::string req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + extra + "\r\n";
      EXPECT_TRUE(c->write(req).ok());
      std::string got;
      char buf[1024];
      while (got.find("\r\n\r\n") == std::string::npos) {
        auto n = c->read(buf, sizeof buf);
        if (!n.ok()) break;
        got.append(buf, *n);
      }
      (void)c->close();
      return got;
    };
    auto got = raw("Sec-WebSocket-Version: 13\r\n");  // no key
    EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
    got = raw("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 426", 0), 0u) << got;
    EXPECT_NE(got.find("Sec-WebSocket-Version: 13"), std::string::npos) << got;
    // The server keeps serving: a real upgrade still works.
    auto c = ws::dial(gofer::background(), srv.url());
    ASSERT_TRUE(c.ok()) << c.status();
    (void)c->close();
    (void)c->read();
  });
}

TEST_P(websocket_p, dial_reports_a_declined_handshake_and_bad_urls) {
  run_main(threads(), [] {
    ws_server srv(echo);
    auto c = ws::dial(gofer::background(), "ws://" + srv.addr() + "/nothing-here");
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
    EXPECT_EQ(ws::dial(gofer::background(), "wss://" + srv.addr() + "/ws").status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ws::dial(gofer::background(), "http://" + srv.addr() + "/ws").status().code(),
              absl::StatusCode::kInvalidArgument);
  });
}

TEST_P(websocket_p, a_hijacked_connection_does_not_hold_up_shutdown) {
  run_main(threads(), [] {
    gofer::chan<int> upgraded;
    gofer::chan<int> release;
    http::serve_mux mux;
    mux.handle("/ws", [upgraded, release](const http::request& r, http::response_writer& w) {
      auto c = ws::upgrade(r, w);
      if (!c.ok()) return;
      upgraded.send(1);
      (void)release.recv();
    });
    auto ln = net::listen("127.0.0.1:0");
    ASSERT_TRUE(ln.ok());
    std::string url = "ws://" + ln->addr() + "/ws";
    http::server srv(mux);
    gofer::wait_group served;
    served.add(1);
    gofer::go([&, l = std::move(*ln)]() mutable {
      (void)srv.serve(std::move(l));
      served.done();
    });
    auto c = ws::dial(gofer::background(), url);
    ASSERT_TRUE(c.ok()) << c.status();
    (void)upgraded.recv();
    EXPECT_EQ(srv.open_connections(), 0u);
    EXPECT_TRUE(srv.shutdown(gofer::background()).ok());  // returns although the handler runs
    served.wait();
    release.close();
    // The handler returned and dropped its conn: the client sees the TCP close.
    auto end = c->read();
    EXPECT_EQ(ws::close_code_of(end.status()), ws::close_code::abnormal) << end.status();
  });
}

TEST_P(websocket_p, hijack_reports_its_state_and_refuses_a_second_time) {
  run_main(threads(), [] {
    gofer::chan<http::conn_state> states(16);
    gofer::chan<absl::Status> second(1);
    http::serve_mux mux;
    mux.handle("/ws", [second](const http::request& r, http::response_writer& w) {
      auto c = ws::upgrade(r, w);
      if (!c.ok()) return;
      second.send(detached(w.hijack().status()));
      // A socket option on the conn underneath (the chat room's small buffers).
      EXPECT_TRUE(c->underlying_conn().set_write_buffer(4096).ok());
      echo(*c);
    });
    http::server_options o;
    o.on_conn_state = [states](const net::conn&, http::conn_state st) { states.send(st); };
    auto ln = net::listen("127.0.0.1:0");
    ASSERT_TRUE(ln.ok());
    std::string url = "ws://" + ln->addr() + "/ws";
    http::server srv(mux, o);
    gofer::wait_group served;
    served.add(1);
    gofer::go([&, l = std::move(*ln)]() mutable {
      (void)srv.serve(std::move(l));
      served.done();
    });
    auto c = ws::dial(gofer::background(), url);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(second.recv()->code(), absl::StatusCode::kFailedPrecondition);
    ASSERT_TRUE(c->write_text("still there?").ok());
    auto m = c->read();
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->data, "still there?");
    (void)c->close();
    (void)c->read();
    EXPECT_TRUE(srv.shutdown(gofer::background()).ok());
    served.wait();
    // new_, active, hijacked — and never closed: the server let go of it.
    EXPECT_EQ(*states.recv(), http::conn_state::new_);
    EXPECT_EQ(*states.recv(), http::conn_state::active);
    EXPECT_EQ(*states.recv(), http::conn_state::hijacked);
    EXPECT_FALSE(states.try_recv().has_value());
    // A response_writer no server made cannot be hijacked.
    http::response_writer plain;
    EXPECT_EQ(plain.hijack().status().code(), absl::StatusCode::kFailedPrecondition);
  });
}

INSTANTIATE_TEST_SUITE_P(threads, websocket_p, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
