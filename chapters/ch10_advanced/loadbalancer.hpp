// chapters/ch10_advanced/loadbalancer.hpp — the load balancer of the loadbalancer demo
// (05_loadbalancer.cpp) and of its tests (loadbalancer_test.cpp): a reverse proxy on
// gofer::http that spreads requests over several back ends.
//
//   lb::policy     round_robin (the book's) or least_connections
//   lb::options    health checks (the book's 5 s and 60 s), timeouts, pool sizes
//   lb::balancer   make(urls, opts) → start() → handler() for an http::server → stop()
//
// Book, chapter 10, "Building a load balancer with concurrent patterns". The book's
// balancer captures one httputil.ReverseProxy when the handler is made, so every request
// goes to the same back end; this one chooses per request, over the back ends that are up.
//
// What it does, per request (proxy()):
//   - picks a back end that is up: round robin over the ones that are up, or the one with
//     the fewest requests in flight (ties broken round robin);
//   - forwards method, target, headers and body; hop-by-hop headers (Connection and the
//     fields it names, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade) are
//     dropped both ways; X-Forwarded-For and Forwarded get the client's address;
//   - a GET or HEAD whose back end refused or reset the connection before any answer came
//     (the client's Unavailable) is retried once on another back end that is up, so a back
//     end dying under load costs the clients nothing; the failed one is marked down;
//   - 503 when no back end is up, 502 when the request could not be served otherwise
//     (including a back end that timed out: Go's ReverseProxy answers 502 there too).
// Per back end, one health-check goroutine: GET health_path every check_interval while it
// answers (any status below 500); after a failure it is down and checked again after an
// exponential back-off — check_interval, doubling, at most backoff_max — and readmitted
// at the first answer. A request that finds a back end dead wakes its checker at once.
// GET /-/backends answers JSON: per back end url, state ("up"/"down"), consecutive
// failures, current back-off in ms, requests served and failed, in flight, checks made.
//
// Bodies are streamed both ways, never held whole: the request body goes from the client
// to the back end as the client sends it (request::read feeding client::stream's
// body_reader, chunked when the client's length is unknown), and the answer's body from the
// back end to the client as it arrives (streamed_response::read, then the writer). Memory
// per proxied request is a 16 KiB copy buffer plus the connections' read buffers, whatever
// the bodies' sizes. Request bodies are limited to options::max_body_bytes (413 past it).
// A request with a body is never retried (it was read once). A back end failing mid-body
// cuts the client's connection, so it cannot take the truncated answer for a whole one. A
// HEAD answer's Content-Length is not passed through (the server computes it from the empty
// body).
//
// Thread-safety: proxy() and the admin handler run on many connection goroutines at once;
// the back ends' state is atomics, written by the checkers and by proxy(). make() anywhere;
// start(), stop() and the handler inside gofer::run. Not copyable or movable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace lb {

namespace http = gofer::http;
using namespace std::chrono_literals;

enum class policy { round_robin, least_connections };

struct options {
  policy pick = policy::round_robin;
  // Health checks: the book's constants are the defaults (a check every 5 s; back-off
  // growing to at most 60 s). The book adds 5 s per failure; this back-off doubles.
  std::chrono::nanoseconds check_interval = 5s;
  std::chrono::nanoseconds backoff_max = 60s;
  std::chrono::nanoseconds check_timeout = 2s;
  std::string health_path = "/";
  // How long a back end may take to answer a proxied request: from the request's end to
  // the answer's header (Go's Transport.ResponseHeaderTimeout); the body then streams as
  // long as it lasts (events), until the client or the back end ends it.
  std::chrono::nanoseconds backend_timeout = 30s;
  // Idle keep-alive connections kept per back end.
  std::size_t idle_per_backend = 64;
  // Largest request body passed through (streamed: a bound on transfer, not on memory).
  std::uint64_t max_body_bytes = std::uint64_t{1} << 30;
};

class balancer {
 public:
  // One back end. Every field is read by the admin handler while others write it.
  struct backend {
    std::string url;   // "http://127.0.0.1:8081", as given, without a trailing '/'
    std::string name;  // host:port
    std::atomic<bool> up{false};
    std::atomic<int> in_flight{0};
    std::atomic<long> served{0}, failed{0}, checks{0};
    std::atomic<int> failures{0};          // consecutive failed checks
    std::atomic<std::int64_t> backoff_ms{0};  // the wait before the next check while down
    gofer::chan<int> wake{1};              // a request found it dead: check now
  };

