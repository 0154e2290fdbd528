// tests/http_stream_test.cpp — gofer::http streaming answers: response_writer::flush,
// event_stream (Server-Sent Events), hijack.
//
// Suites (every behavioural test under 1, 2, 4 and 8 scheduler threads):
//   http_stream    chunked pieces reach a raw client before the handler returns; HTTP/1.0
//                  close-delimited streams; the client disconnecting ends a streaming
//                  handler (ctx and write errors); a throw after a flush cuts the
//                  connection; response_write_timeout bounds each write, not the stream;
//                  a request pipelined during a stream; gofer's client reading a stream;
//                  abort_handler (Go's ErrAbortHandler) cuts quietly, before or after a
//                  flush, and gofer's client::stream reports the cut
//   http_sse       event_stream's framing (WHATWG text/event-stream)
//   http_hijack    taking the connection over: buffered bytes, no HTTP answer, shutdown
//                  does not wait for it
//   http_writer    a writer no server made (no runtime needed)
// The handler waits on channels between its writes, so "the client saw piece 1 before the
// handler wrote piece 2" is ordered by the test, never by sleeps. The one clock used is the
// write timeout under test.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "gofer/gofer.hpp"
#include "gofer/http.hpp"
#include "gofer/net.hpp"
#include "http_test_util.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

namespace http = gofer::http;
namespace net = gofer::net;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------
// http_stream

class http_stream : public threads_test {};

TEST_P(http_stream, chunked_pieces_reach_the_client_before_the_handler_returns) {
  run_main(threads(), [] {
    gofer::chan<int> step;
    std::atomic<bool> returned{false};
    http::serve_mux mux;
    mux.handle("GET /s", [&](const http::request&, http::response_writer& w) {
      w.headers().set("Content-Type", "text/plain");
      EXPECT_TRUE(w.write("one"));
      EXPECT_TRUE(w.flush().ok());
      EXPECT_TRUE(w.flushed());
      step.recv();
      EXPECT_TRUE(w.write("two"));
      EXPECT_TRUE(w.flush().ok());
      step.recv();
      EXPECT_TRUE(w.write("three"));  // sent when the handler returns
      returned = true;
    });
    mux.handle("GET /plain", [](const http::request&, http::response_writer& w) { w.write("plain"); });
    test_server ts(mux);
    auto c = dial(ts.addr());
    ASSERT_TRUE(c.write("GET /s HTTP/1.1\r\nHost: t\r\n\r\n").ok());
    std::string got;
    ASSERT_TRUE(read_until(c, got, "3\r\none\r\n")) << got;
    std::string head = got.substr(0, got.find("\r\n\r\n"));
    EXPECT_EQ(head.substr(0, head.find("\r\n")), "HTTP/1.1 200 OK");
    EXPECT_NE(head.find("Transfer-Encoding: chunked"), std::string::npos) << head;
    EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    EXPECT_NE(head.find("Content-Type: text/plain"), std::string::npos) << head;
    EXPECT_FALSE(returned.load());
    step.send(1);
    ASSERT_TRUE(read_until(c, got, "3\r\ntwo\r\n")) << got;
    EXPECT_FALSE(returned.load()) << "the second piece came before the handler returned";
    EXPECT_EQ(got.find("0\r\n\r\n"), std::string::npos) << "no last chunk while the handler runs";
    step.send(1);
    ASSERT_TRUE(read_until(c, got, "5\r\nthree\r\n0\r\n\r\n")) << got;
    // The connection is kept: the next request on it is answered.
    ASSERT_TRUE(c.write("GET /plain HTTP/1.1\r\nHost: t\r\n\r\n").ok());
    std::string next;
    ASSERT_TRUE(read_until(c, next, "plain")) << next;
    EXPECT_EQ(next.substr(0, next.find("\r\n")), "HTTP/1.1 200 OK");
    EXPECT_NE(next.find("Content-Length: 5"), std::string::npos) << "an unflushed answer is not chunked";
  });
}

