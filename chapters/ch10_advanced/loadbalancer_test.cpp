// loadbalancer_test — the load balancer of chapter 10 (loadbalancer.hpp) over real local
// back ends on loopback: round-robin spread, least connections, back-off and readmission,
// retry on a killed back end with no client errors, 502 and 503, a large body both ways,
// 64 MiB streamed through each way in bounded memory (sampled RSS), a slow event stream,
// hop-by-hop headers and X-Forwarded-For, malformed requests (4xx, and it keeps serving).
// CTest label `net`. Orders events with channels and the balancer's own state, never sleeps;
// waits for a health check to happen have a failure bound only.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>

#include "loadbalancer.hpp"

using namespace std::chrono_literals;
namespace http = gofer::http;

namespace {

// A local back end: a handler on a free port; kill() cuts it off (listener and connections).
struct backend {
  std::string addr;
  std::unique_ptr<http::server> srv;
  gofer::chan<int> stopped{1};

  explicit backend(http::handler h, std::string where = "127.0.0.1:0") {
    auto ln = gofer::net::listen(where);
    EXPECT_TRUE(ln.ok()) << ln.status();
    addr = ln->addr();
    srv = std::make_unique<http::server>(std::move(h));
    gofer::go([s = srv.get(), st = stopped, l = std::move(*ln)]() mutable {
      (void)s->serve(std::move(l));
      st.send(1);
    });
  }
  std::string url() const { return "http://" + addr; }
  void kill() {
    if (!srv) return;
    (void)srv->close();
    stopped.recv();
    srv.reset();
  }
  ~backend() { kill(); }
};

http::handler says(std::string name) {
  return [name](const http::request&, http::response_writer& w) { w.write(name); };
}

// An address where nothing listens (a port that was free a moment ago).
std::string dead_url() { return "http://" + gofer::net::listen("127.0.0.1:0")->addr(); }

// The balancer in front of its back ends, served on a free port.
struct front {
  std::unique_ptr<lb::balancer> bal;
  std::unique_ptr<http::server> srv;
  std::string url;
  gofer::chan<int> stopped{1};

  front(const std::vector<std::string>& urls, lb::options o) {
    auto b = lb::balancer::make(urls, o);
    EXPECT_TRUE(b.ok()) << b.status();
    bal = std::move(*b);
    bal->start();
    auto ln = gofer::net::listen("127.0.0.1:0");
    url = "http://" + ln->addr();
    srv = std::make_unique<http::server>(bal->handler());
    gofer::go([s = srv.get(), st = stopped, l = std::move(*ln)]() mutable {
      (void)s->serve(std::move(l));
      st.send(1);
    });
  }
  ~front() {
    (void)srv->shutdown(gofer::background());
    stopped.recv();
    bal->stop();
  }
};

// Long check intervals: only the first check and what proxy() sees change a state.
lb::options quiet(lb::policy p = lb::policy::round_robin) {
  lb::options o;
  o.pick = p;
  o.check_interval = 60s;
  o.backoff_max = 60s;
  o.check_timeout = 2s;
  return o;
}

// Waits (on a ticker, bounded) until pred holds.
template <class Pred>
bool eventually(Pred pred, std::chrono::seconds limit = 10s) {
  gofer::ticker tk(1ms);
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    tk.c().recv();
  }
  return true;
}

void run(std::function<void()> f) { EXPECT_EQ(gofer::run(std::move(f), {.threads = 2}), 0); }

// This process's resident set in bytes (/proc/self/statm).
std::size_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

// Samples RSS every 2 ms on a goroutine until stop(); peak() is the largest seen. (Freed
// buffers go back to the OS, so a before/after difference would miss a body held whole.)
class rss_sampler {
 public:
  rss_sampler() {
    wg_.add(1);
    gofer::go(gofer::named{"rss-sampler"}, [this] {
      gofer::ticker tk(2ms);
      for (;;) {
        std::size_t now = rss_bytes();
        if (now > peak_.load()) peak_.store(now);
        bool done = gofer::select(gofer::recv_case(tk.c(), [](auto) { return false; }),
                                  gofer::recv_case(stop_, [](auto) { return true; }));
        if (done) break;
      }
      wg_.done();
    });
  }
  std::size_t stop() {
    stop_.close();
    wg_.wait();
    return peak_.load();
  }

