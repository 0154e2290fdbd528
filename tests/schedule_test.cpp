// tests/schedule_test.cpp — schedule::random: seeded schedule exploration (gofer/runtime.hpp).
//
//   schedule   the same seed replays the same interleaving (output byte for byte, select
//              choices, with and without random yields); different seeds explore different
//              interleavings; simultaneous timers of a synctest bubble run in the seed's
//              order; a check-then-act race is found by some seed and its seed replays the
//              failure; GOFER_SCHEDULE parsing; one thread whatever `threads` says
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <stdexcept>
#include <string>

#include "gofer/gofer.hpp"
#include "gofer/synctest.hpp"
#include "test_util.hpp"

namespace gofer::detail {
gofer::schedule parse_schedule(const char* text);  // lib/src/schedule.cpp (GOFER_SCHEDULE)
}

namespace gofer_test {
namespace {

// Four goroutines each log five steps through a channel, a select picks among ready
// channels: the log is the interleaving.
std::string interleaving(gofer::schedule s) {
  std::string log;
  auto r = gofer::testing::run(
      [&] {
        gofer::chan<std::string> out(8);
        gofer::chan<int> a(4), b(4);
        gofer::wait_group wg;
        for (int g = 0; g < 4; ++g) {
          wg.add(1);
          gofer::go([=, &wg] {
            for (int i = 0; i < 5; ++i) {
              out.send(std::string(1, static_cast<char>('A' + g)) + std::to_string(i) + " ");
              if (i == 2) gofer::yield();
            }
            wg.done();
          });
        }
        gofer::go([a, b] {
          for (int i = 0; i < 4; ++i) {
            a.send(i);
            b.send(i);
          }
        });
        for (int i = 0; i < 8; ++i)
          gofer::select(gofer::recv_case(a, [&](auto) { log += "a"; }), gofer::recv_case(b, [&](auto) { log += "b"; }));
        log += "|";
        gofer::go([out, &wg] {
          wg.wait();
          out.close();
        });
        while (auto v = out.recv()) log += *v;
      },
      {.threads = 4, .schedule = s});
  EXPECT_TRUE(r.ok()) << r;
  return log;
}

TEST(schedule, the_same_seed_gives_the_same_interleaving) {
  for (std::uint64_t seed : {0ull, 1ull, 42ull, 123456789ull}) {
    std::string first = interleaving(gofer::schedule::random(seed));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(interleaving(gofer::schedule::random(seed)), first) << "seed " << seed;
  }
}

TEST(schedule, the_same_seed_with_random_yields_replays_too) {
  std::string first = interleaving(gofer::schedule::random(7, 0.3));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(interleaving(gofer::schedule::random(7, 0.3)), first);
}

TEST(schedule, different_seeds_explore_different_interleavings) {
  std::set<std::string> seen;
  for (std::uint64_t seed = 0; seed < 20; ++seed) seen.insert(interleaving(gofer::schedule::random(seed, 0.2)));
  EXPECT_GE(seen.size(), 10u);
}

// Real-time timers are not replayed; in a synctest bubble time is virtual, and the order in
// which goroutines woken at the same instant run is the seed's.
std::string simultaneous_timers(std::uint64_t seed) {
  std::string log;
  auto r = gofer::testing::run(
      [&] {
        gofer::synctest::run([&] {
          gofer::wait_group wg;
          for (int g = 0; g < 4; ++g) {
            wg.add(1);
            gofer::go([&, g] {
              for (int i = 0; i < 3; ++i) {
                gofer::sleep(std::chrono::seconds(1));
                log += std::string(1, static_cast<char>('A' + g)) + std::to_string(i) + " ";
              }
              wg.done();
            });
          }
          wg.wait();
        });
      },
      {.schedule = gofer::schedule::random(seed)});
  EXPECT_TRUE(r.ok()) << r;
  return log;
}

TEST(schedule, simultaneous_timers_in_a_bubble_run_in_the_seeds_order) {
  std::set<std::string> seen;
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    std::string first = simultaneous_timers(seed);
    EXPECT_EQ(simultaneous_timers(seed), first) << "seed " << seed;
    seen.insert(first);
  }
  EXPECT_GE(seen.size(), 5u);
}

TEST(schedule, runs_on_one_thread) {
  unsigned n = 0;
  auto r = gofer::testing::run([&] { n = gofer::num_threads(); }, {.threads = 4, .schedule = gofer::schedule::random(3)});
  EXPECT_TRUE(r.ok()) << r;
  EXPECT_EQ(n, 1u);
}

// Check-then-act: two withdrawals of 80 from 100 each check the balance, log the decision
// (a channel send: a safe point, where a random yield may preempt), then act.
int overdraw(gofer::schedule s) {
  int balance = 100;
  auto r = gofer::testing::run(
      [&] {
        gofer::chan<int> audit(4);
        gofer::wait_group wg;
        for (int i = 0; i < 2; ++i) {
          wg.add(1);
          gofer::go([&, audit] {
            if (balance >= 80) {
              audit.send(80);
              balance -= 80;
            }
            wg.done();
          });
        }
        wg.wait();
      },
      {.schedule = s});
  EXPECT_TRUE(r.ok()) << r;
  return balance;
}

TEST(schedule, a_check_then_act_race_is_found_and_its_seed_replays_it) {
  std::uint64_t found = ~0ull;
  for (std::uint64_t seed = 0; seed < 1000 && found == ~0ull; ++seed)
    if (overdraw(gofer::schedule::random(seed, 0.5)) < 0) found = seed;
  ASSERT_NE(found, ~0ull) << "no seed in 1000 overdrew the account";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(overdraw(gofer::schedule::random(found, 0.5)), -60);
  EXPECT_EQ(overdraw(gofer::schedule::random(found)), 20);  // without yields: no preemption
}

TEST(schedule, gofer_schedule_is_parsed_strictly) {
  auto s = gofer::detail::parse_schedule("random:42:yield=0.25");
  EXPECT_EQ(s.mode, gofer::schedule::kind::random);
  EXPECT_EQ(s.seed, 42u);
  EXPECT_EQ(s.yield_probability, 0.25);
  EXPECT_EQ(gofer::detail::parse_schedule("random:0").seed, 0u);
  for (const char* bad : {"random", "random:", "random:x", "random:1:yield=2", "random:1:yield=", "rand:1", "random:1:p=1"})
    EXPECT_THROW(gofer::detail::parse_schedule(bad), std::invalid_argument) << bad;
}

}  // namespace
}  // namespace gofer_test
