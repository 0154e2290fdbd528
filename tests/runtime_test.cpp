// tests/runtime_test.cpp — gofer::run, go, yield, sleep, num_goroutine, goroutine_id.
//
// Suites:
//   runtime              behaviour under 1, 2, 4 and 8 scheduler threads
//   runtime_exit         ending the process from a goroutine: gofer::exit (os.Exit), and
//                        std::exit turned from a hang into a fatal error (forked children)
//   runtime_outside_run  what the runtime functions do when no run() is active
//   runtime_options      options{} defaults (GOFER_THREADS)
//   runtime_stress       a million goroutines, 100,000 parked ones (label `stress`)
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gofer/gofer.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using namespace std::chrono_literals;

class runtime : public threads_test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// ---------------------------------------------------------------------------------------
// run

TEST_P(runtime, run_returns_zero_after_main_returns) {
  bool ran = false;
  EXPECT_EQ(gofer::run([&] { ran = true; }, {.threads = threads()}), 0);
  EXPECT_TRUE(ran);
}

TEST_P(runtime, run_twice_in_a_row) {
  for (int round = 0; round < 3; ++round) {
    std::optional<int> got;
    gofer::chan<int> c;
    EXPECT_EQ(gofer::run(
                  [&] {
                    gofer::go([c, round]() { c.send(round); });
                    got = c.recv();
                  },
                  {.threads = threads()}),
              0);
    EXPECT_EQ(got, round);
    EXPECT_EQ(gofer::num_goroutine(), 0u);
  }
}

TEST_P(runtime, run_inside_a_goroutine_throws_logic_error) {
  bool threw = false, inner_ran = false;
  run_main(threads(), [&] {
    try {
      gofer::run([&] { inner_ran = true; });
    } catch (const std::logic_error&) {
      threw = true;
    }
  });
  EXPECT_TRUE(threw);
  EXPECT_FALSE(inner_ran);
}

TEST_P(runtime, run_from_another_thread_while_active_throws_logic_error) {
  bool threw = false, inner_ran = false;
  run_main(threads(), [&] {
    std::thread t([&] {  // briefly blocks this scheduler thread: acceptable in a test
      try {
        gofer::run([&] { inner_ran = true; });
      } catch (const std::logic_error&) {
        threw = true;
      }
    });
    t.join();
  });
  EXPECT_TRUE(threw);
  EXPECT_FALSE(inner_ran);
}

TEST_P(runtime, num_threads_reports_the_option) {
  unsigned inside = 0;
  run_main(threads(), [&] { inside = gofer::num_threads(); });
  EXPECT_EQ(inside, threads());
  EXPECT_EQ(gofer::num_threads(), 0u);
}

// ---------------------------------------------------------------------------------------
// go

TEST_P(runtime, go_runs_the_function) {
  gofer::chan<std::string> c;
  std::optional<std::string> got;
  run_main(threads(), [&] {
    gofer::go([c]() { c.send("hello from a goroutine"); });
    got = c.recv();
  });
  EXPECT_EQ(got, "hello from a goroutine");
}

TEST_P(runtime, go_copies_arguments_at_the_go_statement) {
  gofer::chan<std::string> out(1);
  std::optional<std::string> got;
  run_main(threads(), [&] {
    int x = 1;
    std::string s = "before";
    gofer::go([out](int xv, const std::string& sv) { out.send(std::to_string(xv) + sv); }, x, s);
    x = 2;  // the goroutine must see the values of the go statement
    s = "after";
    got = out.recv();
  });
  EXPECT_EQ(got, "1before");
}

struct functor {
  int v;
  gofer::chan<int> out;
  void operator()() { out.send(v); }
};

TEST_P(runtime, go_copies_the_function_object_at_the_go_statement) {
  gofer::chan<int> out(1);
  std::optional<int> got;
  run_main(threads(), [&] {
    functor f{1, out};
    gofer::go(f);
    f.v = 2;
    got = out.recv();
  });
  EXPECT_EQ(got, 1);
}

TEST_P(runtime, go_passes_std_ref_arguments_by_reference) {
  int target = 0;
  gofer::chan<int> done;
  run_main(threads(), [&] {
    gofer::go(
        [](int& r, gofer::chan<int> d) {
          r = 5;
          d.send(0);
        },
        std::ref(target), done);
    done.recv();
  });
  EXPECT_EQ(target, 5);
}

