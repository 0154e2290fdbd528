// gofer/http.hpp — Go's net/http for goroutines: a server with a router, and a client.
//
//   http::header          a case-insensitive list of header fields (Go's http.Header)
//   http::request         an incoming request, as a handler sees it
//   http::response_writer what a handler answers through (Go's http.ResponseWriter;
//                         flush() streams, hijack() takes the connection over)
//   http::event_stream    Server-Sent Events over a response_writer
//   http::handler         std::function<void(const request&, response_writer&)>
//   http::abort_handler   what a handler throws to cut its answer quietly (Go's ErrAbortHandler)
//   http::serve_mux       a router with Go 1.22 patterns: "GET /users/{id}", "/static/{path...}"
//   http::server          serve(listener), shutdown(ctx), close(); one goroutine per connection
//   http::server_options  timeouts, size limits, keep-alive, a connection-state hook
//   http::client          get / post / send with keep-alive reuse, ctx timeouts, redirects
//   http::client_options  redirect limit, response size limit, idle pool size
//   http::response        what the client returns: status, headers, body
//   http::streamed_response  the same with the body still to read (client::stream: Go's
//                         resp.Body), and http::body_reader, a request body sent as read
//   http::url, parse_url  minimal http:// URLs (the client's only scheme)
//   error, write_json, decode_json, redirect, file_server, strip_prefix, status_text,
//   mime_type_by_extension                      Go's helpers of the same names
//
// Code reads like Go's: one goroutine per connection, plain blocking calls. A goroutine
// blocked reading a request or a response parks; its thread runs other goroutines.
// HTTP/1.0 and HTTP/1.1 over TCP; no TLS (https:// is out of scope), no HTTP/2, no
// compression; Upgrade (WebSocket) only by taking the connection over
// (response_writer::hijack). Answers are buffered, or streamed after a flush
// (response_writer::flush; event_stream for Server-Sent Events). A chunked request's trailer fields are handed to the
// handler apart from its header (request::trailers); the client ignores trailers.
//
// Parsing and serialization are Boost.Beast's (request_parser / response_parser and its
// serializer, synchronous API over gofer::net::conn) — gofer never parses HTTP by hand.
// Only the http:// URL syntax is parsed here (Boost.URL is not in Boost 1.74): scheme,
// host (name, IPv4, [IPv6]), port, path and query; userinfo and other schemes are refused.
//
// Bad input (server side). Every case answers (if it can), closes that one connection, and
// the server keeps serving the others:
//   malformed request line, header, chunk, Content-Length   400 Bad Request
//   HTTP/1.1 without Host; invalid %-escape; "." or ".." path segment   400 Bad Request
//   two Host fields, or a Host with bytes a host cannot hold  400 Bad Request (RFC 9112 §3.2)
//     (space, '@', controls: only letters, digits and !$&'()*+,-.:;=[]_~% pass, as in Go)
//   Transfer-Encoding in an HTTP/1.0 request                  400 Bad Request (RFC 9112 §6.1:
//     faulty framing, so the body's end is never guessed; Go instead ignores TE on 1.0)
//   header block larger than max_header_bytes                431 Request Header Fields Too Large
//     (request line + fields, counted over the whole header however many reads it takes)
//   more than max_header_fields header fields                431 Request Header Fields Too Large
//   a trailer larger than 64 KiB or with more than max_header_fields fields   431
//   body larger than its limit (declared or chunked), when    413 Content Too Large
//     the handler reads it (max_body_bytes, or max_bytes)       (see request: bodies are lazy)
//   a chunk line over 4 KiB, or chunk extensions/CRLFs exceeding the data by more than
//     16 KiB over the body (Go's rule since CVE-2023-39326)  413 Content Too Large
//   "HTTP/d.d" other than 1.0 / 1.1 ("HTTP/2.0", "HTTP/0.9") 505 HTTP Version Not Supported
//     (HTTP/1.2 too, where Go would answer as 1.1: Beast's parser refuses it)
//   Transfer-Encoding other than exactly "chunked"           501 Not Implemented
//   client too slow at any stage (server_options' table)     connection closed, no answer
//     (the header timeout runs from the first byte — from accept for a new connection —
//     so a client dripping a byte at a time cannot extend it: slowloris is cut off; the
//     body and write bounds are totals for the same reason)
//   out of file descriptors (EMFILE)                         accept backs off and retries;
//     the connection waits in the backlog, serve() keeps going
//   body() could not read the body (body_error)               its status (413, 400, 431), close
//   handler throws                                            500, close (what it wrote is
//     dropped) — or, if it had flushed (the answer was streaming), the connection is cut
//   handler throws abort_handler (Go's ErrAbortHandler)       connection cut, no answer
//     (streaming: no last chunk), nothing logged
// Empty lines (CRLF) before a request line are skipped (RFC 9112 §2.2). An absolute-form
// target ("GET http://a:8080/x") sets request::host to its authority ("a:8080"), whatever
// the Host field says (RFC 9112 §3.2.2).
//
// Memory per connection (server side), each part bounded by an option:
//   read buffer       max_header_bytes + 64 KiB while a header is read, 64 KiB while a body
//                     is (a chunk line or a trailer longer than that is refused)
//   header            the buffer's bytes, plus Beast's field list and the request's copy:
//                     about 3× max_header_bytes + ~100 bytes × max_header_fields at most
//   body              nothing: the body stays in the socket until the handler reads it
//                     (request: read() streams it through the 64 KiB read buffer; body()
//                     holds it whole, at most max_body_bytes or max_bytes' limit); a body
//                     the handler did not read is discarded (≤ 256 KiB) or the connection
//                     is closed
//   answer            what the handler wrote (buffered); once streaming, what it wrote
//                     since the last flush (at most 4 KiB plus one write)
//   JSON              request::json stops at max_json_depth
// Expect: 100-continue is answered "100 Continue" when the handler first reads the body
// (Go's rule), so a 405, a 404 or a refusal reaches the client before it sends a body.
// An error answer is followed by a lingering close (shut the write side, drain briefly) so
// the client reads the answer instead of a TCP reset.
//
// Errors are absl::Status, never exceptions (as in gofer/net.hpp). Client errors carry
// Go's text, "Get \"http://h/x\": <cause>", with the code of the cause:
//   ctx deadline passed / client timeout   DeadlineExceeded  (also when a conn deadline fired)
//   ctx cancelled                          Cancelled
//   bad URL, https://, userinfo            InvalidArgument
//   redirect limit reached                 ResourceExhausted "stopped after 10 redirects"
//   response body / header too large      ResourceExhausted "http: response body too large"
//   malformed or truncated response        DataLoss ("unexpected EOF", "malformed HTTP response: ...")
//   dial failure                           net::dial's status (Unavailable "connection refused", ...)
//   connection closed or reset             Unavailable ("EOF", ...)
//
// tests/http_fuzz_test.cpp sends thousands of seeded random requests (mutated, garbage,
// oversized) over TCP and checks these rules; GOFER_FUZZ_SEED replays a failure.
//
// Thread-safety: serve_mux, server and client may be used from any number of goroutines.
// A handler runs concurrently with itself (one call per in-flight request) and must be
// thread-safe. request, response_writer, header, response, url are plain values.
// Every blocking call must run inside gofer::run; servers, clients (they pool open
// connections) and connections must not outlive the run that created them.
//
// Example — a server and a client in one program:
//   http::serve_mux mux;
//   mux.handle("GET /hello/{name}", [](const http::request& r, http::response_writer& w) {
//     w.write("hello, " + r.path_value("name") + "\n");
//   });
//   auto ln = gofer::net::listen("127.0.0.1:0").value();
//   std::string url = "http://" + ln.addr() + "/hello/gopher";
//   http::server srv(mux);
//   gofer::go([&] { srv.serve(std::move(ln)); });
//   http::client c;
//   auto res = c.get(gofer::background(), url);      // res->status == 200
//   srv.shutdown(gofer::background());
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>  // the JSON helpers' type; include <nlohmann/json.hpp> to use them

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gofer/context.hpp"
#include "gofer/net.hpp"

