// tests/select_stress_test.cpp — select under contention (label `stress`).
//
//   select_stress.selectors_and_producers_exactly_once
//       producers offer each value on two shared channels (send cases), selectors receive
//       from all channels with an after() timeout case; a pause makes every selector time
//       out while values are in flight: every value is received exactly once
//   select_stress.closers_racing_selects
//       the same while a closer shuts the channels down mid-stream: a send case that
//       returned was received exactly once, one that panicked ("send on closed channel")
//       never; every goroutine finishes
//   select_stress.send_cases_racing_receivers
//       each value offered on three channels; plain receivers and selecting receivers race:
//       delivered exactly once, on the channel whose index select returned
//   select_stress.lvalue_send_cases_move_only_the_chosen_value
//       the same with move-only values offered from lvalues (send_case(ch, T&)): the chosen
//       variable is moved from, by whichever thread completes the case, and no other
//   select_stress.timeouts_racing_unbuffered_handoffs
//       senders park on an unbuffered channel, selectors race after(0..20us) timers against
//       them: a timeout never swallows a value
//
// Parameterised over 2 and 4 scheduler threads; channels are a mix of unbuffered and
// buffered. Sizes keep each test within a few seconds on two cores. Nothing sleeps.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gofer/gofer.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using namespace std::chrono_literals;

class select_stress : public threads_test {};

constexpr unsigned kStressThreads[] = {2, 4};

template <std::size_t K>
using chans = std::array<gofer::chan<int>, K>;

template <std::size_t K>
chans<K> make_chans(const std::array<std::size_t, K>& caps) {
  chans<K> cs;
  for (std::size_t i = 0; i < K; ++i) cs[i] = gofer::chan<int>(caps[i]);
  return cs;
}

// One select over a receive case per channel of `cs` (nil ones included) and a timeout
// case on after(timeout) (0: the timer fires on the next scheduler pass, racing the values). Returns the case index (K: timed out); `out` gets the value.
template <std::size_t K, std::size_t... I>
std::size_t select_recv_or_timeout(chans<K>& cs, std::array<std::optional<int>, K>& out,
                                   std::chrono::nanoseconds timeout, std::index_sequence<I...>) {
  return gofer::select(gofer::recv_case(cs[I], out[I])..., gofer::recv_case(gofer::after(timeout)));
}

// What a value's receivers did: how often it was received (must end at 0 or 1).
struct tally {
  explicit tally(std::size_t n) : times(n) {}
  std::vector<std::atomic<int>> times;
  std::atomic<long> received{0};
  std::atomic<long> timeouts{0};