TEST_P(http_stream, http10_stream_is_delimited_by_the_close) {
  run_main(threads(), [] {
    gofer::chan<int> step;
    http::serve_mux mux;
    mux.handle("GET /s", [&](const http::request&, http::response_writer& w) {
      EXPECT_TRUE(w.write("one"));
      EXPECT_TRUE(w.flush().ok());
      step.recv();
      EXPECT_TRUE(w.write("two"));
    });
    test_server ts(mux);
    auto c = dial(ts.addr());
    ASSERT_TRUE(c.write("GET /s HTTP/1.0\r\n\r\n").ok());
    std::string got;
    ASSERT_TRUE(read_until(c, got, "\r\n\r\none")) << got;
    std::string head = got.substr(0, got.find("\r\n\r\n"));
    EXPECT_EQ(head.substr(0, head.find("\r\n")), "HTTP/1.0 200 OK");
    EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
    EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    step.send(1);
    ASSERT_TRUE(read_to_eof(c, got)) << got;
    EXPECT_EQ(got.substr(got.find("\r\n\r\n") + 4), "onetwo");
  });
}

TEST_P(http_stream, client_going_away_cancels_ctx_and_fails_writes) {
  run_main(threads(), [] {
    gofer::chan<std::string> ended(1);
    http::serve_mux mux;
    mux.handle("GET /wait", [&](const http::request& r, http::response_writer& w) {
      EXPECT_TRUE(w.write("hi"));
      EXPECT_TRUE(w.flush().ok());
      // Waits for nothing but the client: only its going away ends this.
      bool cancelled = gofer::select(gofer::recv_case(r.ctx.done(), [](auto) { return true; }),
                                     gofer::recv_case(gofer::after(20s), [](auto) { return false; }));
      EXPECT_TRUE(cancelled) << "ctx not cancelled when the client left";
      absl::Status st = w.write("more") ? w.flush() : w.err();
      ended.send(st.ok() ? std::string("ok") : std::string(st.message()));
    });
    test_server ts(mux);
    {
      auto c = dial(ts.addr());
      ASSERT_TRUE(c.write("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n").ok());
      std::string got;
      ASSERT_TRUE(read_until(c, got, "2\r\nhi\r\n")) << got;
    }  // the client closes its connection
    std::string why;
    ASSERT_TRUE(recv_within(ended, &why)) << "the streaming handler did not end";
    EXPECT_NE(why, "ok") << "a write after the client left must fail";
  });
}

TEST_P(http_stream, a_handler_writing_forever_ends_when_the_client_leaves) {
  run_main(threads(), [] {
    gofer::chan<int> ended(1);
    http::serve_mux mux;
    mux.handle("GET /forever", [&](const http::request&, http::response_writer& w) {
      std::string piece(1000, 'x');
      int n = 0;
      while (w.write(piece) && w.flush().ok()) ++n;
      ended.send(n);
    });
    test_server ts(mux);
    {
      auto c = dial(ts.addr());
      ASSERT_TRUE(c.write("GET /forever HTTP/1.1\r\nHost: t\r\n\r\n").ok());
      std::string got;
      ASSERT_TRUE(read_until(c, got, std::string(1000, 'x'))) << got.substr(0, 200);
    }
    int n = 0;
    ASSERT_TRUE(recv_within(ended, &n)) << "the handler kept writing after the client left";
    EXPECT_GT(n, 0);
  });
}

TEST_P(http_stream, a_throw_after_flushing_cuts_the_connection_without_500) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("GET /boom", [](const http::request&, http::response_writer& w) {
      EXPECT_TRUE(w.write("one"));
      EXPECT_TRUE(w.flush().ok());
      throw std::runtime_error("kaboom after flush");
    });
    mux.handle("GET /ok", [](const http::request&, http::response_writer& w) { w.write("ok"); });
    test_server ts(mux);
    auto c = dial(ts.addr());
    ASSERT_TRUE(c.write("GET /boom HTTP/1.1\r\nHost: t\r\n\r\n").ok());
    std::string got;
    ASSERT_TRUE(read_to_eof(c, got)) << got;
    EXPECT_EQ(got.substr(0, got.find("\r\n")), "HTTP/1.1 200 OK");
    EXPECT_NE(got.find("3\r\none\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.find("0\r\n\r\n"), std::string::npos) << "no last chunk: the answer is cut";
    EXPECT_EQ(got.find("500"), std::string::npos) << got;
    // gofer's client sees a truncated answer, never a complete one.
    http::client cl;
    auto r = cl.get(bg(), ts.url("/boom"));
    EXPECT_FALSE(r.ok());
    auto ok = cl.get(bg(), ts.url("/ok"));
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->body, "ok");
  });
}

