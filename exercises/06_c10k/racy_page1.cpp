// racy_page1 — spot the bug: one page shared by every request (book, chapter 6: "Serving
// pages", "Parsing our template").
//
// The book's Ch6_server.go keeps the page it is building in a global variable, `page`, and
// every handler fills it in and then writes it out. A handler runs once per request, and
// requests are served at the same time, each on its own goroutine (possibly on another
// thread). The checkpoint below marks where a handler may be switched out after building
// the page and before sending it (a database call, a log line); in the tests it holds every
// handler there until all of them have built their page, so the overlap that load causes
// now and then happens every time. Keep it.
//
// The tests ask for eight different pages at once and expect each visitor to get the page
// with their own name. (Build with `./gofer build --preset tsan` and run
// build/tsan/exercises/bin/racy_page1: ThreadSanitizer reports the race itself.)
//
// Goal: every visitor gets their own page, and the tests pass.
// Question: who else can see a variable declared outside the handler?

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/gtest.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

namespace http = gofer::http;

// Called by a handler after it built its page, before it writes it (set by the tests).
std::function<void()> checkpoint = [] {};

// The book's `page`: a fixed buffer here, so the race garbles text instead of crashing.
char page[256];

// Answers GET /hello/{name} with "<h1>Hello, {name}!</h1>".
void hello(const http::request& r, http::response_writer& w) {
  // TODO: where should the page being built live?
  std::snprintf(page, sizeof page, "<h1>Hello, %s!</h1>", r.path_value("name").c_str());
  checkpoint();  // the handler may be switched out here: keep this line
  w.headers().set("Content-Type", "text/html; charset=utf-8");
  w.write(page);
}

// ---- the tests: no need to change anything below ----

// Serves hello on a free port, lets `n` visitors ask for their page at once, and returns
// what each one got.
std::vector<std::string> visit(int n, unsigned threads) {
  std::vector<std::string> got(n);
  EXPECT_GOFER_OK(gofer::testing::run(
      [&] {
        gofer::wait_group built;  // every handler has built its page
        built.add(n);
        checkpoint = [&] {
          built.done();
          built.wait();
        };
        http::serve_mux mux;
        mux.handle("GET /hello/{name}", hello);
        http::server srv(mux);
        auto ln = gofer::net::listen("127.0.0.1:0").value();
        std::string base = "http://" + ln.addr() + "/hello/";
        gofer::go(gofer::named("server"), [&srv, l = std::move(ln)]() mutable { srv.serve(std::move(l)); });
        gofer::wait_group wg;
        for (int i = 0; i < n; ++i) {
          wg.add(1);
          gofer::go(gofer::named{"visitor"}, [&, i] {
            http::client c;
            auto res = c.get(gofer::background(), base + "visitor" + std::to_string(i));
            got[i] = res.ok() ? res->body : res.status().ToString();
            wg.done();
          });
        }
        wg.wait();
        srv.shutdown(gofer::background());
        checkpoint = [] {};
      },
      {.threads = threads}));
  return got;
}

TEST(racy_page1, one_visitor_gets_their_page) {
  auto got = visit(1, 1);
  EXPECT_EQ(got[0], "<h1>Hello, visitor0!</h1>");
}

TEST(racy_page1, eight_visitors_at_once_on_one_thread) {
  auto got = visit(8, 1);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(got[i], "<h1>Hello, visitor" + std::to_string(i) + "!</h1>");
}

TEST(racy_page1, eight_visitors_at_once_on_two_threads) {
  auto got = visit(8, 2);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(got[i], "<h1>Hello, visitor" + std::to_string(i) + "!</h1>");
}