namespace gofer::http {

// Status codes by name, for readable handlers: w.write_header(http::status::not_found).
namespace status {
inline constexpr int continue_ = 100;
inline constexpr int ok = 200;
inline constexpr int created = 201;
inline constexpr int accepted = 202;
inline constexpr int no_content = 204;
inline constexpr int partial_content = 206;
inline constexpr int moved_permanently = 301;
inline constexpr int found = 302;
inline constexpr int see_other = 303;
inline constexpr int not_modified = 304;
inline constexpr int temporary_redirect = 307;
inline constexpr int permanent_redirect = 308;
inline constexpr int bad_request = 400;
inline constexpr int unauthorized = 401;
inline constexpr int forbidden = 403;
inline constexpr int not_found = 404;
inline constexpr int method_not_allowed = 405;
inline constexpr int request_timeout = 408;
inline constexpr int conflict = 409;
inline constexpr int precondition_failed = 412;
inline constexpr int payload_too_large = 413;
inline constexpr int unsupported_media_type = 415;
inline constexpr int range_not_satisfiable = 416;
inline constexpr int too_many_requests = 429;
inline constexpr int request_header_fields_too_large = 431;
inline constexpr int internal_server_error = 500;
inline constexpr int not_implemented = 501;
inline constexpr int bad_gateway = 502;
inline constexpr int service_unavailable = 503;
inline constexpr int gateway_timeout = 504;
inline constexpr int http_version_not_supported = 505;
}  // namespace status

// http.StatusText: "Not Found" for 404; "" for a code it does not know. Never blocks.
std::string_view status_text(int code) noexcept;

// mime.TypeByExtension for the common web types: ".html" → "text/html; charset=utf-8",
// ".png" → "image/png", ...; case-insensitive; "" when unknown. The argument may be a whole
// path ("/a/b.css"): its extension is used. Never blocks.
std::string_view mime_type_by_extension(std::string_view path_or_ext) noexcept;

// header — Go's http.Header: header fields in arrival order, names compared
// case-insensitively ("content-type" finds "Content-Type"), a name may repeat.
//
// Zero value: empty. Copy semantics: a value (copies are independent).
//   op \ state   | name absent          | name present (n times)
//   get(k)       | ""                   | the first value
//   values(k)    | {}                   | all n values, in order
//   set(k, v)    | appends (k, v)       | replaces all n by one (k, v)
//   add(k, v)    | appends (k, v)       | appends (k, v)
//   del(k)       | nothing              | removes all n
// Thread-safety: as std::vector. Never blocks; set/add may allocate.
class header {
 public:
  using field = std::pair<std::string, std::string>;
  header() = default;
  header(std::initializer_list<field> fields) : fields_(fields) {}

  std::string get(std::string_view name) const;
  std::vector<std::string> values(std::string_view name) const;
  bool has(std::string_view name) const noexcept;
  void set(std::string name, std::string value);
  void add(std::string name, std::string value);
  void del(std::string_view name);

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  auto begin() const noexcept { return fields_.begin(); }
  auto end() const noexcept { return fields_.end(); }

 private:
  std::vector<field> fields_;
};

// request — one HTTP request as the server hands it to a handler (Go's *http.Request on
// the server side).
//
// The body is NOT read before the handler runs (Go's r.Body): the handler reads it from
// the connection, through Beast's parser, when and as far as it wants:
//   body()             the whole body as a string, read on first use (the convenience)
//   read_body(limit)   the whole (rest of the) body, at most limit bytes, as a status
//   read(buf, n)       the next bytes (Go's r.Body.Read): stream a body of any size
//   max_bytes(r, n)    Go's http.MaxBytesReader: the limit of every later read of r's body
// Each read is limited to max_body_bytes (server_options) unless max_bytes / read_body
// chose another limit; the declared Content-Length is checked before anything is read.
// "Expect: 100-continue" is answered "100 Continue" by the first read, never before: a
// handler that does not read (a 405, a 404, a refusal) sends its answer instead and the
// client's body is never sent. The body stage's deadline (body_read_timeout, read_timeout)
// runs from that first read.
//
// After the handler, the server finishes the body as Go's does: a body that was read to
// its end leaves the connection kept alive; one the handler left unread is discarded if at
// most 256 KiB remain (read within the body deadline), else — and after a failed read, or
// a "100-continue" never answered — the answer carries "Connection: close" and the
// connection closes after it (with the lingering close). A route that never reads the
// body therefore never makes the server hold it: memory per connection stays bounded by
// the read buffer (64 KiB), whatever the client declares or sends.
//
//   op \ body state   | unread              | partly read          | at its end | failed (err)
//   read(buf, n)      | 100 if asked; reads | reads up to n bytes  | EOF        | err
//   read_body(limit)  | the rest, or ResourceExhausted past limit  | ""         | err
//   body()            | the rest, cached; later calls return it    | cached/""  | throws
//   trailers()        | {}                  | {}                   | the trailer| {}
// Errors (absl::Status; the status the server answers if body() threw):
//   more than the limit (declared or sent)  ResourceExhausted "http: request body too large" 413
//   chunk overhead (Go's CVE-2023-39326 rule)  ResourceExhausted "http: too much chunk overhead" 413
//   trailer too large / too many fields     ResourceExhausted "http: trailer too large"   431
//   malformed chunked framing               InvalidArgument (Beast's text)                 400
//   body deadline passed                    DeadlineExceeded "i/o timeout"               close
//   client closed early                     DataLoss "unexpected EOF"                    close
//   read after the handler returned         FailedPrecondition "http: invalid Read on closed Body"
// body() cannot return an error: when the body cannot be read whole it abandons the
// handler by throwing http::body_error, which the server catches (no panic report) and
// answers with the status above (or closes), as it answered before the body was lazy.
// Handlers that want to answer a bad body themselves use read_body or read.
//
// Zero value: every field empty (not a valid request); handlers receive filled ones.
// Copy semantics: a value, except the body, which copies share (one stream, as Go's
// r.Clone shares r.Body). set_body gives a request its own in-memory body (tests,
// middleware). Thread-safety: as a struct; the body is read by one goroutine at a time,
// and only while the handler runs (it may hand the reads to a goroutine it waits for). A
// handler gets the request by const& (the router records path values in it, as Go's
// ServeMux does, before calling the handler); the body's reads are const for that reason.
class request {
 public:
  std::string method;       // "GET", as sent (Beast checks it is a token)
  std::string target;       // the request-target as sent: "/users/7?x=1" (Go's RequestURI)
  std::string path;         // decoded path: "/users/7" (Go's URL.Path)
  std::string raw_query;    // "x=1", without '?' (Go's URL.RawQuery)
  std::string host;         // the Host header
  int version = 11;         // 10 or 11
  header headers;           // the header fields (never the trailer's)
  // Go's r.ContentLength: the declared body length; -1 when unknown (chunked); 0 for none.
  std::int64_t content_length = 0;
  std::string remote_addr;  // "127.0.0.1:53122"
  // Go's r.Context(), one per connection: cancelled when the server is close()d, when the
  // connection ends, and when the client goes away while the answer streams (after the
  // first flush: the server then watches the connection, as Go's background read does,
  // unless the client's next request is already read: see response_writer) or a write to
  // it fails. Unlike Go's, a non-streaming handler's ctx does not see a
  // client that disconnects before the answer is written, and it is not cancelled when
  // the handler returns on a kept-alive connection (only when that connection ends).
  gofer::context ctx;