// Go's panic(http.ErrAbortHandler) before anything was sent: no answer at all (no 500,
// unlike any other throw), nothing logged, request::ctx cancelled, and a keep-alive
// connection opened before it is served on, before and after. The /panic route is the
// control: the same capture does see an ordinary throw's log line.
TEST_P(http_stream, abort_handler_before_a_flush_cuts_without_an_answer_or_a_log) {
  run_main(threads(), [] {
    gofer::chan<gofer::context> ctxs(4);
    http::serve_mux mux;
    mux.handle("GET /abort", [&](const http::request& r, http::response_writer& w) {
      w.headers().set("X-Lost", "yes");
      w.write_header(http::status::created);
      EXPECT_TRUE(w.write("never sent"));
      ctxs.send(r.ctx);
      throw http::abort_handler{};
    });
    mux.handle("GET /panic", [](const http::request&, http::response_writer&) {
      throw std::runtime_error("kaboom, logged");
    });
    mux.handle("GET /ok", [](const http::request&, http::response_writer& w) { w.write("ok"); });
    test_server ts(mux);
    // A keep-alive connection, served once before the abort.
    auto keep = dial(ts.addr());
    std::string before;
    ASSERT_TRUE(keep.write("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n").ok());
    ASSERT_TRUE(read_until(keep, before, "\r\n\r\nok")) << before;

    ::testing::internal::CaptureStderr();
    auto c = dial(ts.addr());
    ASSERT_TRUE(c.write("GET /abort HTTP/1.1\r\nHost: t\r\n\r\n").ok());
    std::string got;
    bool ended = read_to_eof(c, got);
    gofer::context ctx;
    bool handed = recv_within(ctxs, &ctx);
    // request::ctx ends with the cut.
    bool cancelled = handed && gofer::select(gofer::recv_case(ctx.done(), [](auto) { return true; }),
                                             gofer::recv_case(gofer::after(10s), [](auto) { return false; }));
    http::client cl;
    auto r = cl.get(bg(), ts.url("/abort"));
    (void)recv_within(ctxs);
    auto p = cl.get(bg(), ts.url("/panic"));
    std::string log = ::testing::internal::GetCapturedStderr();

    EXPECT_TRUE(ended) << "the server must cut the connection";
    EXPECT_EQ(got, "") << "no answer at all: not the handler's 201, not a 500";
    ASSERT_TRUE(handed);
    EXPECT_TRUE(cancelled) << "request::ctx must be cancelled";
    EXPECT_EQ(ctx.err().code(), absl::StatusCode::kCancelled) << ctx.err();
    ASSERT_FALSE(r.ok()) << "gofer's client must see the cut, got status " << r->status;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->status, 500);
    EXPECT_EQ(count_of(log, "http: panic serving"), 1) << log;
    EXPECT_NE(log.find("kaboom, logged"), std::string::npos) << log;
    EXPECT_EQ(log.find("abort"), std::string::npos) << "abort_handler is never logged: " << log;

    // The other connection, opened before, is still served.
    std::string after;
    ASSERT_TRUE(keep.write("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n").ok());
    ASSERT_TRUE(read_until(keep, after, "\r\n\r\nok")) << after;
    EXPECT_EQ(status_line(after), "HTTP/1.1 200 OK");
    (void)keep.close();
  });
}

