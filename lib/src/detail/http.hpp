// lib/src/detail/http.hpp — what the files of gofer::http share (internal).
//
// gofer::http is split along Go's net/http seams (lib/src/http/):
//   url.cpp      url, parse_url, resolve_reference; %-decoding         (Go: net/url)
//   message.cpp  header, request, response, status_text, mime types, JSON, and the
//                response helpers error / not_found / redirect / write_json / decode_json
//                                                                      (header.go, request.go,
//                                                                       status.go, mime)
//   mux.cpp      serve_mux, strip_prefix                               (ServeMux in server.go)
//   fs.cpp       file_server                                           (fs.go)
//   server.cpp   server: accept loop, connection registry, shutdown, close  (Server)
//   conn.cpp     one connection's goroutine, in named steps: await the request, read its
//                header, check it, read its body, call the handler, write the answer,
//                decide keep-alive                                     (conn.serve)
//   client.cpp   client: idle pool, round trip, redirects              (client.go, transport.go)
//
// Nothing here parses HTTP by hand: Beast's parser and serializer do. What is parsed in
// these files is the http:// URL syntax, request-target paths (%-decoding, segments) and
// query strings. Text helpers are Abseil's (absl/strings) where it has them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

#include <boost/beast/http.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

#include "gofer/chan.hpp"
#include "gofer/context.hpp"
#include "gofer/http.hpp"
#include "gofer/net.hpp"
#include "gofer/time.hpp"

namespace gofer::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using clk = std::chrono::steady_clock;

namespace internal {

// url.cpp: the value of a hex digit, -1 for another character.
int hexval(char c) noexcept;
// url.cpp: %XX-decodes s; '+' becomes a space when plus_is_space (query strings). nullopt
// for a malformed escape.
std::optional<std::string> unescape(std::string_view s, bool plus_is_space);

// message.cpp: RFC 7230 token (method and header names).
bool is_token(std::string_view s) noexcept;
// message.cpp: Go's Header.Write cleaning: CR, LF and NUL in a value become spaces.
std::string clean_value(std::string_view v);

// mux.cpp: splits a decoded path "/a/b/" into {"a", "b", ""}; "/" into {""}.
std::vector<std::string_view> split_path(std::string_view path);

// Abseil's text helpers on std::string_view. Debian's Abseil is built with its own
// absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0), which does not convert from
// std::string_view: these adapt the calls, the work is Abseil's.
inline absl::string_view absl_view(std::string_view s) noexcept { return {s.data(), s.size()}; }
// ASCII case-insensitive equality (absl::EqualsIgnoreCase).
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return absl::EqualsIgnoreCase(absl_view(a), absl_view(b));
}
// ASCII lower case (absl::AsciiStrToLower).
inline std::string to_lower(std::string_view s) { return absl::AsciiStrToLower(absl_view(s)); }
// ASCII whitespace stripped from both ends (absl::StripAsciiWhitespace).
inline std::string_view strip_ascii_whitespace(std::string_view s) noexcept {
  absl::string_view r = absl::StripAsciiWhitespace(absl_view(s));
  return {r.data(), r.size()};
}

// HTTP's optional whitespace (OWS, RFC 9110 §5.6.3: spaces and tabs only) trimmed from both
// ends. Not absl::StripAsciiWhitespace, which also strips CR, LF, VT and FF: on text that
// did not come through Beast's parser (a handler's header, a pattern, a Location passed to
// resolve_reference) that would accept what is refused today.
inline std::string_view trim_ows(std::string_view s) noexcept {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

}  // namespace internal

// The server's side of a request body being read (conn.cpp's conn_server): reads the
// connection through Beast's parser. Called only while the handler runs.
struct body_source {
  // Up to n (≥ 1) more bytes of b's body into p, within b.limit; 0 at the end (then b.eof
  // is set). Errors are recorded in b (err, err_code) and returned.
  virtual absl::StatusOr<std::size_t> read_body(char* p, std::size_t n, request::body_state& b) = 0;

 protected:
  ~body_source() = default;
};

