// tests/errgroup_test.cpp — gofer::errgroup (golang.org/x/sync/errgroup), under 1, 2, 4 and 8
// threads.
//
// gofer/errgroup.hpp's rules: wait() waits for every goroutine and returns the first error
// (the first *returned*, made deterministic with channels), later errors are dropped;
// with_context cancels its context on the first error (with that error as cause) or when
// wait() returns; set_limit bounds the active goroutines (go parks at the limit, try_go
// declines), panics when changed while goroutines are active, n < 0 removes it; the zero
// value works; copies share one group; an exception escaping f crashes the program.
// Nothing sleeps: parked goroutines are observed on channel queues or in the goroutine dump.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gofer/debug.hpp"
#include "gofer/gofer.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

const absl::Status kCanceled = absl::CancelledError("context canceled");

// True if receiving from ch would not wait (a closed channel). Non-blocking.
bool ready(const gofer::recv_chan<std::monostate>& ch) {
  return gofer::select(gofer::recv_case(ch), gofer::default_case()) == 0;
}

// The state of the goroutine called `name` in the goroutine dump ("runnable", "running",
// or a wait reason such as "chan send"), or "" if there is none.
std::string state_of(const std::string& name) {
  std::ostringstream out;
  gofer::dump_goroutines(out);
  const std::regex line("goroutine [0-9]+ \"" + name + "\" \\[([^\\],]+)");
  std::smatch m;
  const std::string s = out.str();
  return std::regex_search(s, m, line) ? m[1].str() : "";
}

// Yields until the goroutine called `name` is parked (any wait reason).
bool wait_goroutine_parked(const std::string& name) {
  return eventually([&] {
    std::string st = state_of(name);
    return !st.empty() && st != "runnable" && st != "running";
  });
}

class errgroup : public threads_test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// ---------------------------------------------------------------------------------------
// wait

TEST_P(errgroup, wait_returns_ok_when_all_succeed) {
  constexpr int kTasks = 50;
  std::atomic<int> ran{0};
  run_main(threads(), [&] {
    gofer::errgroup g;
    for (int i = 0; i < kTasks; ++i) {
      g.go([&ran] {
        gofer::yield();
        ran.fetch_add(1);
        return absl::OkStatus();
      });
    }
    EXPECT_TRUE(g.wait().ok());
    EXPECT_EQ(ran.load(), kTasks) << "wait returned before every goroutine did";
  });
}

TEST_P(errgroup, wait_with_no_goroutines_returns_ok_at_once) {
  run_main(threads(), [&] {
    gofer::errgroup g;
    EXPECT_TRUE(g.wait().ok());
  });
}

TEST_P(errgroup, wait_parks_until_every_goroutine_returned) {
  run_main(threads(), [&] {
    gofer::errgroup g;
    gofer::chan<int> gate;
    std::atomic<bool> wait_returned{false};
    for (int i = 0; i < 3; ++i) {
      g.go([gate]() {
        gate.recv();
        return absl::OkStatus();
      });
    }
    gofer::chan<absl::Status> result(1);
    gofer::go(gofer::named{"waiter"}, [g, result, &wait_returned]() {
      absl::Status r = g.wait();
      wait_returned = true;
      result.send(r);
    });
    ASSERT_TRUE(wait_parked_receivers(gate, 3));
    ASSERT_TRUE(wait_goroutine_parked("waiter"));
    gate.send(1);
    gate.send(2);
    EXPECT_FALSE(wait_returned.load()) << "one goroutine is still parked on the gate";
    EXPECT_EQ(result.try_recv(), std::nullopt);
    gate.send(3);
    EXPECT_TRUE(result.recv().value().ok());
    EXPECT_TRUE(wait_returned.load());
  });
}

TEST_P(errgroup, goroutine_returns_happen_before_wait_returns) {
  for (int round = 0; round < 30; ++round) {
    std::vector<int> slots(16, 0);  // deliberately not atomic
    bool ok = false;
    run_main(threads(), [&] {
      gofer::errgroup g;
      for (int i = 0; i < 16; ++i) {
        g.go([&slots, i] {
          slots[i] = i * i;
          return absl::OkStatus();
        });
      }
      EXPECT_TRUE(g.wait().ok());
      ok = true;
      for (int i = 0; i < 16; ++i) ok = ok && slots[i] == i * i;
    });
    EXPECT_TRUE(ok) << "round " << round;
  }
}

