// gofer/raw_fd.hpp — any pollable file descriptor on gofer's poller: a goroutine waits for
// it to become readable or writable by parking, never by blocking its thread.
//
//   net::raw_fd          a registered descriptor (move-only; Go's os.NewFile(fd).SyscallConn())
//   raw_fd::adopt(fd)    register and own it: close() closes it; sets O_NONBLOCK
//   raw_fd::borrow(fd)   register a descriptor someone else owns (a C library's socket):
//                        close() only unregisters it; its flags are left alone
//   read(f) / write(f)   Go's syscall.RawConn Read/Write: call f(fd) until it returns true,
//                        parking until the descriptor is ready between calls
//
// What it is for: descriptors that are not TCP connections made by gofer::net — inotify,
// a pipe, an eventfd, a signalfd, a UNIX socket, or the socket inside a C library with a
// non-blocking API (MariaDB Connector/C's mysql_*_start/_cont, libpq, hiredis). Without it
// a goroutine must poll(2) in gofer::blocking (a helper thread per waiting goroutine) or
// block its scheduler thread, freezing every goroutine queued on it.
//
// The loop (Go's netFD: try the syscall, park on EAGAIN, try again):
//   raw.read([&](int fd) {
//     n = ::read(fd, buf, sizeof buf);
//     return !(n < 0 && errno == EAGAIN);   // true: done (data, EOF or a real error)
//   });
// f runs on the calling goroutine; it must not block (the descriptor must be non-blocking:
// adopt sets O_NONBLOCK, a borrowed one must already be) and must not park. The poller is
// edge-triggered: f should read (write) until EAGAIN, or return true and let the next
// read(f) find what is left — an edge is never lost between f's EAGAIN and the park.
//
//   op \ state   | open, ready    | open, not ready | deadline passed   | closed (us)
//   read(f)      | f(fd) → true   | parks, retries  | i/o timeout       | is_closed
//   write(f)     | f(fd) → true   | parks, retries  | i/o timeout       | is_closed
//   wait_read()  | OK             | parks           | i/o timeout       | is_closed
//   close()      | OK (closes fd if adopted) | —    | —                 | is_closed
// Errors are gofer::net's (net.hpp): "i/o timeout" (is_timeout), "use of closed network
// connection" (is_closed). adopt/borrow fail with InvalidArgument for a negative fd and
// with epoll's error for a descriptor epoll cannot watch (EPERM: a regular file or a
// directory — those are always "ready"; read them in gofer::blocking instead).
// Deadlines are gofer::net's: an absolute time, time_point{} clears, an expired one fails
// before f is called, a change wakes a parked waiter at once.
//
// Lifetime: close() (or the destructor) wakes parked readers/writers with is_closed; an
// adopted descriptor is closed with close(2) only once no f is running on it (Go's
// fdMutex), so its number is never reused under a running f. A borrowed descriptor must
// stay open until close() returned and no read/write is in flight: close the raw_fd before
// the library closes its socket (and open a new raw_fd after it reconnects).
//
// Thread-safety: one goroutine may read while another writes; concurrent reads (writes)
// are serialized, as in Go. close() and the deadline setters may be called from any
// goroutine. Parking calls need a goroutine (std::logic_error outside gofer::run).
// Copy semantics: move-only, like net::conn.
//
// Example — an inotify descriptor watched by a goroutine:
//   auto raw = gofer::net::raw_fd::adopt(inotify_init1(IN_CLOEXEC)).value();
//   inotify_add_watch(raw.fd(), "/tmp/dir", IN_CLOSE_WRITE);
//   alignas(inotify_event) char buf[4096];
//   ssize_t n = 0;
//   absl::Status st = raw.read([&](int fd) {
//     n = ::read(fd, buf, sizeof buf);
//     return !(n < 0 && errno == EAGAIN);
//   });
#pragma once

#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gofer/detail/source_location.hpp"
#include "gofer/time.hpp"

namespace gofer::net {

namespace detail {
struct socket;  // lib/src/net.cpp
}

class raw_fd {
 public:
  raw_fd() noexcept;  // empty: every operation returns is_closed
  raw_fd(raw_fd&&) noexcept;
  raw_fd& operator=(raw_fd&&) noexcept;
  ~raw_fd();  // close()

  // Registers fd with the poller and owns it (close() closes it). Sets O_NONBLOCK.
  // Needs a running gofer::run (std::logic_error otherwise). On error fd is left open.
  static absl::StatusOr<raw_fd> adopt(int fd);
  // Registers fd without owning it: close() unregisters and leaves it open.
  static absl::StatusOr<raw_fd> borrow(int fd);

  // Calls f(fd) until it returns true, parking until the descriptor is readable (writable)
  // after each false. OK once f returned true; otherwise i/o timeout or is_closed (f is
  // not called again).
  absl::Status read(absl::FunctionRef<bool(int)> f,
                    gofer::source_location where = gofer::source_location::current());
  absl::Status write(absl::FunctionRef<bool(int)> f,
                     gofer::source_location where = gofer::source_location::current());
  // Parks until the descriptor is readable (writable), without a syscall of its own — for
  // a library that does the I/O itself (MariaDB's mysql_*_cont after MYSQL_WAIT_READ).
  // May return OK spuriously (a deadline change, an edge seen earlier): re-try the
  // operation and wait again if it still would block.
  absl::Status wait_read(gofer::source_location where = gofer::source_location::current());
  absl::Status wait_write(gofer::source_location where = gofer::source_location::current());

  void set_deadline(time_point t);
  void set_read_deadline(time_point t);
  void set_write_deadline(time_point t);

  // Unregisters; wakes parked waiters with is_closed; closes an adopted descriptor.
  // Idempotent (a second call returns is_closed).
  absl::Status close();
  bool is_open() const noexcept;
  // The descriptor, or -1 once closed (or empty). For calls that do not read or write
  // (inotify_add_watch, ioctl); I/O goes through read/write so close() cannot race it.
  int fd() const noexcept;

 private:
  explicit raw_fd(std::shared_ptr<detail::socket> s) noexcept;
  static absl::StatusOr<raw_fd> open(int fd, bool owns);
  absl::Status io(bool write, absl::FunctionRef<bool(int)>* f, gofer::source_location where);
  std::shared_ptr<detail::socket> s_;
};

}  // namespace gofer::net
