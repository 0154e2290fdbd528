// tests/http_test.cpp — gofer::http: router, server, client, bad input, shutdown.
//
// Suites (every behavioural test under 1, 2, 4 and 8 scheduler threads):
//   http_router    Go 1.22 patterns, path values, precedence, 404, 405 + Allow, HEAD,
//                  the trailing-slash redirect, invalid patterns
//   http_server    keep-alive, timeouts, size limits, static files, JSON, malformed and
//                  randomized requests, handler panics, graceful shutdown, many clients
//   http_client    ctx deadline and cancellation, redirects and their limit, response
//                  size limit, connection errors
//   http_url       parse_url / resolve_reference (no runtime needed)
// Every server binds 127.0.0.1:0. Ordering uses channels and wait groups, never sleeps;
// the only clocks are the timeouts under test (short ones, with generous upper bounds).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
using nlohmann::json;

// A handler that answers `text`.
http::handler text(std::string t) {
  return [t = std::move(t)](const http::request&, http::response_writer& w) { w.write(t); };
}

// ---------------------------------------------------------------------------------------
// http_router

class http_router : public threads_test {};

http::serve_mux routing_mux() {
  http::serve_mux mux;
  mux.handle("GET /users/{id}", [](const http::request& r, http::response_writer& w) {
    w.write("user " + r.path_value("id"));
  });
  mux.handle("GET /users/me", text("me"));
  mux.handle("POST /users/", text("create"));
  mux.handle("GET /files/{path...}", [](const http::request& r, http::response_writer& w) {
    w.write("file [" + r.path_value("path") + "]");
  });
  mux.handle("/static/", text("static"));
  mux.handle("GET /{$}", text("root"));
  mux.handle("GET /search", [](const http::request& r, http::response_writer& w) {
    w.write("q=" + r.query("q") + " n=" + r.query("n"));
  });
  mux.handle("GET /a/{x}/c", text("a-x-c"));
  mux.handle("GET /a/b/{y}", text("a-b-y"));
  return mux;
}

TEST_P(http_router, patterns_match_and_path_values_are_decoded) {
  run_main(threads(), [] {
    test_server ts(routing_mux());
    http::client c;
    auto body = [&](std::string_view path) {
      auto r = c.get(bg(), ts.url(path));
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) return std::string("<error>");
      EXPECT_EQ(r->status, 200) << path;
      return r->body;
    };
    EXPECT_EQ(body("/users/7"), "user 7");
    EXPECT_EQ(body("/users/a%20b"), "user a b") << "wildcard values are %-decoded";
    EXPECT_EQ(body("/users/me"), "me") << "a literal beats a wildcard";
    EXPECT_EQ(body("/files/a/b/c.txt"), "file [a/b/c.txt]");
    EXPECT_EQ(body("/files/"), "file []") << "{path...} matches an empty rest";
    EXPECT_EQ(body("/static/x/y.css"), "static");
    EXPECT_EQ(body("/static/"), "static");
    EXPECT_EQ(body("/"), "root");
    EXPECT_EQ(body("/search?q=go+pher&n=%32"), "q=go pher n=2");
    EXPECT_EQ(body("/a/b/c"), "a-b-y") << "the earlier literal wins where Go would panic";
    EXPECT_EQ(body("/a/z/c"), "a-x-c");
  });
}

TEST_P(http_router, no_match_is_404) {
  run_main(threads(), [] {
    test_server ts(routing_mux());
    http::client c;
    for (const char* p : {"/nothing", "/users", "/nope/deeper", "/files"}) {
      auto r = c.get(bg(), ts.url(p));
      ASSERT_TRUE(r.ok()) << r.status();
      if (std::string_view(p) == "/files") continue;  // redirected to /files/ (below)
      EXPECT_EQ(r->status, 404) << p;
      EXPECT_EQ(r->body, "404 page not found\n") << p;
    }
  });
}

TEST_P(http_router, wrong_method_is_405_with_sorted_allow) {
  run_main(threads(), [] {
    test_server ts(routing_mux());
    http::client c;
    auto r = c.send(bg(), "PUT", ts.url("/users/7"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->headers.get("Allow"), "GET, HEAD, POST");
    auto d = c.send(bg(), "DELETE", ts.url("/"));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->status, 405);
    EXPECT_EQ(d->headers.get("allow"), "GET, HEAD") << "header names are case-insensitive";
    auto p = c.post(bg(), ts.url("/users/7"), "x", "text/plain");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->body, "create") << "POST /users/ covers /users/7";
  });
}

