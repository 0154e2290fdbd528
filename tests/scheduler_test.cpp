// tests/scheduler_test.cpp — where woken goroutines run (lib/src/scheduler.cpp).
//
//   a_woken_goroutine_runs_on_the_wakers_thread   Go's ready(): a goroutine parked on a
//       thread that is now busy is not stuck behind that thread's work when a goroutine on
//       another thread wakes it; it runs on the waker's thread.
//   a_yielder_returns_before_the_goroutines_it_readied_all_ran   [1, 2, 4, 8 threads]
//       runtime.Gosched puts the goroutine on the global run queue, which every worker
//       checks at least every 61 picks: a goroutine that readies a thousand others and
//       yields runs again long before all thousand have run (the chat hub that yields after
//       each event and fans it out to ~1,000 writers must not wait behind all of them).
//   a_polling_loop_is_preempted_at_its_next_gofer_call   [1, 2, 4, 8 threads]
//       time slices at safe points: a sleeper is not held up by try_recv pollers.
//   every_blocking_completion_wakes_a_sleeping_worker   [1, 2, 4, 8 threads]
//       the idle protocol: no lost wake-up (the monitor's rescue counter stays 0).
//   a_receiver_readied_by_a_busy_sender_starts_on_an_idle_thread   [2, 4, 8 threads]
//       a thief takes a runnext its owner has kept for a few microseconds.
//   scheduler_hog.*   [1, 2, 4, 8 threads]
//       options::warn_hogs / GOFER_DEBUG=hog names a goroutine that runs without a gofer
//       call, once; one that reaches safe points is not named.
//
// Ordering without sleeps: the test waits for a goroutine to be parked by reading the
// goroutine dump (its wait reason), yielding in between.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <sstream>
#include <string>

#include "gofer/chan.hpp"
#include "gofer/debug.hpp"
#include "gofer/net.hpp"
#include "gofer/runtime.hpp"
#include "gofer/sync.hpp"
#include "test_util.hpp"