// ---------------------------------------------------------------------------------------
// the first error

// The second error is returned only after the first was recorded (ctx.done() closes then).
TEST_P(errgroup, wait_returns_the_first_error) {
  const absl::Status first = absl::NotFoundError("first"), second = absl::InternalError("second");
  run_main(threads(), [&] {
    auto [g, ctx] = gofer::errgroup::with_context(gofer::background());
    // Started first, fails second: the order of go() does not matter, the order of returns does.
    g.go([ctx = ctx, second] {
      ctx.done().recv();
      return second;
    });
    g.go([first] { return first; });
    EXPECT_EQ(g.wait(), first);
  });
}

// The same without a context: with limit 1, the second goroutine starts only after the
// first has returned (and recorded its error).
TEST_P(errgroup, wait_returns_the_first_error_without_a_context) {
  const absl::Status first = absl::NotFoundError("first"), second = absl::InternalError("second");
  run_main(threads(), [&] {
    gofer::errgroup g;
    g.set_limit(1);
    g.go([first] { return first; });
    g.go([second] { return second; });
    g.go([] { return absl::OkStatus(); });
    EXPECT_EQ(g.wait(), first);
  });
}

TEST_P(errgroup, later_errors_are_dropped) {
  constexpr int kLater = 20;
  const absl::Status first = absl::AbortedError("first");
  run_main(threads(), [&] {
    auto [g, ctx] = gofer::errgroup::with_context(gofer::background());
    for (int i = 0; i < kLater; ++i) {
      g.go([ctx = ctx, i] {
        ctx.done().recv();
        return absl::InternalError("later " + std::to_string(i));
      });
    }
    gofer::chan<int> release;
    g.go([release, first]() {
      release.recv();
      return first;
    });
    ASSERT_TRUE(wait_parked_receivers(ctx.done(), kLater));
    release.send(1);
    EXPECT_EQ(g.wait(), first);
    EXPECT_EQ(gofer::cause(ctx), first);
    EXPECT_EQ(g.wait(), first) << "a second wait returns the same first error";
  });
}

// ---------------------------------------------------------------------------------------
// with_context

TEST_P(errgroup, with_context_cancels_on_the_first_error) {
  const absl::Status boom = absl::UnavailableError("boom");
  run_main(threads(), [&] {
    auto [g, ctx] = gofer::errgroup::with_context(gofer::background());
    gofer::chan<absl::Status> seen(1);
    g.go([ctx = ctx, seen]() {
      ctx.done().recv();
      seen.send(gofer::cause(ctx));
      return absl::OkStatus();
    });
    ASSERT_TRUE(wait_parked_receivers(ctx.done(), 1));
    EXPECT_TRUE(ctx.err().ok()) << "live while nothing failed";
    gofer::chan<int> release;
    g.go([release, boom]() {
      release.recv();
      return boom;
    });
    ASSERT_TRUE(wait_parked_receivers(release, 1));
    EXPECT_TRUE(ctx.err().ok());
    release.send(1);
    EXPECT_EQ(seen.recv(), boom) << "cancelled, while a goroutine still runs, with the error as cause";
    EXPECT_EQ(ctx.err(), kCanceled);
    EXPECT_EQ(g.wait(), boom);
    EXPECT_EQ(gofer::cause(ctx), boom) << "wait() does not replace the cause";
  });
}

TEST_P(errgroup, with_context_cancels_when_wait_returns) {
  run_main(threads(), [&] {
    const std::size_t base = gofer::num_goroutine();
    auto [g, ctx] = gofer::errgroup::with_context(gofer::background());
    g.go([] { return absl::OkStatus(); });
    ASSERT_TRUE(eventually([&] { return gofer::num_goroutine() == base; }));
    EXPECT_TRUE(ctx.err().ok()) << "every goroutine returned OK, but wait() has not been called";
    EXPECT_FALSE(ready(ctx.done()));
    EXPECT_TRUE(g.wait().ok());
    EXPECT_EQ(ctx.err(), kCanceled);
    EXPECT_EQ(gofer::cause(ctx), kCanceled);
    EXPECT_TRUE(ready(ctx.done()));
  });
}

