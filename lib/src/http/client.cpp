// lib/src/http/client.cpp — client (Go's http.Client with its Transport): a pool of idle
// connections per host:port under a gofer::mutex; a round trip writes a Beast request and
// reads with a response_parser; a watcher goroutine turns a context cancellation into an
// immediate conn deadline; redirects are followed in client::send.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "absl/base/thread_annotations.h"
#include "detail/http.hpp"
#include "gofer/detail/spinlock.hpp"
#include "gofer/defer.hpp"
#include "gofer/runtime.hpp"
#include "gofer/select.hpp"
#include "gofer/sync.hpp"

namespace gofer::http {

using namespace internal;  // the shared helpers of lib/src/detail/http.hpp

struct client::state {
  explicit state(client_options oo) : o(std::move(oo)) {}
  const client_options o;

  struct idle_conn {
    net::conn c;
    clk::time_point since;
  };
  // Guards idle and idle_count. Held for pool bookkeeping only; connections are closed
  // (destroyed) after it is released.
  mutable gofer::mutex mu;
  std::unordered_map<std::string, std::vector<idle_conn>> idle;
  std::size_t idle_count = 0;

  std::optional<net::conn> take(const std::string& key) {
    std::vector<net::conn> expired;
    std::optional<net::conn> out;
    {
      std::lock_guard lk(mu);
      auto it = idle.find(key);
      if (it != idle.end()) {
        auto& v = it->second;
        auto now = clk::now();
        while (!v.empty()) {
          idle_conn ic = std::move(v.back());
          v.pop_back();
          --idle_count;
          if (o.idle_conn_timeout > std::chrono::nanoseconds::zero() && now - ic.since > o.idle_conn_timeout) {
            expired.push_back(std::move(ic.c));
            continue;
          }
          out = std::move(ic.c);
          break;
        }
      }
    }
    return out;  // `expired` closes on destruction, outside the lock
  }