namespace {

// The scheduler's suites also run at 8 threads (more workers than cores: idle, spinning
// and stealing workers in every state at once). A local list: test_util.hpp's
// kThreadCounts serves every suite.
constexpr unsigned kSchedulerThreads[] = {1, 2, 4, 8};

// True once the goroutine named `name` is parked receiving from a channel.
bool parked_receiving(const std::string& name) {
  std::ostringstream dump;
  gofer::dump_goroutines(dump);
  return dump.str().find("\"" + name + "\" [chan receive") != std::string::npos;
}

// The scenario, on 2 threads:
//   1. "parker" readies "hog" through an unbuffered hand-off, so the hog runs next on the
//      parker's thread, then parks receiving from `wake`.
//   2. The hog spins on that thread without ever yielding until the parker has run again
//      (giving up after 10 s, which fails the test instead of hanging it).
//   3. main, which has moved to the other thread (the hog holds the first one), sees the
//      parker parked and sends on `wake`.
// If a woken goroutine could only run on the thread it parked on (Boost's remote-ready
// queue), the parker would wait behind the hog's spin: the hog gives up.
TEST(scheduler, a_woken_goroutine_runs_on_the_wakers_thread) {
  for (int round = 0; round < 10; ++round) {
    std::atomic<bool> parker_ran{false};
    std::atomic<bool> hog_gave_up{false};
    gofer::run(
        [&] {
          gofer::chan<int> hand_off;
          gofer::chan<int> wake;
          gofer::wait_group wg;
          wg.add(2);
          gofer::go(gofer::named("hog"), [&]() {
            hand_off.recv();
            auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (!parker_ran.load()) {  // never yields: this thread is busy
              if (std::chrono::steady_clock::now() > give_up) {
                hog_gave_up = true;
                break;
              }
            }
            wg.done();
          });
          gofer::go(gofer::named("parker"), [&]() {
            while (!parked_receiving("hog")) gofer::yield();
            hand_off.send(1);  // wakes the hog: it becomes this thread's next goroutine
            wake.recv();       // park; the hog runs here now
            parker_ran = true;
            wg.done();
          });
          while (!parked_receiving("parker")) gofer::yield();
          wake.send(1);
          wg.wait();
        },
        {.threads = 2});
    ASSERT_FALSE(hog_gave_up.load())
        << "round " << round << ": the woken goroutine waited behind a busy thread";
  }
}

// The hub's pattern: "hub" readies kN goroutines at once (closing the channel they all
// receive from), then yields. Each readied goroutine only counts itself and ends. When the
// hub runs again, few of them may have run: on one thread at most ~61 (the fairness tick),
// on more threads also what the other workers ran meanwhile (they take the hub at once,
// from the injection queue, as soon as their own queue is empty). A yield that queues the
// hub behind everything it readied lets all kN run first (and a fan-out hub that yields
// after every event then does one event per kN switches: the chat server's crawl).
// The bounds are generous: on one thread every round under a quarter of kN (in practice
// ~61); on more threads, where others run readied goroutines in parallel and the OS may
// deschedule the hub's worker (a round went over 500 on a loaded 2-core machine), the best
// of 5 rounds under half of kN. The old behaviour is all kN, at every thread count.
class scheduler_yield : public gofer_test::threads_test {};

TEST_P(scheduler_yield, a_yielder_returns_before_the_goroutines_it_readied_all_ran) {
  constexpr int kN = 1000;
  int fewest = kN;
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> ran{0};
    int ran_before_return = -1;
    gofer_test::run_main(threads(), [&] {
      gofer::chan<int> start;
      gofer::wait_group done;
      for (int i = 0; i < kN; ++i) {
        done.add(1);
        gofer::go([&] {
          start.recv();  // closed by the hub
          ran.fetch_add(1);
          done.done();
        });
      }
      gofer::chan<int> hub_done;
      gofer::go(gofer::named("hub"), [&] {
        // Every receiver parked: the close readies all kN at once.
        EXPECT_TRUE(gofer_test::eventually([&] { return gofer_test::parked_receivers(start) == kN; }));
        start.close();
        gofer::yield();
        ran_before_return = ran.load();
        hub_done.close();
      });
      hub_done.recv();
      done.wait();
    });
    ASSERT_EQ(ran.load(), kN);
    fewest = std::min(fewest, ran_before_return);
    if (threads() == 1) {
      EXPECT_LT(ran_before_return, kN / 4)
          << "round " << round << ": the yielder waited behind the goroutines it had readied";
    }
  }
  // On more threads the others run readied goroutines in parallel, and a worker the OS
  // deschedules lets them run many: judge the best of the rounds.
  EXPECT_LT(fewest, kN / 2) << "the yielder waited behind the goroutines it had readied";
}

// Every thread is taken by a goroutine that polls an empty channel with try_recv (never
// blocking, never yielding) until 2 s have passed or the sleeper has woken. The sleeper
// went to sleep for 5 ms before the pollers started. Without time slices it wakes after the
// pollers' 2 s; with them the monitor asks each poller to yield after 10 ms and its next
// try_recv does, so the dispatcher fires the sleeper's timer. 1 s is a wide margin for a
// loaded machine (ASan, 8 workers on 2 busy cores: 150 ms seen), and still well under 2 s;
// a passing run lasts only until the sleeper wakes.
TEST_P(scheduler_yield, a_polling_loop_is_preempted_at_its_next_gofer_call) {
  using namespace std::chrono;
  std::atomic<bool> woke{false};
  steady_clock::duration late{};
  gofer_test::run_main(threads(), [&] {
    gofer::chan<int> empty;
    gofer::wait_group wg;
    wg.add(1);
    steady_clock::time_point asleep;
    std::atomic<unsigned> started{0};
    gofer::go(gofer::named("sleeper"), [&] {
      asleep = steady_clock::now();
      gofer::sleep(milliseconds(5));
      late = steady_clock::now() - asleep - milliseconds(5);
      woke = true;
      wg.done();
    });
    // Asleep before the pollers start — or already awake (a loaded machine may run main
    // late): then the pollers stop at once and the test shows nothing, but it must not
    // wait for a sleep that is over.
    ASSERT_TRUE(gofer_test::eventually(
        [&] { return woke.load() || gofer_test::goroutine_state("sleeper") == "sleep"; }));
    for (unsigned i = 0; i < threads(); ++i) {
      wg.add(1);
      gofer::go(gofer::named("poller"), [&] {
        // Every thread runs a poller before any polls (a pure spin: no safe point), so no
        // worker is left idle to fire the sleeper's timer.
        started.fetch_add(1);
        while (started.load() < threads()) {
        }
        const auto end = steady_clock::now() + seconds(2);
        while (!woke.load(std::memory_order_relaxed) && steady_clock::now() < end) (void)empty.try_recv();
        wg.done();
      });
    }
    wg.wait();
  });
  ASSERT_TRUE(woke.load());
  EXPECT_LT(duration_cast<milliseconds>(late).count(), 1000)
      << "the sleeper waited behind goroutines that kept calling try_recv";
}

