// tests/testing_test.cpp — gofer::testing::run (gofer/testing.hpp), options::report and
// options::check_leaks (runtime.hpp, test mode), and the GoogleTest glue (gofer/gtest.hpp).
//
// Suites:
//   testing        under 1, 2, 4 and 8 scheduler threads: a clean run, a panic (in a goroutine,
//                  in main), a deadlock, leaks; the process survives each and the next run
//                  works
//   testing_gtest  EXPECT_GOFER_OK / ASSERT_GOFER_OK fail with the report as the message
//   testing_leaks  the leak check's time limit (one thread count: it waits 2 s)
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "gofer/gofer.hpp"
#include "gofer/gtest.hpp"
#include "gofer/testing.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using namespace std::chrono_literals;
using gofer::testing::leaks;
using gofer::testing::status;

using testing = threads_test;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// ---------------------------------------------------------------------------------------
// a clean run

TEST_P(testing, a_clean_run_is_ok_with_no_report) {
  int got = 0;
  auto r = gofer::testing::run(
      [&] {
        gofer::chan<int> c;
        gofer::go(gofer::named{"sender"}, [c] { c.send(42); });
        got = *c.recv();
      },
      {.threads = threads()});
  EXPECT_EQ(r.state, status::ok);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.report, "");
  EXPECT_EQ(r.leaked, 0u);
  EXPECT_EQ(got, 42);
}

// A goroutine that is still finishing when main returns (it handed main its value, then
// works on for a while) is no leak: the check waits for it.
TEST_P(testing, a_goroutine_ending_after_main_is_no_leak) {
  std::atomic<bool> finished{false};
  auto r = gofer::testing::run(
      [&] {
        gofer::chan<int> c;
        gofer::go(gofer::named{"tail"}, [c, &finished] {
          c.send(1);
          gofer::sleep(50ms);  // a timer is pending: the check must not call this a leak
          for (int i = 0; i < 100; ++i) gofer::yield();
          finished = true;
        });
        c.recv();
      },
      {.threads = threads()});
  EXPECT_TRUE(r.ok()) << r;
  EXPECT_TRUE(finished);
}

// ---------------------------------------------------------------------------------------
// panics

TEST_P(testing, a_panicking_goroutine_fails_the_run_and_the_process_survives) {
  std::atomic<int> unwound{0};
  bool main_went_on = false;
  auto r = gofer::testing::run(
      [&] {
        destroy_counter witness(unwound);  // main is unwound from its receive
        gofer::chan<int> never;
        gofer::go(gofer::named{"bomber"}, [] { throw gofer::panic_error("boom"); });
        never.recv();
        main_went_on = true;
      },
      {.threads = threads()});
  EXPECT_EQ(r.state, status::panicked);
  EXPECT_TRUE(contains(r.report, "panic: boom\n")) << r.report;
  EXPECT_TRUE(contains(r.report, "\"bomber\" [running]:")) << r.report;
  EXPECT_FALSE(contains(r.report, "exit status 2")) << r.report;  // the process did not exit
  EXPECT_EQ(unwound, 1);
  EXPECT_FALSE(main_went_on);
  // The runtime is gone and a new run works.
  EXPECT_EQ(gofer::num_goroutine(), 0u);
  EXPECT_TRUE(gofer::testing::run([] {}, {.threads = threads()}).ok());
}

TEST_P(testing, a_panic_in_main_fails_the_run) {
  auto r = gofer::testing::run([] { throw std::runtime_error("main gave up"); },
                               {.threads = threads()});
  EXPECT_EQ(r.state, status::panicked);
  EXPECT_TRUE(contains(r.report, "panic: main gave up\n")) << r.report;
  EXPECT_TRUE(contains(r.report, "goroutine 1 [running]:")) << r.report;
}

// Every other goroutine is unwound (its destructors run), wherever it waits, and a second
// panic while unwinding does not replace the first report.
TEST_P(testing, a_panic_unwinds_every_goroutine_and_only_the_first_is_reported) {
  std::atomic<int> unwound{0};
  auto r = gofer::testing::run(
      [&] {
        gofer::chan<int> never;
        gofer::wait_group parked;
        parked.add(10);
        for (int i = 0; i < 10; ++i) {
          gofer::go(gofer::named{"waiter-" + std::to_string(i)}, [&, never] {
            destroy_counter witness(unwound);
            parked.done();
            never.recv();
          });
        }
        gofer::go(gofer::named{"sleeper"}, [&] {
          destroy_counter witness(unwound);
          gofer::sleep(1h);
        });
        parked.wait();
        gofer::go(gofer::named{"bomber"}, [] { throw gofer::panic_error("first"); });
        never.recv();
      },
      {.threads = threads()});
  EXPECT_EQ(r.state, status::panicked);
  EXPECT_TRUE(contains(r.report, "panic: first\n")) << r.report;
  EXPECT_EQ(unwound, 11);
}