TEST_P(errgroup, with_context_is_a_child_of_the_parent) {
  static const gofer::context_key<int> key{"k"};
  run_main(threads(), [&] {
    auto [parent, cancel_parent] = gofer::with_cancel(gofer::with_value(gofer::background(), key, 9));
    auto [g, ctx] = gofer::errgroup::with_context(parent);
    ASSERT_NE(ctx.value(key), nullptr);
    EXPECT_EQ(*ctx.value(key), 9);
    g.go([ctx = ctx] {
      ctx.done().recv();
      return ctx.err();
    });
    cancel_parent();
    EXPECT_EQ(g.wait(), kCanceled) << "the goroutine saw the parent's cancellation";
    EXPECT_EQ(gofer::cause(ctx), kCanceled);
    EXPECT_EQ(parent.err(), kCanceled);
  });
}

TEST_P(errgroup, wait_does_not_cancel_the_parent) {
  run_main(threads(), [&] {
    auto [parent, cancel_parent] = gofer::with_cancel(gofer::background());
    auto [g, ctx] = gofer::errgroup::with_context(parent);
    g.go([] { return absl::InternalError("x"); });
    EXPECT_FALSE(g.wait().ok());
    EXPECT_EQ(ctx.err(), kCanceled);
    EXPECT_TRUE(parent.err().ok());
    cancel_parent();
  });
}

// ---------------------------------------------------------------------------------------
// set_limit, go parking, try_go

TEST_P(errgroup, limit_bounds_the_active_goroutines) {
  constexpr int kLimit = 3, kTasks = 30;
  std::atomic<int> active{0}, max_active{0}, started{0};
  run_main(threads(), [&] {
    gofer::errgroup g;
    g.set_limit(kLimit);
    gofer::chan<int> gate;
    gofer::chan<int> launched(1);
    gofer::go(gofer::named{"launcher"}, [&, g, gate, launched]() {
      for (int i = 0; i < kTasks; ++i) {
        g.go([&, gate]() {
          started.fetch_add(1);
          int now = active.fetch_add(1) + 1;
          int seen = max_active.load();
          while (now > seen && !max_active.compare_exchange_weak(seen, now)) {
          }
          gate.recv();  // parked: in flight
          active.fetch_sub(1);
          return absl::OkStatus();
        });
      }
      launched.send(1);
    });
    ASSERT_TRUE(wait_parked_receivers(gate, kLimit));
    ASSERT_TRUE(wait_goroutine_parked("launcher")) << "go() parks at the limit";
    EXPECT_EQ(started.load(), kLimit);
    EXPECT_EQ(active.load(), kLimit);
    for (int i = 0; i < kTasks; ++i) {
      const std::size_t in_flight = std::min(kLimit, kTasks - i);
      ASSERT_TRUE(wait_parked_receivers(gate, in_flight)) << "step " << i;
      EXPECT_LE(active.load(), kLimit) << "step " << i;
      gate.send(i);
    }
    EXPECT_EQ(launched.recv(), 1);
    EXPECT_TRUE(g.wait().ok());
  });
  EXPECT_EQ(started.load(), kTasks);
  EXPECT_EQ(max_active.load(), kLimit) << "the limit was reached and never exceeded";
}

