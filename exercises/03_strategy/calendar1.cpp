// calendar1 — spot the bug: the check outside the lock (book, chapter 3: "The project –
// multiuser appointment calendar").
//
// The book's calendar server books an hour for a user: it checks whether the hour is free,
// then takes the lock and writes the booking. The tests fire ten requests for the same hour
// and expect exactly one to win; more than one is told "Successfully Scheduled!". What did
// each request see when it checked, and what does the lock protect? The first test runs the
// rush under 200 seeded schedules, each an interleaving that replays exactly (one thread; a
// request may be switched out at any gofer call, as it could be while rendering a page or
// writing a log): when it fails, it names the seed, and that seed fails every time.
// A panic or a deadlock fails its test with gofer's report (the other tests still run).
//
// Goal: at most one booking per hour, whatever the interleaving, and the tests pass.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/gtest.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

struct calendar {
  gofer::mutex mu;
  std::map<int, std::string> booked;  // hour -> who; guarded by mu
};

// Books `hour` for `who`: returns "Successfully Scheduled!", or "Booked!" if the hour is
// taken.
std::string schedule(calendar& cal, const std::string& who, int hour) {
  // TODO: can another request book this hour between the check and the write?
  if (cal.booked.count(hour) != 0) return "Booked!";
  std::lock_guard<gofer::mutex> lk(cal.mu);
  cal.booked[hour] = who;
  return "Successfully Scheduled!";
}

// ---- the tests: no need to change anything below ----

// Ten users ask for `hour` at once; returns how many were told they got it.
int rush(calendar& cal, int hour) {
  std::vector<std::string> answers(10);
  gofer::wait_group wg;
  for (int u = 0; u < 10; ++u) {
    wg.add(1);
    gofer::go(gofer::named{"user-" + std::to_string(u)}, [&, u] {
      answers[u] = schedule(cal, "user" + std::to_string(u), hour);
      wg.done();
    });
  }
  wg.wait();
  int won = 0;
  for (const auto& a : answers) won += a == "Successfully Scheduled!";
  return won;
}

// 200 schedules, each one seed of gofer::schedule::random (runtime.hpp): one thread, and at
// every gofer call (here: taking the lock) a switch to another request with probability
// 1/2, all drawn from the seed. A seed is one interleaving, the same every run: the first
// seed that double-books is named, and fails the same way each time you run the test.
TEST(calendar1, one_winner_per_hour_under_200_seeded_schedules) {
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    calendar cal;
    int won = 0;
    ASSERT_GOFER_OK(gofer::testing::run([&] { won = rush(cal, 9); },
                                        {.schedule = gofer::schedule::random(seed, 0.5)}));
    ASSERT_EQ(won, 1) << "seed " << seed << " booked hour 9 " << won << " times";
    EXPECT_EQ(cal.booked.size(), 1u);
  }
}

TEST(calendar1, one_winner_per_hour_on_two_threads) {
  calendar cal;
  int won = 0;
  ASSERT_GOFER_OK(gofer::testing::run([&] { won = rush(cal, 10) + rush(cal, 11); }, {.threads = 2}));
  EXPECT_EQ(won, 2);
  EXPECT_EQ(cal.booked.size(), 2u);
}

TEST(calendar1, a_free_hour_can_be_booked_and_then_is_taken) {
  calendar cal;
  std::string first, second;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    first = schedule(cal, "Bill", 9);
    second = schedule(cal, "Ann", 9);
  }));
  EXPECT_EQ(first, "Successfully Scheduled!");
  EXPECT_EQ(second, "Booked!");
  EXPECT_EQ(cal.booked[9], "Bill");
}