// A panic while main waits for leftover goroutines (the leak check) is the report.
TEST_P(testing, a_panic_during_the_leak_check_is_the_report) {
  auto r = gofer::testing::run(
      [&] {
        gofer::go(gofer::named{"late-bomber"}, [] {
          gofer::sleep(20ms);
          throw gofer::panic_error("after main");
        });
      },
      {.threads = threads()});
  EXPECT_EQ(r.state, status::panicked);
  EXPECT_TRUE(contains(r.report, "panic: after main\n")) << r.report;
  EXPECT_EQ(r.leaked, 0u);
}

// Sleepers whose timers fire together with the leak check's own pause: a fire pops every
// due node, then wakes them one by one after unlocking; the check, woken first, once saw
// "no timer pending" while a sleeper still looked parked and called it a leftover (CI, 1 in
// thousands). Many sleepers with spread deadlines make the overlap likely on every run.
TEST_P(testing, sleepers_woken_by_the_same_timer_fire_as_the_check_are_no_leak) {
  for (int round = 0; round < 20; ++round) {
    auto r = gofer::testing::run(
        [&] {
          for (int i = 0; i < 64; ++i) {
            gofer::go(gofer::named{"sleeper"}, [i] { gofer::sleep(std::chrono::microseconds(20 * i)); });
          }
        },
        {.threads = threads()});
    ASSERT_EQ(r.state, status::ok) << "round " << round << ":\n" << r.report;
  }
}

// ---------------------------------------------------------------------------------------
// deadlocks

TEST_P(testing, a_deadlock_fails_the_run_with_every_goroutine_in_the_report) {
  std::atomic<int> unwound{0};
  auto r = gofer::testing::run(
      [&] {
        destroy_counter witness(unwound);
        gofer::chan<int> a, b;
        gofer::go(gofer::named{"stuck-sender"}, [a, &unwound] {
          destroy_counter w(unwound);
          a.send(1);  // nobody receives on a
        });
        b.recv();  // nobody sends on b
      },
      {.threads = threads()});
  EXPECT_EQ(r.state, status::deadlocked);
  EXPECT_TRUE(contains(r.report, "fatal error: all goroutines are asleep - deadlock!")) << r.report;
  EXPECT_TRUE(contains(r.report, "goroutine 1 [chan receive")) << r.report;
  EXPECT_TRUE(contains(r.report, "\"stuck-sender\" [chan send")) << r.report;
  EXPECT_FALSE(contains(r.report, "exit status 2")) << r.report;
  EXPECT_EQ(unwound, 2);
  EXPECT_TRUE(gofer::testing::run([] {}, {.threads = threads()}).ok());
}

// options::report on gofer::run itself: run() returns 2 and fills the report in.
TEST_P(testing, run_with_a_report_returns_two_after_a_deadlock) {
  gofer::run_report rep;
  rep.leaked = 99;  // run() resets it
  int rc = gofer::run([] { gofer::select(); }, {.threads = threads(), .report = &rep});
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(rep.end, gofer::run_report::ending::deadlocked);
  EXPECT_TRUE(contains(rep.fatal, "[select (no cases)")) << rep.fatal;
  EXPECT_EQ(rep.leaked, 0u);
  EXPECT_EQ(gofer::run([] {}, {.threads = threads(), .report = &rep}), 0);
  EXPECT_EQ(rep.end, gofer::run_report::ending::returned);
  EXPECT_EQ(rep.fatal, "");
}

// ---------------------------------------------------------------------------------------
// leaks