  // The whole (rest of the) body, read on first use within the request's limit
  // (max_body_bytes unless max_bytes set another) and kept: later calls return the same
  // string. Throws body_error when it cannot be read (see above). Parks while reading.
  const std::string& body() const;
  // io.ReadAll(http.MaxBytesReader(w, r.Body, limit)): the rest of the body, or
  // ResourceExhausted "http: request body too large" past limit bytes in all, or the
  // read's error (see above). Parks while reading.
  absl::StatusOr<std::string> read_body(std::uint64_t limit) const;
  // Go's r.Body.Read: up to n bytes of the body into buf (at least 1 when n > 0), parking
  // until they arrive; OutOfRange "EOF" (net::is_eof) at the end; the errors above.
  absl::StatusOr<std::size_t> read(void* buf, std::size_t n) const;
  // The trailer fields of a chunked body (after the last chunk), once the body was read to
  // its end ({} before, and for other bodies); never merged into headers (RFC 9110 §6.5.1).
  // Unlike Go's r.Trailer, undeclared names are kept too.
  const header& trailers() const;
  // Replaces the body with b, read from memory (Go's httptest.NewRequest body; a
  // middleware's rewritten body). Sets content_length.
  void set_body(std::string b);

  // Go's r.PathValue: the value the router matched for wildcard {name} (decoded; for
  // {name...} the rest of the path, without the leading '/'); "" if there is none.
  std::string path_value(std::string_view name) const;
  // Go's r.SetPathValue.
  void set_path_value(std::string name, std::string value);
  // r.URL.Query().Get(key): the first value of key in raw_query, decoded ('+' is a
  // space); "" if absent or malformed.
  std::string query(std::string_view key) const;
  // Parses the body as JSON: the value, or InvalidArgument("invalid JSON: <why>"); nesting
  // deeper than max_json_depth (or max_depth) is refused the same way ("invalid JSON:
  // nesting deeper than 128"). A larger max_depth is the caller's choice: a goroutine's
  // stack must then hold nlohmann's recursion over the value (copy, dump, ==).
  // Reads the body with body() (so it may throw body_error).
  absl::StatusOr<nlohmann::json> json() const;
  absl::StatusOr<nlohmann::json> json(int max_depth) const;

  struct body_state;  // internal (lib/src/detail/http.hpp)

 private:
  friend class serve_mux;
  friend void max_bytes(const request& r, std::uint64_t n);
  friend struct request_access;
  // Written by the router through a const request& (Go's ServeMux sets r's matches too);
  // only the goroutine serving the request touches it.
  mutable std::vector<std::pair<std::string, std::string>> path_values_;
  std::shared_ptr<body_state> body_;
};

// Go's http.MaxBytesReader(w, r.Body, n): from now on r's body may hold at most n bytes in
// all (counting what was already read); a read past them fails with ResourceExhausted
// "http: request body too large" (413 when body() threw it). Raises or lowers
// max_body_bytes for this request. Never blocks.
void max_bytes(const request& r, std::uint64_t n);

// What request::body() throws when the body cannot be read whole: the server catches it
// and answers `code` (413, 431, 400) with Connection: close, or closes without an answer
// when code is 0 (timeout, client gone). Go's handlers get the error from io.ReadAll; this
// is what body() does instead of returning one. A handler may catch it (e.g. to answer in
// JSON); it then answers as for any read error.
class body_error : public std::runtime_error {
 public:
  body_error(absl::Status st, int code)
      : std::runtime_error(std::string(st.message())), status_(std::move(st)), code_(code) {}
  const absl::Status& status() const noexcept { return status_; }
  int code() const noexcept { return code_; }

 private:
  absl::Status status_;
  int code_;
};

// response_writer — how a handler answers (Go's http.ResponseWriter, with http.Flusher and
// http.Hijacker).
//
// The answer is *buffered* until the handler returns or calls flush(). A handler that
// never flushes gets what it always got: the whole answer sent after it returns, with a
// Content-Length. flush() (Go's Flusher.Flush) sends the status and header at once and
// turns the answer into a stream: the body written so far and every later write goes out
// on the next flush (or once 4 KiB are buffered), framed chunked for HTTP/1.1
// (Transfer-Encoding: chunked, the connection may be kept) or delimited by closing the
// connection for HTTP/1.0. When the handler returns, what is still buffered is sent and
// the stream ends (the last chunk, or the close).
// Zero value: status 0 ("not written"), no headers, empty body, not attached to a
// connection (a test's writer: flush() then only marks it flushed, the body stays).
// Not copyable or movable (the server attaches it to the connection for the handler's call).
//
//   op \ state        | nothing written    | status written     | flushed (streaming) | broken
//   headers()         | the header to fill | still changeable   | changes ignored     | ignored
//   write_header(c)   | status := c        | ignored (Go: "superfluous WriteHeader") | ignored
//   write(data)       | status := 200;     | appends            | appends; sends at   | false (err()
//                     | appends            |                    | 4 KiB buffered      | says why)
//   flush()           | status := 200; sends status, header, body | sends the body | the error
//   hijack()          | the connection (what was written is dropped)  | FailedPrecondition
//   throw abort_handler{} | connection cut: no answer at all          | cut: no last chunk  | cut
// "Broken": a write to the client failed (its error: Unavailable "http: write to client:
// Broken pipe" / "Connection reset by peer"; DeadlineExceeded "i/o timeout" when one
// write took longer than response_write_timeout; FailedPrecondition "use of closed network
// connection" after server::close()), or the client closed the connection while the answer streamed
// (Unavailable "http: client disconnected"; seen, like Go's, as the end of what the client
// sends, so a client that only shuts its write side after its last request counts as gone
// too — but not while a request it pipelined is already read and waits for its answer:
// then only a failing write tells). From then on write() returns false and
// flush() that error at once (err() keeps it), the data is dropped, and request::ctx is
// cancelled: a handler streaming forever ends when it checks any of them — the server
// closes the connection once it returns. Errors are returned, never thrown (as everywhere
// in gofer::http); before the first flush write() cannot fail.
// To end an answer so that the client knows it is incomplete, the handler throws
// abort_handler (below): the connection is cut, whatever was written or sent.
//
// What the server adds: Content-Length (not when streaming), Date, Connection when
// closing, and "Content-Type: text/plain; charset=utf-8" for a non-empty body without
// one (Go sniffs the type; gofer does not; a stream whose first flush carries no body gets
// none). Content-Length/Transfer-Encoding set by the handler are replaced. For HEAD the
// body is not sent (but its length is when not streaming). For 1xx/204/304 the body is
// dropped. Header values with CR/LF are cleaned (replaced by spaces) before sending.
// "Connection: close" set by the handler closes the connection after this response.
// Timeouts while streaming: response_write_timeout bounds each write (each flush) rather
// than the whole answer, so a stream may last as long as the client reads; write_timeout
// (off by default) still bounds the whole response.
// Thread-safety: a response_writer is used by its handler's goroutine only (hand data to
// it through a channel; never write from another goroutine). write/flush park while the
// socket is full (up to response_write_timeout); the others never block.
//
// Example — a stream of lines, ended when the client goes away (see also event_stream):
//   mux.handle("GET /count", [](const http::request& r, http::response_writer& w) {
//     w.headers().set("Content-Type", "text/plain");
//     for (int i = 0;; ++i) {
//       if (!w.write(std::to_string(i) + "\n") || !w.flush().ok()) return;  // gone
//       bool gone = gofer::select(gofer::recv_case(gofer::after(1s), [](auto) { return false; }),
//                                 gofer::recv_case(r.ctx.done(), [](auto) { return true; }));
//       if (gone) return;
//     }
//   });
struct file_body;  // internal: file_server's body, sent with sendfile (lib/src/detail/http.hpp)

class response_writer {
 public:
  response_writer() = default;
  // Not copyable: it stands for one answer on one connection.
  response_writer(const response_writer&) = delete;
  response_writer& operator=(const response_writer&) = delete;