 private:
  std::atomic<std::size_t> peak_{0};
  gofer::chan<int> stop_;
  gofer::wait_group wg_;
};

// A request body of `total` bytes of 'u', produced as it is sent.
http::body_reader producer(std::size_t total) {
  auto left = std::make_shared<std::size_t>(total);
  return [left](char* p, std::size_t n) -> absl::StatusOr<std::size_t> {
    if (*left == 0) return absl::OutOfRangeError("EOF");
    std::size_t k = std::min(n, *left);
    std::memset(p, 'u', k);
    *left -= k;
    return k;
  };
}

// A back end that counts the request body as it reads it (request::read) and answers the count.
http::handler counts_body() {
  return [](const http::request& r, http::response_writer& w) {
    http::max_bytes(r, std::uint64_t{1} << 30);
    std::vector<char> buf(64 << 10);
    std::size_t total = 0;
    for (;;) {
      auto n = r.read(buf.data(), buf.size());
      if (!n.ok()) break;
      total += *n;
    }
    w.write(std::to_string(total));
  };
}

}  // namespace

TEST(loadbalancer, round_robin_spreads_evenly) {
  run([] {
    backend a(says("a")), b(says("b")), c(says("c"));
    front f({a.url(), b.url(), c.url()}, quiet());
    http::client cl;
    std::map<std::string, int> got;
    for (int i = 0; i < 30; ++i) {
      auto res = cl.get(gofer::background(), f.url + "/");
      ASSERT_TRUE(res.ok()) << res.status();
      ASSERT_EQ(res->status, 200);
      got[res->body]++;
    }
    EXPECT_EQ(got["a"], 10);
    EXPECT_EQ(got["b"], 10);
    EXPECT_EQ(got["c"], 10);
  });
}

TEST(loadbalancer, round_robin_skips_down_backend_without_favouring_a_neighbour) {
  run([] {
    backend a(says("a")), c(says("c"));
    front f({a.url(), dead_url(), c.url()}, quiet());
    ASSERT_FALSE(f.bal->backends()[1]->up.load());
    http::client cl;
    std::map<std::string, int> got;
    for (int i = 0; i < 20; ++i) got[cl.get(gofer::background(), f.url + "/")->body]++;
    EXPECT_EQ(got["a"], 10);
    EXPECT_EQ(got["c"], 10);
  });
}