  // Validates the URLs (http://host:port, no path) and builds the balancer; nothing runs
  // yet. InvalidArgument for a bad URL or an empty list. Never blocks.
  static absl::StatusOr<std::unique_ptr<balancer>> make(const std::vector<std::string>& urls, options o = {}) {
    if (urls.empty()) return absl::InvalidArgumentError("no back ends");
    if (o.check_interval <= 0ns || o.backoff_max < o.check_interval || o.check_timeout <= 0ns)
      return absl::InvalidArgumentError("check interval and timeout must be positive, back-off max >= interval");
    std::unique_ptr<balancer> b(new balancer(o));
    for (const std::string& s : urls) {
      auto u = http::parse_url(s);
      if (!u.ok()) return absl::InvalidArgumentError("back end \"" + s + "\": " + std::string(u.status().message()));
      if (u->path != "/" || !u->raw_query.empty())
        return absl::InvalidArgumentError("back end \"" + s + "\": give only http://host:port");
      auto be = std::make_unique<backend>();
      be->name = u->host_port();
      be->url = "http://" + be->name;
      b->backends_.push_back(std::move(be));
    }
    return b;
  }

  balancer(const balancer&) = delete;
  balancer& operator=(const balancer&) = delete;
  ~balancer() { stop(); }

  // Checks every back end once (concurrently, each within check_timeout), so the first
  // requests already know which are up, then starts one checker goroutine per back end.
  // Parks for at most check_timeout. Call once, inside gofer::run.
  void start() {
    std::tie(ctx_, cancel_) = gofer::with_cancel(gofer::background());
    gofer::wait_group first;
    for (auto& b : backends_) {
      first.add(1);
      gofer::go(gofer::named{"first check " + b->name}, [this, &first, be = b.get()] {
        check(*be);
        first.done();
      });
    }
    first.wait();
    for (auto& b : backends_) {
      checkers_.add(1);
      gofer::go(gofer::named{"health " + b->name}, [this, be = b.get()] {
        check_loop(*be);
        checkers_.done();
      });
    }
  }

  // Stops the checkers and waits for them. Idempotent. Parks briefly.
  void stop() {
    if (!cancel_) return;
    cancel_();
    cancel_ = nullptr;
    checkers_.wait();
    client_.close_idle_connections();
  }

  // The handler to serve: GET /-/backends is the admin page, everything else is proxied.
  http::handler handler() {
    http::serve_mux mux;
    mux.handle("GET /-/backends", [this](const http::request&, http::response_writer& w) {
      http::write_json(w, http::status::ok, report());
    });
    mux.handle("/", [this](const http::request& r, http::response_writer& w) { proxy(r, w); });
    return mux;
  }