// The idle protocol (scheduler.cpp, "Idle protocol"): a goroutine made runnable from a
// thread that is no worker — here gofer::blocking's helper threads, whose completions go
// through the injection queue — must wake a sleeping worker every time. kGoroutines
// goroutines each make kCalls blocking calls of a few microseconds (varied, so that
// completions land at every point of an idle worker's way to sleep). A lost wake-up does
// not hang the test: the monitor's safety net wakes every worker after ~10 ms and counts it
// in lost_wakeups_rescued, which must stay 0. (Before the publisher's StoreLoad fence was
// added to the foreign paths, 1 run in ~N counted rescues: see DESIGN.md, "Idle protocol".)
class scheduler_wake : public gofer_test::threads_test {};

TEST_P(scheduler_wake, every_blocking_completion_wakes_a_sleeping_worker) {
  constexpr int kGoroutines = 8;
  constexpr int kCalls = 1500;
  std::uint64_t rescued = 0;
  std::atomic<int> done_calls{0};
  gofer_test::run_main(threads(), [&] {
    gofer::wait_group wg;
    for (int i = 0; i < kGoroutines; ++i) {
      wg.add(1);
      gofer::go(gofer::named("caller"), [&, i] {
        for (int k = 0; k < kCalls; ++k) {
          const auto spin = std::chrono::microseconds((i * 7 + k * 13) % 23);
          gofer::blocking([spin] {
            const auto end = std::chrono::steady_clock::now() + spin;
            while (std::chrono::steady_clock::now() < end) {
            }
          });
          done_calls.fetch_add(1, std::memory_order_relaxed);
        }
        wg.done();
      });
    }
    wg.wait();
    rescued = gofer::detail::lost_wakeups_rescued();
  });
  EXPECT_EQ(done_calls.load(), kGoroutines * kCalls);
  EXPECT_EQ(rescued, 0u) << "a completion waited in the injection queue while a worker slept";
}

INSTANTIATE_TEST_SUITE_P(, scheduler_wake, ::testing::ValuesIn(kSchedulerThreads), gofer_test::threads_name);

// Go's runqsteal with stealRunNextG: main sends to "receiver", parked on an unbuffered
// channel, which readies it into main's runnext; main then computes (a pure spin, no gofer
// call, so no safe point) until the receiver has started or 2 s have passed. An idle
// thread must take the receiver from runnext after a few microseconds: it starts while
// main still computes. Unstealable, it would wait the whole 2 s. Timing test, with a
// wide margin for a loaded machine: under 1 s (a passing run lasts until the receiver starts). (The hand-off that makes 1-thread
// ping-pong fast is kept: runnext is taken only once its owner kept it kRunnextGrace.)
class scheduler_runnext : public gofer_test::threads_test {};