TEST(loadbalancer, least_connections_sends_less_to_a_slow_backend) {
  run([] {
    backend fast(says("fast"));
    backend slow([](const http::request&, http::response_writer& w) {
      gofer::sleep(50ms);
      w.write("slow");
    });
    front f({fast.url(), slow.url()}, quiet(lb::policy::least_connections));
    std::atomic<int> fast_n{0}, slow_n{0};
    gofer::wait_group wg;
    for (int i = 0; i < 8; ++i) {
      wg.add(1);
      gofer::go([&] {
        http::client cl;
        for (int j = 0; j < 10; ++j) {
          auto res = cl.get(gofer::background(), f.url + "/");
          if (res.ok() && res->body == "fast") fast_n++;
          if (res.ok() && res->body == "slow") slow_n++;
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(fast_n + slow_n, 80);
    // Round robin would give the slow one 40; least connections keeps it busy with at most
    // a few at a time while the fast one takes the rest.
    EXPECT_LT(slow_n.load(), 30);
  });
}

TEST(loadbalancer, backoff_doubles_to_the_max_then_readmits) {
  run([] {
    std::string url = dead_url();
    backend ok(says("ok"));
    lb::options o;
    o.check_interval = 20ms;
    o.backoff_max = 160ms;
    o.check_timeout = 1s;
    front f({url, ok.url()}, o);
    auto& b = *f.bal->backends()[0];
    EXPECT_FALSE(b.up.load());
    // 20, 40, 80, 160, then 160 again: check_interval doubling, capped at backoff_max.
    std::vector<long long> seen;
    ASSERT_TRUE(eventually([&] {
      long long v = b.backoff_ms.load();
      if (seen.empty() || seen.back() != v) seen.push_back(v);
      return b.failures.load() >= 5;
    }));
    EXPECT_EQ(b.backoff_ms.load(), 160);
    std::vector<long long> expect{20, 40, 80, 160};
    for (long long v : expect) EXPECT_NE(std::find(seen.begin(), seen.end(), v), seen.end()) << v;
    // Nothing is sent to it while it is down.
    http::client cl;
    for (int i = 0; i < 4; ++i) EXPECT_EQ(cl.get(gofer::background(), f.url + "/")->body, "ok");
    // It comes back: the next check readmits it and resets failures and back-off.
    backend back(says("back"), url.substr(7));
    ASSERT_TRUE(eventually([&] { return b.up.load(); }));
    EXPECT_EQ(b.failures.load(), 0);
    EXPECT_EQ(b.backoff_ms.load(), 0);
    std::map<std::string, int> got;
    for (int i = 0; i < 4; ++i) got[cl.get(gofer::background(), f.url + "/")->body]++;
    EXPECT_EQ(got["back"], 2);
  });
}

TEST(loadbalancer, killed_backend_is_retried_elsewhere_with_no_client_errors) {
  run([] {
    backend a(says("a")), b(says("b"));
    front f({a.url(), b.url()}, quiet());
    std::atomic<int> done{0}, errors{0};
    gofer::chan<int> halfway(1);
    gofer::wait_group wg;
    for (int i = 0; i < 8; ++i) {
      wg.add(1);
      gofer::go([&] {
        http::client cl;
        for (int j = 0; j < 40; ++j) {
          auto res = cl.get(gofer::background(), f.url + "/");
          if (!res.ok() || res->status != 200) errors++;
          if (++done == 160) (void)halfway.try_send(1);
        }
        wg.done();
      });
    }
    halfway.recv();
    b.kill();  // cuts off b's connections, requests in flight included
    wg.wait();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_GE(f.bal->retries(), 1);
    EXPECT_FALSE(f.bal->backends()[1]->up.load());
    EXPECT_EQ(f.bal->bad_gateways(), 0);
  });
}

TEST(loadbalancer, post_to_a_dead_backend_is_502_not_retried) {
  run([] {
    backend a(says("a"));
    front f({a.url()}, quiet());
    a.kill();
    http::client cl;
    auto res = cl.post(gofer::background(), f.url + "/x", "data", "text/plain");
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 502);
    EXPECT_EQ(f.bal->retries(), 0);
  });
}

TEST(loadbalancer, get_with_no_second_backend_is_502_then_503) {
  run([] {
    backend a(says("a"));
    front f({a.url()}, quiet());
    a.kill();
    http::client cl;
    auto res = cl.get(gofer::background(), f.url + "/");
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 502);  // it was up when picked; then nothing to retry on
    res = cl.get(gofer::background(), f.url + "/");
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 503);  // now it is known to be down
  });
}

TEST(loadbalancer, no_healthy_backend_is_503) {
  run([] {
    front f({dead_url(), dead_url()}, quiet());
    http::client cl;
    auto res = cl.get(gofer::background(), f.url + "/");
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 503);
    EXPECT_EQ(f.bal->unavailables(), 1);
  });
}

TEST(loadbalancer, large_bodies_pass_both_ways) {
  run([] {
    backend echo([](const http::request& r, http::response_writer& w) {
      if (r.method == "POST") w.write(r.body());
      else w.write(std::string(8 << 20, 'z'));
    });
    front f({echo.url()}, quiet());
    std::string big(5 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i / 4096 % 26);
    http::client cl({.max_response_bytes = 16 << 20});
    auto res = cl.post(gofer::background(), f.url + "/echo", big, "application/octet-stream");
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 200);
    EXPECT_TRUE(res->body == big);
    res = cl.get(gofer::background(), f.url + "/big");
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->body.size(), std::size_t{8} << 20);
  });
}

