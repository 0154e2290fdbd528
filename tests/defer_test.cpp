// tests/defer_test.cpp — gofer::defer (gofer/defer.hpp): Go's defer as a scope guard.
//
//   order       LIFO, like Go's defer stack
//   binding     arguments bound at the defer (early); a by-reference lambda reads late
//   paths       runs on return, on an exception (a panic), and when shutdown unwinds a goroutine
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gofer/defer.hpp"
#include "gofer/gofer.hpp"
#include "test_util.hpp"

namespace {

TEST(defer, runs_at_scope_exit_newest_first) {
  std::vector<int> order;
  {
    gofer::defer a([&] { order.push_back(1); });
    gofer::defer b([&] { order.push_back(2); });
    gofer::defer c([&] { order.push_back(3); });
    EXPECT_TRUE(order.empty()) << "nothing runs before the scope ends";
  }
  EXPECT_EQ(order, (std::vector<int>{3, 2, 1}));
}

TEST(defer, arguments_are_bound_when_the_defer_is_made) {
  std::vector<int> seen;
  auto record = [&seen](int v) { seen.push_back(v); };
  {
    int i = 1;
    gofer::defer early(record, i);              // Go: defer record(i)
    gofer::defer late([&] { record(i); });      // Go: defer func() { record(i) }()
    gofer::defer copied([i, &record] { record(i); });
    i = 2;
  }
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 1}));
}

TEST(defer, calls_a_cancel_func_like_defer_cancel) {
  int calls = 0;
  gofer::cancel_func cancel = [&] { ++calls; };
  { gofer::defer d(cancel); }
  EXPECT_EQ(calls, 1);
}

TEST(defer, runs_when_an_exception_leaves_the_scope) {
  bool ran = false;
  EXPECT_THROW(
      {
        gofer::defer d([&] { ran = true; });
        throw std::runtime_error("boom");
      },
      std::runtime_error);
  EXPECT_TRUE(ran);
}

TEST(defer, runs_when_shutdown_unwinds_a_parked_goroutine) {
  std::atomic<bool> ran{false};
  gofer::chan<int> started(1);
  EXPECT_EQ(gofer::run([&] {
              gofer::go([&, started] {
                gofer::defer d([&] { ran = true; });
                started.send(1);
                gofer::chan<int>(nullptr).recv();  // blocks forever: main returns first
              });
              started.recv();
            }),
            0);
  EXPECT_TRUE(ran) << "a goroutine still parked when main returns is unwound: its defers run";
}

TEST(defer, move_only_arguments_are_moved_in) {
  std::string got;
  {
    auto p = std::make_unique<std::string>("owned");
    gofer::defer d([&got](std::unique_ptr<std::string>& s) { got = *s; }, std::move(p));
    EXPECT_EQ(p, nullptr);
  }
  EXPECT_EQ(got, "owned");
}

}  // namespace
