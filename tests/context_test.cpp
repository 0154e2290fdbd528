// tests/context_test.cpp — gofer::context (Go's context package), under 1, 2, 4 and 8 threads.
//
// The table of gofer/context.hpp, one group per row and constructor:
//   background/todo: nil done(), OK err(), no deadline, no values;
//   with_cancel: cancel closes done, CancelledError, idempotent, downward-only propagation
//     (through value nodes too), born-cancelled children, every waiter wakes;
//   with_cancel_cause + cause(): first cause wins, OK → the CancelledError, propagation;
//   with_deadline/with_timeout: DeadlineExceeded after ≥ d (timing asserts lower bounds
//     and generous upper bounds only), past deadlines, the earliest deadline wins, cancel
//     stops the timer (no pending timer left: the deadlock detector proves it), cancelled
//     by the parent → CancelledError;
//   with_value: chains, nearest wins, keys by identity, values survive cancellation;
//   done() in select; use outside gofer::run;
// and a stress suite (context_stress, label stress): parents and children cancelled
// concurrently from different threads while new children are born.
// Nothing sleeps to order events; a few timing tests sleep to let time pass and measure.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gofer/gofer.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using namespace std::chrono_literals;
using ctx_t = gofer::context;
using steady = std::chrono::steady_clock;

const absl::Status kCanceled = absl::CancelledError("context canceled");
const absl::Status kDeadline = absl::DeadlineExceededError("context deadline exceeded");

// True if receiving from ch would not wait (closed, for a done channel). A nil channel is
// never ready. Non-blocking.
bool ready(const gofer::recv_chan<std::monostate>& ch) {
  return gofer::select(gofer::recv_case(ch), gofer::default_case()) == 0;
}

// Resident set size of this process, in bytes.
long rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

class context : public threads_test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// ---------------------------------------------------------------------------------------
// background, todo

TEST_P(context, background_and_todo_are_never_cancelled_and_empty) {
  static const gofer::context_key<int> key{"k"};
  run_main(threads(), [&] {
    for (const gofer::context& c : {gofer::background(), gofer::todo(), gofer::context()}) {
      EXPECT_TRUE(c.done() == nullptr) << "Background().Done() is nil";
      EXPECT_FALSE(ready(c.done()));
      EXPECT_TRUE(c.err().ok());
      EXPECT_TRUE(gofer::cause(c).ok());
      EXPECT_EQ(c.deadline(), std::nullopt);
      EXPECT_EQ(c.value(key), nullptr);
    }
    EXPECT_TRUE(gofer::background() == gofer::todo());
    EXPECT_TRUE(gofer::background() == gofer::context());
  });
}

TEST_P(context, background_done_never_fires_in_select) {
  run_main(threads(), [&] {
    gofer::chan<int> other(1);
    other.send(7);
    std::optional<int> got;
    // Only the other case can fire, however often we try.
    for (int i = 0; i < 100; ++i) {
      EXPECT_EQ(gofer::select(gofer::recv_case(gofer::background().done()), gofer::default_case()), 1u);
    }
    EXPECT_EQ(gofer::select(gofer::recv_case(gofer::background().done()), gofer::recv_case(other, got)), 1u);
    EXPECT_EQ(got, 7);
  });
}

// ---------------------------------------------------------------------------------------
// with_cancel

TEST_P(context, with_cancel_is_live_until_cancelled) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    EXPECT_FALSE(ctx.done() == nullptr) << "a cancellable context has a real done channel";
    EXPECT_FALSE(ready(ctx.done()));
    EXPECT_TRUE(ctx.err().ok());
    EXPECT_TRUE(gofer::cause(ctx).ok());
    EXPECT_EQ(ctx.deadline(), std::nullopt);
    EXPECT_FALSE(ctx == gofer::background());
    cancel();
  });
}

TEST_P(context, cancel_closes_done_and_sets_canceled_error) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    cancel();
    EXPECT_TRUE(ready(ctx.done()));
    EXPECT_EQ(ctx.done().recv(), std::nullopt) << "done is closed, not sent on";
    EXPECT_EQ(ctx.err(), kCanceled);
    EXPECT_EQ(ctx.err().message(), "context canceled");
    EXPECT_TRUE(absl::IsCancelled(ctx.err()));
    EXPECT_EQ(gofer::cause(ctx), kCanceled);
  });
}