TEST_P(errgroup, go_parks_when_the_limit_is_reached) {
  run_main(threads(), [&] {
    gofer::errgroup g;
    g.set_limit(1);
    gofer::chan<int> gate;
    gofer::chan<std::string> events(8);
    g.go([gate, events]() {
      gate.recv();
      events.send("first returns");
      return absl::OkStatus();
    });
    ASSERT_TRUE(wait_parked_receivers(gate, 1));
    gofer::go(gofer::named{"second-go"}, [g, events]() {
      g.go([events]() {
        events.send("second starts");
        return absl::OkStatus();
      });
      events.send("go returned");
    });
    ASSERT_TRUE(wait_goroutine_parked("second-go"));
    EXPECT_EQ(events.len(), 0u) << "go() returned or the second goroutine started at the limit";
    gate.send(1);
    EXPECT_EQ(events.recv(), "first returns");
    std::vector<std::string> rest = {events.recv().value(), events.recv().value()};
    std::sort(rest.begin(), rest.end());
    EXPECT_EQ(rest, (std::vector<std::string>{"go returned", "second starts"}));
    EXPECT_TRUE(g.wait().ok());
  });
}

TEST_P(errgroup, try_go_respects_the_limit) {
  std::atomic<bool> refused_ran{false};
  run_main(threads(), [&] {
    gofer::errgroup g;
    g.set_limit(2);
    gofer::chan<int> gate;
    auto parked = [gate]() {
      gate.recv();
      return absl::OkStatus();
    };
    EXPECT_TRUE(g.try_go(parked));
    EXPECT_TRUE(g.try_go(parked));
    EXPECT_FALSE(g.try_go([&refused_ran] {
      refused_ran = true;
      return absl::OkStatus();
    }));
    ASSERT_TRUE(wait_parked_receivers(gate, 2));
    EXPECT_FALSE(g.try_go(parked)) << "still at the limit";
    gate.send(1);  // one returns: a slot frees up
    ASSERT_TRUE(eventually([&] { return g.try_go(parked); })) << "try_go below the limit";
    ASSERT_TRUE(wait_parked_receivers(gate, 2));
    EXPECT_FALSE(g.try_go(parked));
    gate.send(2);
    gate.send(3);
    EXPECT_TRUE(g.wait().ok());
    for (int i = 0; i < 100; ++i) gofer::yield();
  });
  EXPECT_FALSE(refused_ran.load()) << "a refused try_go must not run f";
}

TEST_P(errgroup, try_go_without_limit_always_starts) {
  run_main(threads(), [&] {
    gofer::errgroup g;
    gofer::chan<int> gate;
    for (int i = 0; i < 20; ++i) {
      EXPECT_TRUE(g.try_go([gate]() {
        gate.recv();
        return absl::OkStatus();
      }));
    }
    ASSERT_TRUE(wait_parked_receivers(gate, 20));
    gate.close();
    EXPECT_TRUE(g.wait().ok());
  });
}

TEST_P(errgroup, set_limit_while_active_panics) {
  run_main(threads(), [&] {
    const std::size_t base = gofer::num_goroutine();
    gofer::errgroup g;
    g.set_limit(2);
    gofer::chan<int> gate;
    for (int i = 0; i < 2; ++i) {
      g.go([gate]() {
        gate.recv();
        return absl::OkStatus();
      });
    }
    ASSERT_TRUE(wait_parked_receivers(gate, 2));
    const std::string msg = panic_text([&] { g.set_limit(5); });
    EXPECT_EQ(msg.rfind("errgroup: modify limit while", 0), 0u) << msg;
    EXPECT_NE(msg.find(" 2 goroutines"), std::string::npos) << msg;
    EXPECT_EQ(msg, "errgroup: modify limit while 2 goroutines in the group are still active");
    EXPECT_FALSE(g.try_go([] { return absl::OkStatus(); })) << "the limit is unchanged";
    gate.send(1);
    ASSERT_TRUE(eventually([&] { return gofer::num_goroutine() == base + 1; }));  // it returned
    const std::string msg1 = panic_text([&] { g.set_limit(5); });
    EXPECT_EQ(msg1, "errgroup: modify limit while 1 goroutines in the group are still active");
    gate.send(2);
    EXPECT_TRUE(g.wait().ok());
    EXPECT_EQ(panic_text([&] { g.set_limit(5); }), "") << "idle again: allowed";
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(g.try_go([gate]() {
        gate.recv();
        return absl::OkStatus();
      })) << i;
    }
    EXPECT_FALSE(g.try_go([] { return absl::OkStatus(); })) << "the new limit is 5";
    gate.close();
    EXPECT_TRUE(g.wait().ok());
  });
}