TEST_P(testing, goroutines_left_blocked_are_counted_and_dumped) {
  std::atomic<int> unwound{0};
  auto r = gofer::testing::run(
      [&] {
        gofer::chan<int> c;
        // Shared: the locker waits in its queue after main's frame is gone.
        auto mu = std::make_shared<gofer::mutex>();
        mu->lock();
        gofer::go(gofer::named{"forgotten-receiver"}, [c, &unwound] {
          destroy_counter w(unwound);
          c.recv();
        });
        gofer::go(gofer::named{"forgotten-locker"}, [mu, &unwound] {
          destroy_counter w(unwound);
          mu->lock();
        });
        ASSERT_TRUE(wait_state("forgotten-locker", "sync.Mutex.Lock"));
      },
      {.threads = threads()});
  EXPECT_EQ(r.state, status::leaked);
  EXPECT_EQ(r.leaked, 2u);
  EXPECT_TRUE(contains(r.report, "2 goroutines were still alive when main returned")) << r.report;
  EXPECT_TRUE(contains(r.report, "\"forgotten-receiver\" [chan receive")) << r.report;
  EXPECT_TRUE(contains(r.report, "\"forgotten-locker\" [sync.Mutex.Lock")) << r.report;
  EXPECT_FALSE(contains(r.report, "goroutine 1 ")) << r.report;  // main is not a leak
  EXPECT_EQ(unwound, 2);  // and they were unwound afterwards, as always
}

TEST_P(testing, leaks_allow_unwinds_leftovers_silently) {
  std::atomic<int> unwound{0};
  auto r = gofer::testing::run(
      [&] {
        gofer::go(gofer::named{"left-on-purpose"}, [&unwound] {
          destroy_counter w(unwound);
          gofer::chan<int>().recv();  // nobody ever sends: blocks forever
        });
        gofer::yield();
      },
      {.threads = threads()}, leaks::allow);
  EXPECT_TRUE(r.ok()) << r;
  EXPECT_EQ(unwound, 1);
}

// ---------------------------------------------------------------------------------------
// the GoogleTest glue

using testing_gtest = threads_test;

TEST_P(testing_gtest, expect_gofer_ok_passes_a_clean_run) {
  EXPECT_GOFER_OK(gofer::testing::run([] {}, {.threads = GetParam()}));
  ASSERT_GOFER_OK(gofer::testing::run([] { gofer::yield(); }, {.threads = GetParam()}));
}

// EXPECT_NONFATAL_FAILURE's statement may not use locals: the thread count goes through a
// static.
unsigned g_threads = 1;

TEST_P(testing_gtest, expect_gofer_ok_fails_with_the_panic_report) {
  g_threads = GetParam();
  EXPECT_NONFATAL_FAILURE(
      EXPECT_GOFER_OK(gofer::testing::run(
          [] { gofer::go(gofer::named{"thrower"}, [] { throw gofer::panic_error("kaboom"); }); gofer::chan<int>().recv(); },
          {.threads = g_threads})),
      "gofer run panicked:\npanic: kaboom");
}

TEST_P(testing_gtest, assert_gofer_ok_fails_with_the_deadlock_report) {
  g_threads = GetParam();
  EXPECT_FATAL_FAILURE(
      ASSERT_GOFER_OK(gofer::testing::run([] { gofer::chan<int>().recv(); }, {.threads = g_threads})),
      "gofer run deadlocked:\nfatal error: all goroutines are asleep - deadlock!");
}

TEST_P(testing_gtest, expect_gofer_ok_fails_with_the_leak_dump) {
  g_threads = GetParam();
  EXPECT_NONFATAL_FAILURE(
      EXPECT_GOFER_OK(gofer::testing::run(
          [] { gofer::go(gofer::named{"lost"}, [] { gofer::chan<int>().recv(); }); gofer::yield(); },
          {.threads = g_threads})),
      "goroutine 2 \"lost\" [chan receive");
}

INSTANTIATE_TEST_SUITE_P(threads, testing, ::testing::ValuesIn(kThreadCounts), threads_name);
INSTANTIATE_TEST_SUITE_P(threads, testing_gtest, ::testing::ValuesIn(kThreadCounts), threads_name);

// ---------------------------------------------------------------------------------------
// the time limit: a goroutine that is busy (here: asleep for an hour) when main returns is
// counted after 2 s, not waited for until it ends.

TEST(testing_leaks, a_goroutine_still_sleeping_after_the_time_limit_is_a_leak) {
  const auto start = std::chrono::steady_clock::now();
  auto r = gofer::testing::run(
      [] { gofer::go(gofer::named{"sleepy"}, [] { gofer::sleep(1h); }); gofer::yield(); },
      {.threads = 2});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.state, status::leaked);
  EXPECT_EQ(r.leaked, 1u);
  EXPECT_TRUE(contains(r.report, "\"sleepy\" [sleep")) << r.report;
  EXPECT_GE(took, 2s);
  EXPECT_LT(took, 30s);  // a failure bound, not a speed assertion
}

}  // namespace
}  // namespace gofer_test
