// lib/src/http/conn.cpp — one connection's goroutine (Go's (*conn).serve), in named steps:
//
//   1. await_request   wait for the next request's first byte (header deadline for a new
//                      connection, idle deadline between requests); state new/idle → active
//   2. read_header     Beast's request_parser over the header (header deadline), with the
//                      limits Beast 1.74 lacks (read_request_header)
//      check_header    version, Host, Transfer-Encoding, request-target → 4xx/5xx + close
//   3. the body        lazy: the handler reads it (request::read / body) through this
//                      connection's parser (body_source): start_body on the first read
//                      ("100 Continue" if asked, body deadline, a 64 KiB read buffer),
//                      finish_body at its end (the trailer)
//   4. make_request    the handler's request: fields, path, query, ctx, the body's state
//   5. call_handler    the handler, its writer attached to the connection (flush: the
//                      answer streams, chunked; hijack: the connection is the handler's);
//                      a throw becomes a 500 + close (answer_panic), a body_error from
//                      body() its status + close (answer_body_error) — or a cut once streaming;
//                      abort_handler is always a cut, and never logged (Go's ErrAbortHandler)
//      settle_body     what the handler left of the body: discard ≤ 256 KiB, else close
//   6. write_answer    Beast's serializer (write deadline), then the keep-alive decision:
//                      round again, or a lingering close
// Any step that ends the connection returns false; the goroutine then unregisters it.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <limits>
#include <stdexcept>
#include <unordered_map>

#include <boost/asio/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "detail/http.hpp"
#include "gofer/defer.hpp"
#include "gofer/runtime.hpp"

namespace gofer::http {

using namespace internal;  // the shared helpers of lib/src/detail/http.hpp

namespace {

// The read buffer's bound while a body is read: a chunk line (size and extensions) or a
// trailer larger than this is refused (413 / 431). Bodies themselves go to the body.
constexpr std::size_t kBodyStageBuffer = 64 << 10;

// "Mon, 02 Jan 2006 15:04:05 GMT", cached per thread and second.
std::string http_date() {
  thread_local std::time_t cached_sec = 0;
  thread_local char cached[40] = {0};
  std::time_t now = std::time(nullptr);
  if (now != cached_sec) {
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::snprintf(cached, sizeof cached, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                  kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_sec = now;
  }
  return cached;
}

time_point deadline_in(std::chrono::nanoseconds d) {
  return d > std::chrono::nanoseconds::zero() ? clk::now() + d : time_point{};
}

// Shuts the write side, then reads and discards what the client still sends (for at most
// 500 ms or 1 MiB) before closing, so the client reads our answer instead of a reset
// (Go's closeWriteAndWait).
void linger_close(net::conn& c) {
  if (!c.is_open()) return;
  (void)c.close_write();
  c.set_read_deadline(clk::now() + std::chrono::milliseconds(500));
  char sink[4096];
  std::size_t total = 0;
  while (total < (1u << 20)) {
    auto n = c.read(sink, sizeof sink);
    if (!n.ok()) break;
    total += *n;
  }
  (void)c.close();
}

// The server's header read: Beast's parser fed from buf, with three checks Beast 1.74 lacks,
// made on the raw bytes before the parser sees them (it parses a header only once the
// whole of it is in the buffer, so a count made afterwards would come too late):
//   - empty lines (CRLF or LF) before the request line are skipped (RFC 9112 §2.2);
//   - the header is limited to `limit` bytes however many reads it takes;
//   - at most max_fields field lines (the request line and the final empty line aside):
//     a header of many tiny fields would otherwise cost Beast's field list and the
//     request's copy ~40× its bytes.
// Past either limit ec = header_limit (431). buf's max_size bounds the bytes read ahead.
template <class Parser>
void read_request_header(net::conn& c, beast::flat_buffer& buf, Parser& p, std::uint64_t limit,
                         std::size_t max_fields, error_code& ec) {
  std::uint64_t used = 0;     // bytes of this header the parser consumed, and skipped CRLFs
  std::size_t scanned = 0;    // bytes of buf.data() already counted (Beast consumes nothing
  std::size_t lines = 0;      //   of a header until it is complete)
  bool at_line_start = false, header_end = false, started = false;
  for (;;) {
    if (!started) {  // skip empty lines before the request line
      auto d = buf.data();
      auto* b = static_cast<const char*>(d.data());
      std::size_t i = 0;
      while (i < d.size() && (b[i] == '\n' || (b[i] == '\r' && i + 1 < d.size() && b[i + 1] == '\n')))
        i += b[i] == '\r' ? 2 : 1;
      buf.consume(i);
      used += i;
      if (buf.size() > 0 && !(buf.size() == 1 && static_cast<const char*>(buf.data().data())[0] == '\r'))
        started = true;
    }
    if (started && !header_end) {
      auto d = buf.data();
      auto* b = static_cast<const char*>(d.data());
      for (; scanned < d.size() && !header_end; ++scanned) {
        char ch = b[scanned];
        if (ch == '\n') {
          if (at_line_start) header_end = true;  // the empty line: the header ends here
          ++lines;
          at_line_start = true;
        } else if (ch != '\r') {
          at_line_start = false;
        }
      }
      // lines counts the request line, the fields and (at the end) the empty line.
      if (lines > max_fields + 2 || (!header_end && lines > max_fields + 1)) {
        ec = bhttp::error::header_limit;
        return;
      }
    }
    if (started && buf.size() > 0) {
      std::size_t n = 0;
      try {
        n = p.put(buf.data(), ec);
      } catch (const std::length_error&) {
        // Beast's field list stores a name or value of at most 65,533 bytes and throws
        // for a longer one, whatever header_limit says: a header field too large.
        ec = bhttp::error::header_limit;
        return;
      }
      buf.consume(n);
      used += n;
      if (ec == bhttp::error::need_more) ec = {};
      if (ec) return;
      if (used > limit) {  // Beast's own check misses a header that arrived in pieces
        ec = bhttp::error::header_limit;
        return;
      }
      if (p.is_header_done()) return;
    }
    if (used + buf.size() > limit) {
      ec = bhttp::error::header_limit;
      return;
    }
    if (buf.size() >= buf.max_size()) {
      ec = bhttp::error::buffer_overflow;
      return;
    }
    std::size_t want = std::min<std::size_t>(65536, buf.max_size() - buf.size());
    std::size_t n = c.read_some(buf.prepare(want), ec);
    buf.commit(n);
    if (ec == boost::asio::error::eof) {
      ec = started ? bhttp::error::partial_message : bhttp::error::end_of_stream;
      return;
    }
    if (ec) return;
  }
}

// Go's CVE-2023-39326 rule for chunked bodies: a chunk line longer than 4 KiB
// (maxLineLength) is refused, and the bytes that are not data (extensions, CRLFs) may
// exceed the data's by at most 16 KiB over the whole body.
struct chunk_guard {
  std::int64_t excess = 0;
  bool tripped = false;
  void operator()(std::uint64_t size, beast::string_view ext, error_code& ec) {
    if (ext.size() > 4096) {
      tripped = true;
      ec = bhttp::error::bad_chunk_extension;
      return;
    }
    excess += static_cast<std::int64_t>(ext.size()) + 4;  // extensions, line CRLF, data CRLF
    excess -= 16 + 2 * static_cast<std::int64_t>(std::min<std::uint64_t>(size, std::uint64_t{1} << 40));
    if (excess < 0) excess = 0;
    if (excess > 16 * 1024) {
      tripped = true;
      ec = bhttp::error::bad_chunk_extension;
    }
  }
};

// True when buf's unparsed bytes start a chunked body's last chunk ("0\r\n", possibly
// after the previous chunk's CRLF): an overflow there is the trailer's (431, not 413).
bool at_last_chunk(const beast::flat_buffer& buf) {
  std::string_view d{static_cast<const char*>(buf.data().data()), buf.size()};
  if (d.substr(0, 2) == "\r\n") d.remove_prefix(2);
  std::size_t z = 0;
  while (z < d.size() && d[z] == '0') ++z;
  return z > 0 && z < d.size() && (d[z] == '\r' || d[z] == ';' || d[z] == ' ' || d[z] == '\t');
}

// The request line's version, when Beast refused it as bad_version: 505 for a well-formed
// "HTTP/d.d" other than 1.0 / 1.1 (RFC 9110 §15.6.6; Go answers 505 too), else 400.
int status_for_bad_version(const beast::flat_buffer& buf) {
  std::string_view d{static_cast<const char*>(buf.data().data()), buf.size()};
  auto eol = d.find('\n');
  if (eol == std::string_view::npos) return status::bad_request;
  std::string_view line = d.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // method SP target SP HTTP/d.d, and not one Beast would have taken (then something
  // else in the line is wrong: "GET /a b HTTP/1.1").
  if (line.size() < 9 || std::count(line.begin(), line.end(), ' ') != 2) return status::bad_request;
  std::string_view v = line.substr(line.size() - 9);
  bool ok = v.substr(0, 6) == " HTTP/" && absl::ascii_isdigit(static_cast<unsigned char>(v[6])) && v[7] == '.' &&
            absl::ascii_isdigit(static_cast<unsigned char>(v[8]));
  if (!ok || v.substr(1) == "HTTP/1.0" || v.substr(1) == "HTTP/1.1") return status::bad_request;
  return status::http_version_not_supported;
}

// RFC 9112 §3.2 / Go's httpguts.ValidHostHeader: the bytes a Host value may hold
// (reg-name, IP literal, port; no spaces, no userinfo '@').
bool valid_host(std::string_view h) noexcept {
  for (char ch : h) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(ch))) continue;
    if (std::strchr("!$&'()*+,-.:;=[]_~%", ch) == nullptr || ch == '\0') return false;
  }
  return true;
}