TEST_P(errgroup, negative_limit_removes_the_limit) {
  constexpr int kTasks = 12;
  run_main(threads(), [&] {
    gofer::errgroup g;
    g.set_limit(1);
    g.set_limit(-1);
    gofer::chan<int> gate;
    for (int i = 0; i < kTasks; ++i) {  // main's go() must never park
      g.go([gate]() {
        gate.recv();
        return absl::OkStatus();
      });
    }
    ASSERT_TRUE(wait_parked_receivers(gate, kTasks));
    EXPECT_TRUE(g.try_go([gate]() {
      gate.recv();
      return absl::OkStatus();
    }));
    gate.close();
    EXPECT_TRUE(g.wait().ok());
  });
}

// ---------------------------------------------------------------------------------------
// zero value, handles, exceptions

TEST_P(errgroup, zero_value_group_is_usable_and_reusable) {
  const absl::Status e = absl::InternalError("e");
  run_main(threads(), [&] {
    gofer::errgroup g;  // no limit, no context
    std::atomic<int> ran{0};
    for (int i = 0; i < 5; ++i) {
      g.go([&ran] {
        ran.fetch_add(1);
        return absl::OkStatus();
      });
    }
    EXPECT_TRUE(g.wait().ok());
    EXPECT_EQ(ran.load(), 5);
    g.go([e] { return e; });  // reused after wait
    EXPECT_EQ(g.wait(), e);
  });
}

TEST_P(errgroup, copies_share_one_group) {
  const absl::Status e = absl::InternalError("from the copy");
  run_main(threads(), [&] {
    gofer::errgroup g;
    gofer::errgroup copy = g;
    gofer::chan<int> gate;
    copy.go([gate, e]() {
      gate.recv();
      return e;
    });
    gofer::chan<absl::Status> result(1);
    gofer::go([g, result]() { result.send(g.wait()); });
    ASSERT_TRUE(wait_parked_receivers(gate, 1));
    EXPECT_EQ(result.try_recv(), std::nullopt) << "the original waits for the copy's goroutine";
    gate.send(1);
    EXPECT_EQ(result.recv(), e);
    // A limit set through one handle applies to the other.
    copy.set_limit(1);
    EXPECT_TRUE(g.try_go([gate]() {
      gate.recv();
      return absl::OkStatus();
    }));
    EXPECT_FALSE(copy.try_go([] { return absl::OkStatus(); }));
    gate.send(2);
    EXPECT_EQ(copy.wait(), e);
  });
}

TEST_P(errgroup, exception_escaping_f_crashes_the_program) {
  const unsigned n = threads();
  EXPECT_EXIT(
      {
        gofer::run(
            [] {
              gofer::errgroup g;
              g.go([]() -> absl::Status { throw std::runtime_error("errgroup boom"); });
              (void)g.wait();
              std::fprintf(stderr, "wait returned\n");
            },
            {.threads = n});
        std::exit(0);
      },
      ::testing::ExitedWithCode(2), "panic: errgroup boom");
}

INSTANTIATE_TEST_SUITE_P(, errgroup, ::testing::ValuesIn(kThreadCounts), threads_name);

// ---------------------------------------------------------------------------------------
// outside gofer::run

// go() outside a run throws std::logic_error (runtime.hpp); the failed call must not keep a
// slot of the limit nor a count that wait() waits for.
TEST(errgroup_outside_run, failed_go_is_not_counted) {
  gofer::errgroup g;
  g.set_limit(1);
  EXPECT_THROW(g.go([] { return absl::OkStatus(); }), std::logic_error);
  run_main(1, [&] {
    EXPECT_TRUE(g.try_go([] { return absl::OkStatus(); })) << "the failed go still holds the slot";
    gofer::chan<int> done(1);
    gofer::go([g, done]() {
      (void)g.wait();
      done.send(1);
    });
    EXPECT_TRUE(eventually([&] { return done.len() == 1; }, std::chrono::seconds(5)))
        << "wait() waits for a goroutine that never started";
  });
}

}  // namespace
}  // namespace gofer_test
