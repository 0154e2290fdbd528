// buffer1 — a bounded buffer from a mutex and two conditions (book, chapter 4: "The
// producer-consumer problem").
//
// A buffered channel is a bounded buffer: put waits while it is full, take waits while it is
// empty. Build one yourself from a gofer::mutex and two gofer::conds, the way sync.Cond is
// meant to be used. As it ships, put and take do not wait at all, so the buffer's own checks
// (keep them) catch a put into a full buffer or a take from an empty one, and the program
// panics. The tests run many producers and consumers and check that every item comes out
// exactly once: none lost, none duplicated.
//
// Goal: the tests pass. (Then try it in the channel benchmarks: bench/README.md, "Benchmark
// your own channel".)
// Question: why must a waiter check its condition again after cond::wait returns?

#include <cstddef>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/gtest.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

template <class T>
class bounded_buffer {
 public:
  explicit bounded_buffer(std::size_t capacity) : cap_(capacity == 0 ? 1 : capacity) {}

  // Adds v; waits while the buffer holds `capacity` items.
  void put(T v) {
    std::unique_lock lk(mu_);
    while (items_.size() >= cap_) not_full_.wait();  // a loop: another putter may have filled it again
    if (items_.size() >= cap_) throw std::logic_error("put into a full buffer");  // keep this check
    items_.push_back(std::move(v));
    not_empty_.signal();  // one item: one taker can proceed
  }

  // Removes and returns the oldest item; waits while the buffer is empty.
  T take() {
    std::unique_lock lk(mu_);
    while (items_.empty()) not_empty_.wait();  // a loop: another taker may have been first
    if (items_.empty()) throw std::logic_error("take from an empty buffer");  // keep this check
    T v = std::move(items_.front());
    items_.pop_front();
    not_full_.signal();  // one free slot: one putter can proceed
    return v;
  }

 private:
  const std::size_t cap_;
  gofer::mutex mu_;
  gofer::cond not_full_{mu_};   // signalled when an item was taken
  gofer::cond not_empty_{mu_};  // signalled when an item was put
  std::deque<T> items_;         // guarded by mu_; never more than cap_
};

// ---- the tests: no need to change anything below ----

TEST(buffer1, one_producer_one_consumer_keep_the_order) {
  std::vector<int> got;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    bounded_buffer<int> b(4);
    gofer::go(gofer::named("producer"), [&] {
      for (int i = 0; i < 100; ++i) b.put(i);
    });
    for (int i = 0; i < 100; ++i) got.push_back(b.take());
  }));
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], i);
}

TEST(buffer1, a_full_buffer_makes_put_wait) {
  bool fifth_put_returned = false;
  bool returned_before_take = true;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    bounded_buffer<int> b(4);
    gofer::wait_group wg;
    wg.add(1);
    gofer::go(gofer::named("producer"), [&] {
      for (int i = 0; i < 5; ++i) b.put(i);
      fifth_put_returned = true;
      wg.done();
    });
    for (int i = 0; i < 10; ++i) gofer::yield();  // one thread: the producer runs until it waits
    returned_before_take = fifth_put_returned;
    EXPECT_EQ(b.take(), 0);
    wg.wait();
  }, {.threads = 1}));
  EXPECT_FALSE(returned_before_take) << "the 5th put into a buffer of 4 returned before anything was taken";
  EXPECT_TRUE(fifth_put_returned);
}

TEST(buffer1, many_producers_and_consumers_lose_and_duplicate_nothing) {
  constexpr int producers = 8, consumers = 8, per_producer = 1000;
  std::vector<int> seen(producers * per_producer, 0);
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    bounded_buffer<int> b(4);
    gofer::wait_group wg;
    wg.add(producers + consumers);
    for (int p = 0; p < producers; ++p) {
      gofer::go(gofer::named("producer"), [&, p] {
        for (int i = 0; i < per_producer; ++i) b.put(p * per_producer + i);
        wg.done();
      });
    }
    std::vector<std::vector<int>> taken(consumers);
    for (int c = 0; c < consumers; ++c) {
      gofer::go(gofer::named("consumer"), [&, c] {
        for (int i = 0; i < producers * per_producer / consumers; ++i) taken[c].push_back(b.take());
        wg.done();
      });
    }
    wg.wait();
    for (auto& t : taken)
      for (int v : t) ++seen[v];
  }, {.threads = 2}));
  int lost = 0, duplicated = 0;
  for (int n : seen) lost += n == 0, duplicated += n > 1;
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(duplicated, 0);
}