// After a flush: the status and the flushed piece are out, the rest is cut without the last
// chunk; a raw client sees the truncation, gofer's client::stream an "unexpected EOF" error
// (never a clean end); nothing is logged; a new connection is served.
TEST_P(http_stream, abort_handler_after_a_flush_cuts_the_stream_without_its_last_chunk) {
  run_main(threads(), [] {
    gofer::chan<int> go_on(2);  // buffered: a failed step must not leave anyone waiting
    http::serve_mux mux;
    mux.handle("GET /abort", [&](const http::request&, http::response_writer& w) {
      EXPECT_TRUE(w.write("one"));
      EXPECT_TRUE(w.flush().ok());
      (void)go_on.recv();  // the client has read "one"
      EXPECT_TRUE(w.write("two, never sent"));
      throw http::abort_handler{};
    });
    mux.handle("GET /ok", [](const http::request&, http::response_writer& w) { w.write("ok"); });
    test_server ts(mux);

    ::testing::internal::CaptureStderr();
    auto c = dial(ts.addr());
    ASSERT_TRUE(c.write("GET /abort HTTP/1.1\r\nHost: t\r\n\r\n").ok());
    std::string got;
    bool first = read_until(c, got, "3\r\none\r\n");
    go_on.send(1);
    bool ended = read_to_eof(c, got);

    http::client cl;
    auto s = cl.stream(bg(), "GET", ts.url("/abort"));
    std::string body;
    absl::Status end;
    if (s.ok()) {
      char buf[64];
      while (body.size() < 3) {  // "one": flushed before the handler waits
        auto n = s->read(buf, sizeof buf);
        if (!n.ok()) break;
        body.append(buf, *n);
      }
      go_on.send(1);
      for (;;) {
        auto m = s->read(buf, sizeof buf);
        if (!m.ok()) {
          end = m.status();
          break;
        }
        body.append(buf, *m);
      }
    } else {
      go_on.send(1);  // in case the handler did run: it must not wait forever
    }
    auto ok = cl.get(bg(), ts.url("/ok"));
    std::string log = ::testing::internal::GetCapturedStderr();

    ASSERT_TRUE(first) << got;
    EXPECT_TRUE(ended) << "the server must cut the connection";
    EXPECT_EQ(status_line(got), "HTTP/1.1 200 OK");
    EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos) << got;
    EXPECT_EQ(got.find("0\r\n\r\n"), std::string::npos) << "no last chunk: the answer is cut\n" << got;
    EXPECT_EQ(got.find("never sent"), std::string::npos) << got;
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->status, 200);
    EXPECT_EQ(body, "one");
    EXPECT_FALSE(gofer::net::is_eof(end)) << "a cut stream must not read as a clean end: " << end;
    EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
    EXPECT_NE(end.message().find("unexpected EOF"), std::string::npos) << end;
    EXPECT_EQ(log, "") << "abort_handler is never logged";
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->body, "ok");
  });
}

TEST_P(http_stream, response_write_timeout_bounds_each_write_not_the_stream) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("GET /slow", [](const http::request&, http::response_writer& w) {
      for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(w.write(std::to_string(i)));
        EXPECT_TRUE(w.flush().ok());
        gofer::sleep(150ms);  // a timing test: the stream outlasts the 100 ms write bound
      }
    });
    test_server ts(mux, {.response_write_timeout = 100ms});
    http::client c;
    auto r = c.get(bg(), ts.url("/slow"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "012");
  });
}

TEST_P(http_stream, gofer_client_reads_a_streamed_body_and_reuses_the_connection) {
  run_main(threads(), [] {
    std::atomic<int> opened{0};
    http::serve_mux mux;
    mux.handle("GET /n", [](const http::request&, http::response_writer& w) {
      for (int i = 0; i < 100; ++i) {
        EXPECT_TRUE(w.write(std::to_string(i) + ","));
        if (i % 7 == 0) {
          EXPECT_TRUE(w.flush().ok());
        }
      }
    });
    test_server ts(mux, {.on_conn_state = [&](const net::conn&, http::conn_state st) {
                      if (st == http::conn_state::new_) opened.fetch_add(1);
                    }});
    std::string want;
    for (int i = 0; i < 100; ++i) want += std::to_string(i) + ",";
    http::client c;
    for (int k = 0; k < 3; ++k) {
      auto r = c.get(bg(), ts.url("/n"));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->headers.get("Transfer-Encoding"), "chunked");
      EXPECT_EQ(r->body, want);
    }
    EXPECT_EQ(opened.load(), 1) << "a chunked stream keeps the connection alive";
  });
}