TEST_P(http_router, head_uses_the_get_route_and_sends_no_body) {
  run_main(threads(), [] {
    test_server ts(routing_mux());
    http::client c;
    auto r = c.send(bg(), "HEAD", ts.url("/users/42"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "");
    EXPECT_EQ(r->headers.get("Content-Length"), std::to_string(std::string("user 42").size()));
    // The connection is still in sync afterwards (no stray body bytes).
    auto g = c.get(bg(), ts.url("/users/43"));
    ASSERT_TRUE(g.ok()) << g.status();
    EXPECT_EQ(g->body, "user 43");
  });
}

TEST_P(http_router, subtree_root_without_slash_redirects_301) {
  run_main(threads(), [] {
    test_server ts(routing_mux());
    http::client nofollow({.max_redirects = 0});
    auto r = nofollow.get(bg(), ts.url("/static?v=1"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 301);
    EXPECT_EQ(r->headers.get("Location"), "/static/?v=1");
    http::client follow;
    auto f = follow.get(bg(), ts.url("/files"));
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->status, 200);
    EXPECT_EQ(f->body, "file []");
    EXPECT_EQ(f->url, ts.url("/files/"));
  });
}

TEST(http_router_patterns, invalid_or_conflicting_patterns_panic_with_go_text) {
  http::serve_mux mux;
  EXPECT_EQ(panic_text([&] { mux.handle("GET /{x", text("")); }),
            "parsing \"GET /{x\": bad wildcard segment (must end with '}')");
  EXPECT_EQ(panic_text([&] { mux.handle("/a{x}", text("")); }),
            "parsing \"/a{x}\": bad wildcard segment (must be entire segment)");
  EXPECT_EQ(panic_text([&] { mux.handle("/{x...}/y", text("")); }), "parsing \"/{x...}/y\": {...} wildcard not at end");
  EXPECT_EQ(panic_text([&] { mux.handle("/{x}/{x}", text("")); }),
            "parsing \"/{x}/{x}\": duplicate wildcard name \"x\"");
  EXPECT_NE(panic_text([&] { mux.handle("example.com/", text("")); }), "");
  EXPECT_EQ(panic_text([&] { mux.handle("/ok", http::handler()); }), "http: nil handler");
  mux.handle("GET /users/{id}", text(""));
  EXPECT_EQ(panic_text([&] { mux.handle("GET /users/{name}", text("")); }),
            "pattern \"GET /users/{name}\" conflicts with pattern \"GET /users/{id}\"");
  EXPECT_EQ(panic_text([&] { mux.handle("POST /users/{name}", text("")); }), "") << "another method is no conflict";
}

TEST(http_router_patterns, precedence_without_network) {
  http::serve_mux mux;
  mux.handle("/", text("slash"));
  mux.handle("/api/", text("api-tree"));
  mux.handle("/api/{$}", text("api-exact"));
  mux.handle("GET /api/items/{id}", text("item"));
  mux.handle("/api/items/{id}", text("item-any-method"));
  auto serve = [&](std::string method, std::string path) {
    http::request r;
    r.method = std::move(method);
    r.target = path;
    r.path = std::move(path);
    http::response_writer w;
    mux(r, w);
    return w.body();
  };
  EXPECT_EQ(serve("GET", "/"), "slash");
  EXPECT_EQ(serve("GET", "/elsewhere"), "slash");
  EXPECT_EQ(serve("GET", "/api/"), "api-exact") << "{$} beats a trailing slash";
  EXPECT_EQ(serve("GET", "/api/x"), "api-tree");
  EXPECT_EQ(serve("GET", "/api/items/3"), "item") << "a method beats none";
  EXPECT_EQ(serve("HEAD", "/api/items/3"), "item") << "GET serves HEAD";
  EXPECT_EQ(serve("POST", "/api/items/3"), "item-any-method");
}

// ---------------------------------------------------------------------------------------
// http_server

class http_server : public threads_test {};

TEST_P(http_server, client_reuses_one_keep_alive_connection) {
  run_main(threads(), [] {
    std::atomic<int> opened{0};
    http::serve_mux mux;
    mux.handle("GET /who", [](const http::request& r, http::response_writer& w) { w.write(r.remote_addr); });
    test_server ts(mux, {.on_conn_state = [&](const net::conn&, http::conn_state st) {
                      if (st == http::conn_state::new_) opened.fetch_add(1);
                    }});
    http::client c;
    std::set<std::string> peers;
    for (int i = 0; i < 10; ++i) {
      auto r = c.get(bg(), ts.url("/who"));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->headers.get("Connection"), "") << "HTTP/1.1 keeps alive by default";
      peers.insert(r->body);
    }
    EXPECT_EQ(opened.load(), 1) << "ten requests, one connection";
    EXPECT_EQ(peers.size(), 1u);
    EXPECT_EQ(c.idle_connections(), 1u);
  });
}

TEST_P(http_server, pipelined_requests_on_one_connection_are_all_answered) {
  run_main(threads(), [] {
    std::atomic<int> opened{0};
    http::serve_mux mux;
    mux.handle("GET /n/{i}", [](const http::request& r, http::response_writer& w) { w.write("#" + r.path_value("i")); });
    test_server ts(mux, {.on_conn_state = [&](const net::conn&, http::conn_state st) {
                      if (st == http::conn_state::new_) opened.fetch_add(1);
                    }});
    std::string reqs;
    for (int i = 0; i < 5; ++i) reqs += "GET /n/" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
    reqs += "GET /n/last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    std::string out = raw_exchange(ts.addr(), reqs);
    EXPECT_EQ(count_of(out, "HTTP/1.1 200 OK\r\n"), 6) << out;
    for (int i = 0; i < 5; ++i) EXPECT_NE(out.find("#" + std::to_string(i)), std::string::npos);
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(opened.load(), 1);
  });
}