  void put(const std::string& key, net::conn c) {
    std::optional<net::conn> drop;
    {
      std::lock_guard lk(mu);
      auto& v = idle[key];
      if (v.size() >= o.max_idle_per_host) {
        drop = std::move(c);
      } else {
        v.push_back({std::move(c), clk::now()});
        ++idle_count;
      }
    }
  }
};

namespace {

// "GET" → "Get", as Go's client errors spell the method.
std::string go_method(std::string_view m) {
  std::string out = to_lower(m);
  if (!out.empty()) out[0] = m[0];
  return out;
}

// bhttp::read_header with the header limit counted over the whole header. Beast 1.74
// compares header_limit with the bytes it has not consumed yet, so a header of many small
// fields arriving in several reads could grow past the limit without bound (found by
// tests/http_fuzz_test.cpp). Counting what the parser consumed enforces it exactly.
template <class Parser>
void read_header_limited(net::conn& c, beast::flat_buffer& buf, Parser& p, std::uint64_t limit, error_code& ec) {
  std::uint64_t used = 0;
  while (!p.is_header_done()) {
    try {
      used += bhttp::read_some(c, buf, p, ec);
    } catch (const std::length_error&) {  // a field over 64 KiB: see read_request_header (conn.cpp)
      ec = bhttp::error::header_limit;
      return;
    }
    if (ec) return;
    if (used > limit) {
      ec = bhttp::error::header_limit;
      return;
    }
  }
}

bool replayable(std::string_view m) { return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE"; }

// Is a pooled connection still usable? Nothing must be readable: EOF, an error or stray
// bytes mean the server closed it (or broke the protocol) while it sat in the pool. Go
// learns the same from its per-connection read loop; one non-blocking peek is cheaper
// than a goroutine. (Not a read with a passed deadline: that fails before the syscall.)
bool still_open(net::conn& c) { return !c.read_ready(); }

bool is_redirect(int code) { return code == 301 || code == 302 || code == 303 || code == 307 || code == 308; }

// Turns a context cancellation into an immediate deadline on the connection, so a parked
// read or write returns at once. disarm() guarantees the watcher no longer touches the
// connection; it leaves the watcher goroutine to exit on its own.
class ctx_watch {
 public:
  ctx_watch(const gofer::context& ctx, net::conn& c) {
    if (ctx.done() == nullptr) return;
    shared_ = std::make_shared<shared>();
    shared_->c = &c;
    gofer::go([ctx, stop = stop_, sh = shared_]() {
      bool cancelled = false;
      gofer::select(gofer::recv_case(ctx.done(), [&](auto) { cancelled = true; }), gofer::recv_case(stop));
      if (!cancelled) return;
      gofer::detail::spinlock_guard lk(sh->mu);
      if (sh->c != nullptr) sh->c->set_deadline(clk::now());
    });
  }
  ~ctx_watch() { disarm(); }
  void disarm() {
    if (!shared_) return;
    {
      gofer::detail::spinlock_guard lk(shared_->mu);
      shared_->c = nullptr;
    }
    stop_.close();
    shared_.reset();
  }

 private:
  struct shared {
    // Goroutine code on both sides, a few instructions, never parks (set_deadline does
    // not): a spinlock, the library's rule (DESIGN.md, "Locks and their annotations").
    gofer::detail::spinlock mu;
    net::conn* c ABSL_GUARDED_BY(mu) = nullptr;
  };
  std::shared_ptr<shared> shared_;
  gofer::chan<std::monostate> stop_;
};

// The steps round_trip and client::stream share: the request's head, the connection, the
// answer's header, its fields.

// The request line and header fields: Host and User-Agent (the caller's fields replace
// them), then the caller's, cleaned; Content-Length, Transfer-Encoding and Connection are
// left to the serializer.
template <class Body>
void prepare_request(bhttp::request<Body>& req, const std::string& method, const url& u, const client_options& o,
                     const header& hdrs) {
  req.method_string(method);
  req.target(u.request_target());
  req.version(11);
  req.set(bhttp::field::host, u.host_header());
  req.set(bhttp::field::user_agent, o.user_agent);
  for (const auto& [k, v] : hdrs) {
    if (!is_token(k)) continue;
    if (iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding") || iequals(k, "Connection")) continue;
    if (iequals(k, "Host") || iequals(k, "User-Agent")) {
      req.set(k, clean_value(v));
      continue;
    }
    req.insert(k, clean_value(v));
  }
}

// A connection to key: a pooled one that is still open when from_pool (then *reused),
// else a new one (ctx's error, if it ended, before the dial's).
absl::StatusOr<net::conn> connect(client::state& s, const std::string& key, const gofer::context& ctx, bool from_pool,
                                  bool& reused) {
  reused = false;
  if (from_pool) {
    while (auto pc = s.take(key)) {
      if (still_open(*pc)) {
        reused = true;
        return std::move(*pc);
      }
      (void)pc->close();
    }
  }
  auto d = net::dial(key, ctx);
  if (!d.ok()) {
    if (auto e = ctx.err(); !e.ok()) return e;
    return d.status();
  }
  return d;
}

// The final answer's header into a new parser in p (1xx answers but 101 are skipped: the
// real one follows), within the header limit; got_any: some bytes of an answer came.
template <class Body>
void read_final_header(net::conn& c, beast::flat_buffer& buf, std::optional<bhttp::response_parser<Body>>& p,
                       const client_options& o, std::uint64_t body_limit, bool head, bool& got_any, error_code& ec) {
  for (;;) {
    p.emplace();
    p->header_limit(o.max_response_header_bytes);
    p->body_limit(body_limit);
    if (head) p->skip(true);
    read_header_limited(c, buf, *p, o.max_response_header_bytes, ec);
    got_any = got_any || p->got_some();
    if (ec) return;
    unsigned code = p->get().result_int();
    if (code < 100 || code >= 200 || code == 101) return;
  }
}

// The errors a pooled connection the server has closed meanwhile fails with.
bool is_stale(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == boost::asio::error::connection_reset || ec == boost::asio::error::eof;
}

// The answer's status line and header fields into res (a response or streamed_response).
template <class Res, class Message>
void copy_head(const Message& m, Res& res) {
  res.status = static_cast<int>(m.result_int());
  res.reason = std::string(m.reason().data(), m.reason().size());
  res.version = static_cast<int>(m.version());
  for (const auto& f : m) {
    auto n = f.name_string();
    auto v = f.value();
    res.headers.add(std::string(n.data(), n.size()), std::string(v.data(), v.size()));
  }
}

// The status for a failed round trip, ctx's error taking precedence.
absl::Status round_trip_error(const error_code& ec, const gofer::context& ctx) {
  if (auto e = ctx.err(); !e.ok()) return e;
  if (ec == boost::asio::error::timed_out) {
    if (auto d = ctx.deadline(); d && clk::now() >= *d) return absl::DeadlineExceededError("context deadline exceeded");
    return absl::DeadlineExceededError("i/o timeout");
  }
  if (ec == bhttp::error::body_limit) return absl::ResourceExhaustedError("http: response body too large");
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
    return absl::ResourceExhaustedError("http: response header too large");
  if (ec == bhttp::error::end_of_stream || ec == boost::asio::error::eof) return absl::UnavailableError("EOF");
  if (ec == bhttp::error::partial_message) return absl::DataLossError("unexpected EOF");
  if (ec == boost::asio::error::bad_descriptor) return absl::UnavailableError("use of closed network connection");
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category())
    return absl::DataLossError("malformed HTTP response: " + ec.message());
  return absl::UnavailableError(ec.message());
}

absl::Status wrap(const absl::Status& st, std::string_view method, const std::string& u) {
  return absl::Status(st.code(), go_method(method) + " \"" + u + "\": " + std::string(st.message()));
}

absl::StatusOr<response> round_trip(client::state& s, const gofer::context& ctx, const std::string& method,
                                    const url& u, const std::string& body, const header& hdrs) {
  const client_options& o = s.o;
  const std::string key = u.host_port();
  bhttp::request<bhttp::string_body> req;
  prepare_request(req, method, u, o, hdrs);
  req.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") req.content_length(body.size());

  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    auto cr = connect(s, key, ctx, attempt == 0, reused);
    if (!cr.ok()) return cr.status();
    net::conn c = std::move(*cr);
    auto dl = ctx.deadline();
    c.set_deadline(dl ? *dl : time_point{});
    ctx_watch watch(ctx, c);

    error_code ec;
    bhttp::write(c, req, ec);
    if (ec) {
      watch.disarm();
      (void)c.close();
      if (reused && ctx.err().ok()) continue;  // a stale pooled connection: nothing was read
      return round_trip_error(ec, ctx);
    }
    beast::flat_buffer buf;
    std::optional<bhttp::response_parser<bhttp::string_body>> p;
    bool got_any = false;
    // Header first, then the body: Beast 1.74's parser loses the body_limit error of a
    // too-large Content-Length when it parses eagerly past the header (as http::read
    // does), so read_header (not eager) is what enforces max_response_bytes there.
    read_final_header(c, buf, p, o, o.max_response_bytes, method == "HEAD", got_any, ec);
    if (!ec && !p->is_done()) bhttp::read(c, buf, *p, ec);
    watch.disarm();
    if (ec) {
      (void)c.close();
      if (reused && !got_any && is_stale(ec) && replayable(method) && ctx.err().ok()) continue;
      return round_trip_error(ec, ctx);
    }
    auto& bres = p->get();
    response res;
    copy_head(bres, res);
    bool keep = bres.keep_alive() && !p->need_eof() && buf.size() == 0 && res.status != 101;
    res.body = std::move(bres.body());
    if (keep && ctx.err().ok()) {
      c.set_deadline(time_point{});
      s.put(key, std::move(c));
    } else {
      (void)c.close();
    }
    return res;
  }
}

}  // namespace

client::client() : client(client_options{}) {}
client::client(client_options opts) : s_(std::make_shared<state>(std::move(opts))) {}
client::~client() { close_idle_connections(); }

absl::StatusOr<response> client::get(const gofer::context& ctx, std::string_view u) { return send(ctx, "GET", u); }

absl::StatusOr<response> client::post(const gofer::context& ctx, std::string_view u, std::string body,
                                      std::string_view content_type) {
  return send(ctx, "POST", u, std::move(body), header{{"Content-Type", std::string(content_type)}});
}

absl::StatusOr<response> client::send(const gofer::context& ctx0, std::string_view method0, std::string_view url0,
                                      std::string body, header headers) {
  std::string method(method0);
  if (method.empty()) method = "GET";
  if (!is_token(method))
    return absl::InvalidArgumentError("net/http: invalid method \"" + method + "\"");
  auto pu = parse_url(url0);
  if (!pu.ok()) return wrap(pu.status(), method, std::string(url0));
  url u = std::move(*pu);
  if (auto e = ctx0.err(); !e.ok()) return wrap(e, method, u.string());

  gofer::context ctx = ctx0;
  gofer::cancel_func cancel;
  if (s_->o.timeout > std::chrono::nanoseconds::zero()) std::tie(ctx, cancel) = gofer::with_timeout(ctx0, s_->o.timeout);
  gofer::defer cancel_at_exit([&cancel] {
    if (cancel) cancel();
  });

  for (int redirects = 0;;) {
    auto r = round_trip(*s_, ctx, method, u, body, headers);
    if (!r.ok()) return wrap(r.status(), method, u.string());
    r->url = u.string();
    if (s_->o.max_redirects <= 0 || !is_redirect(r->status)) return r;
    std::string loc = r->headers.get("Location");
    if (loc.empty()) return r;
    auto next = resolve_reference(u, loc);
    if (!next.ok()) return wrap(next.status(), method, u.string());
    if (++redirects >= s_->o.max_redirects)
      return wrap(absl::ResourceExhaustedError("stopped after " + std::to_string(s_->o.max_redirects) + " redirects"),
                  method, next->string());
    if (r->status == 301 || r->status == 302 || r->status == 303) {
      if (method != "GET" && method != "HEAD") method = "GET";
      body.clear();
      headers.del("Content-Type");
    }
    if (next->host_port() != u.host_port()) {
      headers.del("Authorization");
      headers.del("Www-Authenticate");
      headers.del("Cookie");
      headers.del("Cookie2");
    }
    u = std::move(*next);
  }
}

// ---- streaming (client::stream, streamed_response) ----------------------------------------

struct streamed_response::state {
  std::shared_ptr<client::state> cs;  // the pool the connection goes back to
  std::string key, method, url;
  gofer::context ctx;
  net::conn c;
  beast::flat_buffer buf;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> p;
  std::optional<ctx_watch> watch;
  bool done = false;  // at the body's end, or closed
  absl::Status err;

