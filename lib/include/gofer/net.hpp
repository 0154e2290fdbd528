// gofer/net.hpp — TCP for goroutines: blocking-style code, the runtime does the waiting.
//
//   net::conn      a TCP connection (move-only; closes on destruction)
//   net::listener  a listening TCP socket (move-only; closes on destruction)
//   net::listen    net.Listen("tcp", "host:port")
//   net::dial      net.Dial / DialContext
//   net::is_eof, net::is_timeout, net::is_closed   classify the errors below
//   blocking       (gofer/blocking.hpp, included) run a blocking call on a helper thread
//
// As in Go, a goroutine that reads from a socket with no data *parks*; its thread runs
// other goroutines; the runtime's poller (epoll, folded into the scheduler's idle wait)
// wakes it when the socket is ready. Sockets are non-blocking underneath.
//
// Addresses are Go's "host:port": "127.0.0.1:8080", "[::1]:0", "localhost:9000", ":0"
// (all interfaces). Port 0 picks a free port; listener::addr() tells which. Host names
// are resolved with getaddrinfo on a helper thread (gofer::blocking).
//
// Blocking: read, write, read_full, accept and dial *park* the calling goroutine (never
// its thread) until they can complete; so does blocking(). Everything else here never
// blocks. A parked I/O call ends with the first of: the socket becomes ready, its
// deadline passes, close() on the socket, its context ends (accept(ctx), dial), or the
// run shuts down (main returned: the goroutine is unwound, see runtime.hpp). Calling a
// parking operation outside gofer::run throws std::logic_error.
//
// Errors: every fallible call returns absl::Status / absl::StatusOr, never throws for I/O.
// Go's texts:
//   end of stream            OutOfRange "EOF"                         (is_eof)
//   deadline passed          DeadlineExceeded "i/o timeout"           (is_timeout; Go's
//                                                                     os.ErrDeadlineExceeded)
//   use after close()        FailedPrecondition "use of closed network connection" (is_closed)
//   context ended (dial, accept(ctx))   the context's error: Cancelled "context canceled"
//                            or DeadlineExceeded "context deadline exceeded" — never
//                            "i/o timeout", whichever timer fires first
//   connection refused/reset, broken pipe, unreachable   Unavailable "<op> <addr>: <strerror>"
//   port in use              AlreadyExists; bad address: InvalidArgument; unknown host: NotFound
//   out of descriptors (dial) Internal "dial <addr>: Too many open files"
//   anything else            Internal with the operation, address and strerror
//
//   op \ state  | open, ready      | open, not ready      | deadline passed | closed (us) | peer closed
//   read(buf)   | n > 0 bytes      | parks                | i/o timeout     | is_closed   | EOF
//   write(buf)  | writes all       | parks while full     | i/o timeout     | is_closed   | Unavailable (EPIPE/reset)
//   accept()    | a new conn       | parks                | i/o timeout*    | is_closed   | —
//   (* a listener has no deadline setter; accept(ctx) reports ctx's error instead)
//
// Deadlines and timeouts (Go's SetDeadline): an absolute time after which pending and
// future reads (writes) fail with "i/o timeout"; time_point{} clears it. Like Go, an
// expired deadline fails the call *before* the syscall, even when it need not wait (data
// already buffered, room to write), and consumes nothing; moving the deadline into the
// future (or clearing it) makes the socket usable again. A deadline set while another
// goroutine is parked in read/write takes effect at once (it wakes and re-checks).
// A write that fails part-way (deadline, close, reset) has sent an unknown prefix: unlike
// Go's (n, err), the count is not reported. There are no implicit timeouts: with no
// deadline and no context, a read waits for as long as the peer stays silent.
//
// Thread-safety: one goroutine may read while another writes on the same conn; concurrent
// reads (or writes) are serialized, as Go serializes them. close() and the deadline
// setters may be called from any goroutine; close() wakes blocked readers/writers with
// is_closed. Memory ordering: data written by one side is seen by the reader that reads it
// (the kernel orders it); a deadline set before a read happens-before that read's check.
//
// Beast: conn models Boost.Asio's SyncReadStream and SyncWriteStream (read_some and
// write_some with error_code overloads), so Boost.Beast's synchronous HTTP functions run
// directly on it — this is how gofer/http.hpp parses HTTP without writing a parser.
//
// Example — an echo server and its client, in the same program:
//   auto ln = gofer::net::listen("127.0.0.1:0").value();
//   gofer::go([&ln] {
//     auto c = ln.accept().value();
//     char buf[256];
//     while (auto n = c.read(buf, sizeof buf); n.ok()) c.write(buf, *n);
//   });
//   auto c = gofer::net::dial(ln.addr()).value();
//   c.write("hi", 2);
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include "gofer/detail/source_location.hpp"
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gofer/blocking.hpp"  // gofer::blocking was declared here first
#include "gofer/context.hpp"
#include "gofer/time.hpp"