// Maps a read error to the status to answer (0: close silently).
int status_for_read_error(const error_code& ec, bool header_done) {
  if (ec == bhttp::error::header_limit) return status::request_header_fields_too_large;
  if (ec == bhttp::error::body_limit) return status::payload_too_large;
  if (ec == bhttp::error::buffer_overflow)
    return header_done ? status::payload_too_large : status::request_header_fields_too_large;
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return 0;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) return status::bad_request;
  return 0;  // network: EOF, timeout, reset, closed
}

// Writes an error answer ("400 Bad Request: why") with Connection: close.
void write_error(net::conn& c, unsigned version, int code, std::string_view why, std::chrono::nanoseconds wt) {
  bhttp::response<bhttp::string_body> res;
  res.version(version == 10 ? 10 : 11);
  res.result(static_cast<unsigned>(code));
  res.reason(beast::string_view(status_text(code).data(), status_text(code).size()));
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.set(bhttp::field::date, http_date());
  res.body() = std::to_string(code) + " " + std::string(status_text(code));
  if (!why.empty()) res.body() += ": " + std::string(why);
  res.content_length(res.body().size());
  res.keep_alive(false);
  c.set_write_deadline(clk::now() + (wt > std::chrono::nanoseconds::zero() ? wt : std::chrono::seconds(5)));
  error_code ec;
  bhttp::write(c, res, ec);
}

struct parsed_target {
  std::string path, query;
  std::string authority;  // absolute-form: the target's host[:port], which is r.host
  std::string err;  // non-empty: answer 400 with this
};

