// tests/chan_stress_test.cpp — channels under contention (label `stress`, 300 s each).
//
//   chan_stress.mpmc/...              producers × consumers on one channel: nothing lost,
//                                     nothing duplicated, per-producer FIFO per consumer
//   chan_stress.senders_racing_close  every send either is delivered or throws
//   chan_stress.try_send_racing_close every try_send is delivered, refused, or throws
//   chan_stress.receivers_racing_close  every value received once, every receiver ends
//   chan_stress.concurrent_close_exactly_one_wins
//
// Parameterised over 2 and 4 scheduler threads and capacities 0, 1, 16, 1024. Sizes are
// chosen to keep each test within a few seconds on two cores. Nothing sleeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "gofer/gofer.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

struct item {
  int producer;
  int seq;
};

// (threads, capacity)
using stress_param = std::tuple<unsigned, std::size_t>;

std::string stress_name(const ::testing::TestParamInfo<stress_param>& info) {
  return "threads_" + std::to_string(std::get<0>(info.param)) + "_cap_" +
         std::to_string(std::get<1>(info.param));
}

class chan_stress : public ::testing::TestWithParam<stress_param> {
 protected:
  unsigned threads() const { return std::get<0>(GetParam()); }
  std::size_t cap() const { return std::get<1>(GetParam()); }
};

// Checks what consumers received from `producers` producers that each sent seq 0..each-1:
// every (producer, seq) exactly once overall, and each consumer saw each producer's seqs in
// increasing order. Returns a description of the first problems ("" if none).
std::string check_delivery(const std::vector<std::vector<item>>& per_consumer, int producers,
                           const std::vector<int>& sent_per_producer) {
  std::string problems;
  int reported = 0;
  auto report = [&](const std::string& s) {
    if (reported++ < 10) problems += s + "\n";
  };
  std::vector<std::vector<int>> times(producers);
  for (int p = 0; p < producers; ++p) times[p].assign(sent_per_producer[p], 0);
  for (std::size_t c = 0; c < per_consumer.size(); ++c) {
    std::vector<int> last(producers, -1);
    for (const item& it : per_consumer[c]) {
      if (it.producer < 0 || it.producer >= producers || it.seq < 0 ||
          it.seq >= sent_per_producer[it.producer]) {
        report("consumer " + std::to_string(c) + " got a value never sent: (" +
               std::to_string(it.producer) + ", " + std::to_string(it.seq) + ")");
        continue;
      }
      ++times[it.producer][it.seq];
      if (it.seq <= last[it.producer]) {
        report("consumer " + std::to_string(c) + ": producer " + std::to_string(it.producer) +
               " seq " + std::to_string(it.seq) + " after " + std::to_string(last[it.producer]));
      }
      last[it.producer] = it.seq;
    }
  }
  for (int p = 0; p < producers; ++p) {
    for (int s = 0; s < sent_per_producer[p]; ++s) {
      if (times[p][s] != 1) {
        report("(" + std::to_string(p) + ", " + std::to_string(s) + ") received " +
               std::to_string(times[p][s]) + " times");
      }
    }
  }
  if (reported > 10) problems += "... " + std::to_string(reported - 10) + " more\n";
  return problems;
}

// P producers send (p, 0..each-1); C consumers range over the channel; a closer goroutine
// closes it after every producer finished.
void mpmc(unsigned threads, std::size_t cap, int producers, int consumers, int each) {
  gofer::chan<item> c(cap);
  std::vector<std::vector<item>> got(consumers);
  gofer::wait_group producers_done, consumers_done;
  run_main(threads, [&] {
    producers_done.add(producers);
    consumers_done.add(consumers);
    for (int k = 0; k < consumers; ++k) {
      gofer::go([c, &got, &consumers_done, k]() {
        for (item it : c) got[k].push_back(it);
        consumers_done.done();
      });
    }
    for (int p = 0; p < producers; ++p) {
      gofer::go([c, &producers_done, p, each]() {
        for (int s = 0; s < each; ++s) c.send(item{p, s});
        producers_done.done();
      });
    }
    gofer::go([c, &producers_done]() {
      producers_done.wait();
      c.close();
    });
    consumers_done.wait();
  });
  std::size_t total = 0;
  for (const auto& v : got) total += v.size();
  EXPECT_EQ(total, static_cast<std::size_t>(producers) * each);
  EXPECT_EQ(check_delivery(got, producers, std::vector<int>(producers, each)), "");
  if (consumers == 1) {
    // One consumer sees the whole channel order: each producer's values, consecutively
    // numbered, interleaved in some way.
    std::vector<int> next(producers, 0);
    int out_of_order = 0;
    for (const item& it : got[0]) {
      if (it.seq != next[it.producer]++) ++out_of_order;
    }
    EXPECT_EQ(out_of_order, 0);
  }
}

TEST_P(chan_stress, mpmc_one_consumer_per_producer_fifo) {
  const int each = cap() == 0 ? 10'000 : 25'000;
  mpmc(threads(), cap(), 8, 1, each);
}

TEST_P(chan_stress, mpmc_many_consumers_no_loss_no_duplicate) {
  const int each = cap() == 0 ? 10'000 : 25'000;
  mpmc(threads(), cap(), 8, 6, each);
}

TEST_P(chan_stress, spsc_fifo) {
  mpmc(threads(), cap(), 1, 1, cap() == 0 ? 50'000 : 200'000);
}

