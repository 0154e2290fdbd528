// tests/chan_test.cpp — gofer::chan, send_chan, recv_chan: the operation × outcome matrix.
//
// One test per cell of the table in gofer/chan.hpp (and of Go's, notes §1.1):
//   send / recv / try_send / try_recv / close / len / cap / range-for
//   × open-ready, open-not-ready, closed, nil; buffered and unbuffered,
// then the ordering rules (unbuffered rendezvous, FIFO buffer, FIFO waiters), move-only
// values, the directional views, handle semantics and use outside gofer::run.
// Every behavioural test runs under 1, 2, 4 and 8 scheduler threads. Nothing sleeps: "G is
// parked" is observed on the channel's waiter queue (test_util.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gofer/gofer.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using gofer::panic_error;

constexpr const char* kSendOnClosed = "send on closed channel";
constexpr const char* kCloseOfClosed = "close of closed channel";
constexpr const char* kCloseOfNil = "close of nil channel";

// Suite `chan`, parameterised over scheduler threads. Every test also checks that no
// `tracked` value outlives it (channels destroy what they buffered, nothing leaks).
class chan : public threads_test {
 protected:
  void SetUp() override { live_at_start_ = tracked::live.load(); }
  void TearDown() override { EXPECT_EQ(tracked::live.load(), live_at_start_) << "leaked tracked values"; }

 private:
  long live_at_start_ = 0;
};

// ---------------------------------------------------------------------------------------
// make, len, cap, nil

TEST_P(chan, default_constructed_is_unbuffered_open_and_not_nil) {
  gofer::chan<int> c;
  EXPECT_EQ(c.cap(), 0u);
  EXPECT_EQ(c.len(), 0u);
  EXPECT_TRUE(static_cast<bool>(c));
  EXPECT_FALSE(c == nullptr);
  int v = 1;
  EXPECT_FALSE(c.try_send(v)) << "an unbuffered channel without a receiver is not ready";
  EXPECT_EQ(v, 1);
}

TEST_P(chan, make_with_capacity_is_buffered) {
  gofer::chan<int> c(3);
  EXPECT_EQ(c.cap(), 3u);
  EXPECT_EQ(c.len(), 0u);
  EXPECT_TRUE(c.try_send(1));
  EXPECT_TRUE(c.try_send(2));
  EXPECT_TRUE(c.try_send(3));
  EXPECT_FALSE(c.try_send(4));
  EXPECT_EQ(c.len(), 3u);
}

TEST_P(chan, make_with_capacity_zero_is_unbuffered) {
  gofer::chan<int> c(std::size_t{0});
  EXPECT_EQ(c.cap(), 0u);
  EXPECT_FALSE(c.try_send(1));
  EXPECT_EQ(c.len(), 0u);
}

// make(chan int, 0) reads gofer::chan<int> c(0); a literal 0 is also a null pointer
// constant, so chan(std::size_t) and chan(std::nullptr_t) must not be ambiguous for it.
template <class C>
concept makeable_with_literal_zero = requires { C(0); };

TEST(chan_api, make_with_literal_zero_capacity_compiles) {
  EXPECT_TRUE(makeable_with_literal_zero<gofer::chan<int>>)
      << "gofer::chan<int> c(0) does not compile (ambiguous with chan(std::nullptr_t))";
}

TEST_P(chan, make_with_negative_capacity_panics) {
  EXPECT_EQ(panic_text([] { gofer::chan<int> c(-1); }), "makechan: size out of range");
}

TEST_P(chan, make_with_absurd_capacity_panics) {
  std::string msg = panic_text([] { gofer::chan<std::uint64_t> c(std::numeric_limits<std::size_t>::max()); });
  EXPECT_EQ(msg, "makechan: size out of range");
}

// Go's makechan bound is the allocation limit (1 << 48 bytes on linux/amd64), not the
// address space: 2^59 eight-byte slots must panic, not throw std::bad_alloc.
TEST_P(chan, make_with_capacity_over_gos_max_alloc_panics) {
  EXPECT_EQ(panic_text([] { gofer::chan<std::int64_t> c(std::uint64_t{1} << 59); }), "makechan: size out of range");
  EXPECT_EQ(panic_text([] { gofer::chan<char> c((std::uint64_t{1} << 48) + 1); }), "makechan: size out of range");
}

TEST_P(chan, nil_channel_has_len_and_cap_zero_and_is_false) {
  gofer::chan<int> c(nullptr);
  EXPECT_EQ(c.len(), 0u);
  EXPECT_EQ(c.cap(), 0u);
  EXPECT_FALSE(static_cast<bool>(c));
  EXPECT_TRUE(c == nullptr);
  gofer::chan<int> d(4);
  d = nullptr;  // assigning nil drops the handle
  EXPECT_TRUE(d == nullptr);
  EXPECT_EQ(d.cap(), 0u);
}

TEST_P(chan, len_counts_buffered_values_also_after_close) {
  gofer::chan<int> c(4);
  EXPECT_EQ(c.len(), 0u);
  c.send(1);
  c.send(2);
  EXPECT_EQ(c.len(), 2u);
  EXPECT_EQ(c.recv(), 1);
  EXPECT_EQ(c.len(), 1u);
  c.close();
  EXPECT_EQ(c.len(), 1u);
  EXPECT_EQ(c.cap(), 4u);
  EXPECT_EQ(c.recv(), 2);
  EXPECT_EQ(c.len(), 0u);
  EXPECT_EQ(c.cap(), 4u);
}