parsed_target parse_target(std::string_view target) {
  parsed_target t;
  std::string_view raw_path, raw_query;
  if (!target.empty() && target.front() == '/') {
    auto qm = target.find('?');
    raw_path = target.substr(0, qm);
    if (qm != std::string_view::npos) raw_query = target.substr(qm + 1);
    t.query = std::string(raw_query);
  } else if (target.size() > 7 && iequals(target.substr(0, 7), "http://")) {  // absolute-form
    auto u = parse_url(target);
    if (!u.ok()) {
      t.err = "invalid request-target";
      return t;
    }
    auto dec = unescape(u->path, false);
    if (!dec) {
      t.err = "invalid URL escape";
      return t;
    }
    t.path = std::move(*dec);
    t.query = u->raw_query;
    std::string_view rest = target.substr(7);
    t.authority = std::string(rest.substr(0, rest.find_first_of("/?#")));
    raw_path = {};
  } else {
    t.err = "invalid request-target";
    return t;
  }
  if (!raw_path.empty()) {
    auto dec = unescape(raw_path, false);
    if (!dec) {
      t.err = "invalid URL escape";
      return t;
    }
    t.path = std::move(*dec);
  }
  if (t.path.find('\0') != std::string::npos) {
    t.err = "invalid URL path";
    return t;
  }
  for (auto s : split_path(t.path))
    if (s == "." || s == "..") {
      t.err = "invalid URL path";
      return t;
    }
  return t;
}

// The status w's answer is sent with: 200 if none was written.
int answer_code(const response_writer& w) {
  int code = response_writer_access::status(w);
  return code == 0 ? 200 : code;
}

// Statuses whose answers have no body (RFC 9110 §6.4.1).
bool bodiless_status(int code) { return (code >= 100 && code < 200) || code == 204 || code == 304; }

