// lib/src/sync.cpp — wait_group.
//
// wait_group keeps its counter and its FIFO of parked waiters under one short spinlock.
// The waiter that reaches zero claims every queued waiter under the lock and wakes them
// after unlocking (never wake a goroutine while holding a lock).
#include "gofer/sync.hpp"

#include "gofer/chan.hpp"
#include "gofer/panic.hpp"

namespace gofer {

void wait_group::add(std::int64_t delta) {
  detail::waiter* wake = nullptr;
  lock_.lock();
  std::int64_t v = count_ + delta;
  if (v < 0) {
    lock_.unlock();
    throw panic_error("sync: negative WaitGroup counter");
  }
  count_ = v;
  if (v == 0) {
    while (detail::waiter* w = waiters_.dequeue_claimed()) {
      w->success = true;
      detail::set_fired(w->g, w);
      w->next = wake;
      wake = w;
    }
  }
  lock_.unlock();
  while (wake != nullptr) {
    detail::waiter* next = wake->next;
    detail::unpark(wake->g);
    wake = next;
  }
}

void wait_group::wait() {
  lock_.lock();
  if (count_ == 0) {
    lock_.unlock();
    return;
  }
  detail::goroutine* g = detail::current_goroutine();
  if (g == nullptr) {
    lock_.unlock();
    detail::throw_outside_run("wait_group::wait");
  }
  detail::waiter w;
  w.g = g;
  detail::begin_wait(g);
  waiters_.push_back(&w);
  lock_.unlock();
  detail::park(g, detail::wait_reason::sync_waitgroup_wait, this);
  if (detail::woken_by_shutdown(g)) {
    {
      detail::spinlock_guard lk(lock_);
      if (w.queued) waiters_.remove(&w);
    }
    detail::throw_goroutine_exit();
  }
}

std::int64_t wait_group::count() const noexcept {
  detail::spinlock_guard lk(lock_);
  return count_;
}

}  // namespace gofer