TEST_P(http_server, http10_without_keep_alive_closes_after_one_answer) {
  run_main(threads(), [] {
    test_server ts(text("hi"));
    std::string out = raw_exchange(ts.addr(), "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(count_of(out, "HTTP/1.0 200 OK"), 1) << out;
  });
}

TEST_P(http_server, slow_header_is_cut_off_by_read_header_timeout) {
  run_main(threads(), [] {
    test_server ts(text("never"), {.read_header_timeout = 200ms});
    auto c = net::dial(ts.addr());
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(c->write("GET / HTTP/1.1\r\nHost: slow\r\nX-Drip: ").ok());  // ...and nothing more
    auto start = std::chrono::steady_clock::now();
    c->set_read_deadline(start + 20s);
    char buf[256];
    auto n = c->read(buf, sizeof buf);
    auto waited = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(n.ok()) << "no answer for a request that never finished";
    EXPECT_TRUE(net::is_eof(n.status()) || absl::IsUnavailable(n.status())) << n.status();
    EXPECT_GE(waited, 150ms);
    EXPECT_LT(waited, 10s);
  });
}

TEST_P(http_server, idle_keep_alive_connection_is_closed_after_idle_timeout) {
  run_main(threads(), [] {
    gofer::chan<int> closed(16);
    test_server ts(text("ok"), {.idle_timeout = 100ms, .on_conn_state = [closed](const net::conn&, http::conn_state st) {
                                  if (st == http::conn_state::closed) closed.send(1);
                                }});
    http::client c;
    auto r = c.get(bg(), ts.url("/"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(c.idle_connections(), 1u);
    EXPECT_EQ(closed.recv(), 1) << "the server closes the idle connection";
    // The client's pooled connection is now dead; the client notices before using it, so
    // even a POST (never retried) goes out on a fresh connection.
    auto r2 = c.post(bg(), ts.url("/"), "x", "text/plain");
    ASSERT_TRUE(r2.ok()) << r2.status();
    EXPECT_EQ(r2->body, "ok");
  });
}

TEST_P(http_server, oversized_header_gets_431) {
  run_main(threads(), [] {
    test_server ts(text("ok"), {.max_header_bytes = 4096});
    http::client c;
    auto r = c.send(bg(), "GET", ts.url("/"), "", {{"X-Big", std::string(8000, 'a')}});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 431);
    std::string raw = raw_exchange(ts.addr(), "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n");
    EXPECT_EQ(status_line(raw), "HTTP/1.1 431 Request Header Fields Too Large");
    auto ok = c.get(bg(), ts.url("/"));
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->status, 200) << "the server keeps serving";
  });
}

// Regression (found by http_fuzz_test): a header of many small fields is counted as a
// whole. Beast 1.74 checks its header_limit only against the bytes it has not consumed
// yet, so such a header used to pass — just over the limit, or 50 times over it.
TEST_P(http_server, header_of_many_small_fields_over_the_limit_gets_431) {
  run_main(threads(), [] {
    test_server ts(text("ok"), {.max_header_bytes = 4096});
    for (std::size_t size : {4097u, 4200u, 50u * 4096u}) {
      std::string req = "GET / HTTP/1.1\r\nHost: t\r\n";
      for (int i = 0; req.size() + 2 < size; ++i) req += "X-F" + std::to_string(i) + ": v\r\n";
      req += "\r\n";
      std::string raw = raw_exchange(ts.addr(), req);
      EXPECT_EQ(status_line(raw), "HTTP/1.1 431 Request Header Fields Too Large") << req.size() << " bytes";
    }
    // Just within the limit: served.
    std::string req = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";
    for (int i = 0; req.size() + 20 < 4096; ++i) req += "X-F" + std::to_string(i) + ": v\r\n";
    req += "\r\n";
    ASSERT_LE(req.size(), 4096u);
    EXPECT_EQ(status_line(raw_exchange(ts.addr(), req)), "HTTP/1.1 200 OK") << req.size() << " bytes";
  });
}

TEST_P(http_server, oversized_body_gets_413_declared_or_chunked) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("POST /up", [](const http::request& r, http::response_writer& w) { w.write(std::to_string(r.body().size())); });
    test_server ts(mux, {.max_body_bytes = 1000});
    http::client c;
    auto small = c.post(bg(), ts.url("/up"), std::string(1000, 'x'), "text/plain");
    ASSERT_TRUE(small.ok()) << small.status();
    EXPECT_EQ(small->body, "1000");
    auto big = c.post(bg(), ts.url("/up"), std::string(200000, 'x'), "text/plain");
    ASSERT_TRUE(big.ok()) << big.status();
    EXPECT_EQ(big->status, 413);
    std::string chunk(600, 'y');
    std::string raw = raw_exchange(ts.addr(), "POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" +
                                                  chunk + "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n");
    EXPECT_EQ(status_line(raw), "HTTP/1.1 413 Content Too Large");
    std::string ok = raw_exchange(ts.addr(), "POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    EXPECT_EQ(status_line(ok), "HTTP/1.1 200 OK");
    EXPECT_NE(ok.find("\r\n\r\n5"), std::string::npos) << ok;
  });
}

TEST_P(http_server, expect_100_continue_is_answered_before_the_body) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("POST /up", [](const http::request& r, http::response_writer& w) { w.write(r.body()); });
    test_server ts(mux);
    auto c = net::dial(ts.addr());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c->write("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").ok());
    std::string got;
    char buf[512];
    c->set_read_deadline(std::chrono::steady_clock::now() + 10s);
    while (got.find("\r\n\r\n") == std::string::npos) {
      auto n = c->read(buf, sizeof buf);
      ASSERT_TRUE(n.ok()) << n.status();
      got.append(buf, *n);
    }
    EXPECT_EQ(status_line(got), "HTTP/1.1 100 Continue");
    ASSERT_TRUE(c->write("hello").ok());
    for (;;) {
      auto n = c->read(buf, sizeof buf);
      if (!n.ok()) break;
      got.append(buf, *n);
    }
    EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
    EXPECT_EQ(got.substr(got.size() - 5), "hello");
  });
}

// A directory tree for the file server: root/ with files, a subdir, a symlink inside and
// one pointing outside, and a secret file beside root.
struct static_tree {
  std::string base, root;
  static_tree() {
    char tmpl[] = "/tmp/gofer_http_test_XXXXXX";
    base = ::mkdtemp(tmpl);
    root = base + "/root";
    ::mkdir(root.c_str(), 0755);
    ::mkdir((root + "/docs").c_str(), 0755);
    write(root + "/index.html", "<h1>home</h1>");
    write(root + "/style.css", "body{}");
    write(root + "/app.js", "let x=1;");
    write(root + "/data.json", "{}");
    write(root + "/pic.PNG", "\x89PNG");
    write(root + "/blob", "raw");
    write(root + "/docs/index.html", "<h1>docs</h1>");
    write(base + "/secret.txt", "TOP SECRET");
    (void)::symlink((root + "/style.css").c_str(), (root + "/alias.css").c_str());
    (void)::symlink((base + "/secret.txt").c_str(), (root + "/escape.txt").c_str());
    (void)::symlink(base.c_str(), (root + "/up").c_str());
  }
  ~static_tree() { std::filesystem::remove_all(base); }
  static void write(const std::string& p, const std::string& s) { std::ofstream(p) << s; }
};

TEST_P(http_server, static_files_are_served_with_content_types) {
  static_tree tree;
  run_main(threads(), [&] {
    http::serve_mux mux;
    mux.handle("/static/", http::strip_prefix("/static", http::file_server(tree.root)));
    test_server ts(mux);
    http::client c;
    struct want {
      const char* path;
      int status;
      const char* ctype;
      const char* body;
    };
    for (const want& w : {want{"/static/style.css", 200, "text/css; charset=utf-8", "body{}"},
                          want{"/static/app.js", 200, "text/javascript; charset=utf-8", "let x=1;"},
                          want{"/static/data.json", 200, "application/json", "{}"},
                          want{"/static/pic.PNG", 200, "image/png", "\x89PNG"},
                          want{"/static/blob", 200, "application/octet-stream", "raw"},
                          want{"/static/", 200, "text/html; charset=utf-8", "<h1>home</h1>"},
                          want{"/static/docs", 200, "text/html; charset=utf-8", "<h1>docs</h1>"},
                          want{"/static/alias.css", 200, "text/css; charset=utf-8", "body{}"},
                          want{"/static/missing.txt", 404, nullptr, nullptr}}) {
      auto r = c.get(bg(), ts.url(w.path));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, w.status) << w.path;
      if (w.ctype) {
        EXPECT_EQ(r->headers.get("Content-Type"), w.ctype) << w.path;
      }
      if (w.body) {
        EXPECT_EQ(r->body, w.body) << w.path;
      }
    }
    auto post = c.post(bg(), ts.url("/static/style.css"), "x", "text/plain");
    ASSERT_TRUE(post.ok());
    EXPECT_EQ(post->status, 405);
    EXPECT_EQ(post->headers.get("Allow"), "GET, HEAD");
  });
}

