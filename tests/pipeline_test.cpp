// tests/pipeline_test.cpp — gofer/pipeline.hpp: generate, from_range, fan_out, merge,
// rate_limit.
//
// For each stage: it delivers every value (in order where the header promises order), it
// closes its output when its input or generator runs out, and cancelling the context ends
// it — also when it is parked on a send nobody will receive — with no goroutine left
// behind (num_goroutine() back to 1). Every behavioural test runs under 1, 2, 4 and 8
// scheduler threads. Nothing sleeps; rate_limit's timing is checked only as lower bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gofer/gofer.hpp"
#include "gofer/pipeline.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using namespace std::chrono_literals;

template <class C>
auto drain(C c) {
  std::vector<typename C::value_type> out;
  for (auto& v : c) out.push_back(std::move(v));
  return out;
}

std::vector<int> iota_vec(int n, int from = 0) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), from);
  return v;
}

bool no_goroutine_left() {
  return eventually([] { return gofer::num_goroutine() == 1; });
}

class pipeline : public threads_test {};

// ---------------------------------------------------------------------------------------
// generate, from_range

TEST_P(pipeline, generate_values_in_order_then_closes) {
  std::vector<int> got;
  std::vector<std::string> words;
  bool clean = false;
  run_main(threads(), [&] {
    got = drain(gofer::generate(gofer::background(), 1, 2, 3, 4, 5));
    words = drain(gofer::generate(gofer::background(), std::string("a"), "b", "c"));
    clean = no_goroutine_left();
  });
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(words, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(clean);
}

TEST_P(pipeline, generate_fn_returning_optional_ends_at_first_nullopt) {
  std::vector<int> got;
  run_main(threads(), [&] {
    int i = 0;
    got = drain(gofer::generate(gofer::background(), [i]() mutable -> std::optional<int> {
      if (i == 4) return std::nullopt;
      return i++ * 10;
    }));
  });
  EXPECT_EQ(got, (std::vector<int>{0, 10, 20, 30}));
}

TEST_P(pipeline, infinite_generate_stops_on_cancel_and_closes) {
  std::vector<int> first;
  bool closed = false, clean = false;
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    int i = 0;
    auto nums = gofer::generate(ctx, [i]() mutable { return i++; });
    for (int k = 0; k < 10; ++k) first.push_back(*nums.recv());
    cancel();
    drain(nums);  // at most a value or two more, then closed
    closed = !nums.recv().has_value();
    clean = no_goroutine_left();
  });
  EXPECT_EQ(first, iota_vec(10));
  EXPECT_TRUE(closed);
  EXPECT_TRUE(clean);
}

TEST_P(pipeline, from_range_owns_its_range_and_keeps_order) {
  std::vector<int> got;
  std::vector<int> owned;
  run_main(threads(), [&] {
    auto c = gofer::from_range(gofer::background(), iota_vec(100));  // a temporary
    got = drain(c);
    std::vector<std::unique_ptr<int>> ptrs;
    for (int i = 0; i < 3; ++i) ptrs.push_back(std::make_unique<int>(i));
    for (auto& p : drain(gofer::from_range(gofer::background(), std::move(ptrs)))) owned.push_back(*p);
    const std::list<int> lst{0, 1, 2, 3, 4};  // any input range, copied in
    got.push_back(static_cast<int>(drain(gofer::from_range(gofer::background(), lst)).size()));
  });
  auto expect = iota_vec(100);
  expect.push_back(5);
  EXPECT_EQ(got, expect);
  EXPECT_EQ(owned, (std::vector<int>{0, 1, 2}));
}

TEST_P(pipeline, stage_parked_on_a_send_nobody_receives_returns_on_cancel) {
  bool clean = false;
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    auto c = gofer::from_range(ctx, iota_vec(10));
    auto sq = gofer::fan_out(ctx, c, 3, [](int v) { return v * v; });
    auto all = gofer::merge(ctx, sq, gofer::generate(ctx, 7, 8));
    auto slow = gofer::rate_limit(ctx, all, 1h);
    EXPECT_TRUE(slow.recv().has_value());  // the burst token; the next value waits an hour
    // Nobody reads any more: every stage is parked on a send (or on the ticker).
    cancel();
    clean = no_goroutine_left();  // without draining anything
  });
  EXPECT_TRUE(clean);
}

// ---------------------------------------------------------------------------------------
// fan_out