TEST_P(scheduler_runnext, a_receiver_readied_by_a_busy_sender_starts_on_an_idle_thread) {
  using namespace std::chrono;
  std::atomic<bool> started{false};
  steady_clock::duration waited{};
  gofer_test::run_main(threads(), [&] {
    gofer::chan<steady_clock::time_point> c;
    gofer::chan<int> done;
    gofer::go(gofer::named("receiver"), [&] {
      steady_clock::time_point sent = c.recv().value();
      waited = steady_clock::now() - sent;
      started = true;
      done.close();
    });
    ASSERT_TRUE(gofer_test::eventually([&] { return gofer_test::parked_receivers(c) == 1; }));
    c.send(steady_clock::now());  // readies the receiver into this worker's runnext
    const auto end = steady_clock::now() + seconds(2);
    while (!started.load() && steady_clock::now() < end) {  // no gofer call: no safe point
    }
    done.recv();
  });
  ASSERT_TRUE(started.load());
  EXPECT_LT(duration_cast<milliseconds>(waited).count(), 1000)
      << "the receiver waited in runnext behind its computing sender while a thread idled";
}

// Not at 1 thread: there is no other thread to take it.
constexpr unsigned kRunnextThreads[] = {2, 4, 8};
INSTANTIATE_TEST_SUITE_P(, scheduler_runnext, ::testing::ValuesIn(kRunnextThreads), gofer_test::threads_name);

// Hogs, seen (options::warn_hogs, GOFER_DEBUG=hog): "cruncher" spins 150 ms with no gofer
// call; with a 40 ms threshold the monitor names it on stderr, once for the episode. A
// goroutine that spins as long calling try_recv (a safe point: it yields every time slice)
// is no hog and is not named.
std::string run_capturing_stderr(unsigned threads, bool calls_gofer,
                                 std::chrono::milliseconds threshold = std::chrono::milliseconds(40)) {
  using namespace std::chrono;
  ::testing::internal::CaptureStderr();
  EXPECT_GOFER_OK(gofer::testing::run(
      [&] {
        gofer::chan<int> empty;
        gofer::chan<int> done;
        gofer::go(gofer::named(calls_gofer ? "poller" : "cruncher"), [&] {
          const auto end = steady_clock::now() + milliseconds(150);
          while (steady_clock::now() < end) {
            if (calls_gofer) (void)empty.try_recv();
          }
          done.close();
        });
        done.recv();
      },
      {.threads = threads, .warn_hogs = threshold}));
  return ::testing::internal::GetCapturedStderr();
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class scheduler_hog : public gofer_test::threads_test {};

TEST_P(scheduler_hog, a_goroutine_without_gofer_calls_is_named_once) {
  std::string err = run_capturing_stderr(threads(), false);
  EXPECT_EQ(count(err, "\"cruncher\" has run "), 1u) << err;
  EXPECT_NE(err.find("ms without a gofer call, holding its thread"), std::string::npos) << err;
}

TEST_P(scheduler_hog, a_goroutine_that_reaches_safe_points_is_no_hog) {
  // A wider threshold here: the monitor measures wall-clock time, and an OS that
  // deschedules the poller's thread for tens of ms on a loaded machine looks the same.
  std::string err = run_capturing_stderr(threads(), true, std::chrono::milliseconds(100));
  EXPECT_EQ(err.find("has run"), std::string::npos) << err;
}

TEST_P(scheduler_hog, gofer_debug_hog_turns_the_warning_on) {
  ::setenv("GOFER_DEBUG", "trace=0,hog=40", 1);
  std::string err = run_capturing_stderr(threads(), false, std::chrono::milliseconds(0));
  ::unsetenv("GOFER_DEBUG");
  EXPECT_EQ(count(err, "\"cruncher\" has run "), 1u) << err;
}

INSTANTIATE_TEST_SUITE_P(, scheduler_hog, ::testing::ValuesIn(kSchedulerThreads), gofer_test::threads_name);

INSTANTIATE_TEST_SUITE_P(, scheduler_yield, ::testing::ValuesIn(kSchedulerThreads), gofer_test::threads_name);

}  // namespace