TEST_P(context, cancel_is_idempotent) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    auto done = ctx.done();
    cancel();
    cancel();  // no "close of closed channel", no change
    {
      auto again = cancel;
      again();
    }
    EXPECT_EQ(ctx.err(), kCanceled);
    EXPECT_TRUE(ctx.done() == done) << "the done channel is not replaced";
    EXPECT_TRUE(ready(ctx.done()));
  });
}

TEST_P(context, copies_share_the_node) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    gofer::context copy = ctx;
    EXPECT_TRUE(copy == ctx);
    EXPECT_TRUE(copy.done() == ctx.done());
    cancel();
    EXPECT_EQ(copy.err(), kCanceled);
    EXPECT_TRUE(ready(copy.done()));
  });
}

TEST_P(context, cancelling_a_child_does_not_touch_parent_or_siblings) {
  run_main(threads(), [&] {
    auto [parent, cancel_parent] = gofer::with_cancel(gofer::background());
    auto [child, cancel_child] = gofer::with_cancel(parent);
    auto [sibling, cancel_sibling] = gofer::with_cancel(parent);
    auto [grandchild, cancel_grandchild] = gofer::with_cancel(child);
    EXPECT_FALSE(child == parent);
    EXPECT_FALSE(child.done() == parent.done());
    cancel_child();
    EXPECT_EQ(child.err(), kCanceled);
    EXPECT_EQ(grandchild.err(), kCanceled) << "the child's own descendants are cancelled";
    EXPECT_TRUE(parent.err().ok());
    EXPECT_FALSE(ready(parent.done()));
    EXPECT_TRUE(sibling.err().ok());
    EXPECT_FALSE(ready(sibling.done()));
    // The parent still works: cancelling it later cancels the sibling.
    cancel_parent();
    EXPECT_EQ(sibling.err(), kCanceled);
    cancel_sibling();
    cancel_grandchild();
  });
}

TEST_P(context, cancelling_a_parent_cancels_every_descendant_through_value_nodes) {
  static const gofer::context_key<int> key{"k"};
  run_main(threads(), [&] {
    auto [root, cancel_root] = gofer::with_cancel(gofer::background());
    ctx_t v1 = gofer::with_value(root, key, 1);
    auto [c1, cancel_c1] = gofer::with_cancel(v1);
    ctx_t v2 = gofer::with_value(c1, key, 2);
    ctx_t v3 = gofer::with_value(v2, key, 3);
    auto [c2, cancel_c2] = gofer::with_cancel_cause(v3);
    auto [d, cancel_d] = gofer::with_timeout(c2, 1h);
    auto [side, cancel_side] = gofer::with_cancel(v1);
    std::vector<ctx_t> all = {v1, c1, v2, v3, c2, d, side};
    for (const ctx_t& c : all) {
      EXPECT_TRUE(c.err().ok());
      EXPECT_FALSE(ready(c.done()));
    }
    cancel_root();
    for (std::size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(all[i].err(), kCanceled) << "descendant " << i;
      EXPECT_TRUE(ready(all[i].done())) << "descendant " << i;
    }
    EXPECT_EQ(d.err(), kCanceled) << "cancelled by an ancestor before its deadline: Canceled";
    EXPECT_EQ(*v3.value(key), 3) << "values survive cancellation";
    cancel_c1();
    cancel_c2(absl::OkStatus());
    cancel_d();
    cancel_side();
  });
}

TEST_P(context, value_node_shares_its_parents_done_and_err) {
  static const gofer::context_key<int> key{"k"};
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    ctx_t v = gofer::with_value(ctx, key, 1);
    EXPECT_TRUE(v.done() == ctx.done());
    EXPECT_FALSE(v == ctx);
    ctx_t bv = gofer::with_value(gofer::background(), key, 1);
    EXPECT_TRUE(bv.done() == nullptr) << "a value over background is never cancelled";
    EXPECT_TRUE(bv.err().ok());
    cancel();
    EXPECT_EQ(v.err(), kCanceled);
  });
}

