// gofer/detail/park.hpp — the park layer: how a goroutine waits, and how exactly one waker
// wakes it. Everything that blocks (channels, select, sync, timers, the poller, futures)
// is built on this header and nothing below it; lib/src/park.cpp implements it.
//
//   goroutine        opaque runtime record of one goroutine (lib/src/detail/goroutine.hpp)
//   wait_reason      what a parked goroutine waits for (Go's wait reasons, for dumps)
//   waiter           one pending operation of a parked goroutine (Go's sudog)
//   waitq            FIFO queue of waiters, guarded by its owner's lock
//   begin_wait / park / try_claim / unpark   the claim protocol below
//   wait_in          "queue me on q, unlock, park, leave on shutdown" for one-queue waits
//                    (sync, future::get, a channel's send and receive)
//   release_one / release_all / wake_all     the waker's side: claim under the lock, wake after
//   leave_if_shutdown                        the shutdown-leave step after a park
//   block_forever    a nil channel or an empty select
//   safe_point       cooperative preemption
//
// The claim protocol (Go's selectDone, used for *every* wait, not only select):
//   1. The waiting goroutine G calls begin_wait(G): G's claim word becomes "open".
//   2. G links one waiter per pending operation into queues (under each queue's lock),
//      may arm a timer, releases the locks, and calls park(G, reason, where).
//   3. Anything that wants to complete one of G's operations (a peer on a channel, close,
//      a timer, runtime shutdown) must first win try_claim(G) — a compare-and-swap of the
//      claim word from open to claimed. Exactly one caller wins per wait. The winner
//      completes the operation (copies the value, sets waiter::success, records which
//      waiter fired), releases its own locks and then calls unpark(G). A loser must not
//      touch the waiter again: for a channel peer that means "skip this waiter, try the
//      next one in the queue" (Go's dequeue loop, waitq::dequeue_claimed).
//   4. park() returns once unpark() was called (or at once if it already was: unpark before
//      park is remembered). The winner's writes happen-before park() returns.
//   5. After waking, G removes its other, unfired waiters from their queues (select's pass
//      3). If G was claimed by the runtime's shutdown (woken_by_shutdown), G removes every
//      waiter and throws detail::goroutine_exit to unwind its stack (leave_if_shutdown).
//
// A goroutine's wait, state × operation (the claim word and the park state; goroutine.hpp):
//   op \ state      | running        | open (begin_wait) | parked, open     | claimed
//   begin_wait(G)   | -> open        | (never)           | (never)          | -> open (next wait)
//   try_claim(G)    | false          | true, -> claimed  | true, -> claimed | false
//   park(G)         | (never)        | suspends          | (never)          | returns at once if
//                   |                |                   |                  | unparked, else suspends
//   unpark(G)       | (winner only)  | (winner only)     | (winner only)    | G runnable, or the next
//                   |                |                   |                  | park returns at once
//
// Why a claim even for a single channel op: the runtime's shutdown also wakes parked
// goroutines; without one winner, a peer could copy into the stack of a goroutine that is
// already unwinding. The cost is one uncontended CAS per wake.
//
// The waker's side, always in this shape (release_* under the queue's lock, wake_all or
// unpark after unlocking — never wake a goroutine while holding a lock):
//   lock.lock();
//   waiter* woken = release_all(q);           // claims, marks success, records fired
//   lock.unlock();
//   wake_all(woken);                          // unparks each; the waiters may vanish at once
// and the waiting side, for a wait on one queue:
//   lock.lock();
//   if (!ready) ok = wait_in(lock, q, wait_reason::chan_recv, "future::get", where);
//
// Invariants: a waiter is in at most one queue (`queued`), on its goroutine's stack, and
// is touched by others only under its queue's lock or by the claim winner; a waiter
// chained for wake_all (through `next`) is out of its queue and claimed.
//
// Memory ordering: try_claim is acq_rel; the claim winner's writes (the value, `success`,
// set_fired) happen-before park() returns in G, through unpark's park_lock hand-over.
// begin_wait and the shutdown scan are seq_cst against `stopping` (runtime.cpp).
//
// Call sites: every public operation that may park takes a trailing
// `gofer::source_location where = gofer::source_location::current()` (one pointer, passed in a
// register) and hands it down to park(), which stores it in G's record next to the wait
// reason. dump_goroutines and the deadlock report print it as the place where G waits
// (gofer/debug.hpp). An operation implemented on top of another one (tomb::wait on a
// channel receive) passes its own caller's `where` on, so the report names the user's line,
// never gofer's. `{}` (an empty location, line 0) means "no user site" and prints no frame.
//
// Thread-safety: begin_wait/park only by G itself on G's stack; try_claim/unpark from any
// thread. Never call park() while holding a lock: a goroutine may resume on another thread.
#pragma once

#include <atomic>

#include <cstddef>
#include <cstdint>
#include "gofer/detail/source_location.hpp"

#include "absl/base/thread_annotations.h"
#include "gofer/detail/spinlock.hpp"