// 64 MiB uploaded through the balancer, chunked: it streams to the back end as the client
// sends it, so the process (client, balancer and back end together) never holds it whole.
TEST(loadbalancer, a_64_mib_upload_streams_through_in_bounded_memory) {
  run([] {
    backend counter(counts_body());
    front f({counter.url()}, quiet());
    http::client cl;
    constexpr std::size_t kBody = std::size_t{64} << 20;
    const std::size_t before = rss_bytes();
    rss_sampler sampler;
    auto res = cl.stream(gofer::background(), "POST", f.url + "/up", {}, producer(kBody));
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 200);
    auto body = res->read_all();
    const std::size_t peak = sampler.stop();
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, std::to_string(kBody));
    const std::size_t grew = peak > before ? peak - before : 0;
    std::printf("64 MiB upload through the balancer: peak RSS grew %zu MiB\n", grew >> 20);
    EXPECT_LT(grew, std::size_t{40} << 20) << "someone held the 64 MiB body whole";
  });
}

// 64 MiB downloaded through the balancer from a back end that streams it (flushes): the
// balancer passes each piece on as it arrives, so it never holds the body whole either.
TEST(loadbalancer, a_64_mib_download_streams_through_in_bounded_memory) {
  run([] {
    constexpr std::size_t kBody = std::size_t{64} << 20;
    backend source([](const http::request& r, http::response_writer& w) {
      if (r.path == "/") return w.write_header(http::status::no_content);  // the health check
      const std::string piece(1 << 20, 'd');
      for (std::size_t sent = 0; sent < kBody; sent += piece.size())
        if (!w.write(piece) || !w.flush().ok()) return;
    });
    front f({source.url()}, quiet());
    http::client cl;
    const std::size_t before = rss_bytes();
    rss_sampler sampler;
    auto res = cl.stream(gofer::background(), "GET", f.url + "/big");
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 200);
    std::vector<char> buf(64 << 10);
    std::size_t total = 0;
    absl::Status end;
    for (;;) {
      auto n = res->read(buf.data(), buf.size());
      if (!n.ok()) {
        end = n.status();
        break;
      }
      total += *n;
    }
    const std::size_t peak = sampler.stop();
    EXPECT_TRUE(gofer::net::is_eof(end)) << end;
    EXPECT_EQ(total, kBody);
    const std::size_t grew = peak > before ? peak - before : 0;
    std::printf("64 MiB download through the balancer: peak RSS grew %zu MiB\n", grew >> 20);
    EXPECT_LT(grew, std::size_t{40} << 20) << "someone held the 64 MiB body whole";
  });
}

// A slow event stream (SSE): the back end sends its first event, then waits until the
// client has it; it reaches the client through the balancer while the back end is still
// running (a buffering proxy would hold it until the end: the test would never release).
TEST(loadbalancer, a_slow_event_stream_reaches_the_client_as_it_comes) {
  run([] {
    gofer::chan<int> first_seen;
    backend events([first_seen](const http::request& r, http::response_writer& w) {
      if (r.path == "/") return w.write_header(http::status::no_content);  // the health check
      http::event_stream es(w);
      if (!es.send("tick", "1").ok()) return;
      (void)first_seen.recv();  // the client has event 1 (or the test gave up: closed)
      (void)es.send("tick", "2");
    });
    front f({events.url()}, quiet());
    http::client cl;
    auto res = cl.stream(gofer::background(), "GET", f.url + "/events");
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->headers.get("Content-Type"), "text/event-stream");
    std::string got;
    char buf[256];
    while (got.find("data: 1\n\n") == std::string::npos) {
      auto n = res->read(buf, sizeof buf);
      if (!n.ok()) {
        ADD_FAILURE() << "the stream ended before event 1: " << n.status() << " after " << got;
        break;
      }
      got.append(buf, *n);
    }
    EXPECT_EQ(got.find("data: 2"), std::string::npos) << "event 2 came before the back end was released";
    first_seen.close();
    auto rest = res->read_all();
    ASSERT_TRUE(rest.ok()) << rest.status();
    EXPECT_NE((got + *rest).find("event: tick\ndata: 2\n\n"), std::string::npos) << got + *rest;
  });
}