TEST_P(http_server, static_files_refuse_traversal) {
  static_tree tree;
  run_main(threads(), [&] {
    http::serve_mux mux;
    mux.handle("/static/", http::strip_prefix("/static", http::file_server(tree.root)));
    test_server ts(mux);
    // Dot segments never reach a handler, however they are spelled.
    for (const char* target : {"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/..%2fsecret.txt",
                               "/static/docs/../../secret.txt", "/static/./style.css", "/static/%00"}) {
      std::string raw = raw_exchange(ts.addr(), std::string("GET ") + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
      EXPECT_EQ(status_line(raw), "HTTP/1.1 400 Bad Request") << target;
      EXPECT_EQ(raw.find("TOP SECRET"), std::string::npos) << target;
    }
    // Symlinks that lead out of the root are not followed.
    http::client c;
    for (const char* p : {"/static/escape.txt", "/static/up/secret.txt"}) {
      auto r = c.get(bg(), ts.url(p));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, 404) << p;
      EXPECT_EQ(r->body.find("TOP SECRET"), std::string::npos) << p;
    }
    // Called directly (bypassing the server's path check), the file server refuses too.
    auto fs = http::file_server(tree.root);
    for (const char* p : {"/../secret.txt", "/docs/../../secret.txt", "/a\\..\\secret.txt"}) {
      http::request r;
      r.method = "GET";
      r.path = p;
      http::response_writer w;
      fs(r, w);
      EXPECT_EQ(w.status(), 400) << p;
    }
  });
}

TEST_P(http_server, json_echo_and_bad_json_400) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("POST /echo", [](const http::request& r, http::response_writer& w) {
      auto j = http::decode_json(r, w);
      if (!j) return;
      (*j)["echoed"] = true;
      http::write_json(w, http::status::created, *j);
    });
    test_server ts(mux);
    http::client c;
    json in = {{"name", "gopher"}, {"langs", {"go", "c++"}}, {"n", 3}};
    auto r = c.post(bg(), ts.url("/echo"), in.dump(), "application/json");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 201);
    EXPECT_EQ(r->headers.get("Content-Type"), "application/json");
    auto out = r->json();
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)["name"], "gopher");
    EXPECT_EQ((*out)["langs"][1], "c++");
    EXPECT_EQ((*out)["echoed"], true);
    auto bad = c.post(bg(), ts.url("/echo"), "{\"name\": ", "application/json");
    ASSERT_TRUE(bad.ok()) << bad.status();
    EXPECT_EQ(bad->status, 400);
    EXPECT_EQ(bad->body.rfind("invalid JSON", 0), 0u) << bad->body;
  });
}

TEST_P(http_server, malformed_requests_get_400_and_the_server_keeps_serving) {
  run_main(threads(), [] {
    // The handler reads the body: a malformed chunk is found (and answered 400) by that
    // read; a handler that never reads would answer itself and the connection would close.
    test_server ts([](const http::request& r, http::response_writer& w) {
      (void)r.body();
      w.write("fine");
    });
    struct bad {
      const char* what;
      std::string bytes;
      const char* status;
    };
    const std::vector<bad> cases = {
        {"garbage request line", "GARBAGE\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"no version", "GET /\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"space in target", "GET /a b HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"header without colon", "GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"bad header name", "GET / HTTP/1.1\r\nHost: t\r\nBa(d: x\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"missing Host", "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"bad Content-Length", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"two Content-Lengths", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
         "HTTP/1.1 400 Bad Request"},
        {"CL and TE", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "HTTP/1.1 400 Bad Request"},
        {"bad chunk size", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n",
         "HTTP/1.1 400 Bad Request"},
        {"chunk without CRLF", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n",
         "HTTP/1.1 400 Bad Request"},
        {"bad %-escape", "GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"relative target", "GET foo HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"unknown transfer coding", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
         "HTTP/1.1 501 Not Implemented"},
        {"HTTP/2.0 over text", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
    };
    http::client c;
    for (const bad& b : cases) {
      std::string raw = raw_exchange(ts.addr(), b.bytes);
      EXPECT_EQ(status_line(raw), b.status) << b.what << "\n" << raw;
      EXPECT_NE(raw.find("Connection: close"), std::string::npos) << b.what;
      auto ok = c.get(bg(), ts.url("/"));
      ASSERT_TRUE(ok.ok()) << b.what << ": " << ok.status();
      EXPECT_EQ(ok->body, "fine") << b.what;
    }
  });
}

// The issue's randomized test of the request path: valid requests with random bytes
// flipped, inserted or cut. Whatever arrives, the server answers with a status line or
// closes, never crashes or hangs, and goes on serving.
TEST_P(http_server, randomized_requests_never_break_the_server) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("/", [](const http::request& r, http::response_writer& w) { w.write(r.method + " " + r.path); });
    test_server ts(mux, {.read_header_timeout = 500ms, .read_timeout = 500ms, .max_header_bytes = 2048,
                         .max_body_bytes = 512});
    const std::vector<std::string> seeds = {
        "GET /a/b?c=d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        "PUT /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    };
    std::mt19937 rng(20240611);
    const char alphabet[] = "\r\n :/%?#{}.\x00\x7f\xff" "0123456789abcdefGET";
    int answered = 0;
    for (int i = 0; i < 120; ++i) {
      std::string req = seeds[i % seeds.size()];
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !req.empty(); ++e) {
        std::size_t pos = rng() % req.size();
        char ch = alphabet[rng() % (sizeof alphabet - 1)];
        switch (rng() % 3) {
          case 0: req[pos] = ch; break;
          case 1: req.insert(req.begin() + static_cast<long>(pos), ch); break;
          case 2: req.erase(pos, 1 + rng() % 8); break;
        }
      }
      auto c = net::dial(ts.addr());
      ASSERT_TRUE(c.ok()) << c.status();
      (void)c->write(req);
      (void)c->close_write();  // the client is done: a truncated request ends in EOF
      c->set_read_deadline(std::chrono::steady_clock::now() + 10s);
      std::string out;
      char buf[2048];
      for (;;) {
        auto n = c->read(buf, sizeof buf);
        if (!n.ok()) {
          EXPECT_FALSE(net::is_timeout(n.status())) << "the server hung on:\n" << req;
          break;
        }
        out.append(buf, *n);
      }
      if (!out.empty()) {
        ++answered;
        EXPECT_EQ(out.rfind("HTTP/1.", 0), 0u) << out;
      }
    }
    EXPECT_GT(answered, 0);
    http::client cl;
    auto ok = cl.get(bg(), ts.url("/still/here"));
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->body, "GET /still/here");
  });
}