  // The admin page's JSON.
  nlohmann::json report() const {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& b : backends_) {
      j.push_back({{"url", b->url},
                   {"state", b->up.load() ? "up" : "down"},
                   {"failures", b->failures.load()},
                   {"backoff_ms", b->backoff_ms.load()},
                   {"served", b->served.load()},
                   {"failed", b->failed.load()},
                   {"in_flight", b->in_flight.load()},
                   {"checks", b->checks.load()}});
    }
    return j;
  }

  const std::vector<std::unique_ptr<backend>>& backends() const { return backends_; }
  // Requests retried on a second back end, and answered 502 / 503 (diagnostics, tests).
  long retries() const { return retries_.load(); }
  long bad_gateways() const { return bad_gateway_.load(); }
  long unavailables() const { return unavailable_.load(); }

 private:
  explicit balancer(options o)
      : o_(std::move(o)),
        client_(http::client_options{.max_redirects = 0,
                                     .max_idle_per_host = o_.idle_per_backend,
                                     .response_header_timeout = o_.backend_timeout,
                                     .user_agent = "gofer-lb"}),
        checker_client_(http::client_options{.max_redirects = 0, .max_idle_per_host = 1, .user_agent = "gofer-lb-health"}) {}

  // ---- health checks ------------------------------------------------------------------
  // One check: GET health_path within check_timeout. Up on any answer below 500.
  bool check(backend& b) {
    auto [ctx, cancel] = gofer::with_timeout(ctx_, o_.check_timeout);
    auto res = checker_client_.get(ctx, b.url + o_.health_path);
    cancel();
    b.checks.fetch_add(1);
    bool ok = res.ok() && res->status < 500;
    if (ok) {
      b.failures.store(0);
      b.backoff_ms.store(0);
      b.up.store(true);
    } else {
      int n = b.failures.fetch_add(1) + 1;
      // check_interval · 2^(n-1), at most backoff_max.
      auto wait = o_.check_interval;
      for (int i = 1; i < n && wait < o_.backoff_max; ++i) wait *= 2;
      if (wait > o_.backoff_max) wait = o_.backoff_max;
      b.backoff_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
      b.up.store(false);
    }
    return ok;
  }

  // The checker: one timer, re-armed after each check (not a new after() per loop), and a
  // wake channel through which proxy() reports a dead connection.
  void check_loop(backend& b) {
    auto next = [&] {
      return b.up.load() ? o_.check_interval : std::chrono::nanoseconds(std::chrono::milliseconds(b.backoff_ms.load()));
    };
    gofer::timer t(next());
    auto done = ctx_.done();
    for (;;) {
      int i = gofer::select(gofer::recv_case(done), gofer::recv_case(t.c()), gofer::recv_case(b.wake));
      if (i == 0) return;
      if (i == 2 && !b.up.load() && b.failures.load() > 0) continue;  // already down: keep backing off
      check(b);
      t.reset(next());
    }
  }

  // A request found b dead: take it out now and let its checker confirm.
  void suspect(backend& b) {
    b.up.store(false);
    (void)b.wake.try_send(1);
  }

  // ---- choosing -----------------------------------------------------------------------
  backend* pick(const backend* exclude) {
    const std::size_t n = backends_.size();
    std::size_t start = next_.fetch_add(1, std::memory_order_relaxed);
    if (o_.pick == policy::least_connections) {
      backend* best = nullptr;
      for (std::size_t i = 0; i < n; ++i) {
        backend* b = backends_[(start + i) % n].get();
        if (b == exclude || !b->up.load()) continue;
        if (!best || b->in_flight.load() < best->in_flight.load()) best = b;
      }
      return best;
    }
    // Round robin over the back ends that are up (not over all of them: skipping a down
    // one would hand its turns to its neighbour).
    std::size_t up = 0;
    for (const auto& b : backends_)
      if (b.get() != exclude && b->up.load()) ++up;
    if (up == 0) return nullptr;
    std::size_t k = start % up;
    for (const auto& b : backends_)
      if (b.get() != exclude && b->up.load() && k-- == 0) return b.get();
    return nullptr;  // one went down meanwhile
  }

  // ---- proxying -----------------------------------------------------------------------
  static bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) != absl::ascii_tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  }
  static bool is_hop_by_hop(std::string_view k, const std::vector<std::string>& named) {
    static constexpr std::string_view hop[] = {"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
                                               "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding",
                                               "Upgrade", "Content-Length"};
    for (auto h : hop)
      if (iequals(k, h)) return true;
    for (const auto& h : named)
      if (iequals(k, h)) return true;
    return false;
  }
  // The field names listed in Connection headers ("Connection: close, X-Foo").
  static std::vector<std::string> connection_tokens(const http::header& h) {
    std::vector<std::string> out;
    for (const auto& v : h.values("Connection"))
      for (auto tok : absl::StrSplit(v, ',', absl::SkipWhitespace()))
      {
        auto t = absl::StripAsciiWhitespace(tok);
        out.emplace_back(t.data(), t.size());
      }
    return out;
  }
  static std::string client_ip(const std::string& remote) {
    auto colon = remote.rfind(':');
    std::string ip = colon == std::string::npos ? remote : remote.substr(0, colon);
    if (ip.size() > 1 && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
    return ip;
  }

  http::header upstream_headers(const http::request& r) const {
    http::header out;
    auto named = connection_tokens(r.headers);
    for (const auto& [k, v] : r.headers)
      if (!is_hop_by_hop(k, named) && !iequals(k, "X-Forwarded-For") &&
          !iequals(k, "Forwarded"))
        out.add(k, v);
    std::string ip = client_ip(r.remote_addr);
    std::string xff;
    for (const auto& v : r.headers.values("X-Forwarded-For")) xff += v + ", ";
    out.set("X-Forwarded-For", xff + ip);
    std::string fwd;
    for (const auto& v : r.headers.values("Forwarded")) fwd += v + ", ";
    std::string node = ip.find(':') != std::string::npos ? "\"[" + ip + "]\"" : ip;
    out.set("Forwarded", fwd + "for=" + node + (r.host.empty() ? "" : ";host=\"" + r.host + "\"") + ";proto=http");
    return out;
  }

  // One exchange with b: the request's body streams to it as the client sends it; the
  // answer comes back with its header read and its body still to stream. The header within
  // backend_timeout of the request's end; cancelled with the request's ctx.
  absl::StatusOr<http::streamed_response> forward(backend& b, const http::request& r, const http::header& h) {
    std::string target = !r.target.empty() && r.target.front() == '/'
                             ? r.target
                             : r.path + (r.raw_query.empty() ? "" : "?" + r.raw_query);
    http::body_reader body;
    if (r.content_length != 0) {
      http::max_bytes(r, o_.max_body_bytes);
      body = [&r](char* p, std::size_t n) { return r.read(p, n); };
    }
    auto res = client_.stream(r.ctx, r.method, b.url + target, h, std::move(body), r.content_length);
    if (res.ok()) b.served.fetch_add(1);
    else b.failed.fetch_add(1);
    return res;
  }

  void proxy(const http::request& r, http::response_writer& w) {
    backend* b = pick(nullptr);
    if (!b) {
      unavailable_.fetch_add(1);
      http::error(w, "503 no healthy back end", http::status::service_unavailable);
      return;
    }
    http::header h = upstream_headers(r);
    b->in_flight.fetch_add(1);
    auto res = forward(*b, r, h);
    if (!res.ok() && res.status().code() == absl::StatusCode::kUnavailable) {
      // Refused or reset before an answer began: the back end is gone. An idempotent
      // request without a body (none was read yet) may be sent again, once, elsewhere.
      suspect(*b);
      if ((r.method == "GET" || r.method == "HEAD") && r.content_length == 0) {
        if (backend* again = pick(b)) {
          retries_.fetch_add(1);
          b->in_flight.fetch_sub(1);
          b = again;
          b->in_flight.fetch_add(1);
          res = forward(*b, r, h);
          if (!res.ok() && res.status().code() == absl::StatusCode::kUnavailable) suspect(*b);
        }
      }
    }
    // In flight until the answer's body has been passed on (least connections counts
    // streams), whichever way this function ends.
    gofer::defer done([b] { b->in_flight.fetch_sub(1); });
    if (!res.ok()) {
      bad_gateway_.fetch_add(1);
      if (absl::IsResourceExhausted(res.status()) && res.status().message().find("request body too large") != std::string_view::npos)
        return http::error(w, "413 request body too large", http::status::payload_too_large);
      http::error(w, "502 bad gateway: " + std::string(res.status().message()), http::status::bad_gateway);
      return;
    }
    auto named = connection_tokens(res->headers);
    for (const auto& [k, v] : res->headers)
      if (!is_hop_by_hop(k, named)) w.headers().add(k, v);
    w.write_header(res->status);
    // The body as it arrives, each piece flushed to the client at once (Go's ReverseProxy
    // flushes at once for streams too), so an event reaches the client before the back end
    // finishes. A body whose declared length has all arrived in the first read is answered
    // in one piece instead (the common small answer: one write, with its Content-Length).
    // On the heap (a goroutine's stack is 64 KiB) and not zeroed: a 32 KiB memset per
    // request showed in the profile.
    constexpr std::size_t kCopy = 16 << 10;
    auto buf = std::make_unique_for_overwrite<char[]>(kCopy);
    std::int64_t left = res->content_length;  // -1: unknown
    for (;;) {
      auto n = res->read(buf.get(), kCopy);
      if (!n.ok()) {
        if (gofer::net::is_eof(n.status())) return;
        b->failed.fetch_add(1);
        // Mid-body: the client must not take what it got for the whole answer. The
        // server answers 500 if nothing was sent yet, else cuts the connection.
        throw std::runtime_error("back end " + b->name + " failed mid-body: " + std::string(n.status().message()));
      }
      if (left > 0) left -= static_cast<std::int64_t>(*n);
      // A failed write or flush: the client is gone; returning drops the back end's
      // connection (res closes it) and the server closes the client's.
      if (!w.write(std::string_view(buf.get(), *n))) return;
      if ((left != 0 || w.flushed()) && !w.flush().ok()) return;
    }
  }

  options o_;
  std::vector<std::unique_ptr<backend>> backends_;
  http::client client_;          // the keep-alive pools to the back ends (one per host:port)
  http::client checker_client_;  // health checks, on connections of their own
  std::atomic<std::size_t> next_{0};
  std::atomic<long> retries_{0}, bad_gateway_{0}, unavailable_{0};
  gofer::context ctx_;
  gofer::cancel_func cancel_;
  gofer::wait_group checkers_;
};

}  // namespace lb