// Senders send until their send throws; main closes the channel while they are busy and a
// receiver drains concurrently. Every send that returned was delivered; the one that threw
// was not; each sender ends with exactly one panic.
TEST_P(chan_stress, senders_racing_close) {
  constexpr int kSenders = 4, kRounds = 150, kCloseAfter = 64;
  std::atomic<int> bad_messages{0};
  for (int round = 0; round < kRounds; ++round) {
    gofer::chan<item> c(cap());
    std::vector<int> delivered(kSenders, 0);  // sends that returned normally
    std::vector<int> panics(kSenders, 0);
    std::vector<std::vector<item>> got(1);
    gofer::wait_group wg;
    run_main(threads(), [&] {
      gofer::chan<int> halfway(1);
      wg.add(kSenders + 1);
      gofer::go([&, c, halfway]() {
        for (item it : c) {
          got[0].push_back(it);
          if (got[0].size() == kCloseAfter) halfway.send(0);
        }
        wg.done();
      });
      for (int s = 0; s < kSenders; ++s) {
        gofer::go([&, c, s]() {
          for (int seq = 0;; ++seq) {
            std::string msg = panic_text([&] { c.send(item{s, seq}); });
            if (!msg.empty()) {
              ++panics[s];
              if (msg != "send on closed channel") ++bad_messages;
              break;
            }
            ++delivered[s];
          }
          wg.done();
        });
      }
      halfway.recv();
      c.close();
      wg.wait();
    });
    ASSERT_EQ(panics, std::vector<int>(kSenders, 1)) << "round " << round;
    ASSERT_EQ(check_delivery(got, kSenders, delivered), "") << "round " << round;
    std::size_t sum = 0;
    for (int d : delivered) sum += d;
    ASSERT_EQ(got[0].size(), sum) << "round " << round;
  }
  EXPECT_EQ(bad_messages.load(), 0);
}

TEST_P(chan_stress, try_send_racing_close) {
  constexpr int kSenders = 4, kRounds = 150, kCloseAfter = 64;
  for (int round = 0; round < kRounds; ++round) {
    gofer::chan<item> c(cap());
    std::vector<int> delivered(kSenders, 0);
    std::vector<int> panics(kSenders, 0);
    std::vector<int> kept_value(kSenders, 0);  // refused try_sends left their value intact
    std::vector<std::vector<item>> got(1);
    gofer::wait_group wg;
    run_main(threads(), [&] {
      gofer::chan<int> halfway(1);
      wg.add(kSenders + 1);
      gofer::go([&, c, halfway]() {
        for (item it : c) {
          got[0].push_back(it);
          if (got[0].size() == kCloseAfter) halfway.send(0);
        }
        wg.done();
      });
      for (int s = 0; s < kSenders; ++s) {
        gofer::go([&, c, s]() {
          int seq = 0;
          for (;;) {
            item v{s, seq};
            bool ok = false;
            std::string msg = panic_text([&] { ok = c.try_send(v); });
            if (!msg.empty()) {
              ++panics[s];
              break;
            }
            if (ok) {
              ++delivered[s];
              ++seq;
            } else {
              if (v.producer == s && v.seq == seq) ++kept_value[s];
              gofer::yield();
            }
          }
          wg.done();
        });
      }
      halfway.recv();
      c.close();
      wg.wait();
    });
    ASSERT_EQ(panics, std::vector<int>(kSenders, 1)) << "round " << round;
    ASSERT_EQ(check_delivery(got, kSenders, delivered), "") << "round " << round;
    std::size_t sum = 0;
    for (int d : delivered) sum += d;
    ASSERT_EQ(got[0].size(), sum) << "round " << round;
  }
}

// One sender sends `each` values and closes while several receivers are still taking the
// last ones: every value arrives exactly once, every receiver sees the close and ends.
TEST_P(chan_stress, receivers_racing_close) {
  constexpr int kReceivers = 6, kRounds = 150, kEach = 300;
  for (int round = 0; round < kRounds; ++round) {
    gofer::chan<item> c(cap());
    std::vector<std::vector<item>> got(kReceivers);
    std::atomic<int> saw_close{0};
    gofer::wait_group wg;
    run_main(threads(), [&] {
      wg.add(kReceivers);
      for (int r = 0; r < kReceivers; ++r) {
        gofer::go([&, c, r]() {
          while (auto v = c.recv()) got[r].push_back(*v);
          saw_close.fetch_add(1);
          wg.done();
        });
      }
      gofer::go([c]() {
        for (int s = 0; s < kEach; ++s) c.send(item{0, s});
        c.close();
      });
      wg.wait();
    });
    ASSERT_EQ(saw_close.load(), kReceivers) << "round " << round;
    ASSERT_EQ(check_delivery(got, 1, {kEach}), "") << "round " << round;
  }
}

TEST_P(chan_stress, concurrent_close_exactly_one_wins) {
  constexpr int kClosers = 4, kRounds = 300;
  for (int round = 0; round < kRounds; ++round) {
    gofer::chan<int> c(cap());
    std::atomic<int> wins{0}, losses{0}, other{0};
    gofer::wait_group wg;
    run_main(threads(), [&] {
      wg.add(kClosers);
      for (int k = 0; k < kClosers; ++k) {
        gofer::go([&, c]() {
          std::string msg = panic_text([&] { c.close(); });
          if (msg.empty()) {
            wins.fetch_add(1);
          } else if (msg == "close of closed channel") {
            losses.fetch_add(1);
          } else {
            other.fetch_add(1);
          }
          wg.done();
        });
      }
      wg.wait();
    });
    ASSERT_EQ(wins.load(), 1) << "round " << round;
    ASSERT_EQ(losses.load(), kClosers - 1) << "round " << round;
    ASSERT_EQ(other.load(), 0) << "round " << round;
  }
}

INSTANTIATE_TEST_SUITE_P(, chan_stress,
                         ::testing::Combine(::testing::Values(2u, 4u),
                                            ::testing::Values(std::size_t{0}, std::size_t{1},
                                                              std::size_t{16}, std::size_t{1024})),
                         stress_name);

}  // namespace
}  // namespace gofer_test