TEST_P(chan, len_of_unbuffered_is_zero_with_parked_sender) {
  gofer::chan<int> c;
  run_main(threads(), [&] {
    gofer::go([c]() { c.send(5); });
    ASSERT_TRUE(wait_parked_senders(c, 1));
    EXPECT_EQ(c.len(), 0u) << "a parked sender is not a buffered value";
    EXPECT_EQ(c.cap(), 0u);
    EXPECT_EQ(c.recv(), 5);
  });
}

// ---------------------------------------------------------------------------------------
// send

TEST_P(chan, send_buffered_with_room_returns_at_once) {
  gofer::chan<int> c(2);
  run_main(threads(), [&] {
    c.send(1);  // nobody receives: must not park
    c.send(2);
    EXPECT_EQ(c.len(), 2u);
  });
  EXPECT_EQ(c.try_recv(), 1);
  EXPECT_EQ(c.try_recv(), 2);
}

TEST_P(chan, send_buffered_is_fifo) {
  gofer::chan<int> c(5);
  run_main(threads(), [&] {
    for (int i = 0; i < 5; ++i) c.send(i);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(c.recv(), i);
  });
}

TEST_P(chan, send_buffered_is_fifo_across_ring_wraparound) {
  gofer::chan<int> c(3);
  std::vector<int> got;
  run_main(threads(), [&] {
    int next = 0;
    for (int round = 0; round < 10; ++round) {  // keep 1..3 values buffered, wrapping often
      while (c.len() < 3) c.send(next++);
      auto v = c.recv();
      ASSERT_TRUE(v.has_value());
      got.push_back(*v);
      if (round % 3 == 0) got.push_back(*c.recv());
    }
    while (c.len() > 0) got.push_back(*c.recv());
  });
  std::vector<int> want(got.size());
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(got, want);
}

TEST_P(chan, send_unbuffered_completes_only_when_a_receiver_takes_the_value) {
  gofer::chan<int> c;
  gofer::chan<int> done(1);
  std::atomic<bool> returned{false};
  run_main(threads(), [&] {
    gofer::go([c, done, &returned]() {
      c.send(42);
      returned = true;
      done.send(1);
    });
    ASSERT_TRUE(wait_parked_senders(c, 1));
    // The sender is parked in send(): it has not returned, and nothing was buffered.
    EXPECT_FALSE(returned.load());
    EXPECT_EQ(done.try_recv(), std::nullopt);
    EXPECT_EQ(c.len(), 0u);
    EXPECT_EQ(c.recv(), 42);
    EXPECT_EQ(done.recv(), 1);
    EXPECT_TRUE(returned.load());
  });
}

// Go memory model: "A receive from an unbuffered channel is synchronized before the
// completion of the corresponding send on that channel" (go_mem.html, the `a = "hello"`
// example). If send completed before a receiver arrived, main would read an empty string.
TEST_P(chan, unbuffered_receive_happens_before_send_completes) {
  for (int round = 0; round < 50; ++round) {
    gofer::chan<int> c;
    std::string a;  // deliberately not atomic
    run_main(threads(), [&] {
      gofer::go([c, &a]() {
        a = "hello, world";
        c.recv();
      });
      c.send(0);
      EXPECT_EQ(a, "hello, world");
    });
  }
}

