// gofer/net.hpp — TCP for goroutines: blocking-style code, the runtime does the waiting.
//
//   net::conn      a TCP connection (move-only; closes on destruction)
//   net::listener  a listening TCP socket (move-only; closes on destruction)
//   net::listen    net.Listen("tcp", "host:port")
//   net::dial      net.Dial / DialContext
//   net::is_eof, net::is_timeout, net::is_closed   classify the errors below
//   blocking       run a blocking call on a helper thread while the goroutine parks
//
// As in Go, a goroutine that reads from a socket with no data *parks*; its thread runs
// other goroutines; the runtime's poller (epoll, folded into the scheduler's idle wait)
// wakes it when the socket is ready. Sockets are non-blocking underneath.
//
// Addresses are Go's "host:port": "127.0.0.1:8080", "[::1]:0", "localhost:9000", ":0"
// (all interfaces). Port 0 picks a free port; listener::addr() tells which. Host names
// are resolved with getaddrinfo on a helper thread (gofer::blocking).
//
// Errors: every fallible call returns absl::Status / absl::StatusOr, never throws for I/O
// (it throws std::logic_error only when called outside a goroutine). Go's texts:
//   end of stream            OutOfRange "EOF"                         (is_eof)
//   deadline passed          DeadlineExceeded "i/o timeout"           (is_timeout)
//   use after close()        FailedPrecondition "use of closed network connection" (is_closed)
//   context cancelled (dial) the context's error
//   anything else            Unavailable/Internal with the operation, address and strerror
//
//   op \ state      | open, ready      | open, not ready          | closed / peer closed
//   read(buf)       | n > 0 bytes      | parks (until deadline)   | is_closed / EOF
//   write(buf)      | writes all       | parks while the buffer is full | is_closed / EPIPE error
//   accept()        | a new conn       | parks                    | is_closed
//
// Deadlines (Go's): an absolute time after which pending and future reads (writes) fail
// with i/o timeout; a zero time_point{} clears it. A deadline can be set while another
// goroutine is blocked in read: it takes effect at once.
//
// Thread-safety: one goroutine may read while another writes on the same conn; concurrent
// reads (or writes) are serialized, as Go serializes them. close() may be called from any
// goroutine and wakes blocked readers/writers with is_closed.
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
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gofer/context.hpp"
#include "gofer/time.hpp"

namespace gofer {

namespace detail {
// Runs fn on a helper thread and parks the calling goroutine until it returned.
void run_blocking(std::function<void()> fn);
}  // namespace detail

// marl's blocking_call: runs fn() (a blocking syscall, a blocking C library, file I/O) on a
// helper thread while the calling goroutine parks, so its thread keeps running other
// goroutines; returns fn's result. fn must not use gofer operations that park. An exception
// from fn is rethrown in the goroutine. Outside a goroutine, just calls fn().
template <class F>
auto blocking(F&& fn) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  std::exception_ptr err;
  if constexpr (std::is_void_v<R>) {
    detail::run_blocking([&] {
      try { fn(); } catch (...) { err = std::current_exception(); }
    });
    if (err) std::rethrow_exception(err);
  } else {
    std::optional<R> out;
    detail::run_blocking([&] {
      try { out.emplace(fn()); } catch (...) { err = std::current_exception(); }
    });
    if (err) std::rethrow_exception(err);
    return std::move(*out);
  }
}

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

  // Reads up to n bytes (at least 1): parks until data, EOF, error or the read deadline.
  absl::StatusOr<std::size_t> read(void* buf, std::size_t n);
  // Writes all n bytes (parking while the socket buffer is full) or fails; returns n.
  absl::StatusOr<std::size_t> write(const void* buf, std::size_t n);
  absl::StatusOr<std::size_t> write(std::string_view s) { return write(s.data(), s.size()); }
  // io.ReadFull: exactly n bytes, or EOF (none read) / an error.
  absl::Status read_full(void* buf, std::size_t n);
  absl::Status write_all(const void* buf, std::size_t n) { return write(buf, n).status(); }
  // Closes the socket; blocked readers and writers fail with is_closed. Idempotent.
  absl::Status close();
  // shutdown(2) of the write side (the peer reads EOF) — CloseWrite.
  absl::Status close_write();
  std::string local_addr() const;
  std::string remote_addr() const;
  bool is_open() const noexcept;

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
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    auto b = first_buffer(buffers);
    return write_some_raw(b.data(), b.size(), ec);
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
  std::size_t write_some_raw(const void* p, std::size_t n, boost::system::error_code& ec);
  std::shared_ptr<detail::socket> s_;
};

class listener {
 public:
  listener() noexcept;
  listener(listener&&) noexcept;
  listener& operator=(listener&&) noexcept;
  ~listener();

  // Parks until a connection arrives. Out of file descriptors (EMFILE/ENFILE): waits with
  // backoff (5 ms doubling to 1 s) and tries again, so a server keeps serving.
  absl::StatusOr<conn> accept();
  // accept that also returns when ctx is cancelled (with ctx's error).
  absl::StatusOr<conn> accept(const gofer::context& ctx);
  // Closes the socket; a blocked accept fails with is_closed. Idempotent.
  absl::Status close();
  // The bound address, "127.0.0.1:41234" (the port picked when asked for port 0).
  std::string addr() const;

 private:
  friend absl::StatusOr<listener> listen(std::string_view);
  explicit listener(std::shared_ptr<detail::socket> s) noexcept;
  // accept, returning ctx's error once *interrupt is set (both null: plain accept).
  absl::StatusOr<conn> accept_impl(const gofer::context* ctx, const std::atomic<bool>* interrupt);
  std::shared_ptr<detail::socket> s_;
};

// net.Listen("tcp", address).
absl::StatusOr<listener> listen(std::string_view address);
// net.DialContext("tcp", address): connects, parking meanwhile; fails with ctx's error if
// ctx is cancelled first (its deadline bounds the connect).
absl::StatusOr<conn> dial(std::string_view address, const gofer::context& ctx = gofer::context());

}  // namespace net
}  // namespace gofer
