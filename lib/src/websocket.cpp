// lib/src/websocket.cpp — gofer::websocket on Boost.Beast's websocket::stream.
//
// One connection = one net::conn and two Beast streams over it (see the header): `rd`
// only reads, `wr` only writes. Each stream's next layer is a `layer` — a thin
// SyncReadStream/SyncWriteStream over the shared net::conn that knows which side it is:
//   rd's layer  reads the socket (first the bytes the HTTP server had read past the
//               upgrade request); its writes are Beast's automatic answers (pong, the
//               close reply, a close frame after a protocol error), sent under the
//               write lock, and dropped once a close frame has gone out.
//   wr's layer  writes the socket (its callers hold the write lock); reads fail
//               (operation_not_supported): wr never reads — Beast's close() would read
//               for the peer's answer, but that answer belongs to rd.
// A Beast stream must be opened by a handshake, so `wr` is opened by one that never
// reaches the wire: as server, accept() of the same request into a discarding layer; as
// client, handshake() against a scripted layer that answers the request it captured with
// the 101 the RFC prescribes for its key (Beast's own make_sec_ws_accept).
//
// Lock order: rmu (the reader's) before wmu (the writers'); a writer never takes rmu.
// Both are gofer::mutex: they are held while the goroutine parks in socket I/O.
#include "gofer/websocket.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>

#include "absl/strings/str_split.h"

#include "detail/http.hpp"
#include "gofer/sync.hpp"

namespace gofer::websocket {

namespace beast = boost::beast;
namespace bws = boost::beast::websocket;
namespace bhttp = boost::beast::http;
namespace asio = boost::asio;
using error_code = boost::system::error_code;

namespace detail {

// Beast's stream builds a timer from its next layer's executor (used only by the async
// API, which gofer never calls). One io_context that never runs provides it.
asio::io_context& unused_io_context() {
  static asio::io_context ctx;
  return ctx;
}

struct state;

struct layer {
  enum class mode { handshake, read_side, write_side, discard, script };
  layer(state* s, mode m) : st(s), m(m) {}
  state* st;
  mode m;
  std::string captured;  // script: the request wr wrote
  std::string script;    // script: the 101 answered to it
  std::size_t script_pos = 0;

  using executor_type = asio::io_context::executor_type;
  executor_type get_executor() noexcept { return unused_io_context().get_executor(); }