TEST_P(http_stream, a_request_pipelined_during_a_stream_is_answered_after_it) {
  run_main(threads(), [] {
    gofer::chan<int> step;
    http::serve_mux mux;
    mux.handle("GET /s", [&](const http::request&, http::response_writer& w) {
      EXPECT_TRUE(w.write("one"));
      EXPECT_TRUE(w.flush().ok());
      step.recv();
    });
    mux.handle("GET /plain", [](const http::request&, http::response_writer& w) { w.write("plain"); });
    test_server ts(mux);
    auto c = dial(ts.addr());
    ASSERT_TRUE(c.write("GET /s HTTP/1.1\r\nHost: t\r\n\r\n").ok());
    std::string got;
    ASSERT_TRUE(read_until(c, got, "3\r\none\r\n")) << got;
    // While the stream runs the server watches the connection: the next request's first
    // byte may be read by that watch, and must not be lost.
    ASSERT_TRUE(c.write("GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").ok());
    step.send(1);
    ASSERT_TRUE(read_to_eof(c, got)) << got;
    EXPECT_NE(got.find("3\r\none\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.substr(got.size() - 5), "plain") << got;
  });
}

TEST_P(http_stream, head_and_204_streams_send_no_body) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("GET /s", [](const http::request&, http::response_writer& w) {
      EXPECT_TRUE(w.write("body"));
      EXPECT_TRUE(w.flush().ok());
      EXPECT_TRUE(w.write("more"));
    });
    mux.handle("GET /nc", [](const http::request&, http::response_writer& w) {
      w.write_header(http::status::no_content);
      EXPECT_TRUE(w.flush().ok());
    });
    test_server ts(mux);
    auto c = dial(ts.addr());
    ASSERT_TRUE(c.write("HEAD /s HTTP/1.1\r\nHost: t\r\n\r\nGET /nc HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").ok());
    std::string got;
    ASSERT_TRUE(read_to_eof(c, got)) << got;
    EXPECT_EQ(got.find("body"), std::string::npos) << got;
    EXPECT_EQ(got.find("more"), std::string::npos) << got;
    EXPECT_NE(got.find("HTTP/1.1 204 No Content\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.find("chunked"), std::string::npos) << got;
  });
}

TEST_P(http_stream, run_ending_mid_stream_unwinds_the_handler) {
  std::atomic<int> unwound{0};
  // allow_leaks: the handler is parked mid-stream on purpose: run() must unwind it (and
  // the server's watch of its connection must not hold the unwinding up)
  run_main(threads(), [&] {
    gofer::chan<int> entered(1);
    http::serve_mux mux;
    mux.handle("/hang", [&unwound, entered](const http::request&, http::response_writer& w) {
      destroy_counter dc(unwound);
      EXPECT_TRUE(w.write("started"));
      EXPECT_TRUE(w.flush().ok());
      entered.send(1);
      gofer::chan<int> never;
      never.recv();  // parked until the run ends and unwinds this goroutine
    });
    auto ln = net::listen("127.0.0.1:0").value();
    const std::string url = "http://" + ln.addr() + "/hang";
    http::server srv(mux);
    gofer::go([&srv, l = std::move(ln)]() mutable { (void)srv.serve(std::move(l)); });
    gofer::go([url] {
      http::client c;
      (void)c.get(gofer::background(), url);  // ends when the server closes the connection
    });
    entered.recv();
    // main returns: ~server closes everything; the handler is still parked.
  }, allow_leaks);
  EXPECT_EQ(unwound.load(), 1) << "the parked handler's stack was unwound";
}

// ---------------------------------------------------------------------------------------
// http_sse

class http_sse : public threads_test {};

TEST_P(http_sse, events_are_framed_per_the_whatwg_spec) {
  run_main(threads(), [] {
    gofer::chan<int> step;
    http::serve_mux mux;
    mux.handle("GET /events", [&](const http::request&, http::response_writer& w) {
      http::event_stream es(w);
      step.recv();  // the header went out with the constructor
      EXPECT_TRUE(es.send("tick", "1").ok());
      EXPECT_TRUE(es.send("", "a\nb\r\nc\rd").ok());
      EXPECT_TRUE(es.send("m", "x", "42").ok());
      EXPECT_TRUE(es.send("", "").ok());
      EXPECT_TRUE(es.send("", "trailing\n").ok());
      EXPECT_TRUE(es.comment("keep\nalive").ok());
      EXPECT_EQ(es.send("bad\nname", "x").code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(es.send("", "x", "i\rd").code(), absl::StatusCode::kInvalidArgument);
    });
    test_server ts(mux);
    auto c = dial(ts.addr());
    ASSERT_TRUE(c.write("GET /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").ok());
    std::string got;
    ASSERT_TRUE(read_until(c, got, "\r\n\r\n")) << got;
    EXPECT_NE(got.find("Content-Type: text/event-stream\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("Cache-Control: no-cache\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << got;
    step.send(1);
    // gofer's client reads the same kind of answer below; here the chunk payloads matter.
    ASSERT_TRUE(read_to_eof(c, got)) << got;
    std::string body = got.substr(got.find("\r\n\r\n") + 4);
    // Undo the chunk framing (each send is one chunk: "<hex>\r\n<payload>\r\n").
    std::string events;
    while (!body.empty()) {
      auto eol = body.find("\r\n");
      ASSERT_NE(eol, std::string::npos) << body;
      std::size_t n = std::stoul(body.substr(0, eol), nullptr, 16);
      if (n == 0) break;
      events += body.substr(eol + 2, n);
      body.erase(0, eol + 2 + n + 2);
    }
    EXPECT_EQ(events,
              "event: tick\ndata: 1\n\n"
              "data: a\ndata: b\ndata: c\ndata: d\n\n"
              "event: m\nid: 42\ndata: x\n\n"
              "data: \n\n"
              "data: trailing\ndata: \n\n"
              ": keep alive\n\n");
  });
}

// ---------------------------------------------------------------------------------------
// http_hijack

class http_hijack : public threads_test {};

TEST_P(http_hijack, the_handler_takes_the_connection_and_shutdown_does_not_wait) {
  run_main(threads(), [] {
    gofer::chan<int> taken(1), release;
    gofer::chan<http::conn_state> states(16);
    gofer::wait_group handlers;
    http::serve_mux mux;
    mux.handle("GET /up", [&](const http::request&, http::response_writer& w) {
      handlers.add(1);
      gofer::defer done([&] { handlers.done(); });
      w.write("dropped");
      auto h = w.hijack();
      ASSERT_TRUE(h.ok()) << h.status();
      EXPECT_EQ(w.hijack().status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_FALSE(w.write("x")) << "w is unusable after hijack";
      // The client sent "PING" right behind its request: some of it may be buffered.
      std::string in = h->buffered;
      h->conn.set_read_deadline(std::chrono::steady_clock::now() + 10s);
      while (in.size() < 4) {
        char b[4];
        auto n = h->conn.read(b, 4 - in.size());
        ASSERT_TRUE(n.ok()) << n.status();
        in.append(b, *n);
      }
      EXPECT_EQ(in, "PING");
      taken.send(1);
      release.recv();
      EXPECT_TRUE(h->conn.write("PONG").ok());
      (void)h->conn.close();
    });
    test_server ts(mux, {.on_conn_state = [&](const net::conn&, http::conn_state st) {
                      if (st == http::conn_state::hijacked || st == http::conn_state::closed) states.send(st);
                    }});
    auto c = dial(ts.addr());
    ASSERT_TRUE(c.write("GET /up HTTP/1.1\r\nHost: t\r\n\r\nPING").ok());
    ASSERT_TRUE(recv_within(taken));
    http::conn_state st{};
    ASSERT_TRUE(recv_within(states, &st));
    EXPECT_EQ(st, http::conn_state::hijacked);
    // Shutdown does not wait for a hijacked connection (its handler still runs).
    {
      auto [ctx, cancel] = gofer::with_timeout(bg(), 10s);
      EXPECT_TRUE(ts.srv().shutdown(ctx).ok());
      cancel();
    }
    release.send(1);
    std::string got;
    ASSERT_TRUE(read_to_eof(c, got)) << got;
    EXPECT_EQ(got, "PONG") << "the server sent nothing of its own";
    handlers.wait();
    ts.stop();
    EXPECT_EQ(states.try_recv().has_value(), false) << "no closed after hijacked";
  });
}

TEST_P(http_hijack, hijack_after_flush_is_refused) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("GET /s", [](const http::request&, http::response_writer& w) {
      EXPECT_TRUE(w.flush().ok());
      auto h = w.hijack();
      EXPECT_EQ(h.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_EQ(h.status().message(), "http: response already flushed");
      EXPECT_TRUE(w.write("still streaming"));
    });
    test_server ts(mux);
    http::client c;
    auto r = c.get(bg(), ts.url("/s"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "still streaming");
  });
}

// ---------------------------------------------------------------------------------------
// http_writer

TEST(http_writer, a_writer_no_server_made_records_a_flush_and_keeps_the_body) {
  http::response_writer w;
  EXPECT_TRUE(w.write("a"));
  EXPECT_FALSE(w.flushed());
  EXPECT_TRUE(w.flush().ok());
  EXPECT_TRUE(w.flushed());
  EXPECT_TRUE(w.write("b"));
  EXPECT_EQ(w.body(), "ab");
  EXPECT_EQ(w.status(), 200);
  w.write_header(404);
  EXPECT_EQ(w.status(), 200) << "the status is fixed once flushed";
  EXPECT_EQ(w.hijack().status().code(), absl::StatusCode::kFailedPrecondition);
}

INSTANTIATE_TEST_SUITE_P(threads, http_stream, ::testing::ValuesIn(kThreadCounts), threads_name);
INSTANTIATE_TEST_SUITE_P(threads, http_sse, ::testing::ValuesIn(kThreadCounts), threads_name);
INSTANTIATE_TEST_SUITE_P(threads, http_hijack, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