  void got(int v) {
    if (v >= 0 && static_cast<std::size_t>(v) < times.size()) {
      times[v].fetch_add(1, std::memory_order_relaxed);
    } else {
      bogus.fetch_add(1);
    }
    received.fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<long> bogus{0};
};

// A selector: receives from every channel (own copies of the handles) until each is closed
// and drained, setting a closed one to nil (the Go idiom); counts timeouts.
// The timeout cycles through 0, timeout, 2 * timeout, 3 * timeout.
template <std::size_t K>
void selector(chans<K> cs, tally& t, std::chrono::nanoseconds timeout) {
  std::size_t open = K;
  for (unsigned i = 0; open > 0; ++i) {
    std::array<std::optional<int>, K> out;
    std::size_t k = select_recv_or_timeout(cs, out, timeout * (i % 4), std::make_index_sequence<K>());
    if (k == K) {
      t.timeouts.fetch_add(1, std::memory_order_relaxed);
    } else if (out[k]) {
      t.got(*out[k]);
    } else {
      cs[k] = nullptr;
      --open;
    }
    for (std::size_t i = 0; i < K; ++i) {
      if (i != k && out[i]) t.bogus.fetch_add(1);  // a case that did not fire stored a value
    }
  }
}

// Describes values whose receive count differs from want(v); "" if none.
template <class Want>
std::string check_times(const tally& t, Want want) {
  std::string problems;
  int reported = 0;
  for (std::size_t v = 0; v < t.times.size(); ++v) {
    int n = t.times[v].load();
    if (n != want(v) && reported++ < 10) {
      problems += "value " + std::to_string(v) + " received " + std::to_string(n) + " times, want " +
                  std::to_string(want(v)) + "\n";
    }
  }
  if (t.bogus.load() != 0) problems += std::to_string(t.bogus.load()) + " bogus values/stores\n";
  return problems;
}

TEST_P(select_stress, selectors_and_producers_exactly_once) {
  constexpr std::size_t K = 4;
  constexpr int kProducers = 4, kEach = 50000, kSelectors = 4;
  constexpr int kTotal = kProducers * kEach;
  tally t(kTotal);
  long timeouts_in_pause = -1;
  bool paused_timeouts_seen = false;
  run_main(threads(), [&] {
    chans<K> cs = make_chans<K>({0, 1, 0, 16});
    gofer::wait_group producers, at_gate, selectors;
    gofer::chan<int> gate;  // closed to end the pause
    producers.add(kProducers);
    at_gate.add(kProducers);
    for (int p = 0; p < kProducers; ++p) {
      gofer::go([&, cs, gate, p]() {
        for (int i = 0; i < kEach; ++i) {
          if (i == kEach / 2) {  // the pause: selectors must keep timing out, losing nothing
            at_gate.done();
            gate.recv();
          }
          int v = p * kEach + i;
          std::size_t a = static_cast<std::size_t>(i + p) % K, b = (a + 1 + p % (K - 1)) % K;
          gofer::select(gofer::send_case(cs[a], v), gofer::send_case(cs[b], v));
        }
        producers.done();
      });
    }
    selectors.add(kSelectors);
    for (int s = 0; s < kSelectors; ++s) {
      gofer::go([&, cs, s] {
        selector(cs, t, std::chrono::microseconds(5 + 5 * s));
        selectors.done();
      });
    }
    at_gate.wait();
    // No producer sends now: once the buffers are drained, every selector times out.
    long before = t.timeouts.load();
    paused_timeouts_seen = eventually([&] { return t.timeouts.load() >= before + 2 * kSelectors; });
    timeouts_in_pause = t.timeouts.load() - before;
    gate.close();
    producers.wait();
    for (auto& c : cs) c.close();
    selectors.wait();
  });
  EXPECT_TRUE(paused_timeouts_seen) << "selectors did not time out while nothing was sent";
  EXPECT_GE(timeouts_in_pause, 2 * kSelectors);
  EXPECT_EQ(t.received.load(), kTotal);
  EXPECT_EQ(check_times(t, [](std::size_t) { return 1; }), "");
  std::printf("[   INFO   ] %ld values, %ld timeouts\n", t.received.load(), t.timeouts.load());
}

TEST_P(select_stress, closers_racing_selects) {
  constexpr std::size_t K = 3;
  constexpr int kProducers = 4, kEach = 40000, kSelectors = 3;
  constexpr int kTotal = kProducers * kEach;
  for (int round = 0; round < 3; ++round) {
    tally t(kTotal);
    std::vector<std::atomic<int>> sent(kTotal);  // 1: its select returned; 2: it panicked
    std::atomic<int> other_errors{0};
    run_main(threads(), [&] {
      chans<K> cs = make_chans<K>({0, 1, 8});
      gofer::wait_group all;
      all.add(kProducers + kSelectors + 1);
      for (int p = 0; p < kProducers; ++p) {
        gofer::go([&, cs, p]() {
          for (int i = 0; i < kEach; ++i) {
            int v = p * kEach + i;
            std::size_t a = static_cast<std::size_t>(i) % K, b = (a + 1 + p % 2) % K;
            std::string err = panic_text([&] { gofer::select(gofer::send_case(cs[a], v), gofer::send_case(cs[b], v)); });
            if (err.empty()) {
              sent[v] = 1;
            } else {
              sent[v] = 2;
              if (err != "send on closed channel") other_errors.fetch_add(1);
              break;  // this producer is done
            }
          }
          all.done();
        });
      }
      for (int s = 0; s < kSelectors; ++s) {
        gofer::go([&, cs] {
          selector(cs, t, 10us);
          all.done();
        });
      }
      gofer::go([&, cs]() {  // the closer: shuts the channels down mid-stream
        long at = kTotal / 4 + round * kTotal / 6;
        eventually([&] { return t.received.load() >= at; });
        for (auto& c : cs) {
          c.close();
          gofer::yield();
        }
        all.done();
      });
      all.wait();
    });
    EXPECT_EQ(other_errors.load(), 0);
    long sent_ok = 0, panicked = 0;
    for (auto& s : sent) {
      sent_ok += s.load() == 1;
      panicked += s.load() == 2;
    }
    EXPECT_EQ(t.received.load(), sent_ok) << "round " << round;
    EXPECT_LE(panicked, kProducers);
    EXPECT_EQ(check_times(t, [&](std::size_t v) { return sent[v].load() == 1 ? 1 : 0; }), "")
        << "round " << round;
    EXPECT_LT(sent_ok, kTotal) << "round " << round << ": the close raced nothing";
  }
}

TEST_P(select_stress, send_cases_racing_receivers) {
  constexpr std::size_t K = 3;
  constexpr int kSenders = 4, kEach = 100000, kPlainReceivers = 3, kSelectingReceivers = 2;
  constexpr int kTotal = kSenders * kEach;
  std::vector<std::atomic<int>> chosen(kTotal), received_on(kTotal), times(kTotal);
  for (auto& c : chosen) c = -1;
  for (auto& r : received_on) r = -1;
  std::atomic<long> bogus{0};
  run_main(threads(), [&] {
    chans<K> cs = make_chans<K>({0, 0, 4});
    gofer::wait_group senders, receivers;
    senders.add(kSenders);
    for (int s = 0; s < kSenders; ++s) {
      gofer::go([&, cs, s]() {
        for (int i = 0; i < kEach; ++i) {
          int v = s * kEach + i;
          chosen[v] = static_cast<int>(
              gofer::select(gofer::send_case(cs[0], v), gofer::send_case(cs[1], v), gofer::send_case(cs[2], v)));
        }
        senders.done();
      });
    }
    auto record = [&](int v, std::size_t on) {
      if (v < 0 || v >= kTotal) {
        bogus.fetch_add(1);
        return;
      }
      times[v].fetch_add(1);
      received_on[v] = static_cast<int>(on);
    };
    receivers.add(kPlainReceivers + kSelectingReceivers);
    for (int r = 0; r < kPlainReceivers; ++r) {  // one per channel: plain recv
      gofer::go([&, c = cs[r], r]() {
        for (int v : c) record(v, static_cast<std::size_t>(r));
        receivers.done();
      });
    }
    for (int r = 0; r < kSelectingReceivers; ++r) {
      gofer::go([&, cs]() mutable {  // it nils out the copies of closed channels
        std::size_t open = K;
        while (open > 0) {
          std::optional<int> o0, o1, o2;
          std::size_t k = gofer::select(gofer::recv_case(cs[0], o0), gofer::recv_case(cs[1], o1),
                                        gofer::recv_case(cs[2], o2));
          std::optional<int>& o = k == 0 ? o0 : k == 1 ? o1 : o2;
          if (o) {
            record(*o, k);
          } else {
            cs[k] = nullptr;
            --open;
          }
        }
        receivers.done();
      });
    }
    senders.wait();
    for (auto& c : cs) c.close();
    receivers.wait();
  });
  EXPECT_EQ(bogus.load(), 0);
  int wrong_times = 0, wrong_channel = 0;
  std::string first;
  for (int v = 0; v < kTotal; ++v) {
    if (times[v].load() != 1) {
      if (wrong_times++ == 0) first = "value " + std::to_string(v) + " received " + std::to_string(times[v].load()) + " times";
    } else if (received_on[v].load() != chosen[v].load()) {
      if (wrong_channel++ == 0) {
        first = "value " + std::to_string(v) + " sent on case " + std::to_string(chosen[v].load()) +
                " but received on channel " + std::to_string(received_on[v].load());
      }
    }
  }
  EXPECT_EQ(wrong_times, 0) << first;
  EXPECT_EQ(wrong_channel, 0) << first;
}

TEST_P(select_stress, lvalue_send_cases_move_only_the_chosen_value) {
  // The lvalue form of send_case: the receiver that completes a parked case moves the value
  // out of the selecting goroutine's own variable, from another thread. Each selector
  // offers one move-only value per channel, in three variables: after select returns k,
  // exactly variable k is empty and every other one still holds its value; every value
  // received arrives once.
  constexpr std::size_t K = 3;
  constexpr int kSenders = 4, kEach = 50000;
  constexpr int kTotal = kSenders * kEach;
  std::vector<std::atomic<int>> times(kTotal);
  std::atomic<long> bogus{0}, wrong_moves{0};
  using box = std::unique_ptr<int>;
  run_main(threads(), [&] {
    std::array<gofer::chan<box>, K> cs{gofer::chan<box>(0), gofer::chan<box>(0), gofer::chan<box>(2)};
    gofer::wait_group senders, receivers;
    senders.add(kSenders);
    for (int s = 0; s < kSenders; ++s) {
      gofer::go([&, cs, s] {
        for (int i = 0; i < kEach; ++i) {
          const int v = s * kEach + i;
          std::array<box, K> offer{std::make_unique<int>(v), std::make_unique<int>(v), std::make_unique<int>(v)};
          std::size_t k = gofer::select(gofer::send_case(cs[0], offer[0]), gofer::send_case(cs[1], offer[1]),
                                        gofer::send_case(cs[2], offer[2]));
          for (std::size_t j = 0; j < K; ++j) {
            if ((offer[j] == nullptr) != (j == k) || (offer[j] && *offer[j] != v)) wrong_moves.fetch_add(1);
          }
        }
        senders.done();
      });
    }
    receivers.add(K);
    for (std::size_t r = 0; r < K; ++r) {
      gofer::go([&, c = cs[r]] {
        for (box& b : c) {
          if (!b || *b < 0 || *b >= kTotal) {
            bogus.fetch_add(1);
          } else {
            times[*b].fetch_add(1);
          }
        }
        receivers.done();
      });
    }
    senders.wait();
    for (auto& c : cs) c.close();
    receivers.wait();
  });
  EXPECT_EQ(bogus.load(), 0) << "an empty (moved-from) or unknown value was received";
  EXPECT_EQ(wrong_moves.load(), 0) << "a send case moved from a value it did not send, or kept one it sent";
  int wrong_times = 0;
  for (int v = 0; v < kTotal; ++v) wrong_times += times[v].load() != 1;
  EXPECT_EQ(wrong_times, 0) << "values not received exactly once";
}

TEST_P(select_stress, timeouts_racing_unbuffered_handoffs) {
  constexpr int kSenders = 4, kEach = 50000, kSelectors = 4;
  constexpr int kTotal = kSenders * kEach;
  tally t(kTotal);
  run_main(threads(), [&] {
    gofer::chan<int> c;
    gofer::wait_group senders, selectors;
    senders.add(kSenders);
    for (int s = 0; s < kSenders; ++s) {
      gofer::go([&, c, s]() {
        for (int i = 0; i < kEach; ++i) {
          c.send(s * kEach + i);
          if (i % 64 == 0) {
            for (int y = 0; y < 20; ++y) gofer::yield();  // gaps in which timers win
          }
        }
        senders.done();
      });
    }
    selectors.add(kSelectors);
    for (int s = 0; s < kSelectors; ++s) {
      gofer::go([&, c, s]() {
        for (unsigned i = static_cast<unsigned>(s);; ++i) {
          std::optional<int> v;
          auto timeout = std::chrono::microseconds(i % 3 == 0 ? 0 : i % 20);
          std::size_t k = gofer::select(gofer::recv_case(c, v), gofer::recv_case(gofer::after(timeout)));
          if (k == 1) {
            t.timeouts.fetch_add(1, std::memory_order_relaxed);
            if (v) t.bogus.fetch_add(1);
          } else if (v) {
            t.got(*v);
          } else {
            break;  // closed
          }
        }
        selectors.done();
      });
    }
    senders.wait();
    c.close();
    selectors.wait();
  });
  EXPECT_EQ(t.received.load(), kTotal);
  EXPECT_EQ(check_times(t, [](std::size_t) { return 1; }), "");
  std::printf("[   INFO   ] %ld values, %ld timeouts\n", t.received.load(), t.timeouts.load());
}

INSTANTIATE_TEST_SUITE_P(, select_stress, ::testing::ValuesIn(kStressThreads), threads_name);

}  // namespace
}  // namespace gofer_test