TEST_P(pipeline, fan_out_delivers_every_result_then_closes) {
  std::vector<int> got;
  bool clean = false;
  run_main(threads(), [&] {
    auto in = gofer::from_range(gofer::background(), iota_vec(500));
    got = drain(gofer::fan_out(gofer::background(), in, 4, [](int v) { return v * 2; }));
    clean = no_goroutine_left();
  });
  std::sort(got.begin(), got.end());
  std::vector<int> expect = iota_vec(500);
  for (int& v : expect) v *= 2;
  EXPECT_EQ(got, expect);
  EXPECT_TRUE(clean);
}

TEST_P(pipeline, fan_out_with_one_worker_keeps_input_order) {
  std::vector<std::string> got;
  run_main(threads(), [&] {
    auto in = gofer::from_range(gofer::background(), iota_vec(200));
    got = drain(gofer::fan_out(gofer::background(), in, 1, [](int v) { return std::to_string(v); }));
  });
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(got[i], std::to_string(i));
}

TEST_P(pipeline, fan_out_runs_n_calls_at_once_and_passes_the_context) {
  constexpr int kWorkers = 4;
  std::atomic<int> active{0}, max_active{0};
  std::vector<int> got;
  run_main(threads(), [&] {
    auto cancellable = gofer::with_cancel(gofer::background());
    const gofer::context ctx = cancellable.first;
    gofer::chan<std::monostate> gate;
    auto in = gofer::from_range(ctx, iota_vec(20));
    auto out = gofer::fan_out(ctx, in, kWorkers, [&, gate](const gofer::context& c, int v) {
      EXPECT_TRUE(c == ctx);
      int now = active.fetch_add(1) + 1;
      int m = max_active.load();
      while (now > m && !max_active.compare_exchange_weak(m, now)) {
      }
      gofer::recv_chan<std::monostate>(gate).recv();
      active.fetch_sub(1);
      return v;
    });
    ASSERT_TRUE(eventually([&] { return active.load() == kWorkers; }));
    gate.close();
    got = drain(out);
    cancellable.second();
  });
  EXPECT_EQ(max_active.load(), kWorkers);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, iota_vec(20));
}

TEST_P(pipeline, fan_out_on_a_closed_input_closes_at_once) {
  bool closed = false;
  run_main(threads(), [&] {
    gofer::chan<int> in;
    in.close();
    closed = !gofer::fan_out(gofer::background(), in, 3, [](int v) { return v; }).recv().has_value();
  });
  EXPECT_TRUE(closed);
}

// ---------------------------------------------------------------------------------------
// merge

TEST_P(pipeline, merge_delivers_all_values_keeping_each_inputs_order) {
  std::vector<int> got;
  bool clean = false;
  run_main(threads(), [&] {
    auto ctx = gofer::background();
    auto a = gofer::from_range(ctx, iota_vec(300, 0));
    auto b = gofer::from_range(ctx, iota_vec(300, 1000));
    gofer::chan<int> c(4);
    gofer::go([c]() {
      for (int i = 2000; i < 2300; ++i) c.send(i);
      c.close();
    });
    got = drain(gofer::merge(ctx, a, b, c));
    clean = no_goroutine_left();
  });
  ASSERT_EQ(got.size(), 900u);
  for (int base : {0, 1000, 2000}) {
    std::vector<int> part;
    for (int v : got)
      if (v >= base && v < base + 1000) part.push_back(v);
    EXPECT_EQ(part, iota_vec(300, base)) << "input starting at " << base;
  }
  EXPECT_TRUE(clean);
}

TEST_P(pipeline, merge_of_a_vector_and_of_nothing) {
  std::vector<int> got;
  bool empty_closed = false;
  run_main(threads(), [&] {
    std::vector<gofer::recv_chan<int>> ins;
    for (int i = 0; i < 10; ++i) ins.push_back(gofer::generate(gofer::background(), i));
    got = drain(gofer::merge(gofer::background(), std::move(ins)));
    empty_closed = !gofer::merge(gofer::background(), std::vector<gofer::recv_chan<int>>{}).recv().has_value();
  });
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, iota_vec(10));
  EXPECT_TRUE(empty_closed);
}

TEST_P(pipeline, merge_stops_on_cancel_even_if_inputs_never_close) {
  bool closed = false, clean = false;
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    gofer::chan<int> never1, never2;  // nobody sends or closes
    auto out = gofer::merge(ctx, never1, never2);
    cancel();
    closed = !out.recv().has_value();
    clean = no_goroutine_left();
  });
  EXPECT_TRUE(closed);
  EXPECT_TRUE(clean);
}