// The status line and header fields of w's answer, for the buffered and the streamed
// answer alike: the handler's fields (cleaned; Content-Length, Transfer-Encoding and
// Connection left to the server; "Connection: close" clears keep), a Content-Type for a
// body without one, a Date.
template <class Body>
void prepare_header(response_writer& w, const request& r, int code, bool has_body, bool& keep,
                    bhttp::response<Body>& res) {
  res.version(r.version == 10 ? 10 : 11);
  res.result(static_cast<unsigned>(code < 100 || code > 999 ? 500 : code));
  if (status_text(code).empty()) res.reason("status code " + std::to_string(code));
  else res.reason(beast::string_view(status_text(code).data(), status_text(code).size()));
  bool has_ctype = false, has_date = false;
  for (const auto& [k, v] : response_writer_access::headers(w)) {
    if (!is_token(k)) continue;
    if (iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding")) continue;
    if (iequals(k, "Connection")) {
      if (iequals(trim_ows(v), "close")) keep = false;
      continue;
    }
    if (iequals(k, "Content-Type")) has_ctype = true;
    if (iequals(k, "Date")) has_date = true;
    res.insert(k, clean_value(v));
  }
  if (!has_ctype && has_body) res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  if (!has_date) res.set(bhttp::field::date, http_date());
}

// Sends the handler's buffered answer. Returns false on a write error.
bool write_response(net::conn& c, response_writer& w, const request& r, bool& keep) {
  int code = answer_code(w);
  bhttp::response<bhttp::string_body> res;
  std::string& body = response_writer_access::body(w);
  bool no_body = bodiless_status(code);
  if (no_body) body.clear();
  std::shared_ptr<file_body> file = std::move(response_writer_access::file(w));
  if (no_body) file.reset();
  prepare_header(w, r, code, !body.empty() || file, keep, res);
  // file_server's answer: Beast writes the header, the file follows by sendfile (fs.cpp).
  if (file) {
    res.content_length(file->size());
    res.keep_alive(keep);
    error_code ec;
    bhttp::response_serializer<bhttp::string_body> sr{res};
    bhttp::write_header(c, sr, ec);
    return !ec && (r.method == "HEAD" || write_file_body(c, *file).ok());
  }
  res.body() = std::move(body);
  if (!no_body) res.content_length(res.body().size());
  res.keep_alive(keep);
  error_code ec;
  if (r.method == "HEAD") {
    bhttp::response_serializer<bhttp::string_body> sr{res};
    bhttp::write_header(c, sr, ec);
  } else {
    bhttp::write(c, res, ec);
  }
  return !ec;
}

// A failed stream write as the handler sees it (net.hpp's texts where the error tells).
absl::Status stream_write_error(const error_code& ec) {
  if (ec == boost::asio::error::timed_out) return absl::DeadlineExceededError("i/o timeout");
  if (ec == boost::asio::error::bad_descriptor) return absl::FailedPreconditionError("use of closed network connection");
  return absl::UnavailableError("http: write to client: " + ec.message());
}

// Watches a streaming answer's connection for the client going away (Go's background
// read): one goroutine parked in a 1-byte read while the handler streams. EOF or an error
// cancels the request's ctx; a byte (the next pipelined request) is kept for the server;
// the server stops it with a read deadline and waits for it.
// It is started only while the read buffer is empty (flush): with a pipelined request
// already read ahead, the socket's next event may be the client's half-close (it sent all
// its requests and waits for their answers), and reading that EOF as "gone" cut the
// answer and dropped the buffered request (issue 24).
struct disconnect_watch {
  gofer::chan<std::monostate> done;  // closed when the watcher has ended
  std::atomic<bool> gone{false};     // the client closed or reset the connection
  // Written by the watcher before it closes done; read after done.
  bool got_byte = false;
  char byte = 0;
};


// buffer_body: the body goes straight from the read buffer into the handler's buffer.
using request_parser = bhttp::request_parser<bhttp::buffer_body>;

// Go's maxPostHandlerReadBytes: after the handler, at most this much of an unread body is
// read and dropped to keep the connection; with more left, it closes instead.
constexpr std::uint64_t kMaxPostHandlerRead = 256 << 10;

// What the steps of one request hand on to the next.
struct incoming {
  std::string_view target, method;  // into the parser's message
  parsed_target pt;
  header headers;  // the header's fields, copied before a chunked body's trailer joins them
  std::unordered_map<std::string, std::size_t> header_names;  // chunked: lower-cased name → count
  std::size_t header_fields = 0;
};

// One connection's serving loop (Go's *conn). Lives on the connection's goroutine only;
// it is also the body_source behind the handler's request (read, body) and the sink behind
// its response_writer (flush, hijack), which the handler calls on that same goroutine.
class conn_server final : public body_source, public response_writer::sink {
 public:
  conn_server(server::state& s, std::shared_ptr<conn_rec> rec, clk::time_point serving_since)
      : s_(s),
        o_(s.o),
        rec_ptr_(std::move(rec)),
        rec_(*rec_ptr_),
        c_(rec_.c),
        serving_since_(serving_since),
        remote_(c_.remote_addr()),
        hdr_timeout_(o_.read_header_timeout > std::chrono::nanoseconds::zero() ? o_.read_header_timeout
                                                                               : o_.read_timeout),
        idle_timeout_(o_.idle_timeout > std::chrono::nanoseconds::zero() ? o_.idle_timeout : o_.read_timeout),
        // The read buffer's bound: a header of max_header_bytes plus one read ahead. While
        // a body is read it shrinks to kBodyStageBuffer, which bounds a chunk line and the
        // trailer.
        header_stage_buffer_(std::size_t{o_.max_header_bytes} + 65536),
        buf_(header_stage_buffer_) {
    // request::ctx: one per connection, a child of the server's (cancelled by close()).
    std::tie(ctx_, cancel_) = gofer::with_cancel(s_.base);
  }
  conn_server(const conn_server&) = delete;
  conn_server& operator=(const conn_server&) = delete;
  ~conn_server() {
    // A watcher is left only when a streaming handler was unwound (goroutine_exit, the run
    // ending): no parking then, so it is woken, not waited for (it holds what it uses, and
    // serve_conn closes the connection next).
    if (watch_) {
      if (std::uncaught_exceptions() == 0) stop_watch();
      else c_.set_read_deadline(clk::now());
    }
    cancel_();
  }

  // Serves requests until one of the steps ends the connection.
  void serve() {
    for (;;) {
      if (!await_request()) return;
      request_parser p;
      incoming in;
      if (!read_header(p) || !check_header(p, in)) return;
      request r = make_request(p, in);
      keep_ = o_.keep_alives && p.get().keep_alive();
      response_writer w;
      begin_answer(r, w);
      int body_code = -1;  // body() threw body_error: its status (0: none)
      bool ok;
      {
        // The body is readable while the handler runs (and only then: even when the
        // runtime unwinds this goroutine, a request copy must not reach a dead parser).
        auto& b = *request_access::body(r);
        gofer::defer detach([&b] {
          b.src = nullptr;
          b.detached = true;
        });
        ok = call_handler(r, w, in.target == "*", body_code);
      }
      if (hijacked_) return;  // the connection is the handler's now
      if (aborted_) return cut();
      if (body_code >= 0) return streaming_ ? cut() : answer_body_error(body_code);
      if (!ok) return streaming_ ? cut() : answer_panic(r);
      if (streaming_) {
        if (!end_stream(w)) return;
        continue;
      }
      if (!settle_body(keep_)) return;
      if (!write_answer(r, w, keep_)) return;
    }
  }

  // ---- body_source: the handler reads the body (on the handler's goroutine) ----

  absl::StatusOr<std::size_t> read_body(char* dst, std::size_t n, request::body_state& b) override {
    if (hijacked_) return absl::FailedPreconditionError("http: invalid Read on a hijacked connection's Body");
    request_parser& p = *parser_;
    if (p.is_done()) return end_of_body(b);
    // A declared length over the limit is refused before anything is read (or a 100 sent).
    if (!body_started_ && p.content_length() && *p.content_length() > b.limit)
      return body_failed(b, status::payload_too_large, absl::ResourceExhaustedError("http: request body too large"));
    if (!body_started_) {
      if (auto st = start_body(); !st.ok()) return body_failed(b, 0, st);
    }
    // Go's MaxBytesReader reads at most one byte past the limit, to tell "at" from "over".
    std::uint64_t room = b.limit >= b.consumed ? b.limit - b.consumed : 0;
    if (room < UINT64_MAX && n > room + 1) n = static_cast<std::size_t>(room + 1);
    for (;;) {
      p.get().body().data = dst;
      p.get().body().size = n;
      error_code ec;
      read_some_body(p, ec);
      std::size_t got = n - p.get().body().size;
      p.get().body().data = nullptr;
      if (ec) return body_read_failed(b, ec);
      if (got > 0) {
        b.consumed += got;
        if (b.consumed > b.limit)
          return body_failed(b, status::payload_too_large, absl::ResourceExhaustedError("http: request body too large"));
        if (p.is_done()) {  // the next read returns EOF (these bytes first)
          if (auto st = finish_body(b); !st.ok()) return st;
        }
        return got;
      }
      if (p.is_done()) return end_of_body(b);
    }
  }

  // ---- response_writer::sink (on the handler's goroutine) ----

  absl::Status flush(response_writer& w) override {
    if (auto st = check(); !st.ok()) return st;
    std::string& body = response_writer_access::body(w);
    error_code ec;
    if (!streaming_) {
      // The status and header, once: chunked for HTTP/1.1; for HTTP/1.0 the body ends
      // with the connection. No Content-Length: the length is not known.
      if (keep_ && s_.is_shutting_down()) keep_ = false;
      // What is left of the request body is settled before the header, as Go does (its
      // HTTP/1 server is not full duplex): ≤ 256 KiB discarded, else Connection: close.
      if (!settle_body(keep_)) return broke(absl::UnavailableError("http: reading the rest of the request body failed"));
      int code = answer_code(w);
      no_body_ = req_->method == "HEAD" || bodiless_status(code);
      if (no_body_) body.clear();
      bhttp::response<bhttp::empty_body> res;
      prepare_header(w, *req_, code, !body.empty(), keep_, res);
      chunked_ = !no_body_ && version_ == 11;
      if (!no_body_ && !chunked_) keep_ = false;
      if (chunked_) res.chunked(true);
      res.keep_alive(keep_);
      streaming_ = true;
      response_writer_access::set_flushed(w);
      c_.set_write_deadline(write_deadline());
      bhttp::response_serializer<bhttp::empty_body> sr{res};
      bhttp::write_header(c_, sr, ec);
      if (ec) return broke(stream_write_error(ec));
      // The client's going away is watched once the request body is all read (Go's
      // background read starts at the body's EOF too): the watcher reads the connection.
      // Not while the next request is in buf_ already (read ahead with the body or the
      // header): the client sent it and waits for this answer and that one, so an EOF
      // now is its half-close, not its going away — watching would race the handler
      // for the rest of the stream (issue 24). A client that does leave is then seen by
      // the first write that fails.
      if (parser_->is_done() && buf_.size() == 0) start_watch();
    }
    if (no_body_) body.clear();
    if (body.empty()) return absl::OkStatus();
    // response_write_timeout bounds each write of a stream, not the whole of it.
    c_.set_write_deadline(write_deadline());
    if (chunked_) boost::asio::write(c_, bhttp::make_chunk(boost::asio::buffer(body)), ec);
    else boost::asio::write(c_, boost::asio::buffer(body), ec);
    body.clear();
    if (ec) return broke(stream_write_error(ec));
    return absl::OkStatus();
  }

  absl::Status check() override {
    if (!stream_err_.ok()) return stream_err_;
    if (watch_ && watch_->gone.load(std::memory_order_acquire))
      return broke(absl::UnavailableError("http: client disconnected"));
    return absl::OkStatus();
  }

  absl::StatusOr<response_writer::hijacked> hijack() override {
    if (hijacked_) return absl::FailedPreconditionError("http: connection already hijacked");
    hijacked_ = true;
    response_writer::hijacked h;
    auto d = buf_.data();
    h.buffered.assign(static_cast<const char*>(d.data()), d.size());
    buf_.consume(buf_.size());
    h.conn = s_.take_hijacked(rec_);
    h.conn.set_deadline(time_point{});
    s_.notify(h.conn, conn_state::hijacked);
    return h;
  }

 private:
  time_point hdr_deadline_from(clk::time_point t0) const {
    return hdr_timeout_ > std::chrono::nanoseconds::zero() ? t0 + hdr_timeout_ : time_point{};
  }

  // The answer's write deadline: write_timeout from the end of the header, and
  // response_write_timeout from now, whichever comes first.
  time_point write_deadline() const {
    time_point wd = o_.write_timeout > std::chrono::nanoseconds::zero() ? t_header_ + o_.write_timeout : time_point{};
    if (o_.response_write_timeout > std::chrono::nanoseconds::zero()) {
      auto b = clk::now() + o_.response_write_timeout;
      wd = wd == time_point{} ? b : std::min(wd, b);
    }
    return wd;
  }

  // Answers code (with why) and closes: the end of the connection, so always false.
  bool reject(int code, std::string_view why) {
    write_error(c_, version_, code, why, o_.write_timeout);
    linger_close(c_);
    return false;
  }

  // 1. Waits for the request's first byte: the header deadline for a new connection (Go
  //    counts the wait in ReadHeaderTimeout), the idle deadline between requests. Then the
  //    connection is active.
  bool await_request() {
    if (buf_.size() == 0) {
      if (!first_) {
        if (!s_.to(rec_, conn_state::idle)) return false;
        s_.notify(c_, conn_state::idle);
        if (buf_.capacity() > (64u << 10)) buf_.shrink_to_fit();
      }
      if (first_) s_.arm_new(rec_, hdr_deadline_from(serving_since_));
      else c_.set_read_deadline(deadline_in(idle_timeout_));
      error_code ec;
      std::size_t n = c_.read_some(buf_.prepare(4096), ec);
      if (ec) return false;  // EOF, idle timeout, closed by shutdown
      buf_.commit(n);
    }
    if (!s_.to(rec_, conn_state::active)) return false;
    s_.notify(c_, conn_state::active);
    t0_ = first_ ? serving_since_ : clk::now();
    first_ = false;
    return true;
  }

  // 2. The header (the buffer bound back to the header stage's: a pipelined request may
  //    already be in it). A read error is answered (431, 400, 505) when it has an answer.
  bool read_header(request_parser& p) {
    c_.set_read_deadline(hdr_deadline_from(t0_));
    buf_.max_size(std::max(buf_.size(), header_stage_buffer_));
    p.header_limit(o_.max_header_bytes);
    // The body's limit is the handler's (request::read counts it), not the parser's. (Not
    // boost::none: Beast 1.74 compares a Content-Length with the optional, and every
    // length is greater than none.)
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    error_code ec;
    read_request_header(c_, buf_, p, o_.max_header_bytes, o_.max_header_fields, ec);
    if (ec) {
      int code = ec == bhttp::error::bad_version ? status_for_bad_version(buf_)
                                                 : status_for_read_error(ec, p.is_header_done());
      if (code != 0) {
        write_error(c_, 11, code, code == 400 ? ec.message() : "", o_.write_timeout);
        linger_close(c_);
      }
      return false;
    }
    version_ = p.get().version();
    t_header_ = clk::now();
    c_.set_write_deadline(deadline_in(o_.write_timeout));
    return true;
  }

  // 2b. The header's checks: version, Host, Transfer-Encoding, the request-target.
  bool check_header(const request_parser& p, incoming& in) {
    const auto& breq = p.get();
    if (version_ != 10 && version_ != 11) return reject(status::http_version_not_supported, "");
    if (version_ == 11 && breq.find(bhttp::field::host) == breq.end())
      return reject(status::bad_request, "missing required Host header");
    // RFC 9112 §3.2: more than one Host, or an invalid one, is answered 400 (as Go does).
    if (breq.count(bhttp::field::host) > 1) return reject(status::bad_request, "too many Host headers");
    if (auto h = breq[bhttp::field::host]; !valid_host({h.data(), h.size()}))
      return reject(status::bad_request, "malformed Host header");
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing; a proxy in
    // front may not agree where the body ends, so answer 400 and close. (Go ignores TE on
    // 1.0 and reads by Content-Length; either way no second request is read from a body.)
    if (version_ == 10 && breq.find(bhttp::field::transfer_encoding) != breq.end())
      return reject(status::bad_request, "Transfer-Encoding in an HTTP/1.0 request");
    if (breq.find(bhttp::field::transfer_encoding) != breq.end()) {
      auto te = breq[bhttp::field::transfer_encoding];
      // (Beast's parser refuses control characters in values: stripping ASCII whitespace
      // is stripping HTTP's spaces and tabs here.)
      if (!p.chunked() || breq.count(bhttp::field::transfer_encoding) != 1 ||
          !iequals(strip_ascii_whitespace({te.data(), te.size()}), "chunked"))
        return reject(status::not_implemented, "unsupported transfer encoding");
    }
    in.target = {breq.target().data(), breq.target().size()};
    in.method = {breq.method_string().data(), breq.method_string().size()};
    if (in.target == "*") {
      if (in.method != "OPTIONS") return reject(status::bad_request, "invalid request-target");
    }
    if (in.target != "*") {
      in.pt = parse_target(in.target);
      if (!in.pt.err.empty()) return reject(status::bad_request, in.pt.err);
    } else {
      in.pt.path = "*";
    }
    return true;
  }

  // 3. The body is the handler's to read (request::read / body): the steps below run
  //    on its first read, and after it returns (settle_body).

  // The header fields, copied before a chunked body's trailer can join them (it adds its
  // fields to the same Beast message, each after the last of its name).
  void copy_header(const request_parser& p, incoming& in) {
    for (const auto& f : p.get()) {
      auto n = f.name_string();
      auto v = f.value();
      in.headers.add(std::string(n.data(), n.size()), std::string(v.data(), v.size()));
      if (!p.chunked()) continue;  // only a chunked body has a trailer
      ++in.header_names[to_lower({n.data(), n.size()})];
    }
    in.header_fields = in.headers.size();
  }

  // The body stage begins (the handler's first read, or the discard after it): its
  //    deadline (body_read_timeout from now, read_timeout from the request's first byte),
  //    "100 Continue" if the client waits for it, the read buffer at its body-stage bound.
  absl::Status start_body() {
    body_started_ = true;
    request_parser& p = *parser_;
    time_point rd{};
    if (o_.read_timeout > std::chrono::nanoseconds::zero()) rd = t0_ + o_.read_timeout;
    if (o_.body_read_timeout > std::chrono::nanoseconds::zero()) {
      auto b = clk::now() + o_.body_read_timeout;
      rd = rd == time_point{} ? b : std::min(rd, b);
    }
    c_.set_read_deadline(rd);
    if (expect_continue_) {
      // Bounded like the body: a client that never reads could otherwise hold this write.
      if (rd != time_point{} &&
          (o_.write_timeout <= std::chrono::nanoseconds::zero() || rd < t_header_ + o_.write_timeout))
        c_.set_write_deadline(rd);
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
      error_code ec;
      bhttp::write(c_, cont, ec);
      c_.set_write_deadline(deadline_in(o_.write_timeout));  // (from now: the handler's answer)
      if (ec) return absl::UnavailableError("http: write 100 Continue: " + ec.message());
      continue_sent_ = true;
    }
    buf_.max_size(std::max(buf_.size(), kBodyStageBuffer));
    guard_ = {};
    p.on_chunk_header(guard_);
    return absl::OkStatus();
  }

  // Beast's read_some into the parser's current body buffer; a full buffer is progress.
  void read_some_body(request_parser& p, error_code& ec) {
    try {
      bhttp::read_some(c_, buf_, p, ec);
    } catch (const std::length_error&) {  // a trailer field over 64 KiB (see above)
      ec = bhttp::error::buffer_overflow;
    }
    if (ec == bhttp::error::need_buffer) ec = {};
  }

  // The parser is done: EOF for the handler.
  absl::StatusOr<std::size_t> end_of_body(request::body_state& b) {
    if (auto st = finish_body(b); !st.ok()) return st;
    b.eof = true;
    return std::size_t{0};
  }

  // The body's end, once: the trailer (checked, kept apart from the header), no read
  // deadline.
  absl::Status finish_body(request::body_state& b) {
    if (body_ended_) return b.err;
    body_ended_ = true;
    auto& breq = parser_->get();
    std::size_t fields = static_cast<std::size_t>(std::distance(breq.begin(), breq.end()));
    if (fields > in_->header_fields + o_.max_header_fields)
      return body_failed(b, status::request_header_fields_too_large, absl::ResourceExhaustedError("http: trailer too large"));
    if (fields > in_->header_fields) {
      // Beast inserts a field after the last one of the same name, so within a name the
      // header's come first: skip that many of each name, the rest are the trailer's.
      auto names = in_->header_names;
      for (const auto& f : breq) {
        auto n = f.name_string();
        auto it = names.find(to_lower({n.data(), n.size()}));
        if (it != names.end() && it->second > 0) {
          --it->second;
          continue;
        }
        auto v = f.value();
        b.trailers.add(std::string(n.data(), n.size()), std::string(v.data(), v.size()));
      }
    }
    c_.set_read_deadline(time_point{});
    return absl::OkStatus();
  }

  absl::Status body_failed(request::body_state& b, int code, absl::Status st) {
    body_failed_ = true;
    if (b.err.ok()) {
      b.err = std::move(st);
      b.err_code = code;
    }
    return b.err;
  }

  // A failed body read, as request's table names it.
  absl::Status body_read_failed(request::body_state& b, const error_code& ec) {
    int code = status_for_read_error(ec, true);
    if (guard_.tripped)
      return body_failed(b, status::payload_too_large, absl::ResourceExhaustedError("http: too much chunk overhead"));
    if (ec == bhttp::error::buffer_overflow) {
      if (at_last_chunk(buf_))
        return body_failed(b, status::request_header_fields_too_large, absl::ResourceExhaustedError("http: trailer too large"));
      return body_failed(b, status::payload_too_large, absl::ResourceExhaustedError("http: chunk line too long"));
    }
    if (ec == bhttp::error::body_limit)
      return body_failed(b, status::payload_too_large, absl::ResourceExhaustedError("http: request body too large"));
    if (code == status::bad_request) return body_failed(b, code, absl::InvalidArgumentError(ec.message()));
    if (ec == boost::asio::error::timed_out) return body_failed(b, 0, absl::DeadlineExceededError("i/o timeout"));
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || ec == boost::asio::error::eof)
      return body_failed(b, 0, absl::DataLossError("unexpected EOF"));
    return body_failed(b, 0, absl::UnavailableError(ec.message()));
  }

  // 5c. After the handler, what it left of the body (Go's rule, see request in http.hpp):
  //     nothing left → keep; a failed read, or a "100-continue" never answered, or more than
  //     256 KiB left → Connection: close; else read and drop the rest (body deadline).
  //     False when the connection is to be cut without an answer.
  bool settle_body(bool& keep) {
    request_parser& p = *parser_;
    if (p.is_done()) return true;
    if (body_failed_ || (expect_continue_ && !continue_sent_)) {
      keep = false;
      return true;
    }
    if (auto left = p.content_length_remaining(); left && *left >= kMaxPostHandlerRead) {
      keep = false;
      return true;
    }
    if (!keep) return true;  // closing anyway: the lingering close drains what it can
    if (!body_started_ && !start_body().ok()) return false;
    char sink[16 << 10];
    std::uint64_t dropped = 0;
    while (!p.is_done() && dropped <= kMaxPostHandlerRead) {
      p.get().body().data = sink;
      p.get().body().size = sizeof sink;
      error_code ec;
      read_some_body(p, ec);
      dropped += sizeof sink - p.get().body().size;
      p.get().body().data = nullptr;
      if (ec) {
        keep = false;
        return true;
      }
    }
    if (!p.is_done()) keep = false;
    else c_.set_read_deadline(time_point{});
    return true;
  }

  // 5d. body() could not read the body and threw: its status (0: none), then close.
  void answer_body_error(int code) {
    if (code != 0) {
      write_error(c_, version_, code, "", o_.write_timeout);
      linger_close(c_);
    }
  }

  // 4. The request the handler sees, its body readable through this connection.
  request make_request(request_parser& p, incoming& in) {
    auto& breq = p.get();
    copy_header(p, in);
    parser_ = &p;
    in_ = &in;
    body_started_ = continue_sent_ = body_failed_ = body_ended_ = false;
    auto expect = breq[bhttp::field::expect];
    expect_continue_ = !p.is_done() && version_ == 11 &&
                       iequals(strip_ascii_whitespace({expect.data(), expect.size()}), "100-continue");
    request r;
    r.method = std::string(in.method);
    r.target = std::string(in.target);
    r.path = std::move(in.pt.path);
    r.raw_query = std::move(in.pt.query);
    r.version = static_cast<int>(version_);
    r.headers = std::move(in.headers);
    r.host = in.pt.authority.empty() ? r.headers.get("Host") : in.pt.authority;
    r.content_length = p.chunked() ? -1 : static_cast<std::int64_t>(p.content_length().value_or(0));
    auto b = std::make_shared<request::body_state>();
    b->src = this;
    b->limit = o_.max_body_bytes;
    if (p.is_done()) b->eof = true;  // no body
    request_access::body(r) = std::move(b);
    r.remote_addr = remote_;
    r.ctx = ctx_;
    return r;
  }

  // 5. The handler ("OPTIONS *" is answered here). False when it threw (Go: panicked).
  //    Its writer is attached to this connection (flush, hijack) for the call.
  void begin_answer(const request& r, response_writer& w) {
    req_ = &r;
    streaming_ = chunked_ = no_body_ = aborted_ = false;
    stream_err_ = absl::OkStatus();
    response_writer_access::attach(w, this);
  }

  bool call_handler(const request& r, response_writer& w, bool asterisk, int& body_code) {
    if (asterisk) {
      w.headers().set("Content-Length", "0");
      w.write_header(status::ok);
      return true;
    }
    try {
      s_.h(r, w);
    } catch (const gofer::detail::goroutine_exit&) {
      throw;  // the runtime is unwinding this goroutine
    } catch (const body_error& e) {  // request::body() could not read the body
      body_code = e.code();
      return false;
    } catch (const abort_handler&) {  // Go's panic(http.ErrAbortHandler): cut, not logged
      aborted_ = true;
      return false;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "http: panic serving %s: %s\n", remote_.c_str(), e.what());
      return false;
    } catch (...) {
      std::fprintf(stderr, "http: panic serving %s: unknown exception\n", remote_.c_str());
      return false;
    }
    return true;
  }

  // 5b. The answer is buffered: nothing of it was sent when the handler threw, whatever it
  //     had written, so the client always gets the 500; then the connection closes.
  void answer_panic(const request& r) {
    response_writer w2;
    error(w2, "Internal Server Error", status::internal_server_error);
    bool k = false;
    c_.set_write_deadline(write_deadline());
    write_response(c_, w2, r, k);
    linger_close(c_);
  }

  // 6. The answer, within response_write_timeout (and write_timeout); then the keep-alive
  //    decision: round again (true) unless the request, the options, the handler
  //    ("Connection: close", seen by write_response) or a shutdown asked to close.
  bool write_answer(const request& r, response_writer& w, bool keep) {
    if (keep && s_.is_shutting_down()) keep = false;
    c_.set_write_deadline(write_deadline());
    if (!write_response(c_, w, r, keep)) return false;
    if (!keep) {
      linger_close(c_);
      return false;
    }
    return true;
  }

  // The stream broke (write failure, client gone): the request's ctx ends, the
  // connection closes once the handler returns.
  absl::Status broke(absl::Status st) {
    if (stream_err_.ok()) stream_err_ = std::move(st);
    cancel_();
    return stream_err_;
  }

  void start_watch() {
    auto w = std::make_shared<disconnect_watch>();
    watch_ = w;
    gofer::go(gofer::named{"http-stream-watch"}, [w, rec = rec_ptr_, cancel = cancel_] {
      char b = 0;
      auto n = rec->c.read(&b, 1);
      if (n.ok() && *n == 1) {
        w->got_byte = true;
        w->byte = b;
      } else if (!net::is_timeout(n.status())) {  // a timeout is stop_watch's deadline
        w->gone.store(true, std::memory_order_release);
        cancel();
      }
      w->done.close();
    });
  }

  // Stops the watcher (an expired read deadline wakes it) and waits for it; a byte it read
  // goes back in front of the next request.
  void stop_watch() {
    if (!watch_) return;
    auto w = std::move(watch_);
    c_.set_read_deadline(clk::now());
    (void)w->done.recv();
    c_.set_read_deadline(time_point{});
    if (w->got_byte) {
      buf_.max_size(std::max(buf_.max_size(), buf_.size() + 1));
      auto mb = buf_.prepare(1);
      *static_cast<char*>(mb.data()) = w->byte;
      buf_.commit(1);
    }
  }

  // 6'. The end of a streamed answer: what is still buffered, then the last chunk (or, for
  //     HTTP/1.0, the close). Round again (true) only when all of it went out and the
  //     connection is kept.
  bool end_stream(response_writer& w) {
    absl::Status st = w.flush();
    if (st.ok() && chunked_) {
      error_code ec;
      c_.set_write_deadline(write_deadline());
      boost::asio::write(c_, bhttp::make_chunk_last(), ec);
      if (ec) st = broke(stream_write_error(ec));
    }
    stop_watch();
    if (!st.ok() || !check().ok()) {
      (void)c_.close();
      return false;
    }
    if (!keep_) {
      linger_close(c_);
      return false;
    }
    return true;
  }

  // 5c. A handler that threw after flushing: the client has a status and part of a body,
  //     so the connection is cut (no last chunk): it cannot take the answer for complete.
  //     A handler that threw abort_handler, flushed or not, is cut the same way: before a
  //     flush nothing was sent, so the client reads EOF instead of an answer. request::ctx
  //     ends here (Go cancels the in-flight request's), before the goroutine unregisters.
  void cut() {
    cancel_();
    stop_watch();
    (void)c_.close();
  }

  server::state& s_;
  const server_options& o_;
  const std::shared_ptr<conn_rec> rec_ptr_;  // for the watcher goroutine
  conn_rec& rec_;
  net::conn& c_;
  // A new connection's header deadline counts from here (see serve_conn).
  const clk::time_point serving_since_;
  const std::string remote_;
  const std::chrono::nanoseconds hdr_timeout_, idle_timeout_;
  const std::size_t header_stage_buffer_;
  beast::flat_buffer buf_;
  bool first_ = true;
  // The current request's: when its first byte was there, when its header was read, its
  // HTTP version (10 or 11).
  clk::time_point t0_{}, t_header_{};
  unsigned version_ = 11;
  // The current request's body: its parser and header (in serve()'s frame), and how far
  // the body stage got.
  request_parser* parser_ = nullptr;
  const incoming* in_ = nullptr;
  chunk_guard guard_;
  bool expect_continue_ = false, continue_sent_ = false, body_started_ = false, body_failed_ = false,
       body_ended_ = false;
  // request::ctx (per connection) and its cancel.
  gofer::context ctx_;
  gofer::cancel_func cancel_;
  // The current answer: its request, keep-alive, and once flushed its framing.
  const request* req_ = nullptr;
  bool keep_ = false;
  bool streaming_ = false, chunked_ = false, no_body_ = false;
  bool hijacked_ = false;
  bool aborted_ = false;  // the handler threw abort_handler
  absl::Status stream_err_;
  std::shared_ptr<disconnect_watch> watch_;
};

}  // namespace