// A request's body (request's "body state" table, in gofer/http.hpp).
struct request::body_state {
  body_source* src = nullptr;  // the connection, while the handler runs
  bool detached = false;       // the handler returned: reads fail
  std::string mem;             // set_body's bytes (src is null)
  std::size_t mem_pos = 0;
  std::uint64_t limit = UINT64_MAX;  // max_bytes / read_body / max_body_bytes
  std::uint64_t consumed = 0;        // bytes handed to the handler
  bool eof = false;
  absl::Status err;  // the first failure; then every read returns it
  int err_code = 0;  // the status answered for it (0: close without an answer)
  std::optional<std::string> whole;  // body()'s cache
  header trailers;
};

// The server's access to a request's body state.
struct request_access {
  static std::shared_ptr<request::body_state>& body(request& r) { return r.body_; }
};

// The server's side of a response_writer attached to a connection (conn.cpp's
// conn_server): what flush(), write() and hijack() need from the connection. Called on the
// handler's goroutine only.
struct response_writer::sink {
  // Sends the status and header on the first call (and sets w's flushed_), then w's
  // buffered body (and clears it). OK, or the stream's error.
  virtual absl::Status flush(response_writer& w) = 0;
  // OK while the stream is usable; its error once the client went away or a write failed.
  virtual absl::Status check() = 0;
  // Hands the connection over (response_writer::hijack's contract).
  virtual absl::StatusOr<response_writer::hijacked> hijack() = 0;

 protected:
  ~sink() = default;
};

// file_server's answer body (fs.cpp): pieces of text and byte ranges of one open file, in
// order — one range for a 200/206, "part header, range" per part and the closing
// boundary for multipart/byteranges. The server writes the header, then write_file_body.
struct file_body {
  struct piece {
    std::string text;         // written first (multipart part headers)
    std::int64_t offset = 0;  // then this range of the file, by sendfile
    std::uint64_t length = 0;
  };
  file_body() = default;
  file_body(const file_body&) = delete;
  file_body& operator=(const file_body&) = delete;
  ~file_body();  // closes fd
  int fd = -1;
  std::vector<piece> pieces;
  std::string tail;  // written last
  std::uint64_t size() const noexcept;
};

// The server's view of a response_writer (a friend of it).
struct response_writer_access {
  static int status(const response_writer& w) { return w.status_; }
  static header& headers(response_writer& w) { return w.headers_; }
  static std::string& body(response_writer& w) { return w.body_; }
  static void attach(response_writer& w, response_writer::sink* s) { w.sink_ = s; }
  static void set_flushed(response_writer& w) { w.flushed_ = true; }
  static std::shared_ptr<file_body>& file(response_writer& w) { return w.file_; }
};

namespace internal {
// fs.cpp: sends f's pieces on c (text with write, ranges with send_file). Parks.
absl::Status write_file_body(net::conn& c, const file_body& f);
}  // namespace internal

// One accepted connection in the server's registry.
struct conn_rec {
  explicit conn_rec(net::conn cn) : c(std::move(cn)) {}
  net::conn c;
  const clk::time_point accepted = clk::now();
  conn_state st = conn_state::new_;  // guarded by server::state::mu
  bool hijacked = false;  // c was handed to a handler (only the conn's goroutine touches it)
};

// The server's shared state: the server object, serve() and every connection goroutine
// hold it (the server may be destroyed while they finish).
struct server::state {
  state(handler hh, server_options oo) : h(std::move(hh)), o(std::move(oo)) {
    auto [c, cancel] = gofer::with_cancel(gofer::background());
    base = c;
    cancel_base = std::move(cancel);
  }

  handler h;
  const server_options o;
  gofer::context base;  // request.ctx; cancelled by close()
  gofer::cancel_func cancel_base;

  // Guards every field below and conn_rec::st of registered connections. Held only for
  // bookkeeping and non-parking calls (conn::close, listener::close, set_read_deadline);
  // never while a handler, a hook or any I/O wait runs.
  mutable std::mutex mu;
  bool shutting_down = false;
  bool drained_closed = false;
  std::vector<std::shared_ptr<net::listener>> listeners;
  std::unordered_set<conn_rec*> conns;
  // Connection goroutines that have left `conns` and still run (or are about to run) their
  // closed hook (on_conn_state). shutdown() waits for them as for `conns`: see unregister.
  std::size_t closing_hooks = 0;
  gofer::chan<std::monostate> drained;  // closed when shutting down, conns is empty and no closed hook runs