TEST(loadbalancer, hop_by_hop_headers_dropped_and_forwarded_for_added) {
  run([] {
    backend b([](const http::request& r, http::response_writer& w) {
      nlohmann::json j;
      for (const auto& [k, v] : r.headers) j[k] = v;
      w.headers().set("Keep-Alive", "timeout=5");
      w.headers().set("Proxy-Authenticate", "Basic");
      w.headers().set("X-Kept", "yes");
      w.write(j.dump());
    });
    front f({b.url()}, quiet());
    // Raw, because gofer's client (like Go's) does not let a caller set Connection.
    auto c = gofer::net::dial(f.url.substr(7));
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c->write("GET /h HTTP/1.1\r\nHost: x\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\n"
                         "Keep-Alive: timeout=9\r\nProxy-Authorization: x\r\nX-Forwarded-For: 10.0.0.1\r\n"
                         "X-Custom: v\r\n\r\n")
                    .ok());
    std::string got;
    char buf[4096];
    for (;;) {
      auto n = c->read(buf, sizeof buf);
      if (!n.ok()) break;
      got.append(buf, *n);
    }
    auto split = got.find("\r\n\r\n");
    ASSERT_NE(split, std::string::npos) << got;
    std::string head = got.substr(0, split), body = got.substr(split + 4);
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    auto j = nlohmann::json::parse(body);
    EXPECT_FALSE(j.contains("X-Secret")) << body;
    EXPECT_FALSE(j.contains("Keep-Alive")) << body;
    EXPECT_FALSE(j.contains("Proxy-Authorization")) << body;
    EXPECT_EQ(j.value("X-Custom", ""), "v");
    EXPECT_EQ(j.value("Host", ""), "x");
    EXPECT_EQ(j.value("X-Forwarded-For", ""), "10.0.0.1, 127.0.0.1");
    EXPECT_EQ(j.value("Forwarded", "").rfind("for=127.0.0.1", 0), 0u) << j.value("Forwarded", "");
    EXPECT_EQ(head.find("Keep-Alive"), std::string::npos) << head;
    EXPECT_EQ(head.find("Proxy-Authenticate"), std::string::npos) << head;
    EXPECT_NE(head.find("X-Kept: yes"), std::string::npos) << head;
  });
}

TEST(loadbalancer, malformed_requests_get_4xx_and_it_keeps_serving) {
  run([] {
    backend b(says("b"));
    front f({b.url()}, quiet());
    for (std::string bad : {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
                            "GET /../etc HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\n\r\n"}) {
      auto c = gofer::net::dial(f.url.substr(7));
      ASSERT_TRUE(c.ok());
      ASSERT_TRUE(c->write(bad).ok());
      std::string got;
      char buf[512];
      for (;;) {
        auto n = c->read(buf, sizeof buf);
        if (!n.ok()) break;
        got.append(buf, *n);
      }
      EXPECT_EQ(got.rfind("HTTP/1.1 4", 0), 0u) << bad << " → " << got;
    }
    http::client cl;
    auto res = cl.get(gofer::background(), f.url + "/");
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->body, "b");
  });
}

TEST(loadbalancer, admin_page_reports_each_backend) {
  run([] {
    backend a(says("a"));
    std::string dead = dead_url();
    front f({a.url(), dead}, quiet());
    http::client cl;
    (void)cl.get(gofer::background(), f.url + "/");
    auto res = cl.get(gofer::background(), f.url + "/-/backends");
    ASSERT_TRUE(res.ok()) << res.status();
    auto j = res->json();
    ASSERT_TRUE(j.ok()) << j.status();
    ASSERT_EQ(j->size(), 2u);
    EXPECT_EQ((*j)[0]["url"], a.url());
    EXPECT_EQ((*j)[0]["state"], "up");
    EXPECT_EQ((*j)[0]["served"], 1);
    EXPECT_EQ((*j)[1]["url"], dead);
    EXPECT_EQ((*j)[1]["state"], "down");
    EXPECT_EQ((*j)[1]["failures"], 1);
    EXPECT_EQ((*j)[1]["backoff_ms"], 60000);
  });
}

TEST(loadbalancer, make_rejects_bad_urls) {
  EXPECT_FALSE(lb::balancer::make({}).ok());
  EXPECT_FALSE(lb::balancer::make({"https://x:1"}).ok());
  EXPECT_FALSE(lb::balancer::make({"http://x:1/path"}).ok());
  EXPECT_TRUE(lb::balancer::make({"http://127.0.0.1:1"}).ok());
}
