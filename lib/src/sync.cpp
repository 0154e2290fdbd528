// lib/src/sync.cpp — wait_group, mutex, rw_mutex, cond.
//
// Each primitive keeps its state and its FIFO of parked waiters under one short spinlock
// (never held while parking). Whoever releases waiters claims them under that lock
// (waitq::dequeue_claimed), hands them what they waited for (the lock, a read slot, a
// wake-up) and unparks them after unlocking — never wake a goroutine while holding a lock.
// Handing the lock itself to the woken waiter (rather than letting it race for it) makes
// mutex and rw_mutex FIFO-fair, like Go's starvation mode.
#include "gofer/sync.hpp"

#include "gofer/chan.hpp"
#include "gofer/panic.hpp"

namespace gofer {

namespace detail {

bool wait_in(spinlock& l, waitq& q, wait_reason why, const void* on, const char* op,
             gofer::source_location where) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  goroutine* g = current_goroutine();
  if (g == nullptr) {
    l.unlock();
    throw_outside_run(op);
  }
  waiter w;
  w.g = g;
  begin_wait(g);
  q.push_back(&w);
  l.unlock();
  park(g, why, on, where);
  if (woken_by_shutdown(g)) {
    {
      spinlock_guard lk(l);
      if (w.queued) q.remove(&w);
    }
    throw_goroutine_exit();
  }
  return w.success;
}

namespace {

// Claims the first live waiter of q (lock held) and marks it released; nullptr if none.
goroutine* release_one(waitq& q) {
  waiter* w = q.dequeue_claimed();
  if (w == nullptr) return nullptr;
  w->success = true;
  set_fired(w->g, w);
  return w->g;
}

// Claims every live waiter of q (lock held), chaining them through `next` for wake_all.
waiter* release_all(waitq& q, std::int64_t* count = nullptr) {
  waiter* wake = nullptr;
  while (waiter* w = q.dequeue_claimed()) {
    w->success = true;
    set_fired(w->g, w);
    w->next = wake;
    wake = w;
    if (count != nullptr) ++*count;
  }
  return wake;
}

void wake_all(waiter* wake) {
  while (wake != nullptr) {
    waiter* next = wake->next;  // read before unpark: the goroutine may free `wake` at once
    unpark(wake->g);
    wake = next;
  }
}

}  // namespace
}  // namespace detail

// ---- wait_group ----

void wait_group::add(std::int64_t delta) {
  detail::waiter* wake = nullptr;
  lock_.lock();
  std::int64_t v = count_ + delta;
  if (v < 0) {
    lock_.unlock();
    throw panic_error("sync: negative WaitGroup counter");
  }
  count_ = v;
  if (v == 0) wake = detail::release_all(waiters_);
  lock_.unlock();
  detail::wake_all(wake);
}

void wait_group::wait(gofer::source_location where) {
  lock_.lock();
  if (count_ == 0) {
    lock_.unlock();
    return;
  }
  detail::wait_in(lock_, waiters_, detail::wait_reason::sync_waitgroup_wait, this, "wait_group::wait",
                  where);
}

std::int64_t wait_group::count() const noexcept {
  detail::spinlock_guard lk(lock_);
  return count_;
}

// ---- mutex ----

void mutex::lock(gofer::source_location where) {
  detail::safe_point();
  lock_.lock();
  if (!locked_) {
    locked_ = true;
    lock_.unlock();
    return;
  }
  // unlock() hands the mutex to us: locked_ stays true across the hand-over.
  detail::wait_in(lock_, waiters_, detail::wait_reason::sync_mutex_lock, this, "mutex::lock", where);
}

bool mutex::try_lock() noexcept {
  detail::spinlock_guard lk(lock_);
  if (locked_) return false;
  locked_ = true;
  return true;
}

