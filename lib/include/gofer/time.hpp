// gofer/time.hpp — Go's timers and tickers on the scheduler's timer heap.
//
//   time_point  std::chrono::steady_clock::time_point, the value timer channels deliver
//   now         time.Now(): steady_clock::now(), or the virtual clock in a synctest bubble
//   after       time.After(d): a channel that delivers one time_point after d
//   tick        time.Tick(d): a channel that delivers a time_point every d
//   timer       time.NewTimer(d): a started timer with c(), stop(), reset(d)
//   ticker      time.NewTicker(d): a started ticker with c(), stop(), reset(d)
//   (sleep(d), time.Sleep, is in runtime.hpp)
//
// Timers are driven by the scheduler: pending timers sit in one binary heap per run; idle
// scheduler threads sleep no longer than the earliest deadline. No thread per timer; a
// million pending timers cost memory (one heap node each), and a stopped timer is out of
// the heap: it costs nothing afterwards.
//
// Semantics: Go 1.23's (the choice is documented here because Go changed it):
//   - Timer channels are *synchronous* as seen by the program: len() and cap() report 0.
//     Internally one tick may wait in the channel until received.
//   - After stop() or reset() returns, no value prepared before the call is ever received:
//     the pending tick is withdrawn under the same lock that fires timers. So the pre-1.23
//     "if !t.Stop() { <-t.C }" dance is unnecessary (and would block).
//   - timer::stop() returns true if the call stopped the timer before its value was
//     received (it was pending, or its tick was still in the channel); false if it had
//     already been received or the timer was stopped. reset(d) returns the same about the
//     state before the call and restarts the timer to fire d from now.
//   - A ticker delivers at most one pending tick: a slow receiver makes it drop ticks
//     (the next deadlines stay on the period's grid). Non-positive intervals panic:
//     "non-positive interval for NewTicker" and "non-positive interval for Ticker.Reset".
//     tick(d) with d <= 0 returns a nil channel, like time.Tick.
//   - Timer channels are never closed (stop does not close them, as in Go).
//   - A timer with d <= 0 fires at once (on the next scheduler pass).
//
//   op \ state   | pending            | fired, tick unreceived | fired, received / stopped
//   c().recv()   | parks until fire   | the tick               | parks (until reset)
//   stop()       | true; disarmed     | true; tick withdrawn   | false
//   reset(d)     | true; re-armed     | true; tick withdrawn,  | false; re-armed
//                |                    | re-armed               |
//
// Memory ordering: the fire of a timer is synchronized before the receive of its tick.
// Thread-safety: a timer/ticker object may be used from one goroutine at a time (like any
// object); its channel from any goroutine. Creating timers requires a running gofer::run
// (std::logic_error otherwise). A timer or ticker object that outlives its run is inert.
//
// Example:
//   gofer::ticker tk(100ms);
//   auto deadline = gofer::after(1s);
//   for (bool done = false; !done;) {
//     gofer::select(gofer::recv_case(tk.c(), [](auto t) { std::puts("tick"); }),
//                   gofer::recv_case(deadline, [&](auto) { done = true; }));
//   }
//   tk.stop();
#pragma once

#include <chrono>
#include <memory>

#include "gofer/chan.hpp"

namespace gofer {

using time_point = std::chrono::steady_clock::time_point;

namespace detail {
struct chan_timer;
}

// time.Now(): std::chrono::steady_clock::now(); inside a synctest bubble (gofer/synctest.hpp)
// the bubble's virtual clock, which starts at 946,684,800 s since the clock's epoch
// (2000-01-01T00:00:00Z as Unix time, Go's bubble start). Timers, tickers, sleep and
// context deadlines measure from this clock. Never blocks. Thread-safe.
time_point now() noexcept;

// time.After(d). Never blocks. The timer is owned by the run: it fires even if the channel
// is dropped, then is freed. Throws std::logic_error outside gofer::run.
recv_chan<time_point> after(std::chrono::nanoseconds d);

// time.Tick(d): a ticker that is never stopped (it lives until the run ends). nil channel
// for d <= 0. Throws std::logic_error outside gofer::run.
recv_chan<time_point> tick(std::chrono::nanoseconds d);

class timer {
 public:
  // time.NewTimer(d): started; fires once, d from now. Throws std::logic_error outside run.
  explicit timer(std::chrono::nanoseconds d);
  // Moves keep the same underlying timer; a moved-from timer is inert.
  timer(timer&&) noexcept;
  timer& operator=(timer&&) noexcept;
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;
  // Stops the timer (so it holds no heap slot).
  ~timer();

  // The channel on which the tick is delivered. Never blocks. Thread-safe.
  recv_chan<time_point> c() const noexcept;
  // Timer.Stop (see the table above). Never blocks. A timer made in a synctest bubble
  // belongs to it: stop and reset from outside panic ("stop of synctest timer from outside
  // bubble", "reset of ..."; Go's texts), as do tickers' (gofer/synctest.hpp).
  bool stop();
  // Timer.Reset(d) (see the table above). Never blocks.
  bool reset(std::chrono::nanoseconds d);

 private:
  bool stop_unchecked() noexcept;  // stop() without the synctest bubble check
  std::unique_ptr<detail::chan_timer> t_;
};

class ticker {
 public:
  // time.NewTicker(d). Throws panic_error("non-positive interval for NewTicker") if d <= 0,
  // std::logic_error outside run.
  explicit ticker(std::chrono::nanoseconds d);
  ticker(ticker&&) noexcept;
  ticker& operator=(ticker&&) noexcept;
  ticker(const ticker&) = delete;
  ticker& operator=(const ticker&) = delete;
  ~ticker();

  recv_chan<time_point> c() const noexcept;
  // Ticker.Stop: no more ticks; a pending tick is withdrawn; the channel stays open.
  void stop();
  // Ticker.Reset(d): stops, then ticks every d from now. Throws
  // panic_error("non-positive interval for Ticker.Reset") if d <= 0.
  void reset(std::chrono::nanoseconds d);

 private:
  void stop_unchecked() noexcept;  // stop() without the synctest bubble check
  std::unique_ptr<detail::chan_timer> t_;
};

}  // namespace gofer