  ~state() { drop(); }

  void drop() {
    watch.reset();
    if (c.is_open()) (void)c.close();
    done = true;
  }

  // The body's end: the connection back to the pool if it may be kept.
  void finish() {
    watch.reset();
    bool keep = p->get().keep_alive() && !p->need_eof() && buf.size() == 0 && ctx.err().ok();
    if (keep) {
      c.set_deadline(time_point{});
      cs->put(key, std::move(c));
    } else {
      (void)c.close();
    }
    done = true;
  }

  absl::StatusOr<std::size_t> read(char* dst, std::size_t n) {
    if (!err.ok()) return err;
    if (done) return absl::OutOfRangeError("EOF");  // net::is_eof
    if (n == 0) return std::size_t{0};
    for (;;) {
      if (p->is_done()) {
        finish();
        return absl::OutOfRangeError("EOF");
      }
      p->get().body().data = dst;
      p->get().body().size = n;
      error_code ec;
      bhttp::read_some(c, buf, *p, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      std::size_t got = n - p->get().body().size;
      p->get().body().data = nullptr;
      if (ec) {
        err = wrap(round_trip_error(ec, ctx), method, url);
        drop();
        return err;
      }
      if (got > 0) {
        if (p->is_done()) finish();
        return got;
      }
    }
  }
};

streamed_response::streamed_response() = default;
streamed_response::streamed_response(streamed_response&&) noexcept = default;
streamed_response& streamed_response::operator=(streamed_response&&) noexcept = default;
streamed_response::~streamed_response() = default;

absl::StatusOr<std::size_t> streamed_response::read(void* buf, std::size_t n) {
  if (!s_) return absl::FailedPreconditionError("http: read on an empty streamed_response");
  return s_->read(static_cast<char*>(buf), n);
}

absl::StatusOr<std::string> streamed_response::read_all() {
  if (!s_) return absl::FailedPreconditionError("http: read on an empty streamed_response");
  std::string out;
  const std::uint64_t limit = s_->cs->o.max_response_bytes;
  for (;;) {
    std::size_t old = out.size();
    out.resize(old + (16 << 10));
    auto n = s_->read(out.data() + old, 16 << 10);
    if (!n.ok()) {
      out.resize(old);
      if (net::is_eof(n.status())) return out;
      return n.status();
    }
    out.resize(old + *n);
    if (out.size() > limit) {
      s_->err = wrap(absl::ResourceExhaustedError("http: response body too large"), s_->method, s_->url);
      s_->drop();
      return s_->err;
    }
  }
}

void streamed_response::close() {
  if (s_ && !s_->done) s_->drop();
}

namespace {

// Writes req's header and then the body from `body` as Beast's serializer frames it
// (chunked, or by Content-Length), in 64 KiB pieces.
void write_streamed(net::conn& c, bhttp::request<bhttp::buffer_body>& req, const body_reader& body,
                    std::int64_t content_length, absl::Status& body_err, error_code& ec) {
  bhttp::request_serializer<bhttp::buffer_body> sr{req};
  req.body().data = nullptr;
  req.body().more = true;
  bhttp::write_header(c, sr, ec);
  if (ec) return;
  std::vector<char> chunk(64 << 10);
  std::int64_t sent = 0;
  for (;;) {
    auto n = body(chunk.data(), chunk.size());
    if (!n.ok() || *n == 0) {
      if (n.ok() || !net::is_eof(n.status())) {
        body_err = n.ok() ? absl::InternalError("http: body_reader returned 0 bytes") : n.status();
        return;
      }
      break;  // EOF
    }
    sent += static_cast<std::int64_t>(*n);
    if (content_length >= 0 && sent > content_length) {
      body_err = absl::InvalidArgumentError("http: ContentLength=" + std::to_string(content_length) +
                                            " with Body length " + std::to_string(sent));
      return;
    }
    req.body().data = chunk.data();
    req.body().size = *n;
    req.body().more = true;
    bhttp::write(c, sr, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) return;
  }
  if (content_length >= 0 && sent != content_length) {
    body_err = absl::InvalidArgumentError("http: ContentLength=" + std::to_string(content_length) +
                                          " with Body length " + std::to_string(sent));
    return;
  }
  req.body().data = nullptr;
  req.body().size = 0;
  req.body().more = false;
  bhttp::write(c, sr, ec);
  if (ec == bhttp::error::need_buffer) ec = {};
}

}  // namespace

absl::StatusOr<streamed_response> client::stream(const gofer::context& ctx0, std::string_view method0,
                                                 std::string_view url0, header headers, body_reader body,
                                                 std::int64_t content_length) {
  std::string method(method0);
  if (method.empty()) method = "GET";
  if (!is_token(method)) return absl::InvalidArgumentError("net/http: invalid method \"" + method + "\"");
  auto pu = parse_url(url0);
  if (!pu.ok()) return wrap(pu.status(), method, std::string(url0));
  const url u = std::move(*pu);
  const std::string us = u.string();
  if (auto e = ctx0.err(); !e.ok()) return wrap(e, method, us);
  const client_options& o = s_->o;
  const std::string key = u.host_port();

  bhttp::request<bhttp::buffer_body> req;
  prepare_request(req, method, u, o, headers);
  if (body) {
    if (content_length >= 0) req.content_length(static_cast<std::uint64_t>(content_length));
    else req.chunked(true);
  } else if (method == "POST" || method == "PUT" || method == "PATCH") {
    req.content_length(0);
  }

  auto st = std::make_unique<streamed_response::state>();
  st->cs = s_;
  st->key = key;
  st->method = method;
  st->url = us;
  st->ctx = ctx0;
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    st->watch.reset();
    st->buf.consume(st->buf.size());
    auto cr = connect(*s_, key, ctx0, attempt == 0, reused);
    if (!cr.ok()) return wrap(cr.status(), method, us);
    st->c = std::move(*cr);
    net::conn& c = st->c;
    auto dl = ctx0.deadline();
    c.set_deadline(dl ? *dl : time_point{});
    st->watch.emplace(ctx0, c);
    error_code ec;
    absl::Status body_err;
    if (body) {
      write_streamed(c, req, body, content_length, body_err, ec);
    } else {
      req.body().data = nullptr;
      req.body().size = 0;
      req.body().more = false;
      bhttp::write(c, req, ec);
    }
    if (!body_err.ok()) {
      st->drop();
      return wrap(body_err, method, us);
    }
    if (ec) {
      st->drop();
      st->done = false;
      if (reused && !body && ctx0.err().ok()) continue;  // a stale pooled connection
      return wrap(round_trip_error(ec, ctx0), method, us);
    }
    // The header (1xx answers skipped), within response_header_timeout.
    if (o.response_header_timeout > std::chrono::nanoseconds::zero()) {
      auto hd = clk::now() + o.response_header_timeout;
      c.set_read_deadline(dl && *dl < hd ? *dl : hd);
    }
    bool got_any = false;
    // (No body limit: read() streams any length.)
    read_final_header(c, st->buf, st->p, o, std::numeric_limits<std::uint64_t>::max(), method == "HEAD", got_any, ec);
    if (ec) {
      st->drop();
      st->done = false;
      if (reused && !got_any && is_stale(ec) && !body && replayable(method) && ctx0.err().ok()) continue;
      if (ec == boost::asio::error::timed_out && ctx0.err().ok() && (!dl || clk::now() < *dl))
        return wrap(absl::DeadlineExceededError("timeout awaiting response headers"), method, us);
      return wrap(round_trip_error(ec, ctx0), method, us);
    }
    c.set_read_deadline(dl ? *dl : time_point{});
    auto& bres = st->p->get();
    streamed_response res;
    copy_head(bres, res);
    res.url = us;
    if (auto cl = st->p->content_length()) res.content_length = static_cast<std::int64_t>(*cl);
    if (st->p->is_done()) st->finish();  // no body (HEAD, 204, 304, Content-Length: 0)
    res.s_ = std::move(st);
    return res;
  }
}

void client::close_idle_connections() {
  std::unordered_map<std::string, std::vector<state::idle_conn>> drop;
  {
    std::lock_guard lk(s_->mu);
    drop.swap(s_->idle);
    s_->idle_count = 0;
  }
}

std::size_t client::idle_connections() const {
  std::lock_guard lk(s_->mu);
  return s_->idle_count;
}

}  // namespace gofer::http
