// lib/src/park.cpp — the park layer (gofer/detail/park.hpp): the claim protocol, park and
// unpark, the wait queues and the shutdown-leave step (wait_in, built on them, is inline in
// the header).
//
// The hand-over that makes parking race-free: park() marks the goroutine parked under its
// park_lock and suspends with context::suspend(lock), which releases the lock only after
// the goroutine's stack has been switched out. unpark() takes the same lock, so when it
// sees `parked` the goroutine is fully suspended and may be scheduled on any thread. An
// unpark() that comes before park() leaves wake_pending, and park() then returns at once.
// The lock object handed to suspend() is the worker's (worker::park_lk), never a local:
// Boost's unlock writes to it once more *after* releasing park_lock, when the goroutine
// may already run elsewhere and reuse its stack (the select_bench fan_in abort).
#include <stdexcept>
#include <string>

#include "gofer/detail/park.hpp"

#include "detail/eh_swap.hpp"
#include "detail/runtime.hpp"
#include "detail/synctest_impl.hpp"

namespace gofer::detail {

goroutine* current_goroutine() noexcept {
  worker* w = current_worker();
  return w != nullptr ? w->current : nullptr;  // worker::current: what pick_next switched to
}

goroutine* current_goroutine_or_throw(const char* op) {
  goroutine* g = current_goroutine();
  if (g == nullptr) {
    throw_outside_run(op);
  }
  return g;
}

// ---- the claim protocol ---------------------------------------------------------------

void begin_wait(goroutine* g) noexcept {
  g->fired = nullptr;
  g->shutdown_woken = false;
  // seq_cst: pairs with begin_shutdown()'s stopping store + scan (see park()).
  g->claim.store(0, std::memory_order_seq_cst);
}

bool try_claim(goroutine* g) noexcept {
  std::uint32_t open = 0;
  return g->claim.compare_exchange_strong(open, 1, std::memory_order_acq_rel);
}

void set_fired(goroutine* g, waiter* w) noexcept { g->fired = w; }
waiter* fired(goroutine* g) noexcept { return g->fired; }
bool woken_by_shutdown(goroutine* g) noexcept { return g->shutdown_woken; }

namespace {
// park(), and (self_claim == false) park_through_shutdown(), which skips the shutdown
// self-claim below: for a wait whose wake-up is certain even during shutdown.
void park_impl(goroutine* g, wait_reason why, gofer::source_location where,
               bool self_claim) noexcept {
  g->parked_since_ms.store(coarse_now_ms(), std::memory_order_relaxed);
  if (__builtin_expect(g_tracing, false)) trace_park(g, why);
  g->where.store(where, std::memory_order_relaxed);  // published by the release store below
  g->reason.store(why, std::memory_order_release);
  // Shutdown started after begin_wait? Then nobody may ever claim us: claim ourselves.
  // (Either we see `stopping` here, or begin_shutdown's scan sees our open claim: both
  // sides are seq_cst, store-then-load.)
  runtime* rt = current_runtime();
  if (self_claim && rt != nullptr && rt->stopping.load(std::memory_order_seq_cst) && try_claim(g)) {
    g->shutdown_woken = true;
    g->reason.store(wait_reason::none, std::memory_order_relaxed);
    return;
  }
  {
    eh_swap eh;
    // The lock object is this worker's, not a local: see worker::park_lk.
    worker* w = current_worker();
    boost::fibers::detail::spinlock_lock& lk = w->park_lk;
    lk = boost::fibers::detail::spinlock_lock(g->park_lock);
    if (g->wake_pending) {
      g->wake_pending = false;
      lk.unlock();
    } else {
      g->parked = true;
      if (__builtin_expect(g->bub_member, false)) bubble_on_park(g, why);  // synctest.cpp
      // pick_next (called inside suspend) detaches us from this thread: see scheduler.cpp.
      w->parking = g->ctx;
      // Boost unlocks park_lock after the switch, in uninstrumented code: tell TSan.
      tsan_release(&g->park_lock);
      g->ctx->suspend(lk);  // releases park_lock after the switch; may resume on another thread
      // Nothing here may touch `lk` or `w`: we may run on another thread now.
    }
  }
  g->reason.store(wait_reason::none, std::memory_order_relaxed);
}
}  // namespace

void park(goroutine* g, wait_reason why, gofer::source_location where) noexcept {
  park_impl(g, why, where, true);
}
void park_through_shutdown(goroutine* g, wait_reason why, gofer::source_location where) noexcept {
  park_impl(g, why, where, false);
}

void unpark(goroutine* g) noexcept {
  boost::fibers::detail::spinlock_lock lk(g->park_lock);
  if (!g->parked) {
    g->wake_pending = true;
    return;
  }
  g->parked = false;
  ++g->unparks;
  if (__builtin_expect(g->bub_durable, false)) bubble_on_unpark(g);  // synctest.cpp
  lk.unlock();
  if (__builtin_expect(g_tracing, false)) trace_unpark(g);
  // g is detached (pick_next detached it as it parked) and now ours to make ready, on the
  // waker's worker (Go's ready()): into runnext when a goroutine readies it, so a hand-off
  // runs on the waker's thread next; at the back of the run queue when the dispatcher does
  // (timers, the poller); through the injection queue from a thread that is no worker
  // (gofer::blocking's threads, foreign threads).
  worker* w = current_worker();
  if (w != nullptr) {
    w->make_ready(g->ctx, w->current != nullptr);  // readied by a goroutine: runnext
    return;
  }
  runtime* rt = current_runtime();
  // Counted before g can run: g may be main, which may return, and run() then destroys rt
  // while we are still in wake_one_idle (TSan: debug_no_deadlock.detector_off_main_released_
  // by_a_plain_thread). The increment happens-before g runs (the injection queue orders
  // it), hence before run() sees main_done and loads foreign_wakers; that load reads 0
  // only from our release decrement, after our last access to rt.
  rt->foreign_wakers.fetch_add(1, std::memory_order_relaxed);
  rt->inject.enqueue(g->ctx);
  rt->wake_one_idle();
  rt->foreign_wakers.fetch_sub(1, std::memory_order_release);
}

void throw_goroutine_exit() { throw goroutine_exit{}; }

void throw_outside_run(const char* op) {
  throw std::logic_error(std::string("gofer: ") + op +
                         " would block outside a goroutine; call it inside gofer::run");
}

void block_forever(wait_reason why, gofer::source_location where) {
  goroutine* g = current_goroutine_or_throw("blocking forever (nil channel or empty select)");
  begin_wait(g);
  park(g, why, where);
  // Only the runtime's shutdown claims a goroutine that waits on nothing.
  throw_goroutine_exit();
}

bool claim_for_shutdown(goroutine* g) noexcept {
  if (!try_claim(g)) return false;
  g->shutdown_woken = true;
  return true;
}

// ---- wait queues ----

void waitq::push_back(waiter* w) noexcept {
  w->next = nullptr;
  w->prev = tail_;
  if (tail_ != nullptr) tail_->next = w;
  else head_ = w;
  tail_ = w;
  w->queued = true;
}

void waitq::push_front(waiter* w) noexcept {
  w->prev = nullptr;
  w->next = head_;
  if (head_ != nullptr) head_->prev = w;
  else tail_ = w;
  head_ = w;
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

// ---- the waiting side ----

void leave_if_shutdown(spinlock& l, waitq* q, waiter& w) {
  if (!woken_by_shutdown(w.g)) return;
  {
    spinlock_guard lk(l);
    if (w.queued) q->remove(&w);
  }
  throw_goroutine_exit();
}

}  // namespace gofer::detail