  header& headers() noexcept { return headers_; }
  const header& headers() const noexcept { return headers_; }
  void write_header(int code) noexcept {
    if (status_ == 0 && !flushed_) status_ = code;
  }
  // Appends data to the answer (status 200 if none was written). Before the first flush it
  // only buffers and returns true; after it, it sends once 4 KiB are buffered. false: the
  // answer is broken (the table above), data was dropped, err() says why. (A bool, not an
  // absl::Status: Abseil's Status is [[nodiscard]], and most handlers, like Go's, write
  // without looking.)
  bool write(std::string_view data);
  // The answer's error once it broke (the table above); OK while it is usable.
  const absl::Status& err() const noexcept { return err_; }
  // Go's http.Flusher.Flush (ResponseController.Flush, which returns the error): sends the
  // status and header if not sent yet, then the buffered body. Parks while the socket is
  // full. OK, or the stream's error (the table above).
  absl::Status flush();
  // True once flush() was called: the status and header are sent (attached to a server)
  // and can no longer change; the answer is a stream.
  bool flushed() const noexcept { return flushed_; }
  // The status written so far: 0 if none (the server then sends 200).
  int status() const noexcept { return status_; }
  // The body written and not sent yet: all of it until a flush (a writer not attached to
  // a connection keeps all of it).
  const std::string& body() const noexcept { return body_; }

  // What hijack() hands over: the client's connection, and the bytes the server had
  // already read from it past the request (a pipelined request, or a protocol's first
  // frames sent without waiting for the answer: read them before reading from conn).
  struct hijacked {
    net::conn conn;
    std::string buffered;
  };
  // Go's http.Hijacker: takes the connection over from the server, for a protocol other
  // than HTTP after this request (WebSocket after a "101 Switching Protocols" the handler
  // writes itself, a CONNECT tunnel). Whatever was written through w is dropped; the
  // server sends nothing more on the connection, no longer tracks it (shutdown() does not
  // wait for it and close() does not close it, as in Go; on_conn_state reports hijacked,
  // never closed), and the handler (or whoever it hands the conn to) must close it. The
  // handler may keep running on its goroutine as long as it likes; request::ctx is
  // cancelled when it returns (not when the hijacked connection ends).
  // Errors: FailedPrecondition "http: response already flushed" after flush(), "http:
  // connection already hijacked" the second time, "http: not attached to a connection"
  // for a writer no server made. Never blocks.
  absl::StatusOr<hijacked> hijack();

  // The server's side of the connection behind a writer (lib/src/detail/http.hpp).
  struct sink;

 private:
  friend struct response_writer_access;
  static constexpr std::size_t kStreamBuffer = 4096;
  int status_ = 0;
  header headers_;
  std::string body_;
  bool flushed_ = false;
  sink* sink_ = nullptr;  // null: not attached to a connection
  absl::Status err_;      // the stream's failure, once it broke
  std::shared_ptr<file_body> file_;  // file_server's answer: sent after body_ (empty then)
};

// abort_handler — Go's http.ErrAbortHandler: what a handler throws to abort its answer on
// purpose, quietly: `throw http::abort_handler{};`. The server catches it and cuts the
// connection — no answer before a flush (the client reads EOF where a status line should
// be: no 500, unlike any other throw), no last chunk after one (the client knows the body
// is truncated: gofer's client reports DataLoss "unexpected EOF") — cancels request::ctx,
// and logs nothing (any other throw is logged as a panic). The server goes on serving its
// other connections. After hijack() the connection is the handler's: the throw then only
// ends the handler. For a proxy whose upstream broke mid-answer, or a fake server
// simulating a dropped connection.
// Not a std::exception, on purpose (like the runtime's goroutine unwinding): a handler's or
// a middleware's `catch (const std::exception&)` lets it through. A middleware catching
// everything (`catch (...)`) must rethrow it, as Go's recovering middleware re-panics
// ErrAbortHandler. Thrown outside a handler it is a panic like any uncaught exception
// (runtime.hpp), as Go's is outside a server.
// An empty value: copy freely; thread-safe. Example — a proxy relaying a stream:
//   for (;;) {
//     auto n = upstream.read(buf, sizeof buf);
//     if (net::is_eof(n.status())) return;              // complete: the last chunk goes out
//     if (!n.ok()) throw http::abort_handler{};         // broken: the client must know too
//     if (!w.write({buf, *n}) || !w.flush().ok()) return;
//   }
struct abort_handler {
  // Go's error text.
  static constexpr const char* what() noexcept { return "net/http: abort Handler"; }
};

// A handler answers one request. Called on the connection's goroutine; it may block
// (park) freely. An exception escaping it is caught by the server ("http: panic serving
// <addr>: <what>" on stderr) — the server goes on, as Go's recovers panics in handlers.
// If the handler had not flushed, the client gets a 500 (nothing was sent yet; whatever
// it had written — status, headers, body — is discarded) and the connection closes. If
// it had flushed, the status and part of the body are already out: the connection is
// cut (no last chunk), so the client sees a truncated answer, never a complete one (Go
// does the same). abort_handler (above) is the exception to both: never logged, and the
// connection is cut without an answer even before a flush (Go closes the connection
// after any panic; gofer answers 500 to the others, when it still can).
using handler = std::function<void(const request&, response_writer&)>;

// event_stream — Server-Sent Events (the WHATWG HTML spec's text/event-stream, what a
// browser's EventSource reads) over a response_writer.
//
// The constructor sets "Content-Type: text/event-stream", "Cache-Control: no-cache" and
// status 200 on w and flushes, so the client's EventSource opens at once (a failure then
// shows on the first send). Each send formats one event and flushes it:
//   send("tick", "1")          event: tick\ndata: 1\n\n
//   send("", "a\nb")           data: a\ndata: b\n\n        (the client's data: "a\nb")
//   send("m", "x", "42")       event: m\nid: 42\ndata: x\n\n (id: the client's lastEventId)
//   comment("keep-alive")      : keep-alive\n\n              (ignored by clients; keeps proxies
//                                                           from timing the stream out)
// data is split into lines at CRLF, LF and CR (the spec's line ends), one "data:" field
// each, so the client receives data with every line end turned into LF. An empty data
// still dispatches an event (data ""). event and id must not contain CR or LF (id not NUL
// either): InvalidArgument, nothing sent. Returns the writer's error once the client is
// gone (response_writer's table), so a send loop ends with the client.
// Copy semantics: not copyable (it refers to w). Thread-safety: the handler's goroutine
// only, like w. Parks like w.flush().
//
// Example — a clock page's event source, until the client leaves:
//   mux.handle("GET /events", [](const http::request& r, http::response_writer& w) {
//     http::event_stream es(w);
//     auto tick = gofer::tick(1s);
//     for (;;) {
//       bool done = gofer::select(gofer::recv_case(tick, [](auto) { return false; }),
//                                 gofer::recv_case(r.ctx.done(), [](auto) { return true; }));
//       if (done || !es.send("tick", now_string()).ok()) return;
//     }
//   });
class event_stream {
 public:
  explicit event_stream(response_writer& w);
  event_stream(const event_stream&) = delete;
  event_stream& operator=(const event_stream&) = delete;

