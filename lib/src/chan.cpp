// lib/src/chan.cpp — the non-template part of gofer's channels: close and Go's panics.
// (The waiter queues and the park layer are in park.cpp.) The element paths (send, recv) are templates in gofer/chan.hpp.
//
// Lock rules (Go's hchan.lock): a channel's lock guards its flags, buffer indices and
// both waiter queues. While holding it we may move one element (T's move, noexcept) and
// claim waiters; we never park, never wake a goroutine (unpark happens after unlock), and
// never call other user code.
#include <stdexcept>
#include <string>

#include "gofer/chan.hpp"

namespace gofer::detail {

void chan_base::close_and_wake() {
  lock.lock();
  if (closed) {
    lock.unlock();
    throw panic_error("close of closed channel");
  }
  closed = true;
  // Claim every waiter now, wake them after unlocking. success = false: receivers see
  // closed (their slot stays empty); senders will panic.
  waiter* wake = release_all(recvq, false);
  wake = release_all(sendq, false, wake);
  lock.unlock();
  wake_all(wake);
}

void throw_send_on_closed() { throw panic_error("send on closed channel"); }
void throw_close_of_nil() { throw panic_error("close of nil channel"); }
void throw_makechan_size() { throw panic_error("makechan: size out of range"); }

}  // namespace gofer::detail
