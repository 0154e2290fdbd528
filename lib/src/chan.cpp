// lib/src/chan.cpp — the non-template part of gofer's channels: waiter queues, close,
// and Go's panics. The element paths (send, recv) are templates in gofer/chan.hpp.
//
// Lock rules (Go's hchan.lock): a channel's lock guards its flags, buffer indices and
// both waiter queues. While holding it we may move one element (T's move, noexcept) and
// claim waiters; we never park, never wake a goroutine (unpark happens after unlock), and
// never call other user code.
#include <stdexcept>
#include <string>

#include "gofer/chan.hpp"

namespace gofer::detail {

void waitq::push_back(waiter* w) noexcept {
  w->next = nullptr;
  w->prev = tail_;
  if (tail_ != nullptr) tail_->next = w;
  else head_ = w;
  tail_ = w;
  w->queued = true;
}

void waitq::remove(waiter* w) noexcept {
  if (w->prev != nullptr) w->prev->next = w->next;
  else head_ = w->next;
  if (w->next != nullptr) w->next->prev = w->prev;
  else tail_ = w->prev;
  w->next = w->prev = nullptr;
  w->queued = false;
}

waiter* waitq::dequeue_claimed() noexcept {
  while (head_ != nullptr) {
    waiter* w = head_;
    remove(w);
    // A waiter whose goroutine was claimed by someone else (another select case fired, or
    // shutdown) is stale: drop it and look at the next one (Go's dequeue loop).
    if (try_claim(w->g)) return w;
  }
  return nullptr;
}

void chan_base::close_and_wake() {
  lock.lock();
  if (closed) {
    lock.unlock();
    throw panic_error("close of closed channel");
  }
  closed = true;
  // Claim every waiter now, wake them after unlocking; chain them through `next`, which
  // is free once a waiter is out of its queue and claimed by us.
  waiter* wake = nullptr;
  for (waitq* q : {&recvq, &sendq}) {
    while (waiter* w = q->dequeue_claimed()) {
      w->success = false;  // receivers: closed (slot stays empty); senders: will panic
      set_fired(w->g, w);
      w->next = wake;
      wake = w;
    }
  }
  lock.unlock();
  while (wake != nullptr) {
    waiter* next = wake->next;  // read before unpark: the goroutine may free `wake` at once
    unpark(wake->g);
    wake = next;
  }
}

void chan_base::leave_if_shutdown(waiter& w, bool sender) {
  if (!woken_by_shutdown(w.g)) return;
  {
    spinlock_guard lk(lock);
    if (w.queued) (sender ? sendq : recvq).remove(&w);
  }
  throw_goroutine_exit();
}

void throw_send_on_closed() { throw panic_error("send on closed channel"); }
void throw_close_of_nil() { throw panic_error("close of nil channel"); }
void throw_makechan_size() { throw panic_error("makechan: size out of range"); }
void throw_outside_run(const char* op) {
  throw std::logic_error(std::string("gofer: ") + op +
                         " would block outside a goroutine; call it inside gofer::run");
}

}  // namespace gofer::detail