  // One event: optional type (event:, "" for the default "message"), data, optional id.
  absl::Status send(std::string_view event, std::string_view data, std::string_view id = {});
  // A comment line (": text"), e.g. a keep-alive; text's line ends become spaces.
  absl::Status comment(std::string_view text);

 private:
  response_writer& w_;
};

// http.Error: status `code`, "Content-Type: text/plain; charset=utf-8",
// "X-Content-Type-Options: nosniff", body msg + "\n". Never blocks.
void error(response_writer& w, std::string_view msg, int code);
// http.NotFound: error(w, "404 page not found", 404).
void not_found(response_writer& w);
// http.Redirect: Location = url, status `code` (a 3xx), and for GET/HEAD a short body.
void redirect(response_writer& w, const request& r, std::string_view url, int code);
// The deepest nesting of arrays and objects request::json, response::json and decode_json
// accept. Go's encoding/json allows 10,000 on stacks that grow; a goroutine's stack is
// 64 KiB and does not (runtime.hpp), and nlohmann's copy, dump and comparison recurse, so
// gofer's limit keeps every such use of a parsed value safe on a goroutine's default stack
// in an optimised build (measured: 384 levels fit, a 3× margin). Unoptimised and sanitizer
// builds have much bigger frames (ASan: ~3 KiB per level, so ~20 levels fit in 64 KiB):
// give them GOFER_STACK_SIZE=1048576 (options::stack_size) when handlers use values that
// deep. The parser stops at the first bracket past the limit: time and memory stay
// proportional to that prefix.
inline constexpr int max_json_depth = 128;

// Writes j (dumped, UTF-8) with status `code` and "Content-Type: application/json".
// Invalid UTF-8 in j's strings is written as U+FFFD (as Go's json.Marshal does); it never
// throws for that.
void write_json(response_writer& w, int code, const nlohmann::json& j);
// Parses r.body() as JSON. On success returns the value. On bad JSON answers
// 400 "invalid JSON: <why>" through w, on a body that cannot be read its status (413 for
// one over the limit; body_error's code), and returns nullopt — the handler just returns:
//   auto j = http::decode_json(r, w); if (!j) return;
std::optional<nlohmann::json> decode_json(const request& r, response_writer& w);

// serve_mux — Go 1.22's ServeMux: routes a request to the handler whose pattern matches
// best.
//
// Pattern syntax: "[METHOD ]/path", the path split into '/'-separated segments:
//   literal     "/users/list"    matches that segment exactly (after %-decoding)
//   {name}      "/users/{id}"    matches one whole segment; r.path_value("id")
//   {name...}   "/files/{p...}"  last only: matches the rest of the path (possibly empty)
//   trailing /  "/static/"       matches every path below it (an anonymous {...})
//   {$}         "/{$}", "/a/{$}" last only: matches only the path ending in that slash
// A METHOD limits the pattern to it; "GET" also matches HEAD; no method matches all.
// Host patterns ("example.com/") are not supported (panic). Requests are matched on
// their decoded path (request::path), so an escaped "%2F" separates segments like "/"
// (Go 1.22 keeps it inside the segment).
// {name} never matches an empty segment: "/users/{id}" does not match "/users/".
//
// Precedence: the most specific matching pattern wins: compare segment by segment,
// the first difference decides — literal or {$} beats {name} beats {name...} / trailing
// slash; with equal segments, a method beats none. Where Go would panic because two
// patterns overlap and neither is more specific ("/a/{x}" vs "/{y}/b"), gofer picks the
// one with the earlier literal instead. Registering an equivalent pattern twice panics.
//
// Dispatch, like Go's:
//   a pattern matches path and method          its handler (path values recorded in r)
//   patterns match the path, none the method   405, "Allow: GET, HEAD, POST" (sorted)
//   none matches, but path + "/" would match a trailing-slash pattern
//                                              301 to path + "/" (query kept)
//   none matches                               404 "404 page not found"
// (Non-canonical paths — ".", ".." segments — never reach the mux: the server answers 400.)
//
// Zero value: an empty mux (every request 404). Copy semantics: copies are handles to the
// same routing table (like Go's *ServeMux), so a server holding a copy sees later
// handle() calls. A serve_mux converts to http::handler.
// Thread-safety: handle() and dispatch from any goroutines (a reader/writer lock guards
// the table; handlers run without it).
//
// Example:
//   http::serve_mux mux;
//   mux.handle("GET /users/{id}", get_user);
//   mux.handle("POST /users/", create_user);
//   mux.handle("/static/", http::strip_prefix("/static", http::file_server("./public")));
class serve_mux {
 public:
  serve_mux();

  // Registers h for pattern. Throws gofer::panic_error with Go's text on an invalid pattern
  // ("parsing \"GET /{x\": bad wildcard segment"), an empty handler ("http: nil handler")
  // or an equivalent registered pattern ("pattern \"GET /a\" conflicts with pattern
  // \"GET /a\""). Takes the write lock. Thread-safe. May allocate.
  void handle(std::string_view pattern, handler h);
  // Dispatches r (see the table above). Takes the read lock while matching only.
  void operator()(const request& r, response_writer& w) const;