namespace gofer {

namespace net {

namespace detail {
struct socket;  // the fd and its poller registration (lib/src/net.cpp)
}

bool is_eof(const absl::Status& s) noexcept;
bool is_timeout(const absl::Status& s) noexcept;
bool is_closed(const absl::Status& s) noexcept;

class conn {
 public:
  conn() noexcept;  // not connected: every operation returns is_closed
  conn(conn&&) noexcept;
  conn& operator=(conn&&) noexcept;
  ~conn();

  // Reads up to n bytes (at least 1; n == 0 returns 0): parks until data, EOF, an error,
  // close() or the read deadline. Errors: EOF, i/o timeout, is_closed, Unavailable (reset).
  // Like every parking call here, records its call site for dumps (gofer/debug.hpp).
  absl::StatusOr<std::size_t> read(void* buf, std::size_t n,
                                   gofer::source_location where = gofer::source_location::current());
  // Writes all n bytes (parking while the socket buffer is full) or fails; returns n.
  // Errors: i/o timeout (write deadline), is_closed, Unavailable (EPIPE, reset).
  absl::StatusOr<std::size_t> write(const void* buf, std::size_t n,
                                    gofer::source_location where = gofer::source_location::current());
  absl::StatusOr<std::size_t> write(std::string_view s,
                                    gofer::source_location where = gofer::source_location::current()) {
    return write(s.data(), s.size(), where);
  }
  // io.ReadFull: exactly n bytes, or EOF (none read) / an error.
  absl::Status read_full(void* buf, std::size_t n,
                         gofer::source_location where = gofer::source_location::current());
  absl::Status write_all(const void* buf, std::size_t n,
                         gofer::source_location where = gofer::source_location::current()) {
    return write(buf, n, where).status();
  }
  // Go's (*TCPConn).ReadFrom(*os.File): sends n bytes of the regular file `fd` from byte
  // `offset` with sendfile(2), kernel to kernel (no user-space buffer), parking while the
  // socket buffer is full (at most 4 MiB per call, as Go's maxSendfileSize). Returns n, or
  // the error write() would give; a file that ends before offset + n: DataLoss
  // "unexpected EOF" (what was there was sent). fd stays the caller's (not closed, its file
  // offset untouched). The file is read on the calling thread: from the page cache that
  // costs nothing, a cold disk blocks the thread as it blocks Go's. A peer that is gone
  // gives EPIPE (Unavailable "sendfile <addr>: Broken pipe") and never kills the process,
  // as write()'s send with MSG_NOSIGNAL: sendfile(2) has no such flag and raises SIGPIPE,
  // which gofer's own SIGPIPE handler drops (installed by gofer::run over SIG_DFL; no
  // syscall per call). If the program set its own SIGPIPE handler before the run, that
  // handler is kept and not called for this EPIPE: SIGPIPE is then blocked around each
  // sendfile and a SIGPIPE it raised discarded (3-4 syscalls per call). See runtime.hpp,
  // "SIGPIPE". Serialized with write() (same lock).
  absl::StatusOr<std::uint64_t> send_file(int fd, std::int64_t offset, std::uint64_t n,
                                          gofer::source_location where = gofer::source_location::current());
  // Closes the socket; blocked readers and writers fail with is_closed. Idempotent.
  // Safe against concurrent I/O: the descriptor itself is released once no syscall on it
  // is in flight (Go's fdMutex), so its number is never reused under another goroutine.
  absl::Status close();
  // shutdown(2) of the write side (the peer reads EOF) — CloseWrite.
  absl::Status close_write();
  // Go's SetReadBuffer / SetWriteBuffer: the kernel's receive / send buffer for this
  // socket (SO_RCVBUF / SO_SNDBUF; Linux doubles the value and clamps it). Small buffers
  // make a peer that stops reading block the writer sooner. Never parks. Errors:
  // is_closed; the setsockopt errno.
  absl::Status set_read_buffer(int bytes);
  absl::Status set_write_buffer(int bytes);
  std::string local_addr() const;
  std::string remote_addr() const;
  bool is_open() const noexcept;
  // Would a read return at once — data, EOF or an error pending — rather than wait? Never
  // parks and consumes nothing (recv with MSG_PEEK | MSG_DONTWAIT). A closed conn: true.
  // The HTTP client asks this of a pooled connection before reusing it: a server that
  // closed it meanwhile left an EOF behind (Go learns the same from its read loop).
  bool read_ready() const noexcept;

