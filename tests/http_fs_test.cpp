// tests/http_fs_test.cpp — http::file_server against Go's FileServer semantics: validators
// (ETag, Last-Modified) and conditional requests (304, 412), Range (206, multipart
// byteranges, 416, If-Range), HEAD, redirects, traversal, and a 50 MiB file sent with
// sendfile while the process's RSS stays bounded (and a client that leaves mid-file).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

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

// A test_server serving /static/ from root.
struct fs_server : test_server {
  explicit fs_server(const std::string& root) : test_server(static_mux(root)) {}
  static http::serve_mux static_mux(const std::string& root) {
    http::serve_mux mux;
    mux.handle("/static/", http::strip_prefix("/static", http::file_server(root)));
    return mux;
  }
};

// root/ with a 26-byte file of known mtime, a subdirectory with an index, symlinks in and
// out; secret.txt beside root.
struct tree {
  std::string base, root;
  static constexpr std::string_view kAlpha = "abcdefghijklmnopqrstuvwxyz";
  tree() {
    char tmpl[] = "/tmp/gofer_http_fs_test_XXXXXX";
    base = ::mkdtemp(tmpl);
    root = base + "/root";
    std::filesystem::create_directories(root + "/docs");
    std::filesystem::create_directories(root + "/empty");
    write(root + "/alpha.txt", std::string(kAlpha));
    write(root + "/docs/index.html", "<h1>docs</h1>");
    write(root + "/zero.bin", "");
    write(base + "/secret.txt", "TOP SECRET");
    (void)::symlink((root + "/alpha.txt").c_str(), (root + "/inside.txt").c_str());
    (void)::symlink((base + "/secret.txt").c_str(), (root + "/escape.txt").c_str());
    // A fixed mtime: 2021-01-02 03:04:05 UTC.
    timeval tv[2] = {{1609556645, 0}, {1609556645, 0}};
    ::utimes((root + "/alpha.txt").c_str(), tv);
  }
  ~tree() { std::filesystem::remove_all(base); }
  static void write(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
};
constexpr const char* kAlphaModified = "Sat, 02 Jan 2021 03:04:05 GMT";

class http_fs : public threads_test {};

absl::StatusOr<http::response> get(http::client& c, const std::string& url, http::header h = {},
                                   std::string_view method = "GET") {
  return c.send(bg(), method, url, "", std::move(h));
}

TEST_P(http_fs, validators_and_conditional_requests) {
  tree t;
  run_main(threads(), [&] {
    fs_server ts(t.root);
    http::client c({.max_redirects = 0});
    const std::string u = ts.url("/static/alpha.txt");
    auto r = get(c, u);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, tree::kAlpha);
    EXPECT_EQ(r->headers.get("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(r->headers.get("Last-Modified"), kAlphaModified);
    EXPECT_EQ(r->headers.get("Accept-Ranges"), "bytes");
    const std::string etag = r->headers.get("ETag");
    ASSERT_GE(etag.size(), 3u);
    EXPECT_EQ(etag.front(), '"');
    EXPECT_EQ(etag.back(), '"');

    struct want {
      http::header h;
      int status;
    };
    const std::vector<want> cases = {
        {{{"If-None-Match", etag}}, 304},
        {{{"If-None-Match", "W/" + etag}}, 304},  // weak comparison
        {{{"If-None-Match", "\"other\", " + etag}}, 304},
        {{{"If-None-Match", "*"}}, 304},
        {{{"If-None-Match", "\"other\""}}, 200},
        {{{"If-Modified-Since", kAlphaModified}}, 304},
        {{{"If-Modified-Since", "Sun, 03 Jan 2021 00:00:00 GMT"}}, 304},
        {{{"If-Modified-Since", "Saturday, 02-Jan-21 03:04:05 GMT"}}, 304},  // RFC 850
        {{{"If-Modified-Since", "Sat Jan  2 03:04:05 2021"}}, 304},          // asctime
        {{{"If-Modified-Since", "Sat, 02 Jan 2021 03:04:04 GMT"}}, 200},
        {{{"If-Modified-Since", "not a date"}}, 200},
        // If-None-Match decides when present: If-Modified-Since is then ignored.
        {{{"If-None-Match", "\"other\""}, {"If-Modified-Since", kAlphaModified}}, 200},
        {{{"If-Match", etag}}, 200},
        {{{"If-Match", "W/" + etag}}, 412},  // If-Match compares strongly
        {{{"If-Match", "\"other\""}}, 412},
        {{{"If-Unmodified-Since", "Sat, 02 Jan 2021 03:04:04 GMT"}}, 412},
        {{{"If-Unmodified-Since", kAlphaModified}}, 200},
    };
    for (const want& w : cases) {
      std::string what = w.h.begin()->first + ": " + w.h.begin()->second;
      auto rr = get(c, u, w.h);
      ASSERT_TRUE(rr.ok()) << rr.status();
      EXPECT_EQ(rr->status, w.status) << what;
      if (w.status == 304) {
        EXPECT_EQ(rr->body, "") << what;
        EXPECT_FALSE(rr->headers.has("Content-Type")) << what;
        EXPECT_FALSE(rr->headers.has("Last-Modified")) << what;  // dropped: there is an ETag
        EXPECT_EQ(rr->headers.get("ETag"), etag) << what;
      } else if (w.status == 200) {
        EXPECT_EQ(rr->body, tree::kAlpha) << what;
      }
    }
    // A changed file gets another ETag: the old one no longer matches.
    tree::write(t.root + "/alpha.txt", "changed");
    auto after = get(c, u, {{"If-None-Match", etag}});
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->status, 200);
    EXPECT_EQ(after->body, "changed");
    EXPECT_NE(after->headers.get("ETag"), etag);
  });
}

TEST_P(http_fs, range_requests) {
  tree t;
  run_main(threads(), [&] {
    fs_server ts(t.root);
    http::client c({.max_redirects = 0});
    const std::string u = ts.url("/static/alpha.txt");
    struct want {
      const char* range;
      int status;
      const char* content_range;
      const char* body;
    };
    for (const want& w : {want{"bytes=2-5", 206, "bytes 2-5/26", "cdef"},
                          want{"bytes=0-0", 206, "bytes 0-0/26", "a"},
                          want{"bytes=-3", 206, "bytes 23-25/26", "xyz"},
                          want{"bytes=-100", 206, "bytes 0-25/26", "abcdefghijklmnopqrstuvwxyz"},
                          want{"bytes=20-", 206, "bytes 20-25/26", "uvwxyz"},
                          want{"bytes=24-1000", 206, "bytes 24-25/26", "yz"},
                          want{"bytes= 1-2 ", 206, "bytes 1-2/26", "bc"},
                          want{"bytes=26-", 416, "bytes */26", nullptr},
                          want{"bytes=100-200", 416, "bytes */26", nullptr},
                          want{"bytes=-0", 416, "bytes */26", nullptr},
                          want{"bytes=5-2", 416, "", nullptr},
                          want{"items=0-1", 416, "", nullptr},
                          want{"bytes=a-b", 416, "", nullptr},
                          want{"bytes=1", 416, "", nullptr},
                          // Ranges adding up to more than the file: the whole file (Go's rule).
                          want{"bytes=0-20,5-25", 200, "", "abcdefghijklmnopqrstuvwxyz"}}) {
      auto r = get(c, u, {{"Range", w.range}});
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, w.status) << w.range;
      EXPECT_EQ(r->headers.get("Content-Range"), w.content_range) << w.range;
      if (w.body) {
        EXPECT_EQ(r->body, w.body) << w.range;
      }
      if (w.status == 206) {
        EXPECT_EQ(r->headers.get("Content-Length"), std::to_string(std::string_view(w.body).size())) << w.range;
      }
    }

    // Two ranges: multipart/byteranges, as Go's multipart writer lays it out.
    auto m = get(c, u, {{"Range", "bytes=0-1,-2"}});
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->status, 206);
    std::string ct = m->headers.get("Content-Type");
    const std::string prefix = "multipart/byteranges; boundary=";
    ASSERT_EQ(ct.rfind(prefix, 0), 0u) << ct;
    std::string b = ct.substr(prefix.size());
    EXPECT_EQ(b.size(), 60u);
    EXPECT_EQ(m->body, "--" + b + "\r\nContent-Range: bytes 0-1/26\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nab" +
                           "\r\n--" + b + "\r\nContent-Range: bytes 24-25/26\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nyz" +
                           "\r\n--" + b + "--\r\n");
    EXPECT_EQ(m->headers.get("Content-Length"), std::to_string(m->body.size()));

    // If-Range: the range only while the validator still matches (strongly, or the date).
    auto first = get(c, u);
    ASSERT_TRUE(first.ok());
    const std::string etag = first->headers.get("ETag");
    for (auto [if_range, status] : {std::pair<std::string, int>{etag, 206}, {"\"stale\"", 200}, {"W/" + etag, 200},
                                    {kAlphaModified, 206}, {"Sat, 02 Jan 2021 03:04:06 GMT", 200}}) {
      auto r = get(c, u, {{"Range", "bytes=0-2"}, {"If-Range", if_range}});
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->status, status) << if_range;
      EXPECT_EQ(r->body, status == 206 ? std::string("abc") : std::string(tree::kAlpha)) << if_range;
    }
    // An empty file has no satisfiable range, and a 200 with an empty body otherwise.
    auto z = get(c, ts.url("/static/zero.bin"), {{"Range", "bytes=0-"}});
    ASSERT_TRUE(z.ok());
    EXPECT_EQ(z->status, 416);
    auto z2 = get(c, ts.url("/static/zero.bin"));
    ASSERT_TRUE(z2.ok());
    EXPECT_EQ(z2->status, 200);
    EXPECT_EQ(z2->body, "");
    EXPECT_EQ(z2->headers.get("Content-Length"), "0");
  });
}