 private:
  struct table;
  std::shared_ptr<table> t_;
};

// http.StripPrefix: a handler that removes prefix from r.path before calling h, and
// answers 404 for a path without that prefix. The prefix has no trailing slash:
// strip_prefix("/static", ...) turns "/static/css/a.css" into "/css/a.css".
handler strip_prefix(std::string prefix, handler h);

// http.FileServer (Go's serveFile + ServeContent): serves files below root for GET and
// HEAD (405 otherwise, "Allow: GET, HEAD"), by r.path.
//   what                              answer (as Go's unless noted)
//   a file                            200, Content-Type by extension (mime_type_by_extension;
//                                     unknown: application/octet-stream — Go sniffs),
//                                     Last-Modified, ETag, Accept-Ranges: bytes
//   a directory, path ending in "/"   its index.html; without one 404 (Go lists the
//                                     directory; gofer never does)
//   a directory, no "/" at the end    301 to "<name>/" (relative, query kept)
//   ".../index.html"                  301 to "./"
//   a file, path ending in "/"        301 to "../<name>"
//   missing, unreadable, not a regular file or directory   404
//   HEAD                              the same header (Content-Length too), no body
// Conditional requests (RFC 9110 §13, Go's checkPreconditions, in Go's order):
//   If-Match no strong match / If-Unmodified-Since earlier than the file   412
//   If-None-Match matches (weak comparison, or "*")                        304
//   If-Modified-Since not earlier than the file (no If-None-Match)         304
//   304 drops Content-Type/Length, and Last-Modified when there is an ETag.
//   If-Range: the Range applies only if the ETag matches strongly or the date equals
//   Last-Modified to the second; otherwise the whole file (200).
// Range requests ("bytes=" ranges, RFC 9110 §14, Go's parseRange):
//   one satisfiable range             206, Content-Range: bytes a-b/size, that slice
//   several                           206 multipart/byteranges (one part per range, each
//                                     with Content-Range and Content-Type), as Go; when the
//                                     ranges add up to more than the file, the whole file
//                                     (200), as Go
//   none satisfiable (start ≥ size, "-0")  416, Content-Range: bytes */size
//   malformed ("items=0-1", "bytes=5-2")   416 "invalid range" (as Go)
// ETag: strong, "<mtime in ns, hex>-<size, hex>" (nginx's shape, finer). Go's FileServer
// sets none (only ServeContent honours one a handler set); gofer sets it so caches and
// If-Range work without a handler of their own. Last-Modified: the file's mtime (seconds).
// No traversal: a ".." segment, a NUL or a backslash in the path → 400 (the server already
// refuses "..", "%2e%2e" and "." segments before routing); a file's real path (symlinks
// resolved) must lie within root's, else 404 — so a symlink inside root to a file inside
// root is served, one leading out is refused (Go's http.Dir follows it; os.Root, Go 1.24,
// refuses it too). "//etc/passwd" is root + "/etc/passwd". How: root is opened once (on
// the first request that finds it; a root renamed or replaced later is not followed, the
// directory first opened is served), and each path is opened below it by openat2(2) with
// RESOLVE_BENEATH — one path walk in the kernel, which fails rather than leave root, with
// no window between a check and the open. What that refuses or cannot do (a ".." or an
// absolute symlink on the way, which may land back inside root; a kernel before 5.6 or a
// seccomp filter: ENOSYS) takes the slow path: realpath(3) of root and of the file, the
// file's required to lie within root's, then open(O_NOFOLLOW) (a symlink swapped between
// that check and the open is not guarded against there). The Content-Type comes from the
// name asked for (as Go's), not from a symlink's target. A FIFO, device or socket under
// root is 404 (opened O_NONBLOCK, so a FIFO does not block the open).
// Bodies never pass through user space: the file is opened (openat2, fstat) and the
// response's body is sent by net::conn::send_file (sendfile(2), parking on EAGAIN) after
// Beast writes the header; memory per answer is the header, whatever the file's size.
// Those calls run on the handler's thread, as Go's os.Open and sendfile run on the
// goroutine's: from the kernel's caches they take microseconds, less than a hand-off to a
// gofer::blocking helper and back (measured with ./gofer bench c10k's static route at
// 1,000 connections: p99 1.6 s through gofer::blocking, 0.41 s inline, Go 0.43 s). A root
// on a slow or network file system therefore blocks a scheduler thread while the kernel
// reads (Go's runtime would hand its P to another thread; gofer has no such monitor):
// serve such files from a handler that uses gofer::blocking itself. w.body() therefore
// stays empty (a middleware that rewrites bodies does not see the file). The file is
// sent from the descriptor opened for this request: replaced meanwhile (rename), the old
// one is sent whole; truncated meanwhile, the connection is cut where it ends.
handler file_server(std::string root);

// Connection states reported to server_options::on_conn_state (Go's http.ConnState).
// hijacked: response_writer::hijack() took the connection; the server forgets it (no
// closed follows, as in Go).
enum class conn_state { new_, active, idle, hijacked, closed };

struct server_options {
  // Limits on how long a client may take (0: no limit). Like Go's, applied as conn
  // deadlines; when one passes the connection is closed without an answer. Every stage a
  // client controls has a default bound:
  //   stage                       bounded by (default)                  from .. to
  //   waiting for a new conn's    read_header_timeout (10 s)            goroutine start ..
  //     request, reading a header                                       end of header
  //   reading the body, including body_read_timeout (60 s)              the handler's first
  //     the wait after "100 Continue"                                   read (or the server's
  //     (the body is lazy: request)                                     discard) .. end of body
  //   writing the answer          response_write_timeout (60 s)         first byte written ..
  //                                                                     last byte written
  //   waiting for the next request idle_timeout (120 s)                 end of answer ..
  //     on a kept-alive conn                                            next first byte
  //   an error answer + lingering write_timeout or 5 s; 500 ms drain    —
  //     close
  // and Go's two whole-request bounds, off by default as in Go:
  //   read_timeout         from the first byte of a request to the end of its body
  //   write_timeout        from the end of the request header to the end of the response
  //                        (it includes the handler's time, as in Go)
  // read_header_timeout 0: read_timeout is used; idle_timeout 0: read_timeout is used.
  // The body and write bounds are totals, not progress timers, so a client dripping a byte
  // at a time (or reading one at a time) cannot stretch them. With 2 s a body of
  // max_body_bytes needs ~170 KiB/s; raise body_read_timeout for big uploads on slow links.
  // Go's zero-value server has no timeouts at all; gofer's defaults bound every stage.
  std::chrono::nanoseconds read_header_timeout = std::chrono::seconds(10);
  std::chrono::nanoseconds read_timeout{0};
  std::chrono::nanoseconds write_timeout{0};
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(120);
  // Request line + header fields, in bytes (Go's DefaultMaxHeaderBytes): more → 431.
  // With 64 KiB more, the bound on the connection's read buffer while a header is read
  // ("Memory per connection" at the top of this file).
  std::uint32_t max_header_bytes = 1 << 20;
  // The default limit of a request body the handler reads, declared or chunked: more →
  // 413 (Go has no default limit). A handler may choose another (max_bytes, read_body).
  std::uint64_t max_body_bytes = std::uint64_t{10} << 20;
  // The stage bounds of the table above (0: none).
  std::chrono::nanoseconds body_read_timeout = std::chrono::seconds(60);
  std::chrono::nanoseconds response_write_timeout = std::chrono::seconds(60);
  // Header fields in a request (the request line not counted): more → 431. Keeps a header
  // of many tiny fields ("a:\r\n" × 262,144) from costing far more than its bytes. Go has
  // no such count (its per-field cost is lower); Apache's LimitRequestFields is 100.
  std::size_t max_header_fields = 1000;
  // false: every response closes its connection (Go's SetKeepAlivesEnabled(false)).
  bool keep_alives = true;
  // Called on the connection's goroutine at each state change (Go's Server.ConnState):
  // new_ after accept, active when a request's first byte arrives, idle after a response
  // when the connection is kept, closed once. Must not block for long. As in Go, closed
  // comes after the connection left the server's count (open_connections()); unlike Go,
  // shutdown() returns OK only after every closed call has returned, so a hook may refer
  // to the caller's locals that outlive a successful shutdown (not after close() or a
  // failed shutdown alone: stragglers may still call it).
  std::function<void(const net::conn&, conn_state)> on_conn_state{};
};

// server — Go's http.Server: accepts connections and runs one goroutine per connection
// that reads requests (Beast's parser), calls the handler, and writes answers (Beast's
// serializer), keeping the connection alive between requests.
//
// Zero value: none (construct with a handler). Not copyable or movable. Destroying it
// close()s it; goroutines still serving then finish on their own (they share its state).
// If the run ends while connections are served, their goroutines are unwound like any
// (runtime.hpp): a handler parked in a gofer operation gets goroutine_exit, which the
// server lets through; the connection is closed on the way out.
//
//   op \ state   | serving                         | shut down / closed
//   serve(ln)    | accepts until shutdown/close    | closes ln, returns server-closed
//   shutdown(c)  | see below                       | waits again; OK at once if idle
//   close()      | closes listeners and all conns  | OK (idempotent)
//
// shutdown(ctx) is Go's graceful Shutdown: it closes the listeners (serve returns
// server-closed; new dials are refused), closes the idle keep-alive connections, lets
// each in-flight request finish and answers it with "Connection: close", gives a
// connection that was accepted but has sent nothing yet at most 5 s (or its read-header
// timeout, if sooner) to send its one request, which is then served (Go's rule for
// StateNew), and returns OK when no connection is left — or ctx's error when ctx ends
// first (the stragglers keep running; call close() to cut them off). Handlers are not
// cancelled by shutdown (Go's neither); close() cancels request.ctx.
//
// Invariants: every accepted connection is tracked until its goroutine ends; after
// shutdown/close begins no connection becomes idle-and-kept, and none but a new one
// starts a request.
// Memory ordering: everything a connection goroutine (and so a handler, and its closed
// on_conn_state call) did is synchronized before shutdown's OK return (the last one to end
// closes a channel that shutdown receives from).
// Thread-safety: every member from any goroutine; serve() may run on several listeners
// at once. All members block only where stated.
//
// Example:
//   http::server srv(mux, {.read_header_timeout = 5s, .max_body_bytes = 1 << 20});
//   gofer::go([&] { if (auto st = srv.serve(std::move(ln)); !http::is_server_closed(st)) log(st); });
//   ...
//   auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 10s);
//   srv.shutdown(ctx);
//   cancel();
class server {
 public:
  explicit server(handler h, server_options opts = {});
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server();