TEST_P(runtime, go_accepts_move_only_function_and_arguments) {
  gofer::chan<int> out(1);
  std::optional<int> got;
  run_main(threads(), [&] {
    auto owned = std::make_unique<int>(40);
    gofer::go([out, o = std::move(owned)](std::unique_ptr<int> p) { out.send(*o + *p); },
              std::make_unique<int>(2));
    got = out.recv();
  });
  EXPECT_EQ(got, 42);
}

TEST_P(runtime, go_from_a_goroutine_spawns_nested_goroutines) {
  constexpr int kDepth = 50;
  gofer::chan<int> out(1);
  std::optional<int> got;
  run_main(threads(), [&] {
    struct chain {
      static void link(int depth, gofer::chan<int> out) {
        if (depth == 0) {
          out.send(kDepth);
          return;
        }
        gofer::go(link, depth - 1, out);
      }
    };
    gofer::go(chain::link, kDepth, out);
    got = out.recv();
  });
  EXPECT_EQ(got, kDepth);
}

// ---------------------------------------------------------------------------------------
// num_goroutine, goroutine_id

TEST_P(runtime, num_goroutine_counts_main_and_live_goroutines) {
  constexpr std::size_t kSpawned = 10;
  std::size_t at_start = 0, after_spawn = 0, after_release = 0;
  bool back_to_one = false;
  gofer::chan<int> release;
  gofer::wait_group wg;
  run_main(threads(), [&] {
    at_start = gofer::num_goroutine();
    for (std::size_t i = 0; i < kSpawned; ++i) {
      wg.add(1);
      gofer::go([release, &wg]() {
        release.recv();
        wg.done();
      });
    }
    after_spawn = gofer::num_goroutine();
    release.close();
    wg.wait();
    // done() ran, but a goroutine exists until its function has returned.
    back_to_one = eventually([] { return gofer::num_goroutine() == 1; });
    after_release = gofer::num_goroutine();
  });
  EXPECT_EQ(at_start, 1u);
  EXPECT_EQ(after_spawn, 1 + kSpawned);
  EXPECT_TRUE(back_to_one);
  EXPECT_EQ(after_release, 1u);
  EXPECT_EQ(gofer::num_goroutine(), 0u);
}

TEST_P(runtime, goroutine_id_is_one_in_main_and_distinct_per_goroutine) {
  constexpr int kSpawned = 64;
  std::uint64_t main_id = 0;
  std::vector<std::uint64_t> ids;
  bool stable = true;
  run_main(threads(), [&] {
    main_id = gofer::goroutine_id();
    gofer::chan<std::uint64_t> out(kSpawned);
    gofer::chan<bool> same(kSpawned);
    for (int i = 0; i < kSpawned; ++i) {
      gofer::go([out, same]() {
        std::uint64_t id = gofer::goroutine_id();
        gofer::yield();  // may resume on another thread: the id stays
        same.send(id == gofer::goroutine_id());
        out.send(id);
      });
    }
    for (int i = 0; i < kSpawned; ++i) {
      ids.push_back(*out.recv());
      stable = stable && *same.recv();
    }
  });
  EXPECT_EQ(main_id, 1u);
  EXPECT_TRUE(stable);
  std::set<std::uint64_t> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kSpawned)) << "goroutine ids must be distinct";
  EXPECT_EQ(unique.count(0), 0u);
  EXPECT_EQ(unique.count(1), 0u) << "only main is goroutine 1";
}

// ---------------------------------------------------------------------------------------
// yield

TEST_P(runtime, yield_lets_a_spawned_goroutine_run) {
  std::atomic<bool> ran{false};
  bool after_one_yield = false, ran_eventually = false;
  run_main(threads(), [&] {
    gofer::go([&] { ran = true; });
    gofer::yield();
    after_one_yield = ran.load();
    ran_eventually = eventually([&] { return ran.load(); });
  });
  if (threads() == 1) {
    EXPECT_TRUE(after_one_yield) << "on one thread, yield must run the goroutines queued before it";
  }
  EXPECT_TRUE(ran_eventually);
}