// Go memory model: "The kth receive on a channel with capacity C is synchronized before
// the completion of the k+Cth send" — a channel of capacity 1 works as a mutex.
TEST_P(chan, buffered_channel_of_capacity_one_is_a_mutex) {
  constexpr int kGoroutines = 8, kEach = 2000;
  long counter = 0;  // deliberately not atomic: guarded by the channel
  gofer::chan<int> sem(1);
  gofer::wait_group wg;
  run_main(threads(), [&] {
    wg.add(kGoroutines);
    for (int g = 0; g < kGoroutines; ++g) {
      gofer::go([&, sem]() {
        for (int i = 0; i < kEach; ++i) {
          sem.send(0);  // acquire
          long seen = counter;
          if (i % 64 == 0) gofer::yield();  // hold the "lock" across a reschedule
          counter = seen + 1;
          sem.recv();  // release
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(counter, long{kGoroutines} * kEach);
}

// Go memory model: "The closing of a channel is synchronized before a receive that
// returns because the channel is closed."
TEST_P(chan, close_happens_before_a_receive_that_returns_nullopt) {
  for (int round = 0; round < 50; ++round) {
    std::vector<int> data;  // deliberately not atomic
    bool ok = false;
    gofer::chan<int> c;
    run_main(threads(), [&] {
      gofer::go([&data, c]() {
        data.assign(100, 7);
        c.close();
      });
      ok = !c.recv().has_value() && data == std::vector<int>(100, 7);
    });
    EXPECT_TRUE(ok) << "round " << round;
  }
}

TEST_P(chan, send_on_full_buffer_parks_until_a_receive_makes_room) {
  gofer::chan<int> c(1);
  gofer::chan<int> done(1);
  run_main(threads(), [&] {
    c.send(1);
    gofer::go([c, done]() {
      c.send(2);
      done.send(0);
    });
    ASSERT_TRUE(wait_parked_senders(c, 1));
    EXPECT_EQ(done.try_recv(), std::nullopt);
    EXPECT_EQ(c.len(), 1u);
    EXPECT_EQ(c.recv(), 1);
    // chanrecv on a full buffer with a parked sender moves the sender's value to the tail
    // before returning: the buffer is full again at once.
    EXPECT_EQ(c.len(), 1u);
    EXPECT_EQ(parked_senders(c), 0u);
    EXPECT_EQ(done.recv(), 0);
    EXPECT_EQ(c.recv(), 2);
  });
}

TEST_P(chan, send_on_closed_unbuffered_panics) {
  gofer::chan<int> c;
  c.close();
  std::string msg;
  run_main(threads(), [&] { msg = panic_text([&] { c.send(1); }); });
  EXPECT_EQ(msg, kSendOnClosed);
}

TEST_P(chan, send_on_closed_buffered_with_room_panics) {
  gofer::chan<int> c(4);
  c.send(1);
  c.close();
  std::string msg;
  run_main(threads(), [&] { msg = panic_text([&] { c.send(2); }); });
  EXPECT_EQ(msg, kSendOnClosed);
  EXPECT_EQ(c.len(), 1u) << "a failed send must not add to the buffer";
}

TEST_P(chan, send_parked_on_unbuffered_panics_when_closed) {
  constexpr int kSenders = 6;
  gofer::chan<int> c;
  gofer::chan<std::string> results(kSenders);
  run_main(threads(), [&] {
    for (int i = 0; i < kSenders; ++i) {
      gofer::go([c, results, i]() { results.send(panic_text([&] { c.send(i); })); });
    }
    ASSERT_TRUE(wait_parked_senders(c, kSenders));
    c.close();
    for (int i = 0; i < kSenders; ++i) EXPECT_EQ(results.recv(), kSendOnClosed);
    EXPECT_EQ(parked_senders(c), 0u);
    EXPECT_EQ(c.try_recv(), std::nullopt) << "no parked sender's value may be delivered after close";
  });
}

TEST_P(chan, send_parked_on_full_buffer_panics_when_closed) {
  constexpr int kSenders = 4;
  gofer::chan<int> c(2);
  gofer::chan<std::string> results(kSenders);
  run_main(threads(), [&] {
    c.send(100);
    c.send(101);
    for (int i = 0; i < kSenders; ++i) {
      gofer::go([c, results, i]() { results.send(panic_text([&] { c.send(i); })); });
    }
    ASSERT_TRUE(wait_parked_senders(c, kSenders));
    c.close();
    for (int i = 0; i < kSenders; ++i) EXPECT_EQ(results.recv(), kSendOnClosed);
    // The values buffered before close are still delivered, and only they.
    EXPECT_EQ(c.recv(), 100);
    EXPECT_EQ(c.recv(), 101);
    EXPECT_EQ(c.recv(), std::nullopt);
  });
}

TEST_P(chan, send_on_nil_blocks_forever_and_is_unwound_at_exit) {
  std::atomic<int> started{0}, returned{0}, unwound{0};
  // allow_leaks: the goroutine blocks forever on purpose: this test is about run() unwinding it
  run_main(threads(), [&] {
    gofer::go([&] {
      destroy_counter guard(unwound);
      gofer::chan<int> nil(nullptr);
      started = 1;
      nil.send(1);
      returned = 1;
    });
    ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
    for (int i = 0; i < 1000; ++i) gofer::yield();
    EXPECT_EQ(returned.load(), 0);
    EXPECT_EQ(gofer::num_goroutine(), 2u);
  }, allow_leaks);  // main returns with the goroutine blocked: run() must still return
  EXPECT_EQ(returned.load(), 0);
  EXPECT_EQ(unwound.load(), 1) << "the blocked goroutine's stack was not unwound";
}

// ---------------------------------------------------------------------------------------
// recv

TEST_P(chan, recv_buffered_ready_returns_oldest_value) {
  gofer::chan<std::string> c(2);
  c.send("first");
  c.send("second");
  run_main(threads(), [&] {
    EXPECT_EQ(c.recv(), "first");
    EXPECT_EQ(c.recv(), "second");
  });
}

TEST_P(chan, recv_unbuffered_parks_until_a_sender_arrives) {
  gofer::chan<int> c;
  gofer::chan<int> got(1);
  run_main(threads(), [&] {
    gofer::go([c, got]() { got.send(*c.recv()); });
    ASSERT_TRUE(wait_parked_receivers(c, 1));
    EXPECT_EQ(got.try_recv(), std::nullopt);
    c.send(7);
    EXPECT_EQ(got.recv(), 7);
  });
}

TEST_P(chan, recv_empty_buffered_parks_and_send_hands_value_directly) {
  gofer::chan<int> c(4);
  gofer::chan<int> got(1);
  run_main(threads(), [&] {
    gofer::go([c, got]() { got.send(*c.recv()); });
    ASSERT_TRUE(wait_parked_receivers(c, 1));
    c.send(9);
    EXPECT_EQ(c.len(), 0u) << "the value must go to the parked receiver, not the buffer";
    EXPECT_EQ(got.recv(), 9);
  });
}

TEST_P(chan, recv_from_parked_sender_on_unbuffered_releases_it) {
  gofer::chan<int> c;
  gofer::chan<int> done(1);
  run_main(threads(), [&] {
    gofer::go([c, done]() {
      c.send(3);
      done.send(1);
    });
    ASSERT_TRUE(wait_parked_senders(c, 1));
    EXPECT_EQ(c.recv(), 3);
    EXPECT_EQ(done.recv(), 1);
  });
}

TEST_P(chan, recv_on_closed_drains_buffer_first) {
  gofer::chan<int> c(3);
  run_main(threads(), [&] {
    c.send(1);
    c.send(2);
    c.close();
    EXPECT_EQ(c.recv(), 1);
    EXPECT_EQ(c.recv(), 2);
    EXPECT_EQ(c.recv(), std::nullopt);
    EXPECT_EQ(c.recv(), std::nullopt) << "a closed, drained channel stays ready";
  });
}

TEST_P(chan, recv_on_closed_unbuffered_returns_nullopt_at_once) {
  gofer::chan<int> c;
  c.close();
  run_main(threads(), [&] {
    for (int i = 0; i < 3; ++i) EXPECT_EQ(c.recv(), std::nullopt);
  });
}

TEST_P(chan, recv_parked_wakes_with_nullopt_when_closed) {
  for (std::size_t cap : {0u, 3u}) {
    constexpr int kReceivers = 8;
    gofer::chan<int> c(cap);
    gofer::chan<bool> results(kReceivers);
    run_main(threads(), [&] {
      for (int i = 0; i < kReceivers; ++i) {
        gofer::go([c, results]() { results.send(c.recv().has_value()); });
      }
      ASSERT_TRUE(wait_parked_receivers(c, kReceivers));
      c.close();
      for (int i = 0; i < kReceivers; ++i) EXPECT_EQ(results.recv(), false) << "cap " << cap;
      EXPECT_EQ(parked_receivers(c), 0u);
    });
  }
}

TEST_P(chan, recv_on_nil_blocks_forever_and_is_unwound_at_exit) {
  std::atomic<int> started{0}, returned{0}, unwound{0};
  // allow_leaks: the goroutine blocks forever on purpose: this test is about run() unwinding it
  run_main(threads(), [&] {
    gofer::go([&] {
      destroy_counter guard(unwound);
      gofer::chan<int> nil(nullptr);
      started = 1;
      nil.recv();
      returned = 1;
    });
    ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
    for (int i = 0; i < 1000; ++i) gofer::yield();
    EXPECT_EQ(returned.load(), 0);
  }, allow_leaks);
  EXPECT_EQ(returned.load(), 0);
  EXPECT_EQ(unwound.load(), 1);
}

// ---------------------------------------------------------------------------------------
// arrival order of parked goroutines

TEST_P(chan, parked_receivers_are_served_in_arrival_order) {
  for (std::size_t cap : {0u, 2u}) {
    constexpr int kReceivers = 6;
    gofer::chan<int> c(cap);
    std::vector<int> got(kReceivers, -1);
    gofer::wait_group wg;
    run_main(threads(), [&] {
      for (int i = 0; i < kReceivers; ++i) {
        wg.add(1);
        gofer::go([c, &got, &wg, i]() {
          got[i] = c.recv().value_or(-2);
          wg.done();
        });
        // Receiver i is queued before receiver i+1 is even started.
        ASSERT_TRUE(wait_parked_receivers(c, i + 1));
      }
      for (int v = 0; v < kReceivers; ++v) c.send(v);
      wg.wait();
    });
    for (int i = 0; i < kReceivers; ++i) EXPECT_EQ(got[i], i) << "receiver " << i << ", cap " << cap;
  }
}

TEST_P(chan, parked_senders_are_served_in_arrival_order_unbuffered) {
  constexpr int kSenders = 6;
  gofer::chan<int> c;
  std::vector<int> got;
  run_main(threads(), [&] {
    for (int i = 0; i < kSenders; ++i) {
      gofer::go([c, i]() { c.send(i); });
      ASSERT_TRUE(wait_parked_senders(c, i + 1));
    }
    for (int i = 0; i < kSenders; ++i) got.push_back(*c.recv());
  });
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST_P(chan, parked_senders_are_served_in_arrival_order_behind_the_buffer) {
  constexpr int kSenders = 5;
  gofer::chan<int> c(2);
  std::vector<int> got;
  run_main(threads(), [&] {
    c.send(100);
    c.send(101);
    for (int i = 0; i < kSenders; ++i) {
      gofer::go([c, i]() { c.send(i); });
      ASSERT_TRUE(wait_parked_senders(c, i + 1));
    }
    for (int i = 0; i < kSenders + 2; ++i) got.push_back(*c.recv());
  });
  EXPECT_EQ(got, (std::vector<int>{100, 101, 0, 1, 2, 3, 4}));
}

// ---------------------------------------------------------------------------------------
// try_send

TEST_P(chan, try_send_buffered_with_room_succeeds_and_moves_from_value) {
  gofer::chan<std::unique_ptr<int>> c(1);
  auto p = std::make_unique<int>(5);
  run_main(threads(), [&] {
    EXPECT_TRUE(c.try_send(p));
    EXPECT_EQ(p, nullptr) << "on success the value is moved from";
    auto got = c.recv();
    ASSERT_TRUE(got.has_value());
    ASSERT_NE(*got, nullptr);
    EXPECT_EQ(**got, 5);
  });
}

TEST_P(chan, try_send_buffered_full_fails_and_keeps_value) {
  gofer::chan<std::unique_ptr<int>> c(1);
  run_main(threads(), [&] {
    EXPECT_TRUE(c.try_send(std::make_unique<int>(1)));
    auto p = std::make_unique<int>(2);
    EXPECT_FALSE(c.try_send(p));
    ASSERT_NE(p, nullptr) << "a failed try_send must not move from the value";
    EXPECT_EQ(*p, 2);
    EXPECT_EQ(c.len(), 1u);
  });
}

TEST_P(chan, try_send_unbuffered_without_receiver_fails) {
  gofer::chan<std::string> c;
  std::string s = "kept";
  run_main(threads(), [&] {
    EXPECT_FALSE(c.try_send(s));
    EXPECT_EQ(s, "kept");
  });
}

TEST_P(chan, try_send_unbuffered_with_parked_receiver_succeeds) {
  gofer::chan<std::string> c;
  gofer::chan<std::string> got(1);
  run_main(threads(), [&] {
    gofer::go([c, got]() { got.send(c.recv().value_or("<closed>")); });
    ASSERT_TRUE(wait_parked_receivers(c, 1));
    std::string s(100, 'x');  // long enough not to use the small-string buffer
    EXPECT_TRUE(c.try_send(s));
    EXPECT_TRUE(s.empty()) << "on success the value is moved from";
    EXPECT_EQ(got.recv(), std::string(100, 'x'));
  });
}

TEST_P(chan, try_send_on_closed_panics) {
  for (std::size_t cap : {0u, 1u, 4u}) {
    gofer::chan<int> c(cap);
    c.close();
    int v = 1;
    std::string msg;
    run_main(threads(), [&] { msg = panic_text([&] { c.try_send(v); }); });
    EXPECT_EQ(msg, kSendOnClosed) << "cap " << cap;
    EXPECT_EQ(c.len(), 0u);
  }
}

TEST_P(chan, try_send_on_nil_fails_and_keeps_value) {
  gofer::chan<std::unique_ptr<int>> c(nullptr);
  auto p = std::make_unique<int>(1);
  run_main(threads(), [&] { EXPECT_FALSE(c.try_send(p)); });
  EXPECT_NE(p, nullptr);
}

// ---------------------------------------------------------------------------------------
// try_recv

TEST_P(chan, try_recv_buffered_ready_returns_oldest_value) {
  gofer::chan<int> c(3);
  run_main(threads(), [&] {
    c.send(4);
    c.send(5);
    EXPECT_EQ(c.try_recv(), 4);
    EXPECT_EQ(c.try_recv(), 5);
    EXPECT_EQ(c.try_recv(), std::nullopt);
  });
}

TEST_P(chan, try_recv_not_ready_returns_nullopt_and_channel_stays_open) {
  for (std::size_t cap : {0u, 2u}) {
    gofer::chan<int> c(cap);
    run_main(threads(), [&] {
      EXPECT_EQ(c.try_recv(), std::nullopt);
      // Still open: a later send works (does not throw) and is received.
      gofer::go([c]() { c.send(8); });
      EXPECT_EQ(c.recv(), 8);
    });
  }
}

TEST_P(chan, try_recv_unbuffered_takes_value_from_parked_sender) {
  gofer::chan<int> c;
  gofer::chan<int> done(1);
  run_main(threads(), [&] {
    gofer::go([c, done]() {
      c.send(11);
      done.send(1);
    });
    ASSERT_TRUE(wait_parked_senders(c, 1));
    EXPECT_EQ(c.try_recv(), 11);
    EXPECT_EQ(done.recv(), 1);
  });
}

TEST_P(chan, try_recv_full_buffer_refills_from_parked_sender) {
  gofer::chan<int> c(1);
  run_main(threads(), [&] {
    c.send(1);
    gofer::go([c]() { c.send(2); });
    ASSERT_TRUE(wait_parked_senders(c, 1));
    EXPECT_EQ(c.try_recv(), 1);
    EXPECT_EQ(c.len(), 1u);
    EXPECT_EQ(c.try_recv(), 2);
    EXPECT_EQ(c.try_recv(), std::nullopt);
  });
}

TEST_P(chan, try_recv_on_closed_drains_then_returns_nullopt) {
  gofer::chan<int> c(2);
  c.send(1);
  c.close();
  run_main(threads(), [&] {
    auto first = c.try_recv();
    EXPECT_EQ(first, 1);
    EXPECT_FALSE(first.closed()) << "a buffered value is delivered before the close shows";
    auto second = c.try_recv();
    EXPECT_EQ(second, std::nullopt);
    EXPECT_TRUE(second.closed()) << "closed and drained: Go's select fires with ok == false";
    EXPECT_TRUE(second.ready());
    EXPECT_TRUE(c.try_recv().closed());
  });
}

TEST_P(chan, try_recv_not_ready_is_neither_value_nor_closed) {
  for (std::size_t cap : {0u, 2u}) {
    gofer::chan<int> c(cap);
    run_main(threads(), [&] {
      auto r = c.try_recv();
      EXPECT_FALSE(r.has_value());
      EXPECT_FALSE(r.closed()) << "an open channel with nothing ready is the default branch";
      EXPECT_FALSE(r.ready());
    });
  }
}

// A handle is like a shared_ptr: its constness is not the channel's.
TEST_P(chan, const_handle_sends_receives_closes_and_ranges) {
  const gofer::chan<int> c(3);
  run_main(threads(), [&] {
    auto producer = [](const gofer::chan<int>& out) {
      for (int i = 1; i <= 3; ++i) out.send(i);
      out.close();
    };
    gofer::go([c, producer] { producer(c); });  // no `mutable`: the copy is const
    int sum = 0;
    for (int v : c) sum += v;
    EXPECT_EQ(sum, 6);
    EXPECT_TRUE(c.try_recv().closed());
    const gofer::send_chan<int> s(gofer::chan<int>(1));
    EXPECT_TRUE(s.try_send(1));
    EXPECT_FALSE(s.try_send(2));
  });
}

TEST_P(chan, try_recv_on_nil_returns_nullopt) {
  gofer::chan<int> c(nullptr);
  run_main(threads(), [&] {
    auto r = c.try_recv();
    EXPECT_EQ(r, std::nullopt);
    EXPECT_FALSE(r.closed()) << "a nil channel is never ready, not closed";
  });
}

// ---------------------------------------------------------------------------------------
// close

TEST_P(chan, close_twice_panics_close_of_closed_channel) {
  for (std::size_t cap : {0u, 2u}) {
    gofer::chan<int> c(cap);
    std::string first, second;
    run_main(threads(), [&] {
      first = panic_text([&] { c.close(); });
      second = panic_text([&] { c.close(); });
    });
    EXPECT_EQ(first, "");
    EXPECT_EQ(second, kCloseOfClosed);
  }
}

TEST_P(chan, close_nil_panics_close_of_nil_channel) {
  gofer::chan<int> c(nullptr);
  std::string msg;
  run_main(threads(), [&] { msg = panic_text([&] { c.close(); }); });
  EXPECT_EQ(msg, kCloseOfNil);
}

TEST_P(chan, close_keeps_buffered_values_and_capacity) {
  gofer::chan<tracked> c(3);
  run_main(threads(), [&] {
    c.send(tracked(1));
    c.send(tracked(2));
    c.close();
    EXPECT_EQ(c.len(), 2u);
    EXPECT_EQ(c.cap(), 3u);
    EXPECT_EQ(c.recv()->v, 1);
  });
  // One value is left in the closed channel; it dies with the channel (TearDown checks).
  EXPECT_EQ(c.len(), 1u);
}

TEST_P(chan, close_wakes_parked_receivers_and_senders_of_different_channels) {
  // One close per channel wakes exactly that channel's waiters.
  gofer::chan<int> a, b;
  gofer::chan<std::string> results(4);
  run_main(threads(), [&] {
    gofer::go([a, results]() { results.send(a.recv() ? "a:value" : "a:closed"); });
    gofer::go([b, results]() { results.send(panic_text([&] { b.send(1); })); });
    ASSERT_TRUE(wait_parked_receivers(a, 1));
    ASSERT_TRUE(wait_parked_senders(b, 1));
    a.close();
    EXPECT_EQ(results.recv(), "a:closed");
    EXPECT_EQ(parked_senders(b), 1u) << "closing a must not disturb b";
    b.close();
    EXPECT_EQ(results.recv(), kSendOnClosed);
  });
}

// ---------------------------------------------------------------------------------------
// range-for

TEST_P(chan, range_receives_until_closed_and_drained) {
  for (std::size_t cap : {0u, 1u, 8u}) {
    gofer::chan<int> c(cap);
    std::vector<int> got;
    run_main(threads(), [&] {
      gofer::go([c]() {
        for (int i = 1; i <= 20; ++i) c.send(i);
        c.close();
      });
      for (int v : c) got.push_back(v);
    });
    std::vector<int> want(20);
    std::iota(want.begin(), want.end(), 1);
    EXPECT_EQ(got, want) << "cap " << cap;
  }
}

TEST_P(chan, range_on_closed_drains_remaining_values_then_ends) {
  gofer::chan<int> c(4);
  c.send(1);
  c.send(2);
  c.close();
  std::vector<int> got;
  run_main(threads(), [&] {
    for (int v : c) got.push_back(v);
  });
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
}

TEST_P(chan, range_break_leaves_remaining_values_in_channel) {
  gofer::chan<int> c(5);
  for (int i = 1; i <= 5; ++i) c.send(i);
  std::vector<int> got;
  run_main(threads(), [&] {
    for (int v : c) {
      got.push_back(v);
      if (v == 2) break;
    }
  });
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
  EXPECT_EQ(c.len(), 3u) << "range-for must receive one value per iteration, no look-ahead";
}

TEST_P(chan, range_over_recv_chan_view) {
  gofer::chan<int> c(2);
  int sum = 0;
  run_main(threads(), [&] {
    gofer::go([c]() {
      for (int i = 1; i <= 10; ++i) c.send(i);
      c.close();
    });
    gofer::recv_chan<int> r = c;
    for (int v : r) sum += v;
  });
  EXPECT_EQ(sum, 55);
}

TEST_P(chan, range_on_nil_blocks_forever_and_is_unwound_at_exit) {
  std::atomic<int> started{0}, iterations{0}, finished{0}, unwound{0};
  // allow_leaks: the goroutine blocks forever on purpose: this test is about run() unwinding it
  run_main(threads(), [&] {
    gofer::go([&] {
      destroy_counter guard(unwound);
      gofer::chan<int> nil(nullptr);
      started = 1;
      for (int v : nil) iterations += v + 1;
      finished = 1;
    });
    ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
    for (int i = 0; i < 1000; ++i) gofer::yield();
  }, allow_leaks);
  EXPECT_EQ(iterations.load(), 0);
  EXPECT_EQ(finished.load(), 0);
  EXPECT_EQ(unwound.load(), 1);
}

// ---------------------------------------------------------------------------------------
// move-only values, value lifetime

TEST_P(chan, move_only_values_through_buffered_channel) {
  gofer::chan<std::unique_ptr<int>> c(4);
  std::vector<int> got;
  run_main(threads(), [&] {
    gofer::go([c]() {
      for (int i = 0; i < 10; ++i) c.send(std::make_unique<int>(i));
      c.close();
    });
    for (std::unique_ptr<int>& p : c) got.push_back(*p);
  });
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_P(chan, move_only_values_through_unbuffered_channel) {
  gofer::chan<std::unique_ptr<std::string>> c;
  std::vector<std::string> got;
  run_main(threads(), [&] {
    gofer::go([c]() {
      for (int i = 0; i < 10; ++i) c.send(std::make_unique<std::string>(std::to_string(i)));
      c.close();
    });
    while (auto p = c.recv()) got.push_back(**p);
  });
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(got[i], std::to_string(i));
}

TEST_P(chan, buffered_values_are_destroyed_with_the_last_handle) {
  const long before = tracked::live.load();
  {
    gofer::chan<tracked> c(8);
    run_main(threads(), [&] {
      for (int i = 0; i < 5; ++i) c.send(tracked(i));
      EXPECT_EQ(c.recv()->v, 0);
    });
    EXPECT_EQ(tracked::live.load(), before + 4);
  }
  EXPECT_EQ(tracked::live.load(), before);
}

// ---------------------------------------------------------------------------------------
// handles and directional views

// A send-only view has no receive operations, a receive-only view no send or close.
template <class C>
concept can_recv = requires(C c) { c.recv(); c.try_recv(); };
template <class C>
concept can_send = requires(C c, int v) { c.send(1); c.try_send(v); };
template <class C>
concept can_close = requires(C c) { c.close(); };
static_assert(can_send<gofer::chan<int>> && can_recv<gofer::chan<int>> && can_close<gofer::chan<int>>);
static_assert(can_send<gofer::send_chan<int>> && can_close<gofer::send_chan<int>>);
static_assert(!can_recv<gofer::send_chan<int>>);
static_assert(can_recv<gofer::recv_chan<int>>);
static_assert(!can_send<gofer::recv_chan<int>> && !can_close<gofer::recv_chan<int>>);
static_assert(std::is_convertible_v<gofer::chan<int>, gofer::send_chan<int>>);
static_assert(std::is_convertible_v<gofer::chan<int>, gofer::recv_chan<int>>);
static_assert(!std::is_convertible_v<gofer::send_chan<int>, gofer::chan<int>>);
static_assert(!std::is_convertible_v<gofer::recv_chan<int>, gofer::chan<int>>);
static_assert(!std::is_convertible_v<gofer::recv_chan<int>, gofer::send_chan<int>>);
static_assert(!std::is_convertible_v<gofer::chan<int>, bool>, "operator bool must be explicit");
static_assert(!std::is_convertible_v<gofer::send_chan<int>, bool>);
static_assert(!std::is_convertible_v<gofer::recv_chan<int>, bool>);
static_assert(std::is_constructible_v<bool, gofer::chan<int>>);
static_assert(std::is_copy_constructible_v<gofer::chan<std::unique_ptr<int>>>, "handles copy even for move-only T");

void produce(gofer::send_chan<int> out, int n) {
  for (int i = 0; i < n; ++i) out.send(i);
  out.close();
}

int consume(gofer::recv_chan<int> in) {
  int sum = 0;
  while (auto v = in.recv()) sum += *v;
  return sum;
}

TEST_P(chan, views_convert_implicitly_from_chan) {
  gofer::chan<int> c;
  int sum = -1;
  run_main(threads(), [&] {
    gofer::go(produce, c, 100);  // chan<int> -> send_chan<int> at the call
    sum = consume(c);            // chan<int> -> recv_chan<int>
  });
  EXPECT_EQ(sum, 4950);
}

TEST_P(chan, send_chan_close_wakes_receivers) {
  gofer::chan<int> c;
  gofer::send_chan<int> s = c;
  std::optional<int> got = 0;
  run_main(threads(), [&] {
    gofer::go([s]() {
      gofer::send_chan<int> mine = s;
      mine.close();
    });
    got = c.recv();
  });
  EXPECT_EQ(got, std::nullopt);
}

TEST_P(chan, views_compare_equal_to_their_channel) {
  gofer::chan<int> c, other;
  gofer::send_chan<int> s = c;
  gofer::recv_chan<int> r = c;
  EXPECT_TRUE(s == c);
  EXPECT_TRUE(r == c);
  EXPECT_TRUE(s == r);
  EXPECT_FALSE(s == other);
  EXPECT_FALSE(r == other);
  EXPECT_TRUE(s != other);
  EXPECT_FALSE(s == nullptr);
  EXPECT_TRUE(static_cast<bool>(s));
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(s.cap(), 0u);
  gofer::chan<int> b(3);
  b.send(1);
  gofer::recv_chan<int> rb = b;
  gofer::send_chan<int> sb = b;
  EXPECT_EQ(rb.len(), 1u);
  EXPECT_EQ(sb.len(), 1u);
  EXPECT_EQ(rb.cap(), 3u);
  EXPECT_EQ(sb.cap(), 3u);
}

TEST_P(chan, default_views_are_nil) {
  gofer::send_chan<int> s;
  gofer::recv_chan<int> r;
  EXPECT_TRUE(s == nullptr);
  EXPECT_TRUE(r == nullptr);
  EXPECT_FALSE(static_cast<bool>(s));
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(s.len(), 0u);
  EXPECT_EQ(r.cap(), 0u);
  EXPECT_TRUE(s == r) << "two nil handles are equal";
  EXPECT_FALSE(s.try_send(1));
  EXPECT_EQ(r.try_recv(), std::nullopt);
  EXPECT_EQ(panic_text([&] { s.close(); }), kCloseOfNil);
  gofer::send_chan<int> from_nil = gofer::chan<int>(nullptr);
  EXPECT_TRUE(from_nil == nullptr);
}

TEST_P(chan, recv_chan_view_on_nil_blocks_forever) {
  std::atomic<int> started{0}, returned{0}, unwound{0};
  // allow_leaks: a nil channel blocks forever: the goroutine stays parked on purpose
  run_main(threads(), [&] {
    gofer::go([&] {
      destroy_counter guard(unwound);
      gofer::recv_chan<int> r;
      started = 1;
      r.recv();
      returned = 1;
    });
    ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
  }, allow_leaks);
  EXPECT_EQ(returned.load(), 0);
  EXPECT_EQ(unwound.load(), 1);
}

TEST_P(chan, handles_are_copies_of_one_channel) {
  gofer::chan<int> c(2);
  gofer::chan<int> copy = c;
  gofer::chan<int> assigned(5);
  assigned = c;
  EXPECT_TRUE(copy == c);
  EXPECT_TRUE(assigned == c);
  EXPECT_EQ(assigned.cap(), 2u);
  run_main(threads(), [&] {
    c.send(1);
    EXPECT_EQ(copy.len(), 1u);
    EXPECT_EQ(assigned.recv(), 1);
    EXPECT_EQ(c.len(), 0u);
    gofer::go([copy]() { copy.send(2); });
    EXPECT_EQ(c.recv(), 2);
    copy.close();
    EXPECT_EQ(panic_text([&] { c.send(3); }), kSendOnClosed);
    EXPECT_EQ(assigned.recv(), std::nullopt);
  });
  EXPECT_FALSE(c == gofer::chan<int>(2)) << "distinct channels compare unequal";
}

TEST_P(chan, moved_from_handle_is_nil) {
  gofer::chan<int> a(1);
  gofer::chan<int> b = std::move(a);
  EXPECT_TRUE(a == nullptr);  // NOLINT(bugprone-use-after-move): the documented state
  EXPECT_FALSE(b == nullptr);
  EXPECT_EQ(b.cap(), 1u);
  gofer::send_chan<int> s = std::move(b);
  EXPECT_TRUE(b == nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(s.try_send(4));
  EXPECT_EQ(s.len(), 1u);
}

// ---------------------------------------------------------------------------------------
// many goroutines, one channel (quick; the heavy versions are in chan_stress_test.cpp)

TEST_P(chan, fan_in_delivers_every_value_once) {
  constexpr int kProducers = 8, kEach = 500;
  for (std::size_t cap : {0u, 4u}) {
    gofer::chan<int> c(cap);
    std::vector<int> seen(kProducers * kEach, 0);
    gofer::wait_group wg;  // outlives run(): every done() has returned by then
    run_main(threads(), [&] {
      for (int p = 0; p < kProducers; ++p) {
        wg.add(1);
        gofer::go([c, &wg, p]() {
          for (int i = 0; i < kEach; ++i) c.send(p * kEach + i);
          wg.done();
        });
      }
      gofer::go([c, &wg]() {
        wg.wait();
        c.close();
      });
      for (int v : c) ++seen[v];
    });
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; })) << "cap " << cap;
  }
}

INSTANTIATE_TEST_SUITE_P(, chan, ::testing::ValuesIn(kThreadCounts), threads_name);

// ---------------------------------------------------------------------------------------
// outside gofer::run: blocking ops that would wait throw std::logic_error; the rest works.

TEST(chan_outside_run, blocking_recv_that_would_wait_throws_logic_error) {
  gofer::chan<int> unbuffered;
  gofer::chan<int> empty(2);
  EXPECT_THROW(unbuffered.recv(), std::logic_error);
  EXPECT_THROW(empty.recv(), std::logic_error);
  gofer::recv_chan<int> r = empty;
  EXPECT_THROW(r.recv(), std::logic_error);
  EXPECT_THROW(for (int v : r) (void)v, std::logic_error);
}

TEST(chan_outside_run, blocking_send_that_would_wait_throws_logic_error) {
  gofer::chan<int> unbuffered;
  gofer::chan<int> full(1);
  full.send(1);
  EXPECT_THROW(unbuffered.send(1), std::logic_error);
  EXPECT_THROW(full.send(2), std::logic_error);
  EXPECT_EQ(full.len(), 1u);
  EXPECT_EQ(full.try_recv(), 1) << "the failed send must not have queued its value";
  EXPECT_EQ(full.try_recv(), std::nullopt);
}

TEST(chan_outside_run, nil_send_and_recv_throw_logic_error) {
  gofer::chan<int> nil(nullptr);
  EXPECT_THROW(nil.send(1), std::logic_error);
  EXPECT_THROW(nil.recv(), std::logic_error);
}

TEST(chan_outside_run, ops_that_do_not_wait_work) {
  gofer::chan<int> c(2);
  c.send(1);  // room: no wait
  EXPECT_TRUE(c.try_send(2));
  EXPECT_FALSE(c.try_send(3));
  EXPECT_EQ(c.len(), 2u);
  EXPECT_EQ(c.recv(), 1);  // ready: no wait
  EXPECT_EQ(c.try_recv(), 2);
  EXPECT_EQ(c.try_recv(), std::nullopt);
  c.send(5);
  c.close();
  EXPECT_EQ(c.recv(), 5);
  EXPECT_EQ(c.recv(), std::nullopt) << "recv on a closed, drained channel does not wait";
  EXPECT_EQ(panic_text([&] { c.send(6); }), kSendOnClosed);
  EXPECT_EQ(panic_text([&] { c.close(); }), kCloseOfClosed);
  gofer::chan<int> u;
  EXPECT_FALSE(u.try_send(1));
  EXPECT_EQ(u.try_recv(), std::nullopt);
}

TEST(chan_outside_run, values_sent_outside_run_are_received_inside) {
  gofer::chan<int> c(3);
  c.send(1);
  c.send(2);
  std::vector<int> got;
  EXPECT_EQ(gofer::run([&] {
              c.send(3);
              c.close();
              for (int v : c) got.push_back(v);
            }, {.threads = 2}),
            0);
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
}

}  // namespace
}  // namespace gofer_test
