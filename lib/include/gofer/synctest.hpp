// gofer/synctest.hpp — Go's testing/synctest: virtual time in a bubble of goroutines.
//
//   synctest::run   synctest.Run: runs f in a new goroutine inside a bubble and waits until
//                   every goroutine of the bubble has ended
//   synctest::wait  synctest.Wait: waits until every other goroutine of the caller's bubble
//                   is durably blocked
//   (gofer::now(), time.hpp, reads the bubble's clock inside a bubble)
//
// A *bubble* is the goroutine started by run and every goroutine started, transitively, by
// its members. Inside it, time is virtual: sleep, after, tick, timer, ticker and context
// deadlines (with_timeout, with_deadline) use the bubble's clock, which starts at
// 946,684,800 s since steady_clock's epoch (2000-01-01T00:00:00Z as Unix time, Go's start)
// and moves only when every member is *durably blocked*: then it jumps to the next timer of
// the bubble and fires every timer due then. A test of a one-hour timeout runs in
// microseconds, and its timers fire in deadline order, every run.
//
// Durably blocked (Go 1.25's list): a send or receive on a channel made in the bubble, a
// select whose channels were all made in the bubble (select {} too), a nil channel, sleep,
// a timer or ticker channel of the bubble, wait_group::wait, cond::wait, synctest::wait.
// Dumps show those channel waits as Go does: "chan receive (durable)", "chan send
// (durable)", "select (durable)". NOT durably blocked (the bubble stays awake, time does
// not move): a wait on a channel made outside the bubble (an outsider may wake it), mutex
// and rw_mutex locks (the holder may be outside), network I/O, future::get (a future is
// not tied to a bubble), gofer::blocking, running or runnable.
//
// Isolation (Go's): a channel, timer or ticker made by a member belongs to the bubble (so
// do after/tick channels and the done channel of a context made inside; cancelling such a
// context from outside is allowed, its cancel closes the channel unchecked). Using one
// from outside — run's caller, another bubble, a plain goroutine, a thread — panics:
// "send on synctest channel from outside bubble" (send, try_send), "receive on ..." (recv,
// try_recv, range-for), "close of ...", "select on ..." (a select with any such case);
// timer and ticker stop and reset: "stop of synctest timer from outside bubble", "reset
// of ...". The root fires the bubble's timers as a member would (a timer's send, a
// deadline's cancel, a goroutine a timer callback starts belong to it).
// Destroying one outside is allowed. A member may use channels made outside.
//
// Network deadlines: a socket deadline set inside a bubble (conn and raw_fd set_*deadline)
// is read on the bubble's clock and waited for in real time, as Go's SetDeadline does
// (time.Until(t) on the caller's clock, then that long on the runtime's clock):
// set_read_deadline(gofer::now() + 50ms) fails a read after 50 ms of real time, while the
// bubble's clock stands still (network I/O is not durable). A deadline set outside the
// bubble is a real instant, as everywhere. Sockets are not tied to a bubble.
//
//   event \ bubble state        | some member not durably   | every member durably blocked
//                               | blocked (active)          | (idle)
//   a member parks durably      | stays active, or idle     | -
//   a member is woken / spawned | active                    | active
//   idle, a timer due now       | -                         | it fires (time stays)
//   idle, a synctest::wait      | -                         | the waiter returns
//   idle, a later timer         | -                         | clock jumps to it; it fires
//   idle, no timer              | -                         | deadlock: run panics
//   idle, f returned, members   | -                         | deadlock ("main bubble
//     left                      |                           |  goroutine has exited ...")
//   every member ended          | run returns               | run returns
//
// Rules (Go's) and their panics (gofer::panic_error, Go's texts):
//   - run from inside a bubble: "synctest.Run called from within a synctest bubble".
//   - wait outside a bubble: "goroutine is not in a bubble"; two members in wait at once:
//     "wait already in progress".
//   - Deadlock: when every member is durably blocked and no timer is pending, run unwinds
//     every member (their destructors run, as in shutdown) and then panics with
//     "deadlock: all goroutines in bubble are blocked" followed by the dump of the members
//     (where each one waits). Once f has returned time stops; members still blocked then
//     make it "deadlock: main bubble goroutine has exited but blocked goroutines remain".
//   - Timers left in the bubble when its last member ends never fire.
//
// Differences from Go:
//   - Using a bubble's channel or timer from outside is a recoverable panic_error, where Go
//     1.25 makes it a fatal error (1.24 panicked).
//   - wait_group and cond are not tied to a bubble: a wait on one is always durable (Go:
//     a WaitGroup is durable only if Add was called in the bubble; waking a Cond waiter
//     from outside is fatal).
//   - The bubble's clock is steady_clock's type (gofer has no wall clock): its time_since_
//     epoch() at the start is exactly 946,684,800 s.
//   - std::chrono clocks read by user code are real: use gofer::now().
//   - run's caller (outside the bubble) must be a goroutine; run is not synctest.Test: it
//     takes no *testing.T (wrap it in gofer::testing::run to turn its panic into a result).
//
// Memory ordering: everything a member did before it blocked happens-before the clock
// advances past it and before wait() returns; a member's end happens-before run returns.
// Thread-safety: run and wait from goroutines (any thread count); run throws
// std::logic_error outside a goroutine. Cost when no bubble exists: one untaken branch
// where a goroutine spawns, parks, wakes, ends and reads the clock, where a channel is made
// and where a channel operation starts (a test of the channel's bubble id, 0), and the
// choice of the wait reason where one parks (bench/RESULTS.md: ~1% of a ping-pong round
// trip in callgrind instructions, nothing measurable for spawn).
//
// Example (a one-hour timeout, tested in microseconds):
//   gofer::synctest::run([] {
//     auto [ctx, cancel] = gofer::with_timeout(gofer::background(), std::chrono::hours(1));
//     ctx.done().recv();                       // the clock jumps one hour ahead
//     assert(absl::IsDeadlineExceeded(ctx.err()));
//     cancel();
//   });
#pragma once

#include <functional>

#include "gofer/detail/source_location.hpp"

namespace gofer::synctest {

// synctest.Run(f): runs f in a new goroutine in a new bubble and returns when every
// goroutine of the bubble has ended. Panics (see above) on a deadlock or when called inside
// a bubble; std::logic_error outside a goroutine.
void run(std::function<void()> f, gofer::source_location where = gofer::source_location::current());

// synctest.Wait(): returns once every other goroutine of the caller's bubble has ended or
// is durably blocked. Does not advance the clock. Panics outside a bubble and when another
// member is already waiting.
void wait(gofer::source_location where = gofer::source_location::current());

}  // namespace gofer::synctest
