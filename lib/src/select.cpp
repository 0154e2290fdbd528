// lib/src/select.cpp — Go's selectgo on gofer's channels.
//
// The protocol (Go's src/runtime/select.go, with gofer's claim word):
//
//   Poll order. A uniformly random permutation of the non-nil cases (inside-out
//   Fisher–Yates with a per-thread xorshift, each 64-bit draw split into two 32-bit halves,
//   reduced to a range by multiply-shift as Go's cheaprandn does, not by a division; the
//   first case needs no draw). Pass 1 takes the first ready case in this order,
//   which makes the choice among ready cases uniform.
//
//   Lock order. The distinct channels sorted by address (an insertion sort: selects have a
//   handful of cases); each is locked once even if several cases use it. Every multi-channel locker in gofer uses this order, so two
//   selects over the same channels cannot deadlock. Single operations hold one lock only.
//
//   Pass 1 (all locks held): walk the poll order; the first case whose operation can
//   proceed (chan_impl<T>::send_locked / recv_locked: a parked peer, buffer data or room,
//   or — for receive — a closed channel) is performed right there. A send case on a closed
//   channel panics when the walk reaches it. Unlock everything, wake the peer, return.
//
//   Default. Nothing ready and a default case: unlock everything, return "default".
//
//   Pass 2: begin_wait(G) opens G's claim word; one waiter per case (on this frame, which
//   lives until select returns) is linked into its channel's send or receive queue, in
//   poll order. Go links its waiters in lock order, whose ties (cases on one channel) come
//   from the random poll order; linking in argument order instead made the first of
//   several parked cases on one channel win every time a peer arrived later (issue 13).
//   Poll order randomizes the cases on one channel just the same, and waiters on distinct
//   channels sit in distinct queues, so their relative order does not matter. Unlock
//   everything and park.
//
//   The claim. Whoever wants to complete one of these waiters — a sender, a receiver, a
//   closer, or the runtime's shutdown — first CASes G's claim word open → claimed
//   (waitq::dequeue_claimed). Exactly one succeeds: it performs that case's transfer,
//   records the waiter with set_fired, and unparks G after releasing its lock. Every other
//   waker finds the word claimed, unlinks that stale waiter and moves on to its queue's
//   next waiter, so no value is lost or delivered twice.
//
//   Pass 3 (after waking): lock all channels again (address order) and unlink every waiter
//   that is still queued (the losers), unlock. The fired waiter names the chosen case; a
//   fired send waiter with success == false means the channel was closed: panic.
//
// Nothing but T's move runs under the channel locks: handlers run in the template after
// select_impl returned.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "gofer/select.hpp"

#include "detail/random.hpp"

namespace gofer::detail {

namespace {

std::uint64_t next_random() noexcept {
  // Schedule exploration: the run's seeded generator (one thread), so a seed replays.
  if (__builtin_expect(g_sched_random, false)) return sched_random();
  // A thread-local xorshift64*; read and written between two switches only.
  static thread_local std::uint64_t s = 0;
  if (s == 0) s = reinterpret_cast<std::uintptr_t>(&s) * 0x9E3779B97F4A7C15ULL | 1;
  return xorshift64star(s);
}

// The distinct channels of the cases in lock (address) order.
struct lock_set {
  chan_base** chans;
  std::size_t n = 0;

  void lock_all() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (std::size_t i = 0; i < n; ++i) chans[i]->lock.lock();
  }
  void unlock_all() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (std::size_t i = n; i-- > 0;) chans[i]->lock.unlock();
  }
};

// Sorts chans[0, n) by address and drops duplicates; returns the distinct count. Selects
// have a handful of cases: an insertion sort costs a few instructions there, where
// std::sort + std::unique cost ~80 per select at two cases (calls, a memmove).
std::size_t sort_unique(chan_base** chans, std::size_t n) noexcept {
  if (n == 2) {  // the common select: two channels
    if (chans[0] == chans[1]) return 1;
    if (std::less<chan_base*>()(chans[1], chans[0])) std::swap(chans[0], chans[1]);
    return 2;
  }
  if (n > 16) {
    std::sort(chans, chans + n, std::less<chan_base*>());
    return static_cast<std::size_t>(std::unique(chans, chans + n) - chans);
  }
  for (std::size_t i = 1; i < n; ++i) {
    chan_base* c = chans[i];
    std::size_t j = i;
    for (; j > 0 && std::less<chan_base*>()(c, chans[j - 1]); --j) chans[j] = chans[j - 1];
    chans[j] = c;
  }
  std::size_t m = n == 0 ? 0 : 1;  // chans[0, m) is distinct
  for (std::size_t i = 1; i < n; ++i) {
    if (chans[i] != chans[m - 1]) chans[m++] = chans[i];
  }
  return m;
}

}  // namespace