  // Serves ln until shutdown/close: parks in accept; each connection gets its own
  // goroutine. Returns the server-closed status (is_server_closed) after shutdown/close,
  // or the accept error otherwise (EMFILE is waited out by net::listener::accept).
  // Takes ownership of ln and closes it on return. Blocks (parks). Thread-safe.
  absl::Status serve(net::listener ln);
  // net::listen(addr), then serve. Blocks (parks).
  absl::Status listen_and_serve(std::string_view addr);
  // Graceful shutdown (above). Parks until done or ctx ends. Thread-safe; idempotent.
  absl::Status shutdown(const gofer::context& ctx);
  // Closes listeners and every connection now (in-flight requests are cut off: their
  // handlers finish but the answer is lost) and cancels request.ctx. Never parks.
  absl::Status close();
  // Connections currently open (diagnostics, tests). Never blocks.
  std::size_t open_connections() const;

  struct state;  // internal (lib/src/detail/http.hpp)

 private:
  std::shared_ptr<state> s_;
};

// True for the status serve() returns after shutdown/close (Go's ErrServerClosed,
// "http: Server closed").
bool is_server_closed(const absl::Status& s) noexcept;

// url — an http:// URL, as the client needs it (no userinfo, no fragment).
//   scheme "http"; host "example.com" / "127.0.0.1" / "::1" (no brackets); port "8080" or
//   "" (80); path %-escaped as sent, "/" if empty; raw_query without '?'.
struct url {
  std::string scheme = "http";
  std::string host;
  std::string port;
  std::string path = "/";
  std::string raw_query;

  std::string host_port() const;       // for dialing: "example.com:80", "[::1]:8080"
  std::string host_header() const;     // Host header: the port only if not 80
  std::string request_target() const;  // path + "?" + raw_query
  std::string string() const;          // "http://host:port/path?query"
};

// Parses an absolute http:// URL. InvalidArgument for: another scheme
// ("unsupported protocol scheme \"https\""), userinfo, an empty host ("no Host in request
// URL"), a bad port, bad %-escapes, control characters. Bytes outside ASCII and spaces in
// path/query are %-escaped. The fragment is dropped. Never blocks.
absl::StatusOr<url> parse_url(std::string_view s);
// Resolves a reference (a Location header) against base, RFC 3986 §5.2: absolute URL,
// "//host/p", "/abs", "?q", "rel/../x" (dot segments removed).
absl::StatusOr<url> resolve_reference(const url& base, std::string_view ref);

// response — what the client returns (Go's *http.Response with its body read whole).
struct response {
  int status = 0;           // 200
  std::string reason;       // "OK", as the server sent it
  int version = 11;
  header headers;
  std::string body;
  std::string url;          // the URL that answered, after redirects
  // Parses the body as JSON: the value, or InvalidArgument("invalid JSON: <why>").
  absl::StatusOr<nlohmann::json> json() const;
};

// body_reader — a body the client sends as it reads it (Go's Request.Body, an io.Reader),
// for client::stream: each call puts up to n bytes into buf and returns how many (≥ 1), or
// OutOfRange "EOF" (net::is_eof) at the end, or another error (the request then fails with
// it and the connection is closed). It is called on the caller's goroutine. A request a
// handler received streams on unchanged:
//   http::body_reader from_client = [&r](char* p, std::size_t n) { return r.read(p, n); };
using body_reader = std::function<absl::StatusOr<std::size_t>(char* buf, std::size_t n)>;

// streamed_response — a response whose body is read as it arrives (Go's *http.Response
// with its Body), from client::stream. The status and header are there; the body is still
// in the connection.
//
//   op \ body state | unread / partly read         | at its end        | failed / closed
//   read(buf, n)    | parks for ≥ 1 byte, up to n  | EOF               | the error / FailedPrecondition
//   read_all()      | the rest (max_response_bytes)| ""                | the error
//   close()         | closes the connection        | nothing (pooled)  | nothing
// The body's end returns the connection to the client's pool when it may be kept (Go does
// the same on EOF); close() before the end drops it (Go's Body.Close). Destroying the
// response closes it. Errors are the client's (its table), wrapped "Get \"url\": ...";
// the ctx given to stream() still bounds and cancels every read.
// Zero value: no response (read → FailedPrecondition). Movable, not copyable.
// Thread-safety: one goroutine at a time. Must not outlive its client.
class streamed_response {
 public:
  int status = 0;
  std::string reason;
  int version = 11;
  header headers;
  std::string url;
  // The declared Content-Length; -1 when unknown (chunked, or until the close).
  std::int64_t content_length = -1;