TEST_P(http_server, handler_exception_is_500_and_the_server_goes_on) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("/boom", [](const http::request&, http::response_writer&) { throw std::runtime_error("kaboom"); });
    mux.handle("/ok", text("ok"));
    test_server ts(mux);
    http::client c;
    auto r = c.get(bg(), ts.url("/boom"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 500);
    auto ok = c.get(bg(), ts.url("/ok"));
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->body, "ok");
  });
}

TEST_P(http_server, shutdown_waits_for_the_in_flight_request_and_closes_idle_ones) {
  run_main(threads(), [] {
    gofer::chan<int> entered(1), release, closed(16);
    std::atomic<bool> handler_finished{false};
    http::serve_mux mux;
    mux.handle("/slow", [&](const http::request&, http::response_writer& w) {
      entered.send(1);
      release.recv();
      w.write("slow done");
      handler_finished = true;
    });
    mux.handle("/fast", text("fast"));
    auto ln = net::listen("127.0.0.1:0").value();
    const std::string addr = ln.addr();
    http::server srv(mux, {.on_conn_state = [closed](const net::conn&, http::conn_state st) {
                             if (st == http::conn_state::closed) closed.send(1);
                           }});
    gofer::chan<absl::Status> served(1);
    gofer::go([&, l = std::move(ln)]() mutable { served.send(srv.serve(std::move(l))); });

    http::client idle_client;  // leaves one idle keep-alive connection
    auto f = idle_client.get(bg(), "http://" + addr + "/fast");
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_EQ(idle_client.idle_connections(), 1u);

    gofer::chan<absl::StatusOr<http::response>> slow_result(1);
    gofer::go([&] {
      http::client c;
      slow_result.send(c.get(bg(), "http://" + addr + "/slow"));
    });
    entered.recv();

    gofer::chan<absl::Status> shut(1);
    gofer::go([&] {
      absl::Status st = srv.shutdown(bg());
      EXPECT_TRUE(handler_finished.load()) << "shutdown returned before the in-flight handler finished";
      shut.send(st);
    });
    EXPECT_EQ(closed.recv(), 1) << "the idle connection is closed by shutdown";
    auto refused = net::dial(addr);
    EXPECT_FALSE(refused.ok()) << "the listener is closed";
    EXPECT_EQ(srv.open_connections(), 1u) << "only the in-flight connection is left";
    EXPECT_FALSE(shut.try_recv().has_value());

    release.send(1);
    auto st = shut.recv();
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(st->ok()) << *st;
    auto res = slow_result.recv();
    ASSERT_TRUE(res.has_value() && res->ok()) << (res ? res->status() : absl::UnknownError("none"));
    EXPECT_EQ((*res)->status, 200);
    EXPECT_EQ((*res)->body, "slow done");
    EXPECT_EQ((*res)->headers.get("Connection"), "close");
    EXPECT_TRUE(http::is_server_closed(*served.recv()));
    EXPECT_EQ(srv.open_connections(), 0u);
  });
}

TEST_P(http_server, shutdown_gives_up_when_its_ctx_expires_and_close_cuts_off) {
  run_main(threads(), [] {
    gofer::chan<int> entered(1), release(1);
    http::serve_mux mux;
    mux.handle("/stuck", [&](const http::request& r, http::response_writer& w) {
      entered.send(1);
      // Waits for release or for close() cancelling the request context.
      gofer::select(gofer::recv_case(release), gofer::recv_case(r.ctx.done()));
      w.write("late");
    });
    test_server ts(mux);
    gofer::wait_group wg;
    wg.add(1);
    gofer::go([&] {
      http::client c;
      (void)c.get(bg(), ts.url("/stuck"));
      wg.done();
    });
    entered.recv();
    auto [ctx, cancel] = gofer::with_timeout(bg(), 100ms);
    absl::Status st = ts.srv().shutdown(ctx);
    cancel();
    EXPECT_TRUE(absl::IsDeadlineExceeded(st)) << st;
    EXPECT_TRUE(ts.srv().close().ok());
    wg.wait();
    ts.stop();
  });
}

TEST_P(http_server, shutdown_serves_the_first_request_of_a_silent_new_connection) {
  run_main(threads(), [] {
    gofer::chan<int> opened(4);
    test_server ts(text("served"), {.on_conn_state = [opened](const net::conn&, http::conn_state st) {
                                      if (st == http::conn_state::new_) opened.send(1);
                                    }});
    auto c = net::dial(ts.addr());
    ASSERT_TRUE(c.ok()) << c.status();
    opened.recv();  // accepted and tracked as new, nothing sent yet
    gofer::chan<absl::Status> shut(1);
    gofer::go(gofer::named{"http-test-shutdown"}, [&] { shut.send(ts.srv().shutdown(bg())); });
    ASSERT_TRUE(wait_state("http-test-shutdown", "select")) << "shutdown waits for the new connection";
    ASSERT_TRUE(c->write("GET / HTTP/1.1\r\nHost: t\r\n\r\n").ok());
    c->set_read_deadline(std::chrono::steady_clock::now() + 10s);
    std::string out;
    char buf[1024];
    for (;;) {
      auto n = c->read(buf, sizeof buf);
      if (!n.ok()) break;
      out.append(buf, *n);
    }
    EXPECT_EQ(status_line(out), "HTTP/1.1 200 OK");
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << out;
    EXPECT_EQ(out.substr(out.size() - 6), "served");
    auto st = shut.recv();
    EXPECT_TRUE(st.has_value() && st->ok());
  });
}

