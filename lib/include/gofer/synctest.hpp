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
// Durably blocked (Go's list): a channel send or receive, select (select {} too), sleep, a
// timer or ticker channel, wait_group::wait, cond::wait, synctest::wait. NOT durably
// blocked (the bubble stays awake, time does not move): mutex and rw_mutex locks (the
// holder may be outside the bubble), network I/O, gofer::blocking, running or runnable.
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
//   - Channels are not tied to the bubble that made them. Go panics when a goroutine
//     outside the bubble uses a bubble's channel, and does not count a member blocked on an
//     outside channel as durably blocked; gofer counts every channel wait as durable and
//     does not check. Keep a bubble's channels inside it.
//   - Network deadlines (net.hpp) use real time, inside a bubble too.
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
// where a goroutine spawns, parks, wakes, ends and reads the clock.
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