TEST_P(context, child_of_cancelled_parent_is_born_cancelled) {
  static const gofer::context_key<int> key{"k"};
  run_main(threads(), [&] {
    auto [parent, cancel_parent] = gofer::with_cancel_cause(gofer::background());
    const absl::Status why = absl::AbortedError("why");
    cancel_parent(why);
    auto [c, cancel_c] = gofer::with_cancel(parent);
    EXPECT_EQ(c.err(), kCanceled);
    EXPECT_TRUE(ready(c.done()));
    EXPECT_EQ(gofer::cause(c), why);
    auto [cc, cancel_cc] = gofer::with_cancel_cause(gofer::with_value(parent, key, 1));
    EXPECT_EQ(cc.err(), kCanceled);
    EXPECT_EQ(gofer::cause(cc), why) << "born cancelled with the parent's cause, not a new one";
    cancel_cc(absl::InternalError("later"));
    EXPECT_EQ(gofer::cause(cc), why);
    auto [d, cancel_d] = gofer::with_timeout(parent, 1h);
    EXPECT_EQ(d.err(), kCanceled) << "a deadline child of a cancelled parent: Canceled";
    EXPECT_TRUE(ready(d.done()));
    cancel_c();
    cancel_d();
  });
}

TEST_P(context, many_goroutines_waiting_on_done_all_wake) {
  constexpr int kWaiters = 200;
  std::atomic<int> woke{0};
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    gofer::wait_group wg;
    wg.add(kWaiters);
    for (int i = 0; i < kWaiters; ++i) {
      gofer::go([&, ctx = ctx, i] {
        if (i % 2 == 0) {
          EXPECT_EQ(ctx.done().recv(), std::nullopt);
        } else {
          gofer::chan<int> never;
          EXPECT_EQ(gofer::select(gofer::recv_case(never), gofer::recv_case(ctx.done())), 1u);
        }
        EXPECT_EQ(ctx.err(), kCanceled);
        woke.fetch_add(1);
        wg.done();
      });
    }
    ASSERT_TRUE(wait_parked_receivers(ctx.done(), kWaiters));
    EXPECT_EQ(woke.load(), 0);
    cancel();
    wg.wait();
    EXPECT_EQ(woke.load(), kWaiters);
  });
}

// Go: "a cancel is synchronized before every receive from done() that returns because of it".
TEST_P(context, cancel_happens_before_done_receive_returns) {
  for (int round = 0; round < 50; ++round) {
    std::vector<int> data;  // deliberately not atomic
    bool ok = false;
    run_main(threads(), [&] {
      auto [ctx, cancel] = gofer::with_cancel(gofer::background());
      gofer::go([&data, cancel = cancel] {
        data.assign(64, 5);
        cancel();
      });
      ctx.done().recv();
      ok = data == std::vector<int>(64, 5) && ctx.err() == kCanceled;
    });
    EXPECT_TRUE(ok) << "round " << round;
  }
}

TEST_P(context, dropping_an_uncancelled_child_is_harmless) {
  run_main(threads(), [&] {
    auto [parent, cancel_parent] = gofer::with_cancel(gofer::background());
    for (int i = 0; i < 1000; ++i) {
      auto [c, cancel] = gofer::with_cancel(parent);  // never cancelled: unregisters on drop
      (void)cancel;
    }
    auto [kept, cancel_kept] = gofer::with_cancel(parent);
    cancel_parent();
    EXPECT_EQ(kept.err(), kCanceled);
    cancel_kept();
  });
}

// ---------------------------------------------------------------------------------------
// with_cancel_cause, cause

TEST_P(context, cause_of_live_context_is_ok) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel_cause(gofer::background());
    EXPECT_TRUE(gofer::cause(ctx).ok());
    auto [child, cancel_child] = gofer::with_cancel(ctx);
    EXPECT_TRUE(gofer::cause(child).ok());
    cancel(absl::OkStatus());
    cancel_child();
  });
}

TEST_P(context, first_cause_wins) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel_cause(gofer::background());
    const absl::Status a = absl::UnavailableError("first");
    const absl::Status b = absl::InternalError("second");
    cancel(a);
    cancel(b);
    cancel(absl::OkStatus());
    EXPECT_EQ(ctx.err(), kCanceled) << "err() is Canceled whatever the cause";
    EXPECT_EQ(gofer::cause(ctx), a);
    EXPECT_TRUE(ready(ctx.done()));
  });
}

TEST_P(context, ok_cause_records_the_canceled_error) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel_cause(gofer::background());
    cancel(absl::OkStatus());
    EXPECT_EQ(ctx.err(), kCanceled);
    EXPECT_EQ(gofer::cause(ctx), kCanceled);
    cancel(absl::InternalError("too late"));
    EXPECT_EQ(gofer::cause(ctx), kCanceled) << "the OK cancel was the first one";
  });
}