TEST_P(http_server, shutdown_closes_a_silent_new_connection_at_its_header_timeout) {
  run_main(threads(), [] {
    gofer::chan<int> opened(4);
    test_server ts(text("x"), {.read_header_timeout = 200ms,
                               .on_conn_state = [opened](const net::conn&, http::conn_state st) {
                                 if (st == http::conn_state::new_) opened.send(1);
                               }});
    auto c = net::dial(ts.addr());
    ASSERT_TRUE(c.ok()) << c.status();
    opened.recv();
    auto [ctx, cancel] = gofer::with_timeout(bg(), 20s);
    EXPECT_TRUE(ts.srv().shutdown(ctx).ok());
    cancel();
    char b;
    c->set_read_deadline(std::chrono::steady_clock::now() + 10s);
    auto n = c->read(&b, 1);
    EXPECT_TRUE(!n.ok() && !net::is_timeout(n.status())) << "closed by the server";
  });
}

// Go's order: closed is reported after the connection left open_connections(). But
// shutdown's OK waits for the closed hook to return: a hook may touch the locals of the
// goroutine that shuts down, which end as soon as shutdown returns (http_fd_flood's
// counter on the main goroutine's stack, incremented after the test body had returned,
// corrupted the leak check's sleep timer: a hang).
TEST_P(http_server, shutdown_returns_only_after_the_closed_hooks_returned) {
  run_main(threads(), [] {
    gofer::chan<int> in_hook(1), release(1);
    test_server ts(text("ok"), {.on_conn_state = [in_hook, release](const net::conn&, http::conn_state st) {
                                  if (st != http::conn_state::closed) return;
                                  in_hook.send(1);
                                  release.recv();  // the hook runs until the test says so
                                }});
    std::string out = raw_exchange(ts.addr(), "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_line(out), "HTTP/1.1 200 OK") << out;
    in_hook.recv();  // the connection's goroutine is inside its closed hook
    EXPECT_EQ(ts.srv().open_connections(), 0u) << "closed comes after the count dropped";
    gofer::chan<absl::Status> shut(1);
    gofer::go(gofer::named{"http-test-shutdown"}, [&] { shut.send(ts.srv().shutdown(bg())); });
    // Parked waiting for the hook, or (the bug) already returned: either ends this wait.
    EXPECT_TRUE(eventually([&] { return shut.len() > 0 || goroutine_state("http-test-shutdown") == "select"; }));
    EXPECT_EQ(shut.len(), 0u) << "shutdown returned while a closed hook still ran";
    release.send(1);
    auto st = shut.recv();
    EXPECT_TRUE(st.has_value() && st->ok());
  });
}

TEST_P(http_server, run_ending_mid_request_unwinds_connection_goroutines) {
  std::atomic<int> unwound{0};
  // allow_leaks: the handler is parked mid-request on purpose: run() must unwind it
  run_main(threads(), [&] {
    gofer::chan<int> entered(1);
    http::serve_mux mux;
    mux.handle("/hang", [&unwound, entered](const http::request&, http::response_writer&) {
      destroy_counter dc(unwound);
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

TEST_P(http_server, many_concurrent_clients_all_succeed) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("GET /echo/{g}/{i}", [](const http::request& r, http::response_writer& w) {
      w.write(r.path_value("g") + ":" + r.path_value("i"));
    });
    test_server ts(mux);
    http::client c({.max_idle_per_host = 256});
    constexpr int kClients = 200, kRequests = 20;
    std::atomic<int> ok{0};
    gofer::wait_group wg;
    for (int g = 0; g < kClients; ++g) {
      wg.add(1);
      gofer::go([&, g] {
        for (int i = 0; i < kRequests; ++i) {
          std::string want = std::to_string(g) + ":" + std::to_string(i);
          auto r = c.get(bg(), ts.url("/echo/" + std::to_string(g) + "/" + std::to_string(i)));
          if (r.ok() && r->status == 200 && r->body == want) ok.fetch_add(1);
          else ADD_FAILURE() << (r.ok() ? r->body : r.status().ToString());
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(ok.load(), kClients * kRequests);
    EXPECT_LE(c.idle_connections(), static_cast<std::size_t>(kClients));
  });
}

// ---------------------------------------------------------------------------------------
// http_client

class http_client : public threads_test {};

// client::stream: a request body sent as it is produced (chunked, or with a Content-Length)
// and a response body read as it arrives; the body's end puts the connection back in the
// pool. The server reads the upload with request::read, so neither side holds it whole.
TEST_P(http_client, stream_sends_and_reads_bodies_as_they_come) {
  run_main(threads(), [] {
    test_server ts([](const http::request& r, http::response_writer& w) {
      http::max_bytes(r, std::uint64_t{1} << 30);
      char buf[16 << 10];
      std::size_t total = 0, sum = 0;
      for (;;) {
        auto n = r.read(buf, sizeof buf);
        if (!n.ok()) break;
        total += *n;
        for (std::size_t i = 0; i < *n; ++i) sum += static_cast<unsigned char>(buf[i]);
      }
      w.write(std::to_string(total) + " " + std::to_string(sum) + " " + std::to_string(r.content_length) + "\n");
      w.write(std::string(1 << 20, 'r'));
    });
    http::client c;
    constexpr std::size_t kUp = std::size_t{24} << 20;
    auto producer = [](std::size_t total) {
      auto left = std::make_shared<std::size_t>(total);
      return http::body_reader([left](char* p, std::size_t n) -> absl::StatusOr<std::size_t> {
        if (*left == 0) return absl::OutOfRangeError("EOF");
        std::size_t k = std::min(n, *left);
        std::memset(p, 'u', k);
        *left -= k;
        return k;
      });
    };
    const std::string want_sum = std::to_string(kUp * static_cast<unsigned char>('u'));
    for (std::int64_t declared : {std::int64_t{-1}, static_cast<std::int64_t>(kUp)}) {
      auto res = c.stream(bg(), "PUT", ts.url("/up"), {}, producer(kUp), declared);
      ASSERT_TRUE(res.ok()) << res.status();
      EXPECT_EQ(res->status, 200);
      EXPECT_GT(res->content_length, std::int64_t{1} << 20) << "(the answer's declared length)";
      std::string got;
      char buf[1000];
      std::size_t reads = 0;
      for (;;) {
        auto n = res->read(buf, sizeof buf);
        if (!n.ok()) {
          EXPECT_TRUE(net::is_eof(n.status())) << n.status();
          break;
        }
        ++reads;
        got.append(buf, *n);
      }
      EXPECT_GE(reads, std::size_t{(1 << 20) / 1000}) << "read in pieces, at most n bytes each";
      EXPECT_EQ(got.substr(0, got.find('\n')), std::to_string(kUp) + " " + want_sum + " " + std::to_string(declared));
      EXPECT_EQ(got.size() - got.find('\n') - 1, std::size_t{1} << 20);
      EXPECT_EQ(c.idle_connections(), 1u) << "the body's end returns the connection to the pool";
    }
    // A reader giving fewer bytes than declared fails the request, clearly.
    auto bad = c.stream(bg(), "PUT", ts.url("/up"), {}, producer(10), 20);
    ASSERT_FALSE(bad.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
    // read_all, and HEAD (no body to read).
    auto all = c.stream(bg(), "GET", ts.url("/"));
    ASSERT_TRUE(all.ok()) << all.status();
    auto body = all->read_all();
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(body->substr(0, 6), "0 0 0\n");
    auto head = c.stream(bg(), "HEAD", ts.url("/"));
    ASSERT_TRUE(head.ok()) << head.status();
    char one;
    EXPECT_TRUE(net::is_eof(head->read(&one, 1).status()));
  });
}

// Go's ResponseHeaderTimeout: a back end that sends no header in time fails the call with
// DeadlineExceeded, while the ctx has no deadline at all.
TEST_P(http_client, stream_response_header_timeout) {
  run_main(threads(), [] {
    gofer::chan<int> release;
    test_server ts([release](const http::request&, http::response_writer& w) {
      (void)release.recv();
      w.write("late");
    });
    http::client c({.response_header_timeout = 200ms});
    auto res = c.stream(bg(), "GET", ts.url("/"));
    ASSERT_FALSE(res.ok());
    EXPECT_TRUE(absl::IsDeadlineExceeded(res.status())) << res.status();
    EXPECT_NE(res.status().message().find("timeout awaiting response headers"), std::string_view::npos) << res.status();
    release.close();
  });
}

TEST_P(http_client, ctx_deadline_gives_deadline_exceeded) {
  run_main(threads(), [] {
    gofer::chan<int> entered(1), release(1);
    http::serve_mux mux;
    mux.handle("/slow", [&](const http::request&, http::response_writer& w) {
      entered.send(1);
      release.recv();
      w.write("too late");
    });
    test_server ts(mux);
    http::client c;
    auto [ctx, cancel] = gofer::with_timeout(bg(), 100ms);
    auto r = c.get(ctx, ts.url("/slow"));
    cancel();
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
    EXPECT_EQ(std::string(r.status().message()), "Get \"" + ts.url("/slow") + "\": context deadline exceeded");
    entered.recv();
    release.send(1);
    EXPECT_EQ(c.idle_connections(), 0u) << "a timed-out connection is not pooled";
  });
}

TEST_P(http_client, ctx_cancel_wakes_a_blocked_call) {
  run_main(threads(), [] {
    gofer::chan<int> entered(1), release(1);
    http::serve_mux mux;
    mux.handle("/slow", [&](const http::request&, http::response_writer& w) {
      entered.send(1);
      release.recv();
    });
    test_server ts(mux);
    http::client c;
    auto [ctx, cancel] = gofer::with_cancel(bg());
    gofer::go([&entered, cancel = cancel] {
      entered.recv();
      cancel();
    });
    auto r = c.get(ctx, ts.url("/slow"));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(absl::IsCancelled(r.status())) << r.status();
    release.send(1);
  });
}

TEST_P(http_client, client_timeout_option_bounds_the_call) {
  run_main(threads(), [] {
    gofer::chan<int> release(1);
    http::serve_mux mux;
    mux.handle("/slow", [&](const http::request&, http::response_writer&) { release.recv(); });
    test_server ts(mux);
    http::client c({.timeout = 100ms});
    auto r = c.get(bg(), ts.url("/slow"));
    EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
    release.send(1);
  });
}

http::serve_mux redirect_mux() {
  http::serve_mux mux;
  mux.handle("/r/{n}", [](const http::request& r, http::response_writer& w) {
    int n = std::stoi(r.path_value("n"));
    if (n == 0) {
      w.write(r.method + " done " + r.body());
      return;
    }
    int code = r.query("code").empty() ? 302 : std::stoi(r.query("code"));
    std::string next = std::to_string(n - 1) + (r.raw_query.empty() ? "" : "?" + r.raw_query);
    http::redirect(w, r, next, code);  // relative: "/r/2" → "/r/1"
  });
  return mux;
}

TEST_P(http_client, redirects_are_followed_up_to_the_limit) {
  run_main(threads(), [] {
    test_server ts(redirect_mux());
    http::client c;
    auto r3 = c.get(bg(), ts.url("/r/3"));
    ASSERT_TRUE(r3.ok()) << r3.status();
    EXPECT_EQ(r3->status, 200);
    EXPECT_EQ(r3->body, "GET done ");
    EXPECT_EQ(r3->url, ts.url("/r/0"));
    auto r9 = c.get(bg(), ts.url("/r/9"));
    ASSERT_TRUE(r9.ok()) << r9.status() << " (Go follows a chain of 9)";
    auto r10 = c.get(bg(), ts.url("/r/10"));
    ASSERT_FALSE(r10.ok());
    EXPECT_TRUE(absl::IsResourceExhausted(r10.status())) << r10.status();
    EXPECT_NE(r10.status().message().find("stopped after 10 redirects"), absl::string_view::npos) << r10.status();
    http::client three({.max_redirects = 3});
    EXPECT_TRUE(three.get(bg(), ts.url("/r/2")).ok());
    EXPECT_FALSE(three.get(bg(), ts.url("/r/3")).ok());
  });
}

TEST_P(http_client, redirect_method_rules_follow_go) {
  run_main(threads(), [] {
    test_server ts(redirect_mux());
    http::client c;
    auto see_other = c.post(bg(), ts.url("/r/1?code=303"), "payload", "text/plain");
    ASSERT_TRUE(see_other.ok()) << see_other.status();
    EXPECT_EQ(see_other->body, "GET done ") << "303 turns POST into a GET without body";
    auto temp = c.post(bg(), ts.url("/r/2?code=307"), "payload", "text/plain");
    ASSERT_TRUE(temp.ok()) << temp.status();
    EXPECT_EQ(temp->body, "POST done payload") << "307 repeats method and body";
    auto perm = c.send(bg(), "PUT", ts.url("/r/1?code=308"), "p2");
    ASSERT_TRUE(perm.ok()) << perm.status();
    EXPECT_EQ(perm->body, "PUT done p2");
  });
}

TEST_P(http_client, response_body_limit_is_enforced) {
  run_main(threads(), [] {
    http::serve_mux mux;
    mux.handle("/big", text(std::string(5000, 'z')));
    test_server ts(mux);
    http::client c({.max_response_bytes = 1000});
    auto r = c.get(bg(), ts.url("/big"));
    ASSERT_FALSE(r.ok()) << r->status << " " << r->body.size() << " " << r->body.substr(0, 100);
    EXPECT_TRUE(absl::IsResourceExhausted(r.status())) << r.status();
    EXPECT_NE(r.status().message().find("response body too large"), absl::string_view::npos);
    http::client roomy;
    auto ok = roomy.get(bg(), ts.url("/big"));
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->body.size(), 5000u);
  });
}

TEST_P(http_client, errors_name_the_request) {
  run_main(threads(), [] {
    http::client c;
    // A port nobody listens on: take one, then close it.
    std::string addr = net::listen("127.0.0.1:0").value().addr();
    auto r = c.get(bg(), "http://" + addr + "/x");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(std::string(r.status().message()).rfind("Get \"http://" + addr + "/x\": ", 0), 0u) << r.status();
    auto s = c.get(bg(), "https://example.com/");
    EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
    EXPECT_NE(s.status().message().find("unsupported protocol scheme \"https\""), absl::string_view::npos);
    auto bad = c.send(bg(), "BAD METHOD", "http://" + addr + "/");
    EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  });
}

// ---------------------------------------------------------------------------------------
// http_url (plain values; no runtime)

TEST(http_url, parse_url_accepts_http_and_normalizes) {
  auto u = http::parse_url("HTTP://Example.COM:8080/a%20b/c d?x=1&y=é#frag");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->path, "/a%20b/c%20d");
  EXPECT_EQ(u->raw_query, "x=1&y=%C3%A9");
  EXPECT_EQ(u->host_port(), "example.com:8080");
  EXPECT_EQ(u->string(), "http://example.com:8080/a%20b/c%20d?x=1&y=%C3%A9");
  auto v6 = http::parse_url("http://[::1]:9000");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->path, "/");
  EXPECT_EQ(v6->host_port(), "[::1]:9000");
  auto plain = http::parse_url("http://h/");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host_port(), "h:80");
  EXPECT_EQ(plain->host_header(), "h");
}

TEST(http_url, parse_url_rejects_what_it_cannot_serve) {
  for (const char* bad : {"https://h/", "ftp://h/", "h:80/x", "http:/h", "http://", "http://user:pw@h/",
                          "http://h:99999/", "http://h:8a/", "http://h/%zz", "http://h/a\nb", "http://[::1/",
                          "http://h o/"}) {
    auto u = http::parse_url(bad);
    EXPECT_FALSE(u.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(u.status())) << bad;
  }
}

TEST(http_url, resolve_reference_follows_rfc3986) {
  auto base = http::parse_url("http://h:1/a/b/c?q=1").value();
  auto res = [&](std::string_view ref) {
    auto u = http::resolve_reference(base, ref);
    return u.ok() ? u->string() : "<" + u.status().ToString() + ">";
  };
  EXPECT_EQ(res("d"), "http://h:1/a/b/d");
  EXPECT_EQ(res("../d"), "http://h:1/a/d");
  EXPECT_EQ(res("../../../../d"), "http://h:1/d");
  EXPECT_EQ(res("./"), "http://h:1/a/b/");
  EXPECT_EQ(res("/x?y=2"), "http://h:1/x?y=2");
  EXPECT_EQ(res("?z=3"), "http://h:1/a/b/c?z=3");
  EXPECT_EQ(res("//other:2/p"), "http://other:2/p");
  EXPECT_EQ(res("http://third/"), "http://third/");
  EXPECT_EQ(res("/p#frag"), "http://h:1/p");
  EXPECT_FALSE(http::resolve_reference(base, "https://secure/").ok());
}

TEST(http_header, lookups_are_case_insensitive) {
  http::header h{{"Content-Type", "text/plain"}, {"X-A", "1"}};
  h.add("x-a", "2");
  EXPECT_EQ(h.get("content-type"), "text/plain");
  EXPECT_EQ(h.values("X-a"), (std::vector<std::string>{"1", "2"}));
  h.set("X-A", "3");
  EXPECT_EQ(h.values("x-a"), (std::vector<std::string>{"3"}));
  h.del("CONTENT-TYPE");
  EXPECT_FALSE(h.has("Content-Type"));
  EXPECT_EQ(h.get("missing"), "");
  EXPECT_EQ(http::status_text(404), "Not Found");
  EXPECT_EQ(http::status_text(799), "");
  EXPECT_EQ(http::mime_type_by_extension("/x/y.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(http::mime_type_by_extension("noext"), "");
}

INSTANTIATE_TEST_SUITE_P(threads, http_router, ::testing::ValuesIn(kThreadCounts), threads_name);
INSTANTIATE_TEST_SUITE_P(threads, http_server, ::testing::ValuesIn(kThreadCounts), threads_name);
INSTANTIATE_TEST_SUITE_P(threads, http_client, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