std::size_t select_impl(select_case_rt* cases, waiter* waiters, std::size_t n, bool has_default,
                        gofer::source_location where) {
  safe_point();
  // Poll order over the non-nil cases; lock order over their distinct channels.
  std::size_t order_buf[64];
  chan_base* chan_buf[64];
  std::unique_ptr<std::size_t[]> order_heap;
  std::unique_ptr<chan_base*[]> chan_heap;
  std::size_t* order = order_buf;
  chan_base** chans = chan_buf;
  if (n > 64) {
    order_heap.reset(new std::size_t[n]);
    chan_heap.reset(new chan_base*[n]);
    order = order_heap.get();
    chans = chan_heap.get();
  }
  std::size_t live = 0;
  std::uint32_t bubbles = 0;  // the bubble ids of the channels, or'ed: 0 when none is bubbled
  if (__builtin_expect(g_sched_random, false)) {
    // Schedule exploration: one draw per case, as recorded seeds expect.
    for (std::size_t i = 0; i < n; ++i) {
      if (cases[i].c == nullptr) continue;  // nil channel: never ready
      bubbles |= cases[i].c->bubble;
      std::size_t j = static_cast<std::size_t>(((next_random() >> 32) * (live + 1)) >> 32);
      order[live] = order[j];
      order[j] = i;
      chans[live] = cases[i].c;
      ++live;
    }
  } else {
    // One 64-bit draw serves two cases (its halves), and the first live case needs none
    // (j is 0): a two-case select draws once, not twice (~35 instructions a draw).
    std::uint64_t bits = 0;
    bool half = false;  // bits holds one unused 32-bit half (the low one)
    for (std::size_t i = 0; i < n; ++i) {
      if (cases[i].c == nullptr) continue;  // nil channel: never ready
      bubbles |= cases[i].c->bubble;
      std::size_t j = 0;
      if (live != 0) {
        std::uint64_t u;
        if (half) {
          u = bits & 0xffffffffu;
        } else {
          bits = next_random();
          u = bits >> 32;
        }
        half = !half;
        // j uniform in [0, live] by multiply-shift (Go's cheaprandn), not a division.
        j = static_cast<std::size_t>((u * (live + 1)) >> 32);
      }
      order[live] = order[j];
      order[j] = i;
      chans[live] = cases[i].c;
      ++live;
    }
  }
  if (live == 0) {
    if (has_default) return n;
    block_forever(wait_reason::select_no_cases, where);
  }
  // synctest: every bubbled channel must be the caller's bubble's (Go's "select on synctest
  // channel from outside bubble"); the wait is durable when every channel is.
  bool durable = false;
  if (__builtin_expect(bubbles != 0, false)) {
    durable = true;
    for (std::size_t i = 0; i < n; ++i) {
      if (cases[i].c == nullptr) continue;
      if (cases[i].c->bubble == 0) durable = false;
      else check_bubble(cases[i].c->bubble, "select on");
    }
  }
  lock_set locks{chans, sort_unique(chans, live)};

  // Pass 1: the first ready case in poll order.
  locks.lock_all();
  for (std::size_t k = 0; k < live; ++k) {
    select_case_rt& sc = cases[order[k]];
    goroutine* wake = nullptr;
    op_result r = sc.attempt(sc.c, sc.elem, wake);
    if (r == op_result::not_ready) continue;
    locks.unlock_all();
    if (wake != nullptr) unpark(wake);
    if (r == op_result::closed && sc.is_send) throw_send_on_closed();
    return order[k];  // done, or a receive on a closed channel (its slot stays empty)
  }
  if (has_default) {
    locks.unlock_all();
    return n;
  }

  // Pass 2: a waiter on every case, then park.
  goroutine* g = current_goroutine();
  if (g == nullptr) {
    locks.unlock_all();
    throw_outside_run("select");
  }
  begin_wait(g);
  // In poll order, not argument order: several cases on one channel then sit in its
  // queue in random order, so a peer arriving later picks each of them with equal
  // probability (Go gets the same from enqueuing in lockorder, built from pollorder).
  for (std::size_t k = 0; k < live; ++k) {
    const std::size_t i = order[k];
    select_case_rt& sc = cases[i];
    waiter& w = *::new (static_cast<void*>(&waiters[i])) waiter{};  // its lifetime starts here
    w.g = g;
    w.elem = sc.elem;
    w.index = static_cast<std::uint32_t>(i);
    w.success = false;
    (sc.is_send ? sc.c->sendq : sc.c->recvq).push_back(&w);
  }
  locks.unlock_all();
  park(g, durable ? wait_reason::select_durable : wait_reason::select, where);

  // Pass 3: unlink the waiters that did not fire.
  locks.lock_all();
  for (std::size_t i = 0; i < n; ++i) {
    select_case_rt& sc = cases[i];
    if (sc.c == nullptr || !waiters[i].queued) continue;
    (sc.is_send ? sc.c->sendq : sc.c->recvq).remove(&waiters[i]);
  }
  locks.unlock_all();

  if (woken_by_shutdown(g)) throw_goroutine_exit();
  waiter* w = fired(g);
  std::size_t chosen = w->index;
  if (cases[chosen].is_send && !w->success) throw_send_on_closed();
  return chosen;
}

}  // namespace gofer::detail
