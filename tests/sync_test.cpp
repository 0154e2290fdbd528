// tests/sync_test.cpp — gofer::wait_group (sync.WaitGroup), under 1, 2 and 4 threads.
//
// The table of gofer/sync.hpp, one test per cell: add/done/wait with counter > 0, == 0,
// and an add that would make it negative; plus many waiters, reuse, and the memory
// ordering (every done() happens before the wait() it releases returns).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gofer/gofer.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

constexpr const char* kNegative = "sync: negative WaitGroup counter";

class sync : public threads_test {};

TEST_P(sync, wait_group_zero_value_wait_returns_at_once) {
  bool returned = false;
  run_main(threads(), [&] {
    gofer::wait_group wg;
    EXPECT_EQ(wg.count(), 0);
    wg.wait();  // counter 0: must not park (nobody would ever wake it)
    wg.wait();
    returned = true;
  });
  EXPECT_TRUE(returned);
}

TEST_P(sync, wait_group_add_done_wait) {
  constexpr int kWorkers = 20;
  std::atomic<int> finished{0};
  int finished_at_wait = -1;
  gofer::wait_group wg;
  run_main(threads(), [&] {
    for (int i = 0; i < kWorkers; ++i) {
      wg.add(1);
      gofer::go([&] {
        gofer::yield();
        finished.fetch_add(1);
        wg.done();
      });
    }
    EXPECT_GE(wg.count(), 0);
    wg.wait();
    finished_at_wait = finished.load();
    EXPECT_EQ(wg.count(), 0);
  });
  EXPECT_EQ(finished_at_wait, kWorkers);
}

TEST_P(sync, wait_group_add_n_at_once) {
  constexpr int kWorkers = 7;
  std::atomic<int> finished{0};
  int finished_at_wait = -1;
  gofer::wait_group wg;
  run_main(threads(), [&] {
    wg.add(kWorkers);
    EXPECT_EQ(wg.count(), kWorkers);
    for (int i = 0; i < kWorkers; ++i) {
      gofer::go([&] {
        finished.fetch_add(1);
        wg.done();
      });
    }
    wg.wait();
    finished_at_wait = finished.load();
  });
  EXPECT_EQ(finished_at_wait, kWorkers);
}

TEST_P(sync, wait_group_wait_parks_until_the_last_done) {
  gofer::wait_group wg;
  gofer::chan<int> released(1);
  gofer::chan<int> step;
  bool early = true, late = false;
  run_main(threads(), [&] {
    wg.add(2);
    gofer::go([&, released, step]() mutable {
      step.send(0);  // tells main the waiter is about to wait
      wg.wait();
      released.send(1);
    });
    step.recv();
    wg.done();  // counter 1: the waiter stays parked
    for (int i = 0; i < 100; ++i) gofer::yield();
    early = released.try_recv().has_value();
    EXPECT_EQ(wg.count(), 1);
    wg.done();  // counter 0: releases it
    late = released.recv().has_value();
  });
  EXPECT_FALSE(early) << "wait() returned while the counter was still 1";
  EXPECT_TRUE(late);
}

TEST_P(sync, wait_group_done_happens_before_wait_returns) {
  // Plain (non-atomic) writes before done() must be visible after wait() (Go's memory model).
  constexpr int kWorkers = 16;
  for (int round = 0; round < 20; ++round) {
    std::vector<int> slots(kWorkers, 0);
    std::vector<int> seen;
    gofer::wait_group wg;
    run_main(threads(), [&] {
      wg.add(kWorkers);
      for (int i = 0; i < kWorkers; ++i) {
        gofer::go([&, i] {
          slots[i] = i + 1;
          wg.done();
        });
      }
      wg.wait();
      seen = slots;
    });
    for (int i = 0; i < kWorkers; ++i) EXPECT_EQ(seen[i], i + 1) << "round " << round;
  }
}

