// lib/src/sync.cpp — wait_group, mutex, rw_mutex, cond.
//
// Each primitive keeps its state and its FIFO of parked waiters under one short spinlock
// (never held while parking), and waits and wakes through the park layer
// (gofer/detail/park.hpp): wait_in to wait; release_one/release_all under the lock, then
// unpark/wake_all after unlocking, to hand waiters what they waited for (the lock, a read
// slot, a wake-up).
// rw_mutex hands the lock itself to the woken waiter (rather than letting it race for it),
// which makes it FIFO-fair; mutex follows Go's two modes (see its section below).
#include "gofer/sync.hpp"

#include <chrono>

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
//
// Go's sync.Mutex (src/sync/mutex.go, Go 1.19) with its state word (locked, woken, starving,
// waiter count) kept under lock_ instead of in one CAS'd integer; the waiter count is the
// queue itself. The decisions are Go's, made under lock_:
//   lock:   unlocked -> take it. Locked in normal mode and canSpin -> announce ourselves
//           (woken_, so unlock wakes nobody needlessly), release lock_, spin, retry.
//           Else park: at the back the first time, at the front after losing a race; if we
//           have waited > 1 ms and lose again, switch to starvation mode first.
//   unlock: normal mode -> unlocked; wake the first waiter (success = false: "compete")
//           unless one is woken already. Starvation mode -> hand the mutex (still locked)
//           to the first waiter (success = true: "it is yours").
// A woken waiter clears woken_ when it takes the mutex or parks again, so at most one
// competes and a later unlock wakes the next one: no lost wake-up, since every decision
// to wake or not and every decision to park is made under lock_.

namespace {
constexpr std::chrono::nanoseconds kStarvationThreshold = std::chrono::milliseconds(1);
}  // namespace

void mutex::lock(gofer::source_location where) {
  detail::safe_point();
  lock_.lock();
  // starving_ implies locked_ (a hand-off keeps it locked): one test covers both.
  if (!locked_.load(std::memory_order_relaxed)) {
    locked_.store(true, std::memory_order_relaxed);
    lock_.unlock();
    return;
  }
  lock_slow(where);
}

// Read without lock_, by a spinning locker only: relaxed loads, because nothing is
// concluded from them but "worth another look under lock_". A stale "locked" costs one more
// spin round; a stale "unlocked" one lock_ round trip; acquiring always happens under lock_,
// whose acquire orders the previous holder's writes before ours.
bool mutex::spin_worthwhile() const noexcept {
  return locked_.load(std::memory_order_relaxed) && !starving_.load(std::memory_order_relaxed);
}

void mutex::lock_slow(gofer::source_location where) {
  bool awoke = false;     // we own woken_: unlock woke us, or we set it to spin
  bool starving = false;  // we have waited more than 1 ms (Go's local `starving`)
  bool requeue = false;   // we have parked before: queue at the front (Go's queueLifo)
  int iter = 0;
  std::chrono::steady_clock::time_point since{};
  for (;;) {  // lock_ held at the top of every iteration
    if (!locked_.load(std::memory_order_relaxed)) {
      locked_.store(true, std::memory_order_relaxed);
      if (awoke) woken_ = false;
      lock_.unlock();
      return;
    }
    if (!starving_.load(std::memory_order_relaxed) && detail::mutex_can_spin(iter)) {
      // Tell unlock not to wake a waiter: we are here to take it.
      if (!awoke && !woken_ && !waiters_.empty()) {
        woken_ = true;
        awoke = true;
      }
      lock_.unlock();
      do {
        detail::mutex_do_spin();
        ++iter;
      } while (spin_worthwhile() && detail::mutex_can_spin(iter));
      lock_.lock();
      continue;
    }
    // Park. Locked here: a waiter that waited > 1 ms and lost switches to starvation mode.
    if (starving) starving_.store(true, std::memory_order_relaxed);
    if (awoke) woken_ = false;
    if (!requeue) since = std::chrono::steady_clock::now();
    detail::waiter w;
    bool handed = detail::wait_in(lock_, waiters_, w, detail::wait_reason::sync_mutex_lock,
                                  "mutex::lock", where, requeue);
    starving = starving || std::chrono::steady_clock::now() - since > kStarvationThreshold;
    if (handed) {
      // Starvation mode: unlock handed us the mutex, locked_ stayed true. Leave starvation
      // mode if we did not starve or nobody is left behind us (Go: "it is the last waiter
      // or it waited less than 1 ms").
      lock_.lock();
      if (!starving || waiters_.empty()) starving_.store(false, std::memory_order_relaxed);
      lock_.unlock();
      return;
    }
    // Normal mode: woken to compete (unlock set woken_ for us).
    awoke = true;
    requeue = true;
    iter = 0;
    lock_.lock();
  }
}

bool mutex::try_lock() noexcept {
  detail::spinlock_guard lk(lock_);
  // starving_ implies locked_ (a hand-off keeps it locked): one test covers both.
  if (locked_.load(std::memory_order_relaxed)) return false;
  locked_.store(true, std::memory_order_relaxed);
  return true;
}

void mutex::unlock() {
  lock_.lock();
  if (!locked_.load(std::memory_order_relaxed)) {
    lock_.unlock();
    if (detail::runtime_stopping()) return;  // see the header: unwinding cond::wait
    detail::fatal_error("sync: unlock of unlocked mutex");
  }
  detail::waiter* next = nullptr;
  if (starving_.load(std::memory_order_relaxed)) {
    // Hand-off: the mutex stays locked and belongs to the first waiter.
    next = detail::release_one(waiters_, /*success=*/true);
    if (next == nullptr) {  // every waiter left (shutdown): back to normal, unlocked
      starving_.store(false, std::memory_order_relaxed);
      locked_.store(false, std::memory_order_relaxed);
    }
  } else {
    locked_.store(false, std::memory_order_relaxed);
    // empty() first: the uncontended unlock makes no call.
    if (!woken_ && !waiters_.empty() &&
        (next = detail::release_one(waiters_, /*success=*/false)) != nullptr)
      woken_ = true;
  }
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