TEST_P(runtime, yield_keeps_the_caller_runnable) {
  // Two goroutines that only ever yield both make progress and finish (no one is parked).
  std::atomic<int> a{0}, b{0};
  gofer::wait_group wg;
  run_main(threads(), [&] {
    wg.add(2);
    for (std::atomic<int>* n : {&a, &b}) {
      gofer::go([n, &wg] {
        for (int i = 0; i < 1000; ++i) {
          n->fetch_add(1);
          gofer::yield();
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(a.load(), 1000);
  EXPECT_EQ(b.load(), 1000);
}

// Regression: with runnext, a pair of goroutines handing a value back and forth keeps
// readying each other into the runnext slot; the run queue must still get turns, or a
// third goroutine queued behind them never runs (on one thread: forever).
TEST_P(runtime, ping_pong_pair_does_not_starve_queued_goroutines) {
  std::atomic<bool> third_ran{false};
  long round_trips = 0;
  run_main(threads(), [&] {
    gofer::chan<int> ping, pong;
    gofer::go([ping, pong]() {
      while (auto v = ping.recv()) pong.send(*v);
    });
    gofer::go([&] { third_ran = true; });
    while (!third_ran.load() && round_trips < 10'000'000) {
      ping.send(1);
      pong.recv();
      ++round_trips;
    }
    ping.close();
  });
  EXPECT_TRUE(third_ran.load()) << "after " << round_trips << " round trips";
  EXPECT_LT(round_trips, 1000) << "the run queue waited far longer than the fairness tick";
}

// ---------------------------------------------------------------------------------------
// sleep

TEST_P(runtime, sleep_waits_at_least_the_duration) {
  std::vector<std::chrono::nanoseconds> elapsed;
  const std::array<std::chrono::nanoseconds, 3> want = {1ms, 5ms, 30ms};
  run_main(threads(), [&] {
    for (auto d : want) {
      auto t0 = std::chrono::steady_clock::now();
      gofer::sleep(d);
      elapsed.push_back(std::chrono::steady_clock::now() - t0);
    }
  });
  ASSERT_EQ(elapsed.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_GE(elapsed[i].count(), want[i].count()) << "sleep(" << want[i].count() << "ns)";
  }
}

TEST_P(runtime, sleep_zero_or_negative_returns) {
  bool returned = false;
  run_main(threads(), [&] {
    gofer::sleep(0ns);
    gofer::sleep(-5ms);
    returned = true;
  });
  EXPECT_TRUE(returned);
}

TEST_P(runtime, sleep_parks_only_the_goroutine) {
  // A goroutine asleep for an hour must not hold up the others, even on one thread, and
  // must be unwound from its sleep when main returns.
  std::atomic<int> unwound{0}, woke{0};
  std::optional<int> got;
  gofer::chan<int> c;
  auto t0 = std::chrono::steady_clock::now();
  // allow_leaks: the hour-long sleeper is left asleep on purpose: run() must unwind it
  run_main(threads(), [&] {
    gofer::go([&] {
      destroy_counter guard(unwound);
      gofer::sleep(1h);
      woke = 1;
    });
    gofer::go([c]() { c.send(1); });
    got = c.recv();
  }, allow_leaks);
  EXPECT_EQ(got, 1);
  EXPECT_EQ(woke.load(), 0);
  EXPECT_EQ(unwound.load(), 1);
  EXPECT_TRUE(std::chrono::steady_clock::now() - t0 < 1h);
}

TEST_P(runtime, many_sleepers_all_wake) {
  constexpr int kSleepers = 200;
  std::atomic<int> woke{0};
  gofer::wait_group wg;
  run_main(threads(), [&] {
    for (int i = 0; i < kSleepers; ++i) {
      wg.add(1);
      gofer::go([&, i] {
        gofer::sleep(std::chrono::microseconds(100 * (i % 10)));
        woke.fetch_add(1);
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(woke.load(), kSleepers);
}

// ---------------------------------------------------------------------------------------
// shutdown: leftover goroutines

TEST_P(runtime, leftover_goroutines_are_unwound_and_their_destructors_run) {
  std::atomic<int> started{0}, unwound{0}, continued{0};
  gofer::wait_group never_done;  // outlives run(): a goroutine waits on it
  gofer::chan<int> full(1);
  gofer::chan<int> silent, unheard, ranged;
  int kinds = 0;
  // allow_leaks: leftovers on purpose: this test is about run() unwinding them
  run_main(threads(), [&] {
    never_done.add(1);
    full.send(0);
    auto blocker = [&](auto block) {
      ++kinds;
      gofer::go([&, block]() {
        destroy_counter guard(unwound);
        started.fetch_add(1);
        block();
        continued.fetch_add(1);  // never reached
      });
    };
    blocker([silent]() { silent.recv(); });        // recv, nobody sends
    blocker([unheard]() { unheard.send(1); });     // unbuffered send, nobody receives
    blocker([full]() { full.send(1); });           // send on a full buffer
    blocker([] { gofer::chan<int>(nullptr).send(1); });    // nil send
    blocker([] { gofer::chan<int>(nullptr).recv(); });     // nil recv
    blocker([&never_done] { never_done.wait(); });         // wait_group
    blocker([ranged]() { for (int v : ranged) (void)v; });  // range-for
    blocker([] { gofer::sleep(1h); });                     // sleep
    blocker([silent]() {                           // parked a few frames down
      struct inner {
        static void deeper(gofer::chan<int> c) { c.recv(); }
      };
      inner::deeper(silent);
    });
    ASSERT_TRUE(eventually([&] { return started.load() == kinds; }));
    ASSERT_TRUE(wait_parked_receivers(silent, 2));
    ASSERT_TRUE(wait_parked_senders(unheard, 1));
    ASSERT_TRUE(wait_parked_senders(full, 1));
    ASSERT_TRUE(wait_parked_receivers(ranged, 1));
    EXPECT_EQ(gofer::num_goroutine(), 1u + kinds);
  }, allow_leaks);  // main returns: every other goroutine is blocked forever
  EXPECT_EQ(continued.load(), 0) << "a leftover goroutine's blocking op returned normally";
  EXPECT_EQ(unwound.load(), kinds) << "every leftover goroutine's stack must be unwound";
  EXPECT_EQ(full.len(), 1u) << "an unwound sender must not deliver its value";
  EXPECT_EQ(parked_receivers(silent), 0u) << "unwound goroutines must leave the wait queues";
  EXPECT_EQ(parked_senders(unheard), 0u);
  EXPECT_EQ(parked_senders(full), 0u);
  EXPECT_EQ(parked_receivers(ranged), 0u);
}

TEST_P(runtime, goroutine_never_started_at_shutdown_is_dropped) {
  std::weak_ptr<int> weak;
  std::atomic<int> ran{0};
  gofer::chan<int> never;
  // allow_leaks: the goroutine must be unstarted when main returns (the check would start it)
  run_main(threads(), [&] {
    auto witness = std::make_shared<int>(7);
    weak = witness;
    // Main returns without blocking or yielding: on one thread this goroutine never starts.
    gofer::go([witness, &ran, never]() {
      ran = 1;
      never.recv();  // if it did start (other threads), it blocks and is unwound
    });
  }, allow_leaks);
  EXPECT_TRUE(weak.expired()) << "the never-run goroutine's captured state was not destroyed";
  if (threads() == 1) {
    EXPECT_EQ(ran.load(), 0);
  }
  EXPECT_EQ(parked_receivers(never), 0u);
}

TEST_P(runtime, goroutines_spawned_by_leftovers_are_unwound_too) {
  std::atomic<int> unwound{0};
  gofer::chan<int> never;
  // allow_leaks: leftovers on purpose: this test is about run() unwinding them
  run_main(threads(), [&] {
    gofer::go([&, never]() {
      destroy_counter guard(unwound);
      gofer::go([&, never]() {
        destroy_counter inner(unwound);
        never.recv();
      });
      never.recv();
    });
    ASSERT_TRUE(wait_parked_receivers(never, 2));
  }, allow_leaks);
  EXPECT_EQ(unwound.load(), 2);
}

TEST_P(runtime, run_after_shutdown_with_leftovers_works) {
  std::optional<int> got;
  gofer::chan<int> never;
  // allow_leaks: leftovers on purpose: the next run must work after unwinding them
  run_main(threads(), [&] {
    gofer::go([never]() { never.recv(); });
    ASSERT_TRUE(wait_parked_receivers(never, 1));
  }, allow_leaks);
  run_main(threads(), [&] {
    // Checked before spawning: once the sender below has handed its value over it may
    // still be finishing on another thread, so a count taken after recv would race.
    EXPECT_EQ(gofer::num_goroutine(), 1u) << "the previous run's goroutines are gone";
    gofer::chan<int> c;
    gofer::go([c]() { c.send(3); });
    got = c.recv();
  });
  EXPECT_EQ(got, 3);
}

// ---------------------------------------------------------------------------------------
// stacks

int touch_large_frame(int seed) {
  volatile char buf[256 * 1024];  // far beyond the 64 KiB default stack
  for (std::size_t i = 0; i < sizeof buf; i += 512) buf[i] = static_cast<char>(seed + i);
  int sum = 0;
  for (std::size_t i = 0; i < sizeof buf; i += 512) sum += buf[i];
  return sum;
}

TEST_P(runtime, stack_size_option_allows_large_frames) {
  std::optional<int> got;
  const int want = [] {
    int sum = 0;
    for (std::size_t i = 0; i < 256 * 1024; i += 512) sum += static_cast<char>(1 + i);
    return sum;
  }();
  EXPECT_EQ(gofer::run(
                [&] {
                  gofer::chan<int> out;
                  gofer::go([out]() { out.send(touch_large_frame(1)); });
                  got = out.recv();
                },
                {.threads = threads(), .stack_size = 1u << 20}),
            0);
  EXPECT_EQ(got, want);
}

// ---------------------------------------------------------------------------------------
// panics: an exception escaping a goroutine ends the process with status 2

TEST_P(runtime, exception_escaping_a_goroutine_prints_panic_and_exits_2) {
  const unsigned n = threads();
  EXPECT_EXIT(
      {
        gofer::run(
            [] {
              gofer::go([] { throw std::runtime_error("boom"); });
              gofer::chan<int>().recv();  // main waits; the panic ends the process first
            },
            {.threads = n});
        std::fprintf(stderr, "run returned\n");
        std::exit(0);
      },
      ::testing::ExitedWithCode(2), "panic: boom");
}

TEST_P(runtime, panic_report_names_the_goroutine) {
  const unsigned n = threads();
  EXPECT_EXIT(
      {
        gofer::run([] { gofer::go([] { throw std::runtime_error("boom"); }); gofer::chan<int>().recv(); },
                   {.threads = n});
        std::exit(0);
      },
      ::testing::ExitedWithCode(2), "goroutine [0-9]+ \\[running\\]");
}

TEST_P(runtime, exception_escaping_main_prints_panic_and_exits_2) {
  const unsigned n = threads();
  EXPECT_EXIT(
      {
        gofer::run([] { throw std::runtime_error("boom from main"); }, {.threads = n});
        std::exit(0);
      },
      ::testing::ExitedWithCode(2), "panic: boom from main(.|\n)*goroutine 1 \\[running\\]");
}

TEST_P(runtime, unrecovered_send_on_closed_channel_exits_2) {
  const unsigned n = threads();
  EXPECT_EXIT(
      {
        gofer::run(
            [] {
              gofer::chan<int> c(1);
              c.close();
              gofer::go([c]() { c.send(1); });
              gofer::chan<int>().recv();
            },
            {.threads = n});
        std::exit(0);
      },
      ::testing::ExitedWithCode(2), "panic: send on closed channel");
}

// The report's first frame is the user's goroutine function (a lambda of this test, maybe
// inlined into gofer's entry frame), never gofer's channel internals.
TEST_P(runtime, panic_report_starts_with_the_users_frame_not_gofers) {
  const unsigned n = threads();
  EXPECT_EXIT(
      {
        ::unsetenv("GOFER_TRACEBACK");
        gofer::run(
            [] {
              gofer::chan<int> c(1);
              c.close();
              gofer::go([c] { c.send(1); });
              gofer::chan<int>().recv();
            },
            {.threads = n});
        std::exit(0);
      },
      ::testing::ExitedWithCode(2),
      "panic: send on closed channel\n\ngoroutine 2 \\[running\\]:\n[^\n]*TestBody\\(\\)::\\{lambda\\(\\)#[0-9]+\\}"
      "[^\n]*\n(\t[^\n]*\n)?exit status 2\n$");
}

// A deadlock in main: the report shows where main waits (this file, the line of the call).
TEST_P(runtime, deadlock_report_shows_where_main_waits) {
  const unsigned n = threads();
  constexpr int line = __LINE__; auto wait_forever = [] { gofer::chan<int>().recv(); };
  EXPECT_EXIT(
      {
        gofer::run(wait_forever, {.threads = n});
        std::exit(0);
      },
      ::testing::ExitedWithCode(2),
      "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 \\[chan receive\\]:\n"
      "[^\n]*TestBody\\(\\)::<lambda\\(\\)>\n\truntime_test.cpp:" + std::to_string(line) + "\nexit status 2\n$");
}

INSTANTIATE_TEST_SUITE_P(, runtime, ::testing::ValuesIn(kThreadCounts), threads_name);

// ---------------------------------------------------------------------------------------
// ending the process from a goroutine

class runtime_exit : public threads_test {};

// Runs body as main on n threads in a forked child; after run() returns, the child calls
// std::exit(after_run) on the thread that called run (a normal exit, outside any goroutine).
ended in_child(unsigned n, std::function<void()> body, int after_run = 0,
               gofer::schedule sched = gofer::schedule::normal()) {
  return forked([&] {
    gofer::run(std::move(body), {.threads = n, .schedule = sched});
    std::exit(after_run);
  });
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string kStdExitFatal =
    " on a scheduler thread; use gofer::exit(code) (Go's os.Exit) or return from main\n";

// Go's os.Exit from a goroutine other than main, while main and another goroutine are
// parked: status 7 at once; printf's buffered line is flushed (gofer's one difference from
// Go); neither the goroutine's defer nor its local's destructor runs, nor anything else.
TEST_P(runtime_exit, gofer_exit_from_a_goroutine_exits_with_its_code_flushing_stdio_and_running_no_defer) {
  ended e = in_child(threads(), [] {
    gofer::chan<int> never;
    gofer::go([never] { never.recv(); });
    gofer::go(gofer::named("quitter"), [] {
      struct local {
        ~local() { std::puts("destructor ran"); }
      } l;
      gofer::defer d([] { std::puts("defer ran"); });
      std::printf("before exit\n");
      gofer::exit(7);
    });
    never.recv();
  });
  EXPECT_EQ(e.status, 7);
  EXPECT_EQ(e.out, "before exit\n");
  EXPECT_EQ(e.err, "");
}

// From main (goroutine 1) too, and outside run() as well: the same _exit with a flush.
TEST_P(runtime_exit, gofer_exit_from_main_and_outside_run) {
  ended in_main = in_child(threads(), [] {
    gofer::defer d([] { std::puts("defer ran"); });
    std::printf("main\n");
    gofer::exit(0);
  }, /*after_run=*/9);
  EXPECT_EQ(in_main.status, 0);  // not 9: run() never returned
  EXPECT_EQ(in_main.out, "main\n");
  EXPECT_EQ(in_main.err, "");

  ended outside = in_child(threads(), [] {}, /*after_run=*/0);
  EXPECT_EQ(outside.status, 0);
}

// std::exit in a goroutine used to hang the process for ever (exit() runs the thread's
// thread_local destructors first, and Boost.Fiber's deletes the scheduler under the running
// goroutine). Now: Go's fatal-error shape, the other goroutines, and status 2.
TEST_P(runtime_exit, std_exit_from_a_goroutine_is_a_fatal_error_not_a_hang) {
  ended e = in_child(threads(), [] {
    gofer::chan<int> never;
    gofer::go(gofer::named("blocked"), [never] { never.recv(); });
    gofer::go(gofer::named("quitter"), [never] {
      // Exit only once main and "blocked" are parked, so the report's states are fixed.
      bool parked = eventually([] {
        std::ostringstream dump;
        dump << '\n';
        gofer::dump_goroutines(dump);
        return contains(dump.str(), "\ngoroutine 1 [chan receive]:\n") &&
               goroutine_state("blocked") == "chan receive";
      });
      if (!parked) std::abort();
      std::printf("before exit\n");
      std::exit(3);
    });
    never.recv();
  });
  EXPECT_EQ(e.status, 2);
  EXPECT_EQ(e.out, "before exit\n");  // flushed before the report, as a panic's
  EXPECT_TRUE(e.err.starts_with("fatal error: ")) << e.err;  // nothing before it (no sanitizer report)
  EXPECT_TRUE(contains(e.err, "fatal error: std::exit called from goroutine 3" + kStdExitFatal)) << e.err;
  EXPECT_TRUE(contains(e.err, "the status given to exit is lost")) << e.err;
  EXPECT_TRUE(contains(e.err, "\n\ngoroutine 3 \"quitter\" [running]:\n")) << e.err;
  EXPECT_TRUE(contains(e.err, "\ngoroutine 1 [chan receive]:\n")) << e.err;
  EXPECT_TRUE(contains(e.err, "\ngoroutine 2 \"blocked\" [chan receive]:\n")) << e.err;
  EXPECT_TRUE(e.err.ends_with("exit status 2\n")) << e.err;
}

// The bug report's shape: std::exit from main while another goroutine is parked.
TEST_P(runtime_exit, std_exit_from_main_is_a_fatal_error_not_a_hang) {
  ended e = in_child(threads(), [] {
    gofer::chan<int> c;
    gofer::go([c] { c.recv(); });
    std::exit(3);
  });
  EXPECT_EQ(e.status, 2);
  EXPECT_TRUE(contains(e.err, "fatal error: std::exit called from goroutine 1" + kStdExitFatal)) << e.err;
}

// Schedule exploration runs goroutines on its one worker thread: the same guard.
TEST_P(runtime_exit, std_exit_under_schedule_exploration_is_a_fatal_error) {
  ended e = in_child(threads(), [] {
    gofer::go([] { std::exit(3); });
    gofer::chan<int>().recv();
  }, 0, gofer::schedule::random(threads()));
  EXPECT_EQ(e.status, 2);
  EXPECT_TRUE(contains(e.err, "fatal error: std::exit called from goroutine 2" + kStdExitFatal)) << e.err;
}

// Test mode (gofer::testing::run) cannot turn it into a report (the process is already
// exiting): the same fatal error and status 2.
TEST_P(runtime_exit, std_exit_under_testing_run_is_a_fatal_error) {
  const unsigned n = threads();
  ended e = forked([n] {
    (void)gofer::testing::run([] {
      gofer::go([] { std::exit(3); });
      gofer::chan<int>().recv();
    }, {.threads = n});
  });
  EXPECT_EQ(e.status, 2);
  EXPECT_TRUE(contains(e.err, "fatal error: std::exit called from goroutine 2" + kStdExitFatal)) << e.err;
}

// The guard is silent when a run ends normally: its worker threads end with no goroutine
// on them, and std::exit after run() (on the thread that called it) exits as usual.
TEST_P(runtime_exit, a_normal_run_end_and_a_later_std_exit_are_unaffected) {
  ended e = in_child(threads(), [] {
    gofer::chan<int> never;
    for (int i = 0; i < 8; ++i) gofer::go([never] { never.recv(); });  // unwound at the end
    std::printf("main returns\n");
  }, /*after_run=*/5);
  EXPECT_EQ(e.status, 5);
  EXPECT_EQ(e.out, "main returns\n");  // std::exit flushed it
  EXPECT_EQ(e.err, "");
}

INSTANTIATE_TEST_SUITE_P(, runtime_exit, ::testing::ValuesIn(kThreadCounts), threads_name);

// ---------------------------------------------------------------------------------------
// outside run()

TEST(runtime_outside_run, go_throws_logic_error) {
  bool ran = false;
  EXPECT_THROW(gofer::go([&] { ran = true; }), std::logic_error);
  EXPECT_FALSE(ran);
}

TEST(runtime_outside_run, sleep_positive_throws_logic_error_and_non_positive_returns) {
  EXPECT_THROW(gofer::sleep(1ms), std::logic_error);
  EXPECT_NO_THROW(gofer::sleep(0ns));
  EXPECT_NO_THROW(gofer::sleep(-1ms));
}

TEST(runtime_outside_run, queries_return_zero_and_yield_returns) {
  EXPECT_EQ(gofer::num_goroutine(), 0u);
  EXPECT_EQ(gofer::num_threads(), 0u);
  EXPECT_EQ(gofer::goroutine_id(), 0u);
  gofer::yield();  // returns at once
}

// ---------------------------------------------------------------------------------------
// options

TEST(runtime_options, threads_zero_uses_GOFER_THREADS_then_hardware_concurrency) {
  const char* saved = std::getenv("GOFER_THREADS");
  std::optional<std::string> old = saved ? std::optional<std::string>(saved) : std::nullopt;

  unsigned with_env = 0, without_env = 0;
  ::setenv("GOFER_THREADS", "3", 1);
  EXPECT_EQ(gofer::run([&] { with_env = gofer::num_threads(); }), 0);
  ::unsetenv("GOFER_THREADS");
  EXPECT_EQ(gofer::run([&] { without_env = gofer::num_threads(); }), 0);
  if (old) ::setenv("GOFER_THREADS", old->c_str(), 1);

  EXPECT_EQ(with_env, 3u);
  if (std::thread::hardware_concurrency() > 0) {
    EXPECT_EQ(without_env, std::thread::hardware_concurrency());
  }
  EXPECT_GE(without_env, 1u);
}

// ---------------------------------------------------------------------------------------
// stress (label `stress`, 300 s): run with `ctest -L stress`

class runtime_stress : public threads_test {};

TEST_P(runtime_stress, million_goroutines_all_finish) {
#ifndef __SANITIZE_ADDRESS__
  constexpr int kGoroutines = 1'000'000;
#else
  // Under ASan a goroutine that has not run yet costs ~20 KiB (shadow memory, redzones):
  // a million of them created before any runs (one thread) would take 20 GB.
  constexpr int kGoroutines = 100'000;
#endif
  std::atomic<int> ran{0};
  int ran_at_wait = -1;
  gofer::wait_group wg;
  const auto t0 = std::chrono::steady_clock::now();
  run_main(threads(), [&] {
    wg.add(kGoroutines);
    for (int i = 0; i < kGoroutines; ++i) {
      gofer::go([&] {
        ran.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    ran_at_wait = ran.load();
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[          ] %d goroutines on %u threads: %.2f s\n", kGoroutines, threads(), secs);
  RecordProperty("seconds", std::to_string(secs));
  EXPECT_EQ(ran_at_wait, kGoroutines);
  EXPECT_EQ(ran.load(), kGoroutines);
}

TEST_P(runtime_stress, hundred_thousand_goroutines_parked_on_one_channel_released_by_close) {
  constexpr int kGoroutines = 100'000;
  std::atomic<int> started{0}, saw_close{0};
  gofer::wait_group wg;
  gofer::chan<int> c;
  std::size_t alive = 0;
  run_main(threads(), [&] {
    wg.add(kGoroutines);
    for (int i = 0; i < kGoroutines; ++i) {
      gofer::go([&, c]() {
        started.fetch_add(1, std::memory_order_relaxed);
        if (!c.recv()) saw_close.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    ASSERT_TRUE(eventually([&] { return started.load() == kGoroutines; }));
    ASSERT_TRUE(wait_parked_receivers(c, kGoroutines));
    alive = gofer::num_goroutine();
    c.close();
    wg.wait();
  });
  EXPECT_EQ(alive, 1u + kGoroutines);
  EXPECT_EQ(saw_close.load(), kGoroutines);
}

TEST_P(runtime_stress, hundred_thousand_leftover_goroutines_are_unwound) {
  constexpr int kGoroutines = 100'000;
  std::atomic<int> started{0}, unwound{0};
  gofer::chan<int> never;
  // allow_leaks: 100,000 leftovers on purpose: this test is about run() unwinding them
  run_main(threads(), [&] {
    for (int i = 0; i < kGoroutines; ++i) {
      gofer::go([&, never]() {
        destroy_counter guard(unwound);
        started.fetch_add(1, std::memory_order_relaxed);
        never.recv();
      });
    }
    ASSERT_TRUE(eventually([&] { return started.load() == kGoroutines; }));
  }, allow_leaks);
  EXPECT_EQ(unwound.load(), kGoroutines);
}

INSTANTIATE_TEST_SUITE_P(, runtime_stress, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
