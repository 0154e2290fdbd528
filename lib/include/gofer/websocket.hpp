// gofer/websocket.hpp — WebSocket (RFC 6455) for goroutines, server and client side.
//
//   websocket::conn         one WebSocket connection (move-only; closes on destruction)
//   websocket::options      message size limit, handshake timeout, ping/pong hooks
//   websocket::message      what read() returns: text or binary, and the bytes
//   websocket::upgrade      a handler's request → a conn (gorilla's Upgrader.Upgrade)
//   websocket::dial         "ws://host:port/path" → a conn (gorilla's Dialer.Dial)
//   websocket::close_code   the RFC's status codes by name (1000 normal, 1009 too big, ...)
//   websocket::close_code_of, is_close_error   what a read error says about the close
//
// Framing, masking, UTF-8 checks, control frames and the handshake are Boost.Beast's
// (websocket::stream, synchronous API) over gofer::net::conn: gofer writes no framing.
// A goroutine blocked in read() or write() parks; its thread runs other goroutines.
// No extensions (permessage-deflate is not offered), no subprotocol negotiation, no TLS.
//
// The pattern (the book's chat client, gorilla's): one goroutine reads, another writes.
//
//   auto ws = websocket::upgrade(r, w);            // inside an http handler
//   if (!ws.ok()) return;                          // the client got 400/426 already
//   gofer::go(gofer::named{"ws-writer"}, [&ws, out] {   // the writer: drains a channel
//     for (auto m : out) if (!ws->write_text(m).ok()) break;
//   });
//   for (;;) {                                     // the reader: the handler itself
//     auto m = ws->read();
//     if (!m.ok()) break;                          // peer closed, error, or deadline
//     room.send(m->data);
//   }
//
// How reads and writes share the connection: the reading side and the writing side are
// two Beast streams over the same socket — one only reads (and answers pings and the
// peer's close frame on its own), the other only writes — so a read parked for minutes
// never holds up a write, and neither touches the other's state (gorilla's "one
// concurrent reader and one concurrent writer", without the "one" for writers: writes
// are serialized here by a gofer::mutex, so any number of goroutines may write; each
// message goes out whole, never interleaved with another). The automatic pong and close
// answers of the reading side take the same write lock, so they too go out between
// whole frames.
//
//   op \ state     | open                      | we sent close             | peer closed / failed / close_now()
//   read()         | next message (parks)      | messages until the peer's | close error (close_code_of:
//                  |                           | close: then its close     | peer's code), or the failure
//                  |                           | error                     | (i/o timeout, 1002, 1009, EOF)
//   write_*()      | sends one message (parks  | FailedPrecondition        | FailedPrecondition / net error
//                  | while the socket is full) | "websocket: close sent"   |
//   ping/pong(p)   | sends a control frame     | FailedPrecondition        | FailedPrecondition / net error
//   close(c, why)  | sends the close frame     | FailedPrecondition        | FailedPrecondition / net error
//   close_now()    | closes TCP at once        | closes TCP at once        | OK (idempotent)
//
// Close handshake: close(code, reason) only *sends* the close frame; the peer answers with
// its own, which the reading goroutine receives as read()'s close error, and then the TCP
// connection is closed (the server closes it; RFC 6455 §7.1.1). When the peer starts it,
// read() answers its close frame with the same code (automatically) and returns the close
// error. Without a reader, nobody sees the answer: call close_now() after close() then.
//
// Errors (absl::Status, never exceptions; texts after gorilla/websocket):
//   peer's close frame            OutOfRange "websocket: close 1000 (normal): bye"
//   message over read_limit       ResourceExhausted "websocket: close 1009 (message too big)"
//                                 — sent to the peer, then the connection is closed
//   protocol violation by peer    InvalidArgument "websocket: close 1002 (protocol error): <what>"
//     (unmasked client frame, reserved opcode, fragmented control frame, bad close code)
//   invalid UTF-8 in a text       InvalidArgument "websocket: close 1007 (invalid payload data)"
//   TCP closed without close      OutOfRange "websocket: close 1006 (abnormal closure): unexpected EOF"
//   read or write deadline        DeadlineExceeded "i/o timeout" (net::is_timeout)
//   use after close_now()/failure FailedPrecondition "websocket: use of closed connection"
// close_code_of(st) reads the code back (0 if st is no close error). After any read
// error the reading side is done (the state is corrupt, as in gorilla): stop reading.
//
// Deadlines (Go's SetReadDeadline/SetWriteDeadline): absolute times applied to the
// socket; a read (write) pending past it fails with "i/o timeout" — after which the
// connection is failed and should be closed; time_point{} clears it. No deadline is set
// by default: use one (or pings) to notice a peer that vanished without a FIN.
//
// Memory per connection: the message being read (at most read_limit), Beast's two frame
// buffers (4 KiB reading, 4 KiB writing), and the message being written.
//
// Invariants: frames of different messages never interleave on the wire; nothing is
// sent after a close frame; each side is used by one goroutine at a time.
// Memory ordering: a write that returned OK happens-before any later write's bytes on the
// wire (the write lock); what the peer sent before a message is read with it.
// Thread-safety: read() from one goroutine at a time (concurrent reads are serialized by
// a lock, but messages then go to whichever got in first); write_*, ping, pong and close
// from any number of goroutines, concurrently with read(); close_now() and the deadline
// setters from anywhere. A conn must not outlive the gofer::run that made it, and must not
// be destroyed or moved from while another goroutine is inside one of its calls (as with
// net::conn): close_now() first, let that call return, then destroy.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gofer/context.hpp"
#include "gofer/http.hpp"
#include "gofer/net.hpp"
#include "gofer/time.hpp"