TEST_P(sync, wait_group_negative_counter_panics_and_leaves_counter_unchanged) {
  gofer::wait_group wg;
  std::string add_msg, done_msg;
  std::int64_t after_add = -100, after_done = -100;
  run_main(threads(), [&] {
    wg.add(1);
    add_msg = panic_text([&] { wg.add(-2); });
    after_add = wg.count();
    wg.done();
    done_msg = panic_text([&] { wg.done(); });
    after_done = wg.count();
    wg.wait();  // the counter is 0 again: returns
  });
  EXPECT_EQ(add_msg, kNegative);
  EXPECT_EQ(after_add, 1);
  EXPECT_EQ(done_msg, kNegative);
  EXPECT_EQ(after_done, 0);
}

TEST(sync_outside_run, wait_group_negative_counter_panics) {
  gofer::wait_group wg;
  EXPECT_EQ(panic_text([&] { wg.done(); }), kNegative);
  EXPECT_EQ(wg.count(), 0);
  wg.add(3);
  EXPECT_EQ(panic_text([&] { wg.add(-4); }), kNegative);
  EXPECT_EQ(wg.count(), 3);
}

TEST(sync_outside_run, wait_group_wait_with_nonzero_counter_throws_logic_error) {
  gofer::wait_group wg;
  wg.add(1);
  EXPECT_THROW(wg.wait(), std::logic_error);
  EXPECT_EQ(wg.count(), 1);
  wg.done();
  EXPECT_NO_THROW(wg.wait());
}

TEST_P(sync, wait_group_negative_add_to_zero_releases_waiters) {
  gofer::wait_group wg;
  gofer::chan<int> released(1);
  bool got = false;
  run_main(threads(), [&] {
    wg.add(3);
    gofer::go([&, released]() mutable {
      wg.wait();
      released.send(1);
    });
    wg.add(-3);
    got = released.recv().has_value();
  });
  EXPECT_TRUE(got);
}

TEST_P(sync, wait_group_many_waiters_all_released) {
  constexpr int kWaiters = 50;
  gofer::wait_group wg, waiters_started, waiters_done;
  std::atomic<int> released{0};
  int released_before = -1;
  run_main(threads(), [&] {
    wg.add(1);
    waiters_started.add(kWaiters);
    waiters_done.add(kWaiters);
    for (int i = 0; i < kWaiters; ++i) {
      gofer::go([&] {
        waiters_started.done();
        wg.wait();
        released.fetch_add(1);
        waiters_done.done();
      });
    }
    waiters_started.wait();
    for (int i = 0; i < 100; ++i) gofer::yield();  // let them park (on one thread: all parked)
    released_before = released.load();
    wg.done();
    waiters_done.wait();
  });
  EXPECT_EQ(released_before, 0);
  EXPECT_EQ(released.load(), kWaiters);
}

TEST_P(sync, wait_group_reuse_after_wait_returned) {
  constexpr int kRounds = 100, kWorkers = 4;
  gofer::wait_group wg;
  std::atomic<int> total{0};
  bool each_round_complete = true;
  run_main(threads(), [&] {
    for (int r = 0; r < kRounds; ++r) {
      wg.add(kWorkers);
      for (int i = 0; i < kWorkers; ++i) {
        gofer::go([&] {
          total.fetch_add(1);
          wg.done();
        });
      }
      wg.wait();
      each_round_complete = each_round_complete && total.load() == (r + 1) * kWorkers;
    }
  });
  EXPECT_TRUE(each_round_complete);
  EXPECT_EQ(total.load(), kRounds * kWorkers);
}

TEST_P(sync, wait_group_waiter_left_at_exit_is_unwound) {
  std::atomic<int> unwound{0}, returned{0};
  gofer::wait_group wg;
  run_main(threads(), [&] {
    wg.add(1);
    gofer::chan<int> started;
    gofer::go([&, started]() mutable {
      destroy_counter guard(unwound);
      started.send(0);
      wg.wait();
      returned = 1;
    });
    started.recv();
  });
  EXPECT_EQ(returned.load(), 0);
  EXPECT_EQ(unwound.load(), 1);
  EXPECT_EQ(wg.count(), 1);
}

INSTANTIATE_TEST_SUITE_P(, sync, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