TEST_P(context, cause_propagates_to_descendants) {
  static const gofer::context_key<int> key{"k"};
  run_main(threads(), [&] {
    auto [root, cancel_root] = gofer::with_cancel_cause(gofer::background());
    auto [plain, cancel_plain] = gofer::with_cancel(gofer::with_value(root, key, 1));
    auto [caused, cancel_caused] = gofer::with_cancel_cause(plain);
    auto [timed, cancel_timed] = gofer::with_timeout(caused, 1h);
    auto [early, cancel_early] = gofer::with_cancel_cause(root);
    const absl::Status own = absl::AbortedError("own");
    cancel_early(own);  // cancelled first, by itself
    const absl::Status why = absl::ResourceExhaustedError("root cause");
    cancel_root(why);
    EXPECT_EQ(gofer::cause(root), why);
    EXPECT_EQ(gofer::cause(plain), why);
    EXPECT_EQ(gofer::cause(caused), why);
    EXPECT_EQ(gofer::cause(timed), why);
    EXPECT_EQ(timed.err(), kCanceled);
    EXPECT_EQ(gofer::cause(early), own) << "a context cancelled before its parent keeps its cause";
    cancel_plain();
    cancel_caused(absl::InternalError("later"));
    EXPECT_EQ(gofer::cause(caused), why);
    cancel_timed();
  });
}

TEST_P(context, cause_of_plain_cancel_is_the_canceled_error) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    cancel();
    EXPECT_EQ(gofer::cause(ctx), kCanceled);
  });
}

TEST_P(context, cause_of_deadline_exceeded_context) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 1ms);
    ctx.done().recv();
    EXPECT_EQ(ctx.err(), kDeadline);
    EXPECT_EQ(gofer::cause(ctx), kDeadline);
    auto [child, cancel_child] = gofer::with_cancel_cause(ctx);
    EXPECT_EQ(gofer::cause(child), kDeadline);
    EXPECT_EQ(child.err(), kDeadline);
    cancel();
    cancel_child(absl::InternalError("x"));
    EXPECT_EQ(gofer::cause(ctx), kDeadline);
  });
}

// ---------------------------------------------------------------------------------------
// with_deadline, with_timeout

TEST_P(context, with_timeout_fires_deadline_exceeded_after_at_least_d) {
  run_main(threads(), [&] {
    const auto d = 50ms;
    const auto start = steady::now();
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), d);
    EXPECT_EQ(ctx.done().recv(), std::nullopt);
    const auto elapsed = steady::now() - start;
    EXPECT_GE(elapsed, d);
    EXPECT_LT(elapsed, 10s);
    EXPECT_EQ(ctx.err(), kDeadline);
    EXPECT_EQ(ctx.err().message(), "context deadline exceeded");
    EXPECT_TRUE(absl::IsDeadlineExceeded(ctx.err()));
    cancel();
    EXPECT_EQ(ctx.err(), kDeadline) << "cancel after the deadline fired changes nothing";
  });
}

TEST_P(context, with_deadline_fires_at_the_time_point) {
  run_main(threads(), [&] {
    const gofer::time_point at = steady::now() + 40ms;
    auto [ctx, cancel] = gofer::with_deadline(gofer::background(), at);
    EXPECT_EQ(ctx.deadline(), at);
    gofer::chan<int> never;
    EXPECT_EQ(gofer::select(gofer::recv_case(never), gofer::recv_case(ctx.done())), 1u);
    EXPECT_GE(steady::now(), at);
    EXPECT_LT(steady::now(), at + 10s);
    EXPECT_EQ(ctx.err(), kDeadline);
    cancel();
  });
}

TEST_P(context, with_timeout_reports_its_deadline) {
  run_main(threads(), [&] {
    const auto before = steady::now();
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 1h);
    const auto after = steady::now();
    ASSERT_TRUE(ctx.deadline().has_value());
    EXPECT_GE(*ctx.deadline(), before + 1h);
    EXPECT_LE(*ctx.deadline(), after + 1h);
    EXPECT_TRUE(ctx.err().ok());
    EXPECT_FALSE(ready(ctx.done()));
    static const gofer::context_key<int> key{"k"};
    auto [child, cancel_child] = gofer::with_cancel(gofer::with_value(ctx, key, 1));
    EXPECT_EQ(child.deadline(), ctx.deadline()) << "descendants inherit the deadline";
    cancel();
    cancel_child();
  });
}