namespace gofer::websocket {

// RFC 6455 §7.4.1 status codes (gorilla's CloseNormalClosure, ...).
namespace close_code {
inline constexpr int normal = 1000;
inline constexpr int going_away = 1001;
inline constexpr int protocol_error = 1002;
inline constexpr int unsupported_data = 1003;
inline constexpr int no_status = 1005;     // the peer's close frame had no code
inline constexpr int abnormal = 1006;      // never on the wire: TCP ended without a close frame
inline constexpr int invalid_payload = 1007;
inline constexpr int policy_violation = 1008;
inline constexpr int too_big = 1009;
inline constexpr int internal_error = 1011;
}  // namespace close_code

enum class message_type { text, binary };

// One whole message (fragments joined). text: valid UTF-8 (checked on reading).
struct message {
  message_type type = message_type::text;
  std::string data;
  bool is_text() const noexcept { return type == message_type::text; }
};

struct options {
  // The largest message read() accepts; a larger one is refused with close 1009
  // (gorilla's SetReadLimit). 0: Beast's default, 16 MiB.
  std::size_t read_limit = std::size_t{1} << 20;
  // The opening handshake's bound (writing the 101, or dial's request and answer).
  std::chrono::nanoseconds handshake_timeout = std::chrono::seconds(10);
  // Called on the reading goroutine, inside read(), when a ping or pong arrives (the pong
  // answering a ping was already queued). Must not call read(); may write.
  std::function<void(std::string_view payload)> on_ping{};
  std::function<void(std::string_view payload)> on_pong{};
};

namespace detail {
struct state;  // lib/src/websocket.cpp
}

// conn — one WebSocket connection (see the table at the top of this file).
// Zero value (default-constructed, moved-from): not connected; every call returns
// "websocket: use of closed connection". Copy semantics: move-only; destruction closes
// the TCP connection (without a close frame: call close() first for a clean goodbye).
class conn {
 public:
  conn() noexcept;
  conn(conn&&) noexcept;
  conn& operator=(conn&&) noexcept;
  ~conn();