  template <class MB>
  std::size_t read_some(const MB& buffers, error_code& ec) {
    ec.clear();
    auto b = *asio::buffer_sequence_begin(buffers);
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
      if (asio::buffer_size(*it) != 0) {
        b = *it;
        break;
      }
    asio::mutable_buffer mb(b);
    return read_raw(mb, ec);
  }
  template <class MB>
  std::size_t read_some(const MB& buffers) {
    error_code ec;
    auto n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <class CB>
  std::size_t write_some(const CB& buffers, error_code& ec) {
    ec.clear();
    std::vector<asio::const_buffer> pieces;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
      if (asio::const_buffer cb(*it); cb.size() != 0) pieces.push_back(cb);
    return write_raw(pieces, ec);
  }
  template <class CB>
  std::size_t write_some(const CB& buffers) {
    error_code ec;
    auto n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  std::size_t read_raw(asio::mutable_buffer mb, error_code& ec);
  std::size_t write_raw(const std::vector<asio::const_buffer>& pieces, error_code& ec);

  // The 101 for the key in the captured request (RFC 6455 §4.2.2).
  void make_script() {
    bhttp::request_parser<bhttp::empty_body> p;
    error_code ec;
    p.put(asio::buffer(captured), ec);
    auto key = p.get()[bhttp::field::sec_websocket_key];
    bws::detail::sec_ws_accept_type accept;
    bws::detail::make_sec_ws_accept(accept, key);
    script = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: " +
             std::string(accept.data(), accept.size()) + "\r\n\r\n";
  }
};

struct state {
  state(net::conn cn, std::string buffered, options opts);
  net::conn c;
  options o;
  gofer::mutex rmu;  // the reader: guards rd, pending, read_err
  gofer::mutex wmu;  // the writers: guards wr, close_sent, and the socket's write side
  std::string pending;     // bytes read by the HTTP server past the upgrade request (rmu)
  std::size_t pending_pos = 0;
  bool close_sent = false;  // a close frame went out: nothing more may (wmu)
  error_code last_read_ec;  // the socket error under rd's last failure (rmu)
  error_code last_write_ec;  // the socket error under wr's last failure (wmu)
  bws::stream<layer> rd;
  bws::stream<layer> wr;
};


// RFC 6455 §7.1.1: after the close handshake the server closes TCP first; the client
// would wait for that, but the peer's close frame already ended the conversation, so
// either side closes now (the write side shut first, so the peer reads EOF).
void teardown(beast::role_type, layer& l, error_code& ec) {
  ec.clear();
  if (l.m == layer::mode::read_side || l.m == layer::mode::handshake) {
    (void)l.st->c.close_write();
    (void)l.st->c.close();
  }
}

state::state(net::conn cn, std::string buffered, options opts)
    : c(std::move(cn)),
      o(std::move(opts)),
      pending(std::move(buffered)),
      rd(this, layer::mode::handshake),
      wr(this, layer::mode::discard) {
  if (o.read_limit) rd.read_message_max(o.read_limit);
  rd.auto_fragment(false);
  wr.auto_fragment(false);
  rd.control_callback([this](bws::frame_type kind, beast::string_view payload) {
    std::string_view p(payload.data(), payload.size());
    if (kind == bws::frame_type::ping && o.on_ping) o.on_ping(p);
    if (kind == bws::frame_type::pong && o.on_pong) o.on_pong(p);
  });
}


std::size_t layer::read_raw(asio::mutable_buffer mb, error_code& ec) {
  if (mb.size() == 0) return 0;
  switch (m) {
    case mode::handshake:
    case mode::read_side: {
      if (st->pending_pos < st->pending.size()) {
        std::size_t n = std::min(mb.size(), st->pending.size() - st->pending_pos);
        std::memcpy(mb.data(), st->pending.data() + st->pending_pos, n);
        st->pending_pos += n;
        if (st->pending_pos == st->pending.size()) {
          st->pending.clear();
          st->pending_pos = 0;
        }
        return n;
      }
      std::size_t n = st->c.read_some(mb, ec);
      if (ec) st->last_read_ec = ec;
      return n;
    }
    case mode::script: {
      if (script.empty()) make_script();
      if (script_pos >= script.size()) {
        ec = asio::error::eof;
        return 0;
      }
      std::size_t n = std::min(mb.size(), script.size() - script_pos);
      std::memcpy(mb.data(), script.data() + script_pos, n);
      script_pos += n;
      return n;
    }
    default:
      ec = asio::error::operation_not_supported;
      return 0;
  }
}

std::size_t layer::write_raw(const std::vector<asio::const_buffer>& pieces, error_code& ec) {
  std::size_t size = asio::buffer_size(pieces);
  switch (m) {
    case mode::discard:
      return size;
    case mode::script:
      captured += beast::buffers_to_string(pieces);
      return size;
    case mode::handshake:  // rd's opening handshake: nobody else writes yet
    case mode::write_side: {  // the caller holds wmu
      std::size_t n = st->c.write_some(pieces, ec);
      if (ec) st->last_write_ec = ec;
      return n;
    }
    case mode::read_side: {
      // Beast's own answers (pong, close). Control frames are built whole in one buffer;
      // its first byte's low nibble is the opcode (8: close).
      std::lock_guard<gofer::mutex> lk(st->wmu);
      if (st->close_sent) return size;  // the peer has our close frame already
      bool is_close = !pieces.empty() && (static_cast<const unsigned char*>(pieces[0].data())[0] & 0x0F) == 0x8;
      (void)st->c.write_some(pieces, ec);
      if (is_close) st->close_sent = true;
      // An answer that cannot be sent is no read error: the peer may have closed already
      // (it sent its close and hung up); the next read or write meets the socket's state.
      ec.clear();
      return size;
    }
  }
  return 0;
}

}  // namespace detail

namespace {

const char* code_name(int code) {
  switch (code) {
    case 1000: return "normal";
    case 1001: return "going away";
    case 1002: return "protocol error";
    case 1003: return "unsupported data";
    case 1005: return "no status";
    case 1006: return "abnormal closure";
    case 1007: return "invalid payload data";
    case 1008: return "policy violation";
    case 1009: return "message too big";
    case 1010: return "mandatory extension";
    case 1011: return "internal server error";
    default: return "";
  }
}

std::string close_text(int code, std::string_view reason) {
  std::string s = "websocket: close " + std::to_string(code);
  if (const char* n = code_name(code); *n) s += std::string(" (") + n + ")";
  if (!reason.empty()) s += ": " + std::string(reason);
  return s;
}

absl::Status closed_conn() { return absl::FailedPreconditionError("websocket: use of closed connection"); }

// A socket-level error code (from net::conn's Asio adapter) as gofer's status.
absl::Status socket_status(const error_code& ec) {
  if (ec == asio::error::timed_out) return absl::DeadlineExceededError("i/o timeout");
  if (ec == asio::error::eof) return absl::OutOfRangeError(close_text(close_code::abnormal, "unexpected EOF"));
  if (ec == asio::error::bad_descriptor) return closed_conn();
  return absl::UnavailableError("websocket: " + ec.message());
}

// What rd's failure means. Beast has already sent the close frame a violation calls for.
absl::Status read_status(detail::state& s, const error_code& ec) {
  if (ec == bws::error::closed) {
    auto cr = s.rd.reason();
    int code = cr.code == bws::close_code::none ? close_code::no_status : static_cast<int>(cr.code);
    return absl::OutOfRangeError(close_text(code, {cr.reason.data(), cr.reason.size()}));
  }
  if (ec == bws::error::message_too_big || ec == bws::error::buffer_overflow)
    return absl::ResourceExhaustedError(close_text(close_code::too_big, "read limit exceeded"));
  if (ec == bws::error::bad_frame_payload)
    return absl::InvalidArgumentError(close_text(close_code::invalid_payload, ec.message()));
  if (ec.category() == make_error_code(bws::error::closed).category() || ec == bws::condition::protocol_violation)
    return absl::InvalidArgumentError(close_text(close_code::protocol_error, ec.message()));
  if (ec == asio::error::operation_aborted) return closed_conn();  // Beast: the stream ended before
  return socket_status(ec);
}

absl::Status write_status(detail::state& s, const error_code& ec) {
  if (s.last_write_ec) return socket_status(s.last_write_ec);
  if (ec == asio::error::operation_aborted) return closed_conn();
  return socket_status(ec);
}

// Whether the comma-separated header value `list` holds token (ASCII case-insensitive,
// each element's OWS trimmed).
bool has_token(std::string_view list, std::string_view token) {
  for (absl::string_view t : absl::StrSplit(absl::string_view(list.data(), list.size()), ','))
    if (http::internal::iequals(http::internal::trim_ows({t.data(), t.size()}), token)) return true;
  return false;
}

// What every writer does first: the write lock (held while op runs and parks in the
// socket), and "close sent" refused; then op(state) → its status.
template <class Op>
absl::Status with_writer(const std::shared_ptr<detail::state>& sp, Op op) {
  if (!sp) return closed_conn();
  std::lock_guard<gofer::mutex> lk(sp->wmu);
  if (sp->close_sent) return absl::FailedPreconditionError("websocket: close sent");
  return op(*sp);
}

// A ping or pong frame carrying payload (≤ 125 bytes, RFC 6455 §5.5).
absl::Status control_frame(const std::shared_ptr<detail::state>& sp, bool ping, std::string_view payload) {
  if (!sp) return closed_conn();
  if (payload.size() > 125) return absl::InvalidArgumentError("websocket: control frame payload over 125 bytes");
  return with_writer(sp, [&](detail::state& s) {
    error_code ec;
    bws::ping_data data(payload.data(), payload.size());
    if (ping) s.wr.ping(data, ec);
    else s.wr.pong(data, ec);
    return ec ? write_status(s, ec) : absl::OkStatus();
  });
}

// The end of an opening handshake, the same for upgrade and dial: rd (open now) reads
// the socket; wr is opened by open_wr (a handshake that never reaches the wire, see the
// top of this file), then writes it. An error closes the socket.
template <class OpenWriter>
absl::Status finish_open(detail::state& s, OpenWriter open_wr) {
  s.rd.next_layer().m = detail::layer::mode::read_side;
  error_code ec;
  open_wr(s, ec);
  s.wr.next_layer().m = detail::layer::mode::write_side;
  if (ec) {
    (void)s.c.close();
    return absl::InternalError("websocket: opening the write side: " + ec.message());
  }
  return absl::OkStatus();
}

time_point deadline_after(std::chrono::nanoseconds d) {
  return d > std::chrono::nanoseconds::zero()
             ? std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(d)
             : time_point{};
}

}  // namespace

conn::conn() noexcept = default;
conn::conn(std::shared_ptr<detail::state> s) noexcept : s_(std::move(s)) {}
conn::conn(conn&&) noexcept = default;
conn& conn::operator=(conn&& o) noexcept {
  if (this != &o) {
    close_now();
    s_ = std::move(o.s_);
  }
  return *this;
}
conn::~conn() { close_now(); }

absl::StatusOr<message> conn::read() {
  if (!s_) return closed_conn();
  detail::state& s = *s_;
  std::lock_guard<gofer::mutex> lk(s.rmu);
  beast::flat_buffer buf;
  error_code ec;
  s.rd.read(buf, ec);
  if (ec) return read_status(s, ec);
  message m;
  m.type = s.rd.got_text() ? message_type::text : message_type::binary;
  m.data = beast::buffers_to_string(buf.data());
  return m;
}

absl::Status conn::write(message_type type, std::string_view data) {
  return with_writer(s_, [&](detail::state& s) {
    s.wr.text(type == message_type::text);
    error_code ec;
    s.wr.write(asio::buffer(data.data(), data.size()), ec);
    return ec ? write_status(s, ec) : absl::OkStatus();
  });
}

absl::Status conn::ping(std::string_view payload) { return control_frame(s_, true, payload); }

absl::Status conn::pong(std::string_view payload) { return control_frame(s_, false, payload); }

absl::Status conn::close(int code, std::string_view reason) {
  if (!s_) return closed_conn();
  if (reason.size() > 123) return absl::InvalidArgumentError("websocket: close reason over 123 bytes");
  return with_writer(s_, [&](detail::state& s) {
    // Beast's close() writes the frame, then reads for the answer: wr's layer fails that
    // read at once (operation_not_supported) — the answer is rd's to read.
    error_code ec;
    s.wr.close(bws::close_reason(static_cast<bws::close_code>(code), beast::string_view(reason.data(), reason.size())),
               ec);
    if (s.last_write_ec) return socket_status(s.last_write_ec);
    if (ec && ec != asio::error::operation_not_supported && ec != asio::error::operation_aborted)
      return write_status(s, ec);
    s.close_sent = true;
    return absl::OkStatus();
  });
}

void conn::close_now() {
  if (s_) (void)s_->c.close();
}

void conn::set_read_deadline(time_point t) {
  if (s_) s_->c.set_read_deadline(t);
}
void conn::set_write_deadline(time_point t) {
  if (s_) s_->c.set_write_deadline(t);
}
std::string conn::remote_addr() const { return s_ ? s_->c.remote_addr() : std::string(); }
bool conn::is_open() const noexcept { return s_ && s_->c.is_open(); }
net::conn& conn::underlying_conn() noexcept {
  static net::conn none;  // a zero-value conn, never changed: every call is_closed
  return s_ ? s_->c : none;
}

absl::StatusOr<conn> upgrade(const http::request& r, http::response_writer& w, const options& o) {
  auto refuse = [&](int code, std::string_view why) {
    w.headers().set("Sec-WebSocket-Version", "13");
    http::error(w, "websocket: " + std::string(why), code);
    return absl::InvalidArgumentError("websocket: " + std::string(why));
  };
  if (r.method != "GET") {
    w.headers().set("Allow", "GET");
    return refuse(http::status::method_not_allowed, "request method is not GET");
  }
  if (!has_token(r.headers.get("Connection"), "upgrade") || !has_token(r.headers.get("Upgrade"), "websocket")) {
    w.headers().set("Upgrade", "websocket");
    w.headers().set("Connection", "Upgrade");
    return refuse(426, "the client is not using the websocket protocol");
  }
  if (r.headers.get("Sec-WebSocket-Version") != "13")
    return refuse(426, "unsupported version: 13 not found in 'Sec-Websocket-Version' header");
  if (r.headers.get("Sec-WebSocket-Key").empty()) return refuse(http::status::bad_request, "not a websocket handshake: 'Sec-WebSocket-Key' header is missing");

  // The request again, as Beast's accept wants it.
  bhttp::request<bhttp::empty_body> req;
  req.method_string(r.method);
  req.target(r.target);
  req.version(r.version);
  for (const auto& [k, v] : r.headers) req.insert(k, v);

  auto h = w.hijack();
  if (!h.ok()) return h.status();
  auto s = std::make_shared<detail::state>(std::move(h->conn), std::move(h->buffered), o);
  s->c.set_write_deadline(deadline_after(o.handshake_timeout));
  error_code ec;
  s->rd.accept(req, ec);  // writes the 101 (or Beast's 400 for a bad key)
  if (ec) {
    absl::Status st = s->last_read_ec ? socket_status(s->last_read_ec) : absl::InvalidArgumentError("websocket: handshake: " + ec.message());
    (void)s->c.close();
    return st;
  }
  s->c.set_write_deadline(time_point{});
  // wr as the server's writer: accept() of the same request into the discarding layer.
  auto open = finish_open(*s, [&req](detail::state& st, error_code& e) { st.wr.accept(req, e); });
  if (!open.ok()) return open;
  return conn(std::move(s));
}

absl::StatusOr<conn> dial(const gofer::context& ctx, std::string_view url, const options& o) {
  std::string u(url);
  if (u.rfind("wss://", 0) == 0) return absl::InvalidArgumentError("websocket: wss:// is not supported");
  if (u.rfind("ws://", 0) != 0) return absl::InvalidArgumentError("websocket: bad scheme in \"" + u + "\"");
  auto parsed = http::parse_url("http://" + u.substr(5));
  if (!parsed.ok()) return absl::InvalidArgumentError("websocket: " + std::string(parsed.status().message()));
  auto c = net::dial(parsed->host_port(), ctx);
  if (!c.ok()) return c.status();
  auto s = std::make_shared<detail::state>(std::move(*c), std::string(), o);
  time_point d = deadline_after(o.handshake_timeout);
  if (auto cd = ctx.deadline(); cd && (d == time_point{} || *cd < d)) d = *cd;
  s->c.set_deadline(d);
  // The handshake on the reading side: Beast writes the request and reads the 101; any
  // frame that came right behind it stays in rd's buffer.
  bws::response_type res;
  error_code ec;
  s->rd.handshake(res, parsed->host_header(), parsed->request_target(), ec);
  s->c.set_deadline(time_point{});
  if (ec) {
    absl::Status st;
    if (s->last_read_ec) st = socket_status(s->last_read_ec);
    else if (ec == bws::error::upgrade_declined || res.result_int() != 0)
      st = absl::UnavailableError("websocket: bad handshake (" + std::to_string(res.result_int()) + ")");
    else st = absl::UnavailableError("websocket: bad handshake: " + ec.message());
    if (ctx.err().code() != absl::StatusCode::kOk) st = ctx.err();
    (void)s->c.close();
    return st;
  }
  // wr as the client's writer, opened against the scripted layer.
  auto open = finish_open(*s, [&parsed](detail::state& st, error_code& e) {
    st.wr.next_layer().m = detail::layer::mode::script;
    st.wr.handshake(parsed->host_header(), parsed->request_target(), e);
  });
  if (!open.ok()) return open;
  return conn(std::move(s));
}

int close_code_of(const absl::Status& st) noexcept {
  constexpr std::string_view kPrefix = "websocket: close ";
  std::string_view m(st.message().data(), st.message().size());
  if (st.ok() || m.substr(0, kPrefix.size()) != kPrefix) return 0;
  m.remove_prefix(kPrefix.size());
  int code = 0;
  auto [p, e] = std::from_chars(m.data(), m.data() + m.size(), code);
  return e == std::errc() ? code : 0;
}

bool is_close_error(const absl::Status& st, std::initializer_list<int> codes) noexcept {
  int c = close_code_of(st);
  return c != 0 && std::find(codes.begin(), codes.end(), c) != codes.end();
}

}  // namespace gofer::websocket