namespace internal {

void serve_conn(const std::shared_ptr<server::state>& sp, const std::shared_ptr<conn_rec>& rec) {
  server::state& s = *sp;
  // A new connection's header deadline counts from here, as Go's readRequest counts from
  // its own start: the wait for the first byte is included, but not the time the goroutine
  // waited to be scheduled after accept (under load that could eat the whole timeout and
  // the deadline would then fail a request already waiting in the socket).
  const auto serving_since = clk::now();
  // Unregisters even when the runtime unwinds this goroutine (goroutine_exit).
  gofer::defer unregister([&s, &r = *rec] {
    (void)r.c.close();  // (a hijacked conn_rec holds a moved-from conn: a no-op)
    // Not while the runtime unwinds us: the hook might park, which would throw again.
    // A hijacked connection was reported hijacked, and is not closed here.
    const bool hook = std::uncaught_exceptions() == 0 && !r.hijacked && s.o.on_conn_state;
    s.unregister(r, hook);  // shutdown() waits for the hook too (server::state::unregister)
    if (hook) {
      gofer::defer returned([&s] { s.closed_hook_returned(); });
      s.notify(r.c, conn_state::closed);
    }
  });
  s.notify(rec->c, conn_state::new_);
  conn_server(s, rec, serving_since).serve();
}

}  // namespace internal

}  // namespace gofer::http