// ---------------------------------------------------------------------------------------
// rate_limit

TEST_P(pipeline, rate_limit_keeps_order_and_spaces_values) {
  std::vector<int> got;
  std::chrono::steady_clock::duration took{};
  run_main(threads(), [&] {
    auto start = std::chrono::steady_clock::now();
    got = drain(gofer::rate_limit(gofer::background(), gofer::from_range(gofer::background(), iota_vec(5)), 5ms));
    took = std::chrono::steady_clock::now() - start;
  });
  EXPECT_EQ(got, iota_vec(5));
  EXPECT_GE(took, 4 * 5ms) << "1 value at once, then one per interval";
}

TEST_P(pipeline, rate_limit_lets_a_burst_through_at_once) {
  std::vector<int> burst;
  bool fourth_waits = false, clean = false;
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    auto out = gofer::rate_limit(ctx, gofer::from_range(ctx, iota_vec(10)), 1h, 3);
    for (int i = 0; i < 3; ++i) burst.push_back(*out.recv());
    // The bucket is empty: the 4th value waits for a tick an hour away.
    for (int i = 0; i < 100; ++i) gofer::yield();
    fourth_waits = !out.try_recv().has_value();
    cancel();
    clean = no_goroutine_left();
  });
  EXPECT_EQ(burst, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(fourth_waits);
  EXPECT_TRUE(clean);
}

TEST_P(pipeline, rate_limit_closes_when_its_input_closes) {
  bool closed = false;
  run_main(threads(), [&] {
    gofer::chan<int> in;
    in.close();
    closed = !gofer::rate_limit(gofer::background(), in, 1h).recv().has_value();
  });
  EXPECT_TRUE(closed);
}

TEST_P(pipeline, rate_limit_with_a_non_positive_interval_panics_in_the_caller) {
  std::string msg;
  run_main(threads(), [&] {
    gofer::chan<int> in;
    msg = panic_text([&] { gofer::rate_limit(gofer::background(), in, 0ms); });
  });
  EXPECT_EQ(msg, "non-positive interval for NewTicker");
}

// ---------------------------------------------------------------------------------------
// a whole pipeline

TEST_P(pipeline, whole_pipeline_cancelled_midway_leaves_no_goroutine) {
  int received = 0;
  bool clean = false;
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    int i = 0;
    auto nums = gofer::generate(ctx, [i]() mutable { return i++; });
    auto sq = gofer::fan_out(ctx, nums, 4, [](int v) { return std::int64_t{v} * v; });
    auto odd = gofer::fan_out(ctx, gofer::generate(ctx, std::int64_t{1}, std::int64_t{3}), 1,
                              [](std::int64_t v) { return v; });
    auto all = gofer::merge(ctx, sq, odd);
    for (; received < 1000; ++received) ASSERT_TRUE(all.recv().has_value());
    cancel();
    drain(all);
    clean = no_goroutine_left();
  });
  EXPECT_EQ(received, 1000);
  EXPECT_TRUE(clean);
}

class pipeline_stress : public threads_test {};

TEST_P(pipeline_stress, hundred_thousand_values_through_fan_out_and_merge) {
  constexpr int kN = 100'000;
  std::int64_t sum = 0, count = 0;
  bool clean = false;
  run_main(threads(), [&] {
    auto ctx = gofer::background();
    int i = 0;
    auto nums = gofer::generate(ctx, [i]() mutable -> std::optional<int> {
      if (i == kN) return std::nullopt;
      return i++;
    });
    auto doubled = gofer::fan_out(ctx, nums, 8, [](int v) { return std::int64_t{v} * 2; });
    auto extra = gofer::generate(ctx, std::int64_t{-1}, std::int64_t{1});
    for (std::int64_t v : gofer::merge(ctx, doubled, extra)) {
      sum += v;
      ++count;
    }
    clean = no_goroutine_left();
  });
  EXPECT_EQ(count, kN + 2);
  EXPECT_EQ(sum, std::int64_t{kN} * (kN - 1));
  EXPECT_TRUE(clean);
}

INSTANTIATE_TEST_SUITE_P(, pipeline, ::testing::ValuesIn(kThreadCounts), threads_name);
INSTANTIATE_TEST_SUITE_P(, pipeline_stress, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