  void set_deadline(time_point t);
  void set_read_deadline(time_point t);
  void set_write_deadline(time_point t);

  // --- Asio SyncReadStream / SyncWriteStream, for Boost.Beast ---
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    auto b = first_buffer(buffers);
    return read_some_raw(b.data(), b.size(), ec);
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  // Gathers up to kMaxGather buffers of the sequence into one sendmsg (Beast hands a
  // response over as a dozen small pieces: one syscall and one TCP segment per response,
  // like Go's bufio.Writer flush, instead of one per piece), and writes them all.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    io_piece pieces[kMaxGather];
    std::size_t count = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && count < kMaxGather; ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() != 0) pieces[count++] = io_piece{b.data(), b.size()};
    }
    return write_some_gather(pieces, count, ec);
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  friend class listener;
  friend absl::StatusOr<conn> dial(std::string_view, const gofer::context&);
  explicit conn(std::shared_ptr<detail::socket> s) noexcept;
  template <class Seq>
  static auto first_buffer(const Seq& seq) {
    for (auto it = boost::asio::buffer_sequence_begin(seq); it != boost::asio::buffer_sequence_end(seq); ++it)
      if (boost::asio::buffer_size(*it) != 0) return *it;
    return *boost::asio::buffer_sequence_begin(seq);
  }
  std::size_t read_some_raw(void* p, std::size_t n, boost::system::error_code& ec);
  struct io_piece {
    const void* data;
    std::size_t size;
  };
  static constexpr std::size_t kMaxGather = 16;
  std::size_t write_some_gather(const io_piece* pieces, std::size_t count,
                                boost::system::error_code& ec);
  absl::StatusOr<std::size_t> write_gather(const io_piece* pieces, std::size_t count);
  std::shared_ptr<detail::socket> s_;
};

class listener {
 public:
  listener() noexcept;
  listener(listener&&) noexcept;
  listener& operator=(listener&&) noexcept;
  ~listener();

  // Parks until a connection arrives. Out of file descriptors (EMFILE/ENFILE) or memory:
  // sleeps with backoff (5 ms doubling to 1 s; the connection waits in the backlog) and
  // tries again, so a server keeps serving instead of failing or spinning. Errors:
  // is_closed after close(); Internal for other accept(2) failures.
  absl::StatusOr<conn> accept(gofer::source_location where = gofer::source_location::current());
  // accept that also returns when ctx ends, with ctx's error (also during the EMFILE
  // backoff). Cancelling ctx after it returned affects nothing (the listener's later
  // accepts are untouched). Parks; a helper goroutine watches ctx while it waits.
  absl::StatusOr<conn> accept(const gofer::context& ctx,
                              gofer::source_location where = gofer::source_location::current());
  // Closes the socket; a blocked accept fails with is_closed. Idempotent.
  absl::Status close();
  // The bound address, "127.0.0.1:41234" (the port picked when asked for port 0).
  std::string addr() const;

 private:
  friend absl::StatusOr<listener> listen(std::string_view);
  explicit listener(std::shared_ptr<detail::socket> s) noexcept;
  // accept, returning ctx's error once *interrupt is set (both null: plain accept).
  absl::StatusOr<conn> accept_impl(const gofer::context* ctx, const std::atomic<bool>* interrupt,
                                   gofer::source_location where);
  std::shared_ptr<detail::socket> s_;
};

// net.Listen("tcp", address).
absl::StatusOr<listener> listen(std::string_view address);
// net.DialContext("tcp", address): connects, parking meanwhile, trying each resolved
// address in turn (the last error is returned). If ctx ends first — cancelled, or its
// deadline passes — returns ctx.err() ("context canceled" / "context deadline exceeded")
// and no connection. A host name is resolved on a helper thread (blocking()), which ctx
// does not interrupt. Errors: ctx's error; Unavailable "dial <addr>: Connection refused";
// NotFound for an unknown host; InvalidArgument for a malformed address.
absl::StatusOr<conn> dial(std::string_view address, const gofer::context& ctx = gofer::context());

}  // namespace net
}  // namespace gofer