  // No connection tracked and no closed hook running: what shutdown() waits for.
  bool quiet_locked() const { return conns.empty() && closing_hooks == 0; }
  // True once (and marks it) when `drained` must be closed now: shutting down and quiet.
  // The caller closes it after unlocking.
  bool drain_now_locked() {
    if (!shutting_down || !quiet_locked() || drained_closed) return false;
    drained_closed = true;
    return true;
  }

  void notify(const net::conn& c, conn_state st) {
    if (o.on_conn_state) o.on_conn_state(c, st);
  }

  bool is_shutting_down() const {
    std::lock_guard lk(mu);
    return shutting_down;
  }

  // Transitions; false means "shutting down: close instead". While shutting down only a
  // new connection may still become active (its first request is served, Go's rule).
  bool to(conn_rec& r, conn_state st) {
    std::lock_guard lk(mu);
    if (shutting_down && !(r.st == conn_state::new_ && st == conn_state::active)) return false;
    r.st = st;
    return true;
  }

  // Sets a new connection's first read deadline, unless shutdown already set a sooner one
  // (both under mu, so neither overwrites the other).
  void arm_new(conn_rec& r, time_point d) {
    std::lock_guard lk(mu);
    if (!shutting_down) r.c.set_read_deadline(d);
  }

  // Takes r's connection out of the registry for response_writer::hijack: from now on
  // shutdown() does not wait for it and close() does not close it. The move happens under
  // mu, which shutdown/close hold while they touch r.c.
  net::conn take_hijacked(conn_rec& r) {
    bool close_drained = false;
    net::conn c;
    {
      std::lock_guard lk(mu);
      conns.erase(&r);
      r.st = conn_state::hijacked;
      r.hijacked = true;
      c = std::move(r.c);
      close_drained = drain_now_locked();
    }
    if (close_drained) drained.close();
    return c;
  }

  // The connection goroutine's last steps (internal::serve_conn): unregister(r, hook),
  // then, if `hook`, the closed hook and closed_hook_returned().
  //
  // Go's order: the connection leaves the registry first (open_connections() no longer
  // counts it, as Go's trackConn(c, false) comes before the ConnState hook), then the hook
  // runs. But shutdown()'s OK return must come after the hook has returned: the hook is
  // user code, and it may touch objects of the goroutine that called shutdown, which may
  // return and end their lifetime as soon as shutdown does (Go's garbage collector keeps
  // what a hook refers to alive; nothing does here). Hence closing_hooks: raised with the
  // erase, under mu, lowered under mu once the hook returned; `drained` (what shutdown
  // waits for) closes only when both conns and closing_hooks are empty, and shutdown's
  // own "already drained" check looks at both too. Whoever makes the last change under mu
  // sees both empty (drain_now_locked), so the close is neither lost nor early.
  // The bug this fixes: http_fd_flood.server_out_of_descriptors_…/threads_8 hung (~1 run
  // in 30 under load): the test's closed hook incremented a counter on the main
  // goroutine's stack after shutdown had returned and the test body had ended; the
  // increment landed in the timer node of the main goroutine's leak-check sleep (its
  // goroutine pointer g became g + 1), so the timer woke nobody and main slept forever.
  void unregister(conn_rec& r, bool hook) {
    bool close_drained = false;
    {
      std::lock_guard lk(mu);
      conns.erase(&r);
      if (!r.hijacked) r.st = conn_state::closed;
      if (hook) ++closing_hooks;
      close_drained = drain_now_locked();
    }
    if (close_drained) drained.close();
  }

  void closed_hook_returned() {
    bool close_drained = false;
    {
      std::lock_guard lk(mu);
      --closing_hooks;
      close_drained = drain_now_locked();
    }
    if (close_drained) drained.close();
  }
};

namespace internal {
// conn.cpp: serves one accepted connection until it closes (the goroutine serve() starts).
void serve_conn(const std::shared_ptr<server::state>& sp, const std::shared_ptr<conn_rec>& rec);
}  // namespace internal

}  // namespace gofer::http