  streamed_response();
  streamed_response(streamed_response&&) noexcept;
  streamed_response& operator=(streamed_response&&) noexcept;
  ~streamed_response();

  // Go's resp.Body.Read: parks until ≥ 1 byte (up to n) arrives; OutOfRange "EOF" at the end.
  absl::StatusOr<std::size_t> read(void* buf, std::size_t n);
  // io.ReadAll(resp.Body) within client_options::max_response_bytes (ResourceExhausted
  // "http: response body too large" past it).
  absl::StatusOr<std::string> read_all();
  // Go's resp.Body.Close. Never parks.
  void close();

  struct state;  // internal (lib/src/http/client.cpp)

 private:
  friend class client;
  std::unique_ptr<state> s_;
};

struct client_options {
  // Redirects (301, 302, 303, 307, 308 with a Location) are followed until this many
  // redirect answers have been received, then the call fails with ResourceExhausted
  // "stopped after N redirects" — Go's rule: with 10, a chain of 9 redirects succeeds and
  // a 10th fails. 0: never follow; the 3xx answer is returned as is.
  // 301/302/303 turn the request into a GET without body (HEAD stays HEAD); 307/308 repeat
  // method and body. Authorization and Cookie are dropped when the host changes.
  int max_redirects = 10;
  // Response body and header size limits: more → ResourceExhausted.
  std::uint64_t max_response_bytes = std::uint64_t{10} << 20;
  std::uint32_t max_response_header_bytes = 1 << 20;
  // Idle keep-alive connections kept per host:port (Go's MaxIdleConnsPerHost is 2), and
  // how long an idle one may wait before it is closed instead of reused (checked when the
  // pool for that host is next used, or by close_idle_connections).
  std::size_t max_idle_per_host = 8;
  std::chrono::nanoseconds idle_conn_timeout = std::chrono::seconds(90);
  // Go's Client.Timeout: a limit on the whole call, redirects included (0: none); it is
  // combined with the ctx's deadline.
  std::chrono::nanoseconds timeout{0};
  // Go's Transport.ResponseHeaderTimeout: how long to wait for the response header once the
  // request (and its body) was written (0: no limit but the ctx's). DeadlineExceeded
  // "timeout awaiting response headers". Lets a stream's body last longer than its header
  // may take (a proxy's events), where a ctx deadline would bound both.
  std::chrono::nanoseconds response_header_timeout{0};
  std::string user_agent = "gofer-http-client/1.1";
};

// client — Go's http.Client + Transport: sends requests over pooled keep-alive connections.
//
// Each call takes an idle connection to the URL's host:port from the pool (the most
// recently used first; one the server has closed meanwhile is noticed with a
// non-blocking read and dropped) or dials a new one (net::dial, bounded by ctx), writes
// the request and reads the answer with Beast, and puts the connection back when the
// answer allows keep-alive and the pool for that host has room. A reused connection that
// fails before any answer byte arrived (the server closed it just then) is retried once
// on a fresh connection for GET/HEAD/OPTIONS/TRACE (Go's rule).
//
// Timeouts come from the context: its deadline becomes the connection's read and write
// deadline, and a cancellation wakes a blocked read or write at once (a watcher goroutine
// per call when ctx can be cancelled). Either way the call returns ctx's error code.
//
//   op \ outcome  | answer received    | ctx ends       | net failure      | limit hit
//   get/post/send | response (any      | Deadline-      | net's status     | ResourceExhausted
//                 | status, 4xx too)   | Exceeded/Cancelled                  |
//
// Zero value: a default-constructed client with client_options{} (like Go's zero Client).
// Not copyable or movable. Destroying it closes its idle connections; it must be destroyed
// inside the run that used it and after its calls returned.
// Thread-safety: all members from any goroutines (a gofer::mutex guards the pool).
// Memory ordering: a connection's use by one call is synchronized before its reuse by the
// next (through that mutex). Blocking: get/post/send park the goroutine for dial, write
// and read; with an already-ended ctx they return its error at once.
//
// Example:
//   http::client c({.max_redirects = 3});
//   auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 2s);
//   auto res = c.post(ctx, "http://127.0.0.1:8080/echo", R"({"a":1})", "application/json");
//   cancel();
//   if (res.ok() && res->status == http::status::ok) use(res->json());
class client {
 public:
  client();
  explicit client(client_options opts);
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  ~client();

  // GET url. Parks. See the table above.
  absl::StatusOr<response> get(const gofer::context& ctx, std::string_view url);
  // POST url with body and Content-Type content_type. Parks.
  absl::StatusOr<response> post(const gofer::context& ctx, std::string_view url, std::string body,
                                std::string_view content_type);
  // Any method (Go's Do): method, url, body (may be empty), extra header fields. Parks.
  absl::StatusOr<response> send(const gofer::context& ctx, std::string_view method, std::string_view url,
                                std::string body = {}, header headers = {});
  // Go's Transport.RoundTrip with streamed bodies: sends method url with headers and, when
  // body is set, a body read from it while it is sent — with Content-Length when
  // content_length ≥ 0 (body must give exactly that many bytes: InvalidArgument
  // otherwise), else chunked — and returns once the response header has arrived; the body
  // is then read from the result (streamed_response). Nothing is buffered whole either way.
  // No redirects are followed (a 3xx is returned as is) and client_options::timeout does
  // not apply; ctx bounds and cancels the whole exchange, reads of the body included, and
  // response_header_timeout the wait for the header. A stale pooled connection is retried
  // once only for a request without body (a body read once cannot be sent again).
  // Errors: as send's. Parks.
  absl::StatusOr<streamed_response> stream(const gofer::context& ctx, std::string_view method, std::string_view url,
                                           header headers = {}, body_reader body = {},
                                           std::int64_t content_length = -1);
  // Closes every idle pooled connection (Go's CloseIdleConnections). Never parks long.
  void close_idle_connections();
  // Idle pooled connections right now (diagnostics, tests).
  std::size_t idle_connections() const;

  struct state;  // internal (lib/src/detail/http.hpp)

 private:
  std::shared_ptr<state> s_;
};

}  // namespace gofer::http