namespace gofer::detail {

struct goroutine;

// Go's waitReasonStrings, for the goroutine dump and the deadlock report.
enum class wait_reason : std::uint8_t {
  none,
  chan_send,
  chan_recv,
  chan_send_nil,
  chan_recv_nil,
  select,
  select_no_cases,
  sleep,
  sync_mutex_lock,
  sync_rwmutex_rlock,
  sync_rwmutex_lock,
  sync_waitgroup_wait,
  sync_cond_wait,
  io_wait,
  synctest_run,   // the caller of synctest::run, waiting for its bubble
  synctest_wait,  // synctest::wait
  // Go 1.25's: a send, receive or select whose channels all belong to the waiter's synctest
  // bubble (gofer/synctest.hpp); only these channel waits are durable.
  chan_send_durable,
  chan_recv_durable,
  select_durable,
};
const char* wait_reason_text(wait_reason r) noexcept;

// One pending operation of a parked goroutine. Lives on that goroutine's stack (fiber stacks
// never move), linked into one queue (a channel's send or receive queue, a mutex's, ...).
// After a claim winner took it out of its queue, `next` chains it for wake_all.
struct waiter {
  waiter* next = nullptr;  // queue links, guarded by the owning queue's lock
  waiter* prev = nullptr;
  bool queued = false;     // linked in a waitq; guarded by the owning queue's lock
  goroutine* g = nullptr;  // the parked goroutine
  void* elem = nullptr;    // send: T* to move from; receive: std::optional<T>* to fill
  std::uint32_t index = 0; // the select case this waiter belongs to
  bool success = false;    // written by the claim winner: true = done, false = closed
};

// Intrusive FIFO of waiters. A default-constructed waitq is empty; not copyable in spirit
// (a copy would alias the waiters: never copy a non-empty one). Every member function
// requires the lock of the object that owns the queue (a channel's, a mutex's, ...).
class waitq {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  void push_back(waiter* w) noexcept;
  void push_front(waiter* w) noexcept;  // a re-queued mutex waiter (Go's queueLifo)
  void remove(waiter* w) noexcept;  // w must be queued here
  // Removes and returns the first waiter whose goroutine this caller claims (try_claim);
  // waiters whose goroutine was already claimed by someone else are unlinked and skipped.
  // nullptr if none is left.
  waiter* dequeue_claimed() noexcept;
  // The first waiter, claimed or not, or nullptr; removes nothing (the tests walk a queue
  // from it through waiter::next to count parked goroutines).
  waiter* front() const noexcept { return head_; }