TEST_P(context, past_deadline_is_born_cancelled) {
  run_main(threads(), [&] {
    auto [a, cancel_a] = gofer::with_deadline(gofer::background(), steady::now() - 1s);
    EXPECT_EQ(a.err(), kDeadline);
    EXPECT_TRUE(ready(a.done()));
    EXPECT_EQ(gofer::cause(a), kDeadline);
    auto [b, cancel_b] = gofer::with_timeout(gofer::background(), 0ns);
    EXPECT_EQ(b.err(), kDeadline);
    EXPECT_TRUE(ready(b.done()));
    auto [c, cancel_c] = gofer::with_timeout(gofer::background(), -5s);
    EXPECT_EQ(c.err(), kDeadline);
    auto [child, cancel_child] = gofer::with_cancel(a);
    EXPECT_EQ(child.err(), kDeadline) << "a child of an expired context inherits DeadlineExceeded";
    cancel_a();
    cancel_b();
    cancel_c();
    cancel_child();
    EXPECT_EQ(a.err(), kDeadline);
  });
}

TEST_P(context, parents_earlier_deadline_wins) {
  run_main(threads(), [&] {
    const auto start = steady::now();
    const gofer::time_point parent_at = start + 60ms;
    auto [parent, cancel_parent] = gofer::with_deadline(gofer::background(), parent_at);
    auto [child, cancel_child] = gofer::with_deadline(parent, start + 1h);
    auto [child2, cancel_child2] = gofer::with_timeout(parent, 1h);
    EXPECT_EQ(child.deadline(), parent_at) << "deadline() reports the earliest";
    EXPECT_EQ(child2.deadline(), parent_at);
    child.done().recv();
    EXPECT_GE(steady::now(), parent_at);
    EXPECT_LT(steady::now() - start, 10s);
    EXPECT_EQ(child.err(), kDeadline);
    EXPECT_EQ(child2.err(), kDeadline);
    EXPECT_EQ(parent.err(), kDeadline);
    cancel_parent();
    cancel_child();
    cancel_child2();
  });
}

TEST_P(context, childs_earlier_deadline_fires_without_the_parent) {
  run_main(threads(), [&] {
    const auto start = steady::now();
    auto [parent, cancel_parent] = gofer::with_timeout(gofer::background(), 1h);
    const gofer::time_point child_at = start + 30ms;
    auto [child, cancel_child] = gofer::with_deadline(parent, child_at);
    EXPECT_EQ(child.deadline(), child_at);
    child.done().recv();
    EXPECT_GE(steady::now(), child_at);
    EXPECT_EQ(child.err(), kDeadline);
    EXPECT_TRUE(parent.err().ok());
    EXPECT_FALSE(ready(parent.done()));
    cancel_parent();
    cancel_child();
  });
}

TEST_P(context, cancel_before_the_deadline_wins_over_it) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 20ms);
    cancel();
    EXPECT_EQ(ctx.err(), kCanceled);
    gofer::sleep(60ms);  // let the deadline pass (measuring, not ordering)
    EXPECT_EQ(ctx.err(), kCanceled) << "the first cancellation sticks";
    EXPECT_EQ(gofer::cause(ctx), kCanceled);
  });
}

TEST_P(context, deadline_context_cancelled_by_parent_reports_canceled) {
  run_main(threads(), [&] {
    auto [parent, cancel_parent] = gofer::with_cancel(gofer::background());
    auto [ctx, cancel] = gofer::with_timeout(parent, 50ms);
    cancel_parent();
    EXPECT_EQ(ctx.err(), kCanceled);
    gofer::sleep(100ms);  // the deadline passes: still Canceled
    EXPECT_EQ(ctx.err(), kCanceled);
    cancel();
  });
}

// Cancelling stops the deadline timer. 100,000 create+cancel pairs must be quick, and a
// second round must not need more memory than the first (leaked nodes, timers or parent
// registrations would show: each is hundreds of bytes, tens of MB per round).
TEST_P(context, cancelling_100000_timeout_contexts_is_fast_and_does_not_grow) {
  constexpr int kContexts = 100000;
  run_main(threads(), [&] {
    auto [parent, cancel_parent] = gofer::with_cancel(gofer::background());
    long rss_after[2] = {0, 0};
    for (int round = 0; round < 2; ++round) {
      const auto start = steady::now();
      for (int i = 0; i < kContexts; ++i) {
        auto [ctx, cancel] = gofer::with_timeout(parent, 1h);
        cancel();
        if (i % 9973 == 0) {
          EXPECT_EQ(ctx.err(), kCanceled);
        }
      }
      const auto elapsed = steady::now() - start;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
      EXPECT_LT(elapsed, 5s) << "round " << round;
#else
      (void)elapsed;  // sanitizers: 5-10x slower, more on a loaded machine; no time bound
#endif
      rss_after[round] = rss_bytes();
    }
#ifndef __SANITIZE_ADDRESS__
    EXPECT_LT(rss_after[1] - rss_after[0], 8L << 20) << "memory grew across rounds";
#else
    // ASan keeps freed memory in its quarantine (256 MiB), so RSS grows whether or not
    // gofer frees anything; LeakSanitizer checks the leak instead at exit.
    (void)rss_after;
#endif
    EXPECT_TRUE(parent.err().ok());
    cancel_parent();
  });
}