TEST_P(http_fs, head_sends_the_header_only) {
  tree t;
  run_main(threads(), [&] {
    fs_server ts(t.root);
    // Raw bytes: the answer must end right after the header (no body on the wire).
    std::string raw = raw_exchange(ts.addr(), "HEAD /static/alpha.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(raw.substr(0, raw.find("\r\n")), "HTTP/1.1 200 OK");
    EXPECT_NE(raw.find("Content-Length: 26\r\n"), std::string::npos) << raw;
    EXPECT_NE(raw.find("ETag: \""), std::string::npos) << raw;
    EXPECT_EQ(raw.substr(raw.size() - 4), "\r\n\r\n") << raw;
    std::string ranged =
        raw_exchange(ts.addr(), "HEAD /static/alpha.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(ranged.substr(0, ranged.find("\r\n")), "HTTP/1.1 206 Partial Content");
    EXPECT_NE(ranged.find("Content-Length: 10\r\n"), std::string::npos) << ranged;
    EXPECT_EQ(ranged.substr(ranged.size() - 4), "\r\n\r\n") << ranged;
    // Keep-alive after a file answer: a second request on the same connection works.
    std::string two = raw_exchange(ts.addr(),
                                   "GET /static/alpha.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                                   "GET /static/alpha.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    int n = 0;
    for (auto p = two.find(tree::kAlpha); p != std::string::npos; p = two.find(tree::kAlpha, p + 1)) ++n;
    EXPECT_EQ(n, 2) << two;
  });
}

TEST_P(http_fs, redirects_and_indexes) {
  tree t;
  run_main(threads(), [&] {
    fs_server ts(t.root);
    http::client c({.max_redirects = 0});
    struct want {
      const char* path;
      int status;
      const char* location;
    };
    for (const want& w : {want{"/static/docs", 301, "docs/"},
                          want{"/static/docs?x=1", 301, "docs/?x=1"},
                          want{"/static/docs/index.html", 301, "./"},
                          want{"/static/alpha.txt/", 301, "../alpha.txt"},
                          want{"/static/docs/", 200, ""},
                          want{"/static/empty/", 404, ""},  // no index.html, no listing
                          want{"/static/missing/", 404, ""}}) {
      auto r = get(c, ts.url(w.path));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, w.status) << w.path;
      EXPECT_EQ(r->headers.get("Location"), w.location) << w.path;
    }
    // Followed by a client, the relative redirect lands on the index.
    http::client follow;
    auto r = follow.get(bg(), ts.url("/static/docs"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "<h1>docs</h1>");
    EXPECT_EQ(r->headers.get("Content-Type"), "text/html; charset=utf-8");
  });
}

TEST_P(http_fs, no_traversal) {
  tree t;
  run_main(threads(), [&] {
    fs_server ts(t.root);
    for (const char* target : {"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/%2E%2E/secret.txt",
                               "/static/..%2fsecret.txt", "/static/docs/../../secret.txt"}) {
      std::string raw = raw_exchange(ts.addr(), std::string("GET ") + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
      EXPECT_EQ(raw.substr(0, raw.find("\r\n")), "HTTP/1.1 400 Bad Request") << target;
      EXPECT_EQ(raw.find("TOP SECRET"), std::string::npos) << target;
    }
    http::client c({.max_redirects = 0});
    // An absolute path inside the URL is still below root; symlinks: in yes, out no.
    for (auto [path, status] : {std::pair<std::string, int>{"/static/" + t.base + "/secret.txt", 404},
                                {"/static/escape.txt", 404},
                                {"/static/inside.txt", 200}}) {
      auto r = get(c, ts.url(path));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, status) << path;
      EXPECT_EQ(r->body.find("TOP SECRET"), std::string::npos) << path;
    }
    // Called directly, without the server's path check, the file server refuses too.
    auto fs = http::file_server(t.root);
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

// Symlinks every way out of root and back in, each through the server and called
// directly. file_server resolves below root in the kernel (openat2 RESOLVE_BENEATH) and
// falls back to realpath for what that refuses (an absolute symlink that may land inside
// root): either way, whatever a link leads to outside root is 404, inside it is served.
TEST_P(http_fs, symlinks_out_of_root_are_refused) {
  tree t;
  const std::string& r = t.root;
  namespace fs = std::filesystem;
  fs::create_directories(t.base + "/outside");
  tree::write(t.base + "/outside/index.html", "TOP SECRET index");
  fs::create_directories(r + "/leaky");
  fs::create_directories(r + "/deep/er");
  auto link = [](const std::string& target, const std::string& at) { ASSERT_EQ(::symlink(target.c_str(), at.c_str()), 0) << at; };
  link("../secret.txt", r + "/rel_escape.txt");                 // relative, one level up
  link("../../../secret.txt", r + "/deep/er/far_escape.txt");   // relative, from deeper down
  link("../../../../../../../../../../../etc/hostname", r + "/deep/etc.txt");  // far above "/"
  link(t.base + "/outside", r + "/outdir");                     // a directory outside (absolute)
  link("../outside", r + "/reloutdir");                         // the same, relative
  link("..", r + "/parent");                                    // root's parent itself
  link("../../secret.txt", r + "/leaky/index.html");            // a directory's index leaking
  link("../rel_escape.txt", r + "/deep/chain.txt");             // a chain: in, then out
  link("docs/index.html", r + "/rel_inside.html");              // relative, inside
  link("../../alpha.txt", r + "/deep/er/up_inside.txt");        // "..", staying inside
  link("docs", r + "/docs_link");                               // a directory inside
  link("/", r + "/slash");                                      // the file system's root
  ASSERT_EQ(::mkfifo((r + "/fifo").c_str(), 0644), 0);          // not a regular file: 404, no hang
  link(r, t.base + "/root_link");                               // root itself named through a link
  struct want {
    const char* path;
    int status;
  };
  const want wants[] = {
      {"/rel_escape.txt", 404},  {"/deep/er/far_escape.txt", 404}, {"/deep/etc.txt", 404},
      {"/outdir/index.html", 301},  // Go's redirect of ".../index.html" comes first, without opening
      {"/outdir/", 404},         {"/reloutdir/", 404},              {"/outdir", 404},
      {"/reloutdir", 404},       {"/parent/secret.txt", 404},
      {"/parent/root/alpha.txt", 200},  // out and back in: the file's real path is inside root
      {"/leaky/", 404},          {"/deep/chain.txt", 404},          {"/slash/etc/hostname", 404},
      {"/fifo", 404},            {"/rel_inside.html", 200},         {"/deep/er/up_inside.txt", 200},
      {"/docs_link/", 200},      {"/docs_link", 301},               {"/inside.txt", 200},
  };
  run_main(threads(), [&] {
    for (const std::string& root : {r, t.base + "/root_link"}) {
      fs_server ts(root);
      http::client c({.max_redirects = 0});
      for (const want& w : wants) {
        auto res = get(c, ts.url(std::string("/static") + w.path));
        ASSERT_TRUE(res.ok()) << res.status();
        EXPECT_EQ(res->status, w.status) << root << " " << w.path;
        EXPECT_EQ(res->body.find("TOP SECRET"), std::string::npos) << w.path;
        if (w.status == 200) EXPECT_TRUE(res->body == "<h1>docs</h1>" || res->body == tree::kAlpha) << w.path;
      }
      // Called directly, without the server in front.
      auto files = http::file_server(root);
      for (const want& w : wants) {
        http::request req;
        req.method = "GET";
        req.path = w.path;
        http::response_writer rw;
        files(req, rw);
        EXPECT_EQ(rw.status(), w.status) << "direct " << root << " " << w.path;
      }
    }
  });
}

// A root that does not exist yet is 404 until it is created (the directory is opened on
// the first request that finds it, then kept).
TEST_P(http_fs, root_created_after_the_file_server) {
  tree t;
  const std::string later = t.base + "/later";
  run_main(threads(), [&] {
    fs_server ts(later);
    http::client c({.max_redirects = 0});
    auto before = get(c, ts.url("/static/a.txt"));
    ASSERT_TRUE(before.ok()) << before.status();
    EXPECT_EQ(before->status, 404);
    std::filesystem::create_directories(later);
    tree::write(later + "/a.txt", "here now");
    auto after = get(c, ts.url("/static/a.txt"));
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(after->status, 200);
    EXPECT_EQ(after->body, "here now");
  });
}

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// 50 MiB through sendfile: the bytes arrive intact while the process's RSS (server and
// client are both in it) stays within a few MiB of where it started — the file is never
// held in memory. A client that hangs up mid-file costs the server that connection only
// (EPIPE, not SIGPIPE).
TEST_P(http_fs, large_file_with_bounded_rss) {
  tree t;
  constexpr std::size_t kSize = 50u << 20;
  auto byte_at = [](std::size_t i) { return static_cast<char>((i * 7 + i / 4096) % 251); };
  {
    std::ofstream f(t.root + "/big.bin", std::ios::binary);
    std::string chunk(1 << 20, '\0');
    for (std::size_t off = 0; off < kSize; off += chunk.size()) {
      for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = byte_at(off + i);
      f.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    }
  }
  run_main(threads(), [&] {
    fs_server ts(t.root);
    const long rss0 = rss_kib();
    auto c = net::dial(ts.addr());
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(c->write("GET /static/big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").ok());
    c->set_read_deadline(std::chrono::steady_clock::now() + 60s);
    std::string head;
    std::vector<char> buf(64 << 10);
    std::size_t body = 0, bad = 0, next_sample = 0;
    long peak = rss0;
    bool in_body = false;
    for (;;) {
      auto n = c->read(buf.data(), buf.size());
      if (!n.ok()) break;
      std::size_t from = 0;
      if (!in_body) {
        head.append(buf.data(), *n);
        auto end = head.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        in_body = true;
        std::string rest = head.substr(end + 4);
        head.resize(end + 4);
        for (char ch : rest) bad += ch != byte_at(body++);
        continue;
      }
      for (std::size_t i = from; i < *n; ++i) bad += buf[i] != byte_at(body++);
      if (body >= next_sample) {
        peak = std::max(peak, rss_kib());
        next_sample += 1 << 20;
      }
    }
    EXPECT_EQ(head.substr(0, head.find("\r\n")), "HTTP/1.1 200 OK");
    EXPECT_NE(head.find("Content-Length: " + std::to_string(kSize) + "\r\n"), std::string::npos) << head;
    EXPECT_EQ(body, kSize);
    EXPECT_EQ(bad, 0u);
    EXPECT_LT(peak - rss0, 16 * 1024) << "RSS grew from " << rss0 << " KiB to " << peak << " KiB";

    // A client that leaves after 1 MiB: the server carries on.
    auto quitter = net::dial(ts.addr());
    ASSERT_TRUE(quitter.ok());
    ASSERT_TRUE(quitter->write("GET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n").ok());
    std::size_t got = 0;
    while (got < (1u << 20)) {
      auto n = quitter->read(buf.data(), buf.size());
      ASSERT_TRUE(n.ok()) << n.status();
      got += *n;
    }
    ASSERT_TRUE(quitter->close().ok());
    http::client hc;
    auto r = hc.get(bg(), ts.url("/static/alpha.txt"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, tree::kAlpha);
  });
}

INSTANTIATE_TEST_SUITE_P(threads, http_fs, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