  // Reads the next whole message: parks until one arrived, the peer closed, an error, or
  // the read deadline. Pings and pongs in between are handled (answered, hooks called).
  // Errors: the table at the top. One reader at a time (a lock). Parks.
  absl::StatusOr<message> read();
  // Sends data as one message; parks while the socket is full, up to the write deadline.
  // Serialized with every other write. Parks. Thread-safe.
  absl::Status write(message_type type, std::string_view data);
  absl::Status write_text(std::string_view data) { return write(message_type::text, data); }
  absl::Status write_binary(std::string_view data) { return write(message_type::binary, data); }
  // Control frames (payload at most 125 bytes, else InvalidArgument). The peer's pong
  // arrives through read() (options::on_pong). Parks. Thread-safe.
  absl::Status ping(std::string_view payload = {});
  absl::Status pong(std::string_view payload = {});
  // Sends the close frame (code, reason ≤ 123 bytes); nothing can be written after it.
  // The peer's answer ends the reading goroutine's read() with a close error. Parks.
  absl::Status close(int code = close_code::normal, std::string_view reason = {});
  // Closes the TCP connection now (Go's Conn.Close); blocked reads and writes fail.
  // Never parks. Idempotent. Thread-safe.
  void close_now();

  void set_read_deadline(time_point t);
  void set_write_deadline(time_point t);
  std::string remote_addr() const;
  bool is_open() const noexcept;
  // The TCP connection underneath (gorilla's NetConn), for socket options such as
  // set_write_buffer. Reading or writing it directly breaks the framing: don't.
  // A zero-value conn: a closed net::conn. Never blocks.
  net::conn& underlying_conn() noexcept;

 private:
  friend absl::StatusOr<conn> upgrade(const http::request&, http::response_writer&, const options&);
  friend absl::StatusOr<conn> dial(const gofer::context&, std::string_view, const options&);
  explicit conn(std::shared_ptr<detail::state> s) noexcept;
  std::shared_ptr<detail::state> s_;
};

// Upgrades the request r to a WebSocket (gorilla's Upgrader.Upgrade), inside an http
// handler: checks it, takes the connection over (response_writer::hijack) and answers
// "101 Switching Protocols" (Beast's accept). The handler may then keep the connection
// for as long as it runs (it is on the connection's own goroutine) or hand it to others.
// Refused requests are answered through w, and the call returns the reason:
//   not GET                                   405 Method Not Allowed, Allow: GET
//   no "Upgrade: websocket" / "Connection: upgrade"   426 Upgrade Required, Upgrade: websocket
//   Sec-WebSocket-Version other than 13       426 Upgrade Required, Sec-WebSocket-Version: 13
//   no Sec-WebSocket-Key                      400 Bad Request
// (a key Beast finds malformed is answered 400 by Beast on the taken-over connection).
// Errors: InvalidArgument for a refused request; the hijack's or the 101 write's error.
// Parks (writing the 101, within handshake_timeout). The server no longer tracks the
// connection: shutdown() does not wait for it (close it yourself; see http.hpp).
absl::StatusOr<conn> upgrade(const http::request& r, http::response_writer& w, const options& o = {});

// Connects to url ("ws://host:port/path?query"; wss:// is refused), sends the opening
// handshake and checks the 101 (Beast's handshake). ctx bounds the dial and the
// handshake, together with options::handshake_timeout. Errors: InvalidArgument (bad URL),
// net::dial's, DeadlineExceeded/Cancelled from ctx, Unavailable "websocket: bad handshake"
// (the server answered something else, e.g. 404 or 426). Parks.
absl::StatusOr<conn> dial(const gofer::context& ctx, std::string_view url, const options& o = {});

// The close code a read error carries (1000, 1006, 1009, ...), 0 when st is no close
// error (OK, i/o timeout, use of closed connection). Never blocks.
int close_code_of(const absl::Status& st) noexcept;
// gorilla's IsCloseError: st is a close error with one of codes.
bool is_close_error(const absl::Status& st, std::initializer_list<int> codes) noexcept;

}  // namespace gofer::websocket