// The indirect proof that cancel() takes the timer out of the heap: with 100,000 cancelled
// 1-hour contexts still alive, main blocks forever and the deadlock detector must report
// it at once — it stays silent while any timer is pending (see the control below). alarm()
// turns a hang (a leaked timer) into SIGALRM, a distinct failure. One scheduler thread: no
// idle thread can be asleep until an old deadline (that is the next test's subject).
TEST(context_timer, cancel_takes_the_deadline_timer_out_of_the_heap) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::alarm(30);
        gofer::run(
            [] {
              std::vector<gofer::context> keep;
              keep.reserve(100000);
              for (int i = 0; i < 100000; ++i) {
                auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 1h);
                cancel();
                keep.push_back(ctx);
              }
              gofer::chan<int>().recv();
            },
            {.threads = 1});
        std::exit(0);
      },
      ::testing::ExitedWithCode(2), "all goroutines are asleep - deadlock!");
}

// Control for the test above: a pending (uncancelled) deadline does keep the deadlock
// detector quiet, so that test's assertion can fail.
TEST(context_timer, pending_deadline_silences_the_deadlock_detector) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::alarm(1);
        gofer::run(
            [] {
              auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 1h);
              gofer::chan<int>().recv();
              cancel();
            },
            {.threads = 1});
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGALRM), "");
}

// The same program on 1, 2, 4 and 8 threads: once every deadline is cancelled nothing can
// wake main, so runtime.hpp's detector must report the deadlock promptly whatever the
// thread count. (An idle scheduler thread that went to sleep until a since-cancelled
// deadline must not keep the detector quiet until that deadline.)
TEST_P(context, deadlock_is_detected_after_cancelling_every_deadline) {
  const unsigned n = threads();
  EXPECT_EXIT(
      {
        ::alarm(15);
        gofer::run(
            [] {
              std::vector<gofer::context> keep;
              keep.reserve(100000);
              for (int i = 0; i < 100000; ++i) {
                auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 1h);
                cancel();
                keep.push_back(ctx);
              }
              gofer::chan<int>().recv();
            },
            {.threads = n});
        std::exit(0);
      },
      ::testing::ExitedWithCode(2), "all goroutines are asleep - deadlock!");
}

// ---------------------------------------------------------------------------------------
// with_value

TEST_P(context, value_lookup_through_chains) {
  static const gofer::context_key<int> kn{"n"};
  static const gofer::context_key<std::string> ks{"s"};
  run_main(threads(), [&] {
    ctx_t a = gofer::with_value(gofer::background(), kn, 42);
    auto [b, cancel_b] = gofer::with_cancel(a);
    ctx_t c = gofer::with_value(b, ks, std::string("hello"));
    auto [d, cancel_d] = gofer::with_timeout(c, 1h);
    ASSERT_NE(d.value(kn), nullptr);
    EXPECT_EQ(*d.value(kn), 42);
    ASSERT_NE(d.value(ks), nullptr);
    EXPECT_EQ(*d.value(ks), "hello");
    EXPECT_EQ(a.value(ks), nullptr) << "values are not visible upwards";
    EXPECT_EQ(*b.value(kn), 42);
    cancel_b();
    cancel_d();
  });
}

TEST_P(context, nearest_value_wins) {
  static const gofer::context_key<int> key{"k"};
  run_main(threads(), [&] {
    ctx_t outer = gofer::with_value(gofer::background(), key, 1);
    auto [mid, cancel] = gofer::with_cancel(outer);
    ctx_t inner = gofer::with_value(mid, key, 2);
    EXPECT_EQ(*inner.value(key), 2);
    EXPECT_EQ(*mid.value(key), 1);
    EXPECT_EQ(*outer.value(key), 1);
    cancel();
  });
}