 private:
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

// The goroutine running on this thread right now, or nullptr outside gofer::run.
goroutine* current_goroutine() noexcept;
// Same, but throws std::logic_error naming `op` when called outside a goroutine, where
// blocking would hang the thread instead of parking a goroutine.
goroutine* current_goroutine_or_throw(const char* op);

void begin_wait(goroutine* g) noexcept;
bool try_claim(goroutine* g) noexcept;
// Records which waiter completed the wait (nullptr for timers and shutdown). Claim winner only.
void set_fired(goroutine* g, waiter* w) noexcept;
waiter* fired(goroutine* g) noexcept;
bool woken_by_shutdown(goroutine* g) noexcept;
// Parks G (the caller) until unpark(G). `why` and `where` (the user's call that parks, see
// "Call sites" above) are recorded for dumps. Once the runtime is stopping, returns at
// once with G claimed by shutdown (woken_by_shutdown).
void park(goroutine* g, wait_reason why, gofer::source_location where) noexcept;
// Makes G runnable (on the caller's worker, into runnext when called from a goroutine).
// Only the claim winner of G's current wait calls it, once, after releasing its locks.
void unpark(goroutine* g) noexcept;

// ---- the waker's side (call with q's lock held; wake after unlocking) ----

// Claims the first live waiter of q, marks it `success` and records it as fired; returns
// it (out of q, not yet woken: unpark(w->g) after unlocking), or nullptr if none is left.
inline waiter* release_one(waitq& q, bool success = true) noexcept {
  waiter* w = q.dequeue_claimed();
  if (w == nullptr) return nullptr;
  w->success = success;
  set_fired(w->g, w);
  return w;
}
// Claims every live waiter of q the same way and pushes each onto `chain` (through
// waiter::next); returns the new chain head. Counts them into *count if given.
inline waiter* release_all(waitq& q, bool success = true, waiter* chain = nullptr,
                           std::int64_t* count = nullptr) noexcept {
  while (waiter* w = q.dequeue_claimed()) {
    w->success = success;
    set_fired(w->g, w);
    w->next = chain;
    chain = w;
    if (count != nullptr) ++*count;
  }
  return chain;
}
// Unparks every waiter of a chain from release_all. Call with no lock held.
inline void wake_all(waiter* chain) noexcept {
  while (chain != nullptr) {
    waiter* next = chain->next;  // read before unpark: the goroutine may free `chain` at once
    unpark(chain->g);
    chain = next;
  }
}

// ---- the waiting side ----

// The step after every park on a queue: if the runtime's shutdown woke w's goroutine,
// unlinks w from *q (under l) if still queued and throws goroutine_exit; else does nothing.
// q is a pointer because the caller does not hold l (a guarded queue passed by reference
// without its lock is an error to clang's -Wthread-safety).
void leave_if_shutdown(spinlock& l, waitq* q, waiter& w) ABSL_LOCKS_EXCLUDED(l);

// Cooperative preemption at safe points (Go 1.2-1.13's model; lib/src/scheduler.cpp): the
// runtime's monitor thread asks a worker whose goroutine has run for a whole time slice
// (10 ms) without a switch to give up its thread, and sets g_preempt_hint. Every gofer
// call that is a safe point (channel operations, try_*, select, mutex locks, sleep) calls
// safe_point() first, before taking any lock: one relaxed load while no worker is asked;
// else the asked goroutine yields there (to the injection queue, like gofer::yield). Never
// throws, so noexcept operations may be safe points. A loop with no gofer call at all
// still holds its thread.
extern std::atomic<bool> g_preempt_hint;
// synctest bubbles alive (lib/src/synctest.cpp): 0 keeps every bubble hook one untaken branch.
extern std::atomic<int> g_bubbles;
void preempt_slow() noexcept;
[[gnu::always_inline]] inline void safe_point() noexcept {
  if (__builtin_expect(g_preempt_hint.load(std::memory_order_relaxed), false)) preempt_slow();
}

// Go's sync_runtime_canSpin, for gofer::mutex's spin phase (lib/src/sync.cpp): true when a
// locker on iteration `iter` (0-based) may spin rather than park — fewer than 4 iterations,
// more than one CPU, a goroutine running on at least one other worker (runtime threads >
// idle + spinning-for-work workers + 1) and nothing runnable on this worker (run queue and
// runnext empty). False outside a goroutine. Reads only relaxed counters: a hint.
bool mutex_can_spin(int iter) noexcept;
// Go's sync_runtime_doSpin: 30 pause instructions.
inline void mutex_do_spin() noexcept {
  for (int i = 0; i < 30; ++i) spin_pause();
}

// Thrown by a blocking operation when the runtime shuts down (main returned): it unwinds
// the goroutine's stack so destructors run. Deliberately not a std::exception; a
// `catch (...)` that swallows it keeps the goroutine alive, so rethrow it.
struct goroutine_exit {};
[[noreturn]] void throw_goroutine_exit();

// Go's fatal error (not a panic: not catchable): prints "fatal error: <msg>" and the
// goroutine to stderr and exits with status 2.
[[noreturn]] void fatal_error(const char* msg) noexcept;
// True once main returned and the runtime is unwinding the remaining goroutines.
bool runtime_stopping() noexcept;

// "gofer: <op> would block outside a goroutine; call it inside gofer::run" as a
// std::logic_error: the one message every parking operation throws outside a goroutine.
[[noreturn]] void throw_outside_run(const char* op);

// Queues w (the caller's waiter, on its stack; the caller sets w.elem if a value moves,
// wait_in sets w.g) for the calling goroutine on q, whose guarding lock `l` the caller
// holds; releases `l` and parks. Returns w.success as set by the claim winner (a channel
// peer has also moved the value through w.elem by then). If the runtime's shutdown woke
// it: unlinks w (under `l`) and throws goroutine_exit. Outside a goroutine: releases `l`
// and throws std::logic_error naming `op`. `where` as park. Used by a channel's blocking
// send and receive, sync and future::get; select waits on several queues at once and does
// these steps itself. Inline on purpose: the library is built with -fPIC, so GCC calls
// even same-file functions through their symbols, and an out-of-line wait_in was one more
// call frame per park (+54 instructions per unbuffered ping-pong round trip, callgrind).
// `front`: queue w at the front instead of the back (a mutex waiter that was woken, lost
// the race and waits again: Go's semacquire with lifo).
[[gnu::always_inline]] inline bool wait_in(spinlock& l, waitq& q, waiter& w, wait_reason why,
                                           const char* op, gofer::source_location where,
                                           bool front = false) ABSL_UNLOCK_FUNCTION(l) {
  goroutine* g = current_goroutine();
  if (g == nullptr) {
    l.unlock();
    throw_outside_run(op);
  }
  w.g = g;
  begin_wait(g);
  if (front) q.push_front(&w);
  else q.push_back(&w);
  l.unlock();
  park(g, why, where);
  leave_if_shutdown(l, &q, w);
  return w.success;
}
// The same for a wait that moves no value (sync, future::get): a waiter of its own.
[[gnu::always_inline]] inline bool wait_in(spinlock& l, waitq& q, wait_reason why, const char* op,
                                           gofer::source_location where) ABSL_UNLOCK_FUNCTION(l) {
  waiter w;
  return wait_in(l, q, w, why, op, where);
}

// A goroutine blocked forever (nil channel, select {}): parks until shutdown, then unwinds.
[[noreturn]] void block_forever(wait_reason why, gofer::source_location where);

}  // namespace gofer::detail
