// lib/src/sync.cpp — wait_group, mutex, rw_mutex, cond.
//
// Each primitive keeps its state and its FIFO of parked waiters under one short spinlock
// (never held while parking), and waits and wakes through the park layer
// (gofer/detail/park.hpp): wait_in to wait; release_one/release_all under the lock, then
// unpark/wake_all after unlocking, to hand waiters what they waited for (the lock, a read
// slot, a wake-up).
// Handing the lock itself to the woken waiter (rather than letting it race for it) makes
// mutex and rw_mutex FIFO-fair, like Go's starvation mode.
#include "gofer/sync.hpp"

#include "gofer/chan.hpp"
#include "gofer/panic.hpp"

namespace gofer {


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
  detail::wait_in(lock_, waiters_, detail::wait_reason::sync_waitgroup_wait, "wait_group::wait",
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
  detail::wait_in(lock_, waiters_, detail::wait_reason::sync_mutex_lock, "mutex::lock", where);
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
  detail::waiter* next = detail::release_one(waiters_);
  if (next == nullptr) locked_ = false;
  lock_.unlock();
  if (next != nullptr) detail::unpark(next->g);
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
  detail::wait_in(lock_, writers_waiting_, detail::wait_reason::sync_rwmutex_lock, "rw_mutex::lock",
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
  detail::waiter* readers = detail::release_all(readers_waiting_, true, nullptr, &readers_);
  detail::waiter* w = nullptr;
  if (readers == nullptr && (w = detail::release_one(writers_waiting_)) != nullptr) writer_ = true;
  lock_.unlock();
  detail::wake_all(readers);
  if (w != nullptr) detail::unpark(w->g);
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
  detail::wait_in(lock_, readers_waiting_, detail::wait_reason::sync_rwmutex_rlock,
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
  detail::waiter* w = nullptr;
  if (--readers_ == 0 && (w = detail::release_one(writers_waiting_)) != nullptr) writer_ = true;
  lock_.unlock();
  if (w != nullptr) detail::unpark(w->g);
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
  detail::park(g, detail::wait_reason::sync_cond_wait, where);
  detail::leave_if_shutdown(sl_, &waiters_, w);  // without re-locking L: see the header
  lock_(l_, where);
}

void cond::signal() {
  sl_.lock();
  detail::waiter* w = detail::release_one(waiters_);
  sl_.unlock();
  if (w != nullptr) detail::unpark(w->g);
}

void cond::broadcast() {
  sl_.lock();
  detail::waiter* wake = detail::release_all(waiters_);
  sl_.unlock();
  detail::wake_all(wake);
}

}  // namespace gofer
