// timeouts — three ways to put a time limit on a receive loop, and what each one limits
// (book, chapter 10: "Timing out with channels").
//
// The book's ch10_7 puts time.After in a select: the worker answers after 6 s, the timeout
// is 5 s, "This took too long!". Inside a for/select loop the same line means something
// else: after(d) is evaluated on every iteration, so it is a new timer each time and it
// limits the gap between two values, never the loop. Watch the three loops over the same
// stream (20 values 10 ms apart, a 600 ms pause, 20 more): after() in the loop and one timer
// reset per value both stop at the pause (a 200 ms idle timeout) — one made a timer per
// value, the other made one — while a 100 ms deadline for the whole loop stops it early,
// pause or not. (The margins are wide so that a busy machine does not change the story.)
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// The stream: 20 values 10 ms apart, a pause, 20 more, then close. Buffered for all 40, so
// the producer finishes even when a loop stops listening early (no goroutine left behind).
gofer::recv_chan<int> stream(std::chrono::milliseconds pause) {
  gofer::chan<int> out(40);
  gofer::go(gofer::named{"stream"}, [out, pause] {
    for (int i = 1; i <= 40; ++i) {
      gofer::sleep(i == 21 ? pause : 10ms);
      out.send(i);
    }
    out.close();
  });
  return out;
}

long ms_since(clock_type::time_point t0) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count());
}

struct loop_result {
  int values = 0;
  int timers = 0;  // timers created by the loop
  long ms = 0;     // how long the loop ran
};

// (a) after() inside the loop: a fresh 200 ms timer on every iteration. It fires only if
//     one gap between values is longer than 200 ms.
loop_result after_in_loop(gofer::recv_chan<int> in) {
  loop_result r;
  auto t0 = clock_type::now();
  for (bool done = false; !done;) {
    std::optional<int> v;
    ++r.timers;
    switch (gofer::select(gofer::recv_case(in, v), gofer::recv_case(gofer::after(200ms)))) {
      case 0:
        if (v) ++r.values;
        else done = true;
        break;
      case 1:
        done = true;  // 200 ms without a value
        break;
    }
  }
  r.ms = ms_since(t0);
  return r;
}

// (b) One timer, reset after each value: the same idle timeout, one timer for the loop.
loop_result one_timer(gofer::recv_chan<int> in) {
  loop_result r;
  auto t0 = clock_type::now();
  gofer::timer idle(200ms);
  r.timers = 1;
  for (bool done = false; !done;) {
    std::optional<int> v;
    switch (gofer::select(gofer::recv_case(in, v), gofer::recv_case(idle.c()))) {
      case 0:
        if (!v) {
          done = true;
          break;
        }
        ++r.values;
        idle.reset(200ms);  // Go 1.23 semantics: no stale tick can arrive after reset
        break;
      case 1:
        done = true;
        break;
    }
  }
  r.ms = ms_since(t0);
  return r;
}

// (c) A deadline for the whole loop: one after(100ms) made before the loop (or a context
//     with a timeout: the same thing for code that takes a ctx).
loop_result whole_loop_deadline(gofer::recv_chan<int> in) {
  loop_result r;
  auto t0 = clock_type::now();
  auto deadline = gofer::after(100ms);
  r.timers = 1;
  for (bool done = false; !done;) {
    std::optional<int> v;
    switch (gofer::select(gofer::recv_case(in, v), gofer::recv_case(deadline))) {
      case 0:
        if (v) ++r.values;
        else done = true;
        break;
      case 1:
        done = true;
        break;
    }
  }
  r.ms = ms_since(t0);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"timeouts: after() in a loop, one timer, and a deadline for the whole loop", "timeouts"};
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int status = 0;
  gofer::run([&] {
    // 0. The book's ch10_7 (6 s vs 5 s there): a worker that answers after 300 ms, a 100 ms timeout.
    gofer::chan<std::string> answer(1);  // buffered: the late worker can still leave
    gofer::go(gofer::named{"worker"}, [answer] {
      gofer::sleep(300ms);
      answer.send("done");
    });
    gofer::select(gofer::recv_case(answer, [](std::optional<std::string>) { std::puts("the worker answered in time"); }),
                  gofer::recv_case(gofer::after(100ms), [](auto) { std::puts("This took too long!"); }));

    // 1.-3. The three loops, each over a fresh copy of the stream.
    std::puts("a stream of 40 values, 10 ms apart, with a 600 ms pause after the 20th:");
    loop_result a = after_in_loop(stream(600ms));
    std::printf("  after(200ms) in the loop : %2d values in %3ld ms, %2d timers made (one per iteration)\n", a.values,
                a.ms, a.timers);
    loop_result b = one_timer(stream(600ms));
    std::printf("  one timer, reset         : %2d values in %3ld ms, %2d timer made\n", b.values, b.ms, b.timers);
    loop_result c = whole_loop_deadline(stream(600ms));
    std::printf("  100 ms for the whole loop: %2d values in %3ld ms, %2d timer made\n", c.values, c.ms, c.timers);

    // The two idle timeouts stop at the pause, after exactly 20 values; the deadline stops
    // the loop at 100 ms whatever the stream does (about 9 values; the count varies).
    if (a.values != 20 || b.values != 20 || c.values >= 20 || a.timers <= b.timers) status = 1;
    std::printf("the idle timeouts stopped at the pause after %d values (%d timers vs 1), the whole-loop deadline "
                "after %d values\n",
                b.values, a.timers, c.values);
  });
  return status;
}