void mutex::unlock() {
  lock_.lock();
  if (!locked_) {
    lock_.unlock();
    if (detail::runtime_stopping()) return;  // see the header: unwinding cond::wait
    detail::fatal_error("sync: unlock of unlocked mutex");
  }
  detail::goroutine* next = detail::release_one(waiters_);
  if (next == nullptr) locked_ = false;
  lock_.unlock();
  if (next != nullptr) detail::unpark(next);
}

// ---- rw_mutex ----

void rw_mutex::lock(gofer::source_location where) {
  detail::safe_point();
  lock_.lock();
  if (!writer_ && readers_ == 0) {
    writer_ = true;
    lock_.unlock();
    return;
  }
  detail::wait_in(lock_, writers_waiting_, detail::wait_reason::sync_rwmutex_lock, this, "rw_mutex::lock",
                  where);
}

bool rw_mutex::try_lock() noexcept {
  detail::spinlock_guard lk(lock_);
  if (writer_ || readers_ != 0) return false;
  writer_ = true;
  return true;
}

void rw_mutex::unlock() {
  lock_.lock();
  if (!writer_) {
    lock_.unlock();
    if (detail::runtime_stopping()) return;
    detail::fatal_error("sync: Unlock of unlocked RWMutex");
  }
  writer_ = false;
  // Readers that queued behind this writer go first, then the next writer.
  detail::waiter* readers = detail::release_all(readers_waiting_, &readers_);
  detail::goroutine* w = nullptr;
  if (readers == nullptr && (w = detail::release_one(writers_waiting_)) != nullptr) writer_ = true;
  lock_.unlock();
  detail::wake_all(readers);
  if (w != nullptr) detail::unpark(w);
}

void rw_mutex::lock_shared(gofer::source_location where) {
  detail::safe_point();
  lock_.lock();
  // Writer preference: a waiting writer keeps new readers out.
  if (!writer_ && writers_waiting_.empty()) {
    ++readers_;
    lock_.unlock();
    return;
  }
  // unlock() counts us in readers_ before waking us.
  detail::wait_in(lock_, readers_waiting_, detail::wait_reason::sync_rwmutex_rlock, this,
                  "rw_mutex::lock_shared", where);
}

bool rw_mutex::try_lock_shared() noexcept {
  detail::spinlock_guard lk(lock_);
  if (writer_ || !writers_waiting_.empty()) return false;
  ++readers_;
  return true;
}

void rw_mutex::unlock_shared() {
  lock_.lock();
  if (readers_ <= 0) {
    lock_.unlock();
    if (detail::runtime_stopping()) return;
    detail::fatal_error("sync: RUnlock of unlocked RWMutex");
  }
  detail::goroutine* w = nullptr;
  if (--readers_ == 0 && (w = detail::release_one(writers_waiting_)) != nullptr) writer_ = true;
  lock_.unlock();
  if (w != nullptr) detail::unpark(w);
}

// ---- cond ----

void cond::wait(gofer::source_location where) {
  detail::goroutine* g = detail::current_goroutine_or_throw("cond::wait");
  detail::waiter w;
  w.g = g;
  sl_.lock();
  detail::begin_wait(g);
  waiters_.push_back(&w);  // queued before L is released: no lost signal
  sl_.unlock();
  unlock_(l_);
  detail::park(g, detail::wait_reason::sync_cond_wait, this, where);
  if (detail::woken_by_shutdown(g)) {
    {
      detail::spinlock_guard lk(sl_);
      if (w.queued) waiters_.remove(&w);
    }
    detail::throw_goroutine_exit();  // without re-locking L: see the header
  }
  lock_(l_, where);
}

void cond::signal() {
  sl_.lock();
  detail::goroutine* g = detail::release_one(waiters_);
  sl_.unlock();
  if (g != nullptr) detail::unpark(g);
}

void cond::broadcast() {
  sl_.lock();
  detail::waiter* wake = detail::release_all(waiters_);
  sl_.unlock();
  detail::wake_all(wake);
}

}  // namespace gofer