TEST_P(context, keys_of_the_same_type_are_distinct) {
  static const gofer::context_key<int> ka{"same-name"};
  static const gofer::context_key<int> kb{"same-name"};
  run_main(threads(), [&] {
    ctx_t a = gofer::with_value(gofer::background(), ka, 1);
    EXPECT_EQ(a.value(kb), nullptr) << "keys compare by identity, not by type or name";
    ctx_t ab = gofer::with_value(a, kb, 2);
    EXPECT_EQ(*ab.value(ka), 1);
    EXPECT_EQ(*ab.value(kb), 2);
  });
}

TEST_P(context, missing_value_is_nullptr) {
  static const gofer::context_key<int> present{"p"};
  static const gofer::context_key<int> absent{"a"};
  run_main(threads(), [&] {
    auto [c, cancel] = gofer::with_cancel(gofer::with_value(gofer::background(), present, 1));
    EXPECT_EQ(c.value(absent), nullptr);
    EXPECT_EQ(gofer::background().value(absent), nullptr);
    cancel();
  });
}

TEST_P(context, values_survive_cancellation_and_outlive_other_handles) {
  static const gofer::context_key<std::string> key{"k"};
  run_main(threads(), [&] {
    ctx_t leaf;
    const std::string* p = nullptr;
    {
      auto [ctx, cancel] = gofer::with_cancel(gofer::background());
      ctx_t v = gofer::with_value(ctx, key, std::string(1000, 'x'));
      auto [child, cancel_child] = gofer::with_cancel(v);
      leaf = child;
      p = leaf.value(key);
      cancel();
      cancel_child();
    }  // every other handle is gone
    EXPECT_EQ(leaf.err(), kCanceled);
    ASSERT_NE(leaf.value(key), nullptr);
    EXPECT_EQ(leaf.value(key), p) << "the same stored value";
    EXPECT_EQ(*leaf.value(key), std::string(1000, 'x'));
  });
}

TEST_P(context, values_are_visible_from_other_goroutines) {
  static const gofer::context_key<std::vector<int>> key{"k"};
  run_main(threads(), [&] {
    ctx_t ctx = gofer::with_value(gofer::background(), key, std::vector<int>{1, 2, 3});
    gofer::chan<int> sum(1);
    gofer::go([ctx, sum]() {
      int s = 0;
      for (int v : *ctx.value(key)) s += v;
      sum.send(s);
    });
    EXPECT_EQ(sum.recv(), 6);
  });
}

// ---------------------------------------------------------------------------------------
// done() in select

TEST_P(context, done_is_a_cancellation_case_in_select) {
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    gofer::chan<int> work;
    gofer::chan<std::string> result(1);
    gofer::go([ctx = ctx, work, result]() {
      int handled = 0;
      for (;;) {
        std::optional<int> job;
        bool stop = false;
        gofer::select(gofer::recv_case(work, job), gofer::recv_case(ctx.done(), [&](auto) { stop = true; }));
        if (stop) break;
        handled += *job;
      }
      result.send(std::to_string(handled) + " " + ctx.err().ToString());
    });
    for (int i = 1; i <= 10; ++i) work.send(i);
    cancel();
    EXPECT_EQ(result.recv(), "55 " + kCanceled.ToString());
  });
}

TEST_P(context, done_in_select_with_timeout) {
  run_main(threads(), [&] {
    // start is taken before the deadline is: with_timeout(20ms) counts from its own call,
    // so a start taken after it could see less than 20 ms (slow builds: ASan, TSan).
    const auto start = steady::now();
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 20ms);
    gofer::chan<int> never;
    std::optional<int> v;
    EXPECT_EQ(gofer::select(gofer::recv_case(never, v), gofer::recv_case(ctx.done())), 1u);
    EXPECT_GE(steady::now() - start, 20ms);
    EXPECT_EQ(ctx.err(), kDeadline);
    cancel();
  });
}

INSTANTIATE_TEST_SUITE_P(, context, ::testing::ValuesIn(kThreadCounts), threads_name);

// ---------------------------------------------------------------------------------------
// outside gofer::run

TEST(context_outside_run, with_timeout_and_with_deadline_throw_logic_error) {
  EXPECT_THROW(gofer::with_timeout(gofer::background(), 1s), std::logic_error);
  EXPECT_THROW(gofer::with_deadline(gofer::background(), steady::now() + 1s), std::logic_error);
  auto [parent, cancel] = gofer::with_cancel(gofer::background());
  EXPECT_THROW(gofer::with_timeout(parent, 1s), std::logic_error);
  cancel();
}

TEST(context_outside_run, cancel_and_values_work_without_a_run) {
  static const gofer::context_key<int> key{"k"};
  auto [ctx, cancel] = gofer::with_cancel(gofer::with_value(gofer::background(), key, 3));
  auto [child, cancel_child] = gofer::with_cancel(ctx);
  cancel();
  EXPECT_EQ(child.err(), kCanceled);
  EXPECT_EQ(child.done().try_recv(), std::nullopt);
  EXPECT_EQ(*child.value(key), 3);
  cancel_child();
}

// ---------------------------------------------------------------------------------------
// stress: concurrent cancellation of parents and children from different threads

class context_stress : public threads_test {};

TEST_P(context_stress, concurrent_cancel_of_parents_and_children) {
  static const gofer::context_key<int> key{"k"};
  constexpr int kRounds = 2000, kMids = 6, kLeaves = 4, kBorn = 8;
  run_main(threads(), [&] {
    for (int round = 0; round < kRounds; ++round) {
      auto [root, cancel_root] = gofer::with_cancel_cause(gofer::background());
      std::vector<ctx_t> mids;
      std::vector<gofer::cancel_cause_func> mid_cancels;
      std::vector<ctx_t> leaves;
      std::vector<gofer::cancel_func> leaf_cancels;
      for (int m = 0; m < kMids; ++m) {
        auto [mid, cm] = gofer::with_cancel_cause(gofer::with_value(root, key, m));
        mids.push_back(mid);
        mid_cancels.push_back(cm);
        for (int l = 0; l < kLeaves; ++l) {
          auto [leaf, cl] = (l % 2 == 0) ? gofer::with_timeout(mid, 1h) : gofer::with_cancel(mid);
          leaves.push_back(leaf);
          leaf_cancels.push_back(cl);
        }
      }
      gofer::chan<std::monostate> start;
      gofer::chan<std::vector<ctx_t>> born(kMids);
      gofer::wait_group wg;
      const int order = round % 3;  // vary who tends to go first
      // The root's canceller.
      wg.add(1);
      gofer::go([&, start, order, cancel_root = cancel_root]() {
        start.recv();
        if (order == 0) gofer::yield();
        cancel_root(absl::AbortedError("root"));
        wg.done();
      });
      // One canceller per mid, which also cancels its leaves; one creator of new children
      // per mid, racing with the cancellations.
      for (int m = 0; m < kMids; ++m) {
        wg.add(2);
        gofer::go([&, start, m, order]() {
          start.recv();
          if (order == 1) gofer::yield();
          for (int l = kLeaves - 1; l >= 0; --l) leaf_cancels[m * kLeaves + l]();
          mid_cancels[m](absl::InternalError("mid"));
          wg.done();
        });
        gofer::go([&, start, born, m]() {
          start.recv();
          std::vector<ctx_t> mine;
          for (int b = 0; b < kBorn; ++b) {
            auto [c, cancel] = (b % 2 == 0) ? gofer::with_cancel(mids[m]) : gofer::with_timeout(mids[m], 1h);
            (void)cancel;  // left for the ancestors to cancel
            mine.push_back(c);
            if (b % 3 == 0) gofer::yield();
          }
          born.send(std::move(mine));
          wg.done();
        });
      }
      // Waiters on the leaves' done channels.
      for (int w = 0; w < kMids * kLeaves; w += 3) {
        wg.add(1);
        gofer::go([&, w] {
          leaves[w].done().recv();
          wg.done();
        });
      }
      start.close();
      wg.wait();
      std::vector<ctx_t> everything = {root};
      everything.insert(everything.end(), mids.begin(), mids.end());
      everything.insert(everything.end(), leaves.begin(), leaves.end());
      for (int m = 0; m < kMids; ++m) {
        std::optional<std::vector<ctx_t>> got = born.recv();
        ASSERT_TRUE(got.has_value());
        everything.insert(everything.end(), got->begin(), got->end());
      }
      for (std::size_t i = 0; i < everything.size(); ++i) {
        const ctx_t& c = everything[i];
        ASSERT_EQ(c.err(), kCanceled) << "round " << round << " context " << i;
        ASSERT_TRUE(ready(c.done())) << "round " << round << " context " << i;
        const absl::Status why = gofer::cause(c);
        ASSERT_TRUE(why == absl::AbortedError("root") || why == absl::InternalError("mid") || why == kCanceled)
            << "round " << round << " context " << i << ": " << why;
      }
      EXPECT_EQ(gofer::cause(root), absl::AbortedError("root"));
    }
  });
}

INSTANTIATE_TEST_SUITE_P(, context_stress, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
