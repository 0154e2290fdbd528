// tests/pool_test.cpp — gofer::worker_pool and gofer::future (gofer/pool.hpp).
//
// The contract of pool.hpp, one behaviour per test: every job runs exactly once and its
// future gets exactly its result; back-pressure (a full queue parks submit, try_submit
// never parks); at most N jobs run at once; close/shutdown drains, stop drops (cancelled,
// never run); cancellation through the parent context (cancel and deadline); counters
// consistent at every moment; errors and exceptions fail only their job; void results;
// move-only jobs and results; handles; no goroutine left behind.
// Every behavioural test runs under 1, 2, 4 and 8 scheduler threads. Nothing sleeps: "the
// submitter is parked" is observed on the job queue's waiter list (test_util.hpp), "a job
// is running" on the pool's counters, and jobs are held with gate channels.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gofer/gofer.hpp"
#include "gofer/pool.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using gofer::future;
using gofer::pool_stats;
using gofer::worker_pool;

// A gate: jobs park in pass() until open() closes it.
struct gate {
  gofer::chan<std::monostate> c;
  void pass() const { gofer::recv_chan<std::monostate>(c).recv(); }
  // Parks until the gate opens or ctx is cancelled; returns ctx.err() (OK if opened).
  absl::Status pass(const gofer::context& ctx) const {
    gofer::select(gofer::recv_case(c), gofer::recv_case(ctx.done()));
    return ctx.err();
  }
  void open() { c.close(); }
};

template <class Job, class Result>
auto queue_of(const worker_pool<Job, Result>& p) {
  return gofer::detail::pool_access::queue(p);
}

bool consistent(const pool_stats& s) {
  return s.submitted == s.queued + s.running + s.succeeded + s.failed + s.cancelled;
}

class pool : public threads_test {};

// ---------------------------------------------------------------------------------------
// results

TEST_P(pool, every_job_runs_exactly_once_and_its_future_gets_its_result) {
  constexpr int kJobs = 1000;
  std::vector<std::atomic<int>> runs(kJobs);
  std::vector<absl::StatusOr<int>> results;
  pool_stats end;
  run_main(threads(), [&] {
    worker_pool<int, int> p({.workers = 4, .queue = 8}, [&](int j) {
      runs[j].fetch_add(1);
      return j * 2;
    });
    std::vector<future<int>> fs;
    for (int j = 0; j < kJobs; ++j) fs.push_back(p.submit(j));
    p.shutdown();
    for (auto& f : fs) results.push_back(f.get());
    end = p.stats();
  });
  for (int j = 0; j < kJobs; ++j) {
    EXPECT_EQ(runs[j].load(), 1) << "job " << j;
    ASSERT_TRUE(results[j].ok()) << results[j].status();
    EXPECT_EQ(*results[j], 2 * j);
  }
  EXPECT_EQ(end.submitted, static_cast<std::uint64_t>(kJobs));
  EXPECT_EQ(end.succeeded, static_cast<std::uint64_t>(kJobs));
  EXPECT_EQ(end.queued + end.running + end.failed + end.cancelled, 0u);
}

TEST_P(pool, future_can_be_awaited_before_shutdown_and_in_select) {
  int got = 0, second = 0;
  run_main(threads(), [&] {
    worker_pool<int, int> p({.workers = 2, .queue = 2}, [](int j) { return j + 1; });
    future<int> f = p.submit(41);
    gofer::select(gofer::recv_case(f.c(), [&](std::optional<absl::StatusOr<int>> r) {
      ASSERT_TRUE(r.has_value());
      got = **r;
    }));
    second = *p.submit(1).get();
    p.shutdown();
  });
  EXPECT_EQ(got, 42);
  EXPECT_EQ(second, 2);
}

TEST_P(pool, future_taken_twice_reports_failed_precondition) {
  absl::StatusOr<int> first, again;
  std::optional<absl::StatusOr<int>> try_again;
  bool ready_before = false, ready_after = true;
  run_main(threads(), [&] {
    worker_pool<int, int> p({.workers = 1}, [](int j) { return j; });
    future<int> f = p.submit(7);
    future<int> copy = f;  // a handle to the same result
    p.shutdown();
    ready_before = f.ready();
    first = f.get();
    ready_after = copy.ready();
    again = copy.get();
    try_again = copy.try_get();
  });
  EXPECT_TRUE(ready_before);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 7);
  EXPECT_FALSE(ready_after);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(again.status().message(), "future: result already taken");
  EXPECT_FALSE(try_again.has_value());
}

TEST_P(pool, nil_future_is_not_valid_and_never_ready) {
  future<int> f;
  EXPECT_FALSE(f.valid());
  EXPECT_FALSE(f.ready());
  EXPECT_FALSE(f.try_get().has_value());
  EXPECT_TRUE(f.c() == nullptr);
  auto r = future<int>::ready_with(5);
  EXPECT_TRUE(r.valid());
  EXPECT_TRUE(r.ready());
  EXPECT_EQ(**r.try_get(), 5);
}

// future's shared state: the result waits in the state itself; c() makes the channel on
// its first call, and from then on the result travels through it.

TEST(future, c_of_a_ready_future_carries_the_result_once_then_is_closed) {
  auto f = future<int>::ready_with(5);
  gofer::recv_chan<absl::StatusOr<int>> c = f.c();
  EXPECT_TRUE(f.c() == c) << "c() must return the same channel every time";
  EXPECT_TRUE(f.ready());
  std::optional<absl::StatusOr<int>> v = c.try_recv();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(**v, 5);
  EXPECT_FALSE(f.ready());
  EXPECT_FALSE(c.try_recv().has_value());
  EXPECT_FALSE(f.try_get().has_value()) << "taken through c(): nothing left for try_get";
}

TEST(future, c_of_a_taken_future_is_a_closed_channel) {
  auto f = future<int>::ready_with(6);
  EXPECT_EQ(**f.try_get(), 6);
  gofer::recv_chan<absl::StatusOr<int>> c = f.c();
  EXPECT_FALSE(c.try_recv().has_value());
  std::optional<std::size_t> idx;
  // closed: ready for receive (nullopt), chosen over default
  idx = gofer::select(gofer::recv_case(c), gofer::default_case());
  EXPECT_EQ(idx, 0u);
}

TEST_P(pool, future_get_parked_in_several_goroutines_exactly_one_obtains_the_result) {
  constexpr int kGetters = 3;
  int ok = 0, taken = 0, value = 0;
  run_main(threads(), [&] {
    gate g;
    worker_pool<int, int> p({.workers = 1}, [&](int j) {
      g.pass();
      return j;
    });
    future<int> f = p.submit(11);
    gofer::chan<absl::StatusOr<int>> results(kGetters);
    for (int i = 0; i < kGetters; ++i) {
      gofer::go(gofer::named{"getter-" + std::to_string(i)}, [f, results]() { results.send(f.get()); });
    }
    for (int i = 0; i < kGetters; ++i) ASSERT_TRUE(wait_state("getter-" + std::to_string(i), "chan receive"));
    g.open();
    for (int i = 0; i < kGetters; ++i) {
      absl::StatusOr<int> r = *results.recv();
      if (r.ok()) {
        ++ok;
        value = *r;
      } else if (r.status().code() == absl::StatusCode::kFailedPrecondition) {
        ++taken;
      }
    }
    p.shutdown();
  });
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(value, 11);
  EXPECT_EQ(taken, kGetters - 1);
}

TEST_P(pool, future_c_made_while_a_get_is_parked_delivers_exactly_once) {
  // get() parks on the state; then c() moves the future onto a channel; the result must
  // reach exactly one of them and the other must see it taken (no hang).
  int obtained = 0, saw_taken = 0;
  run_main(threads(), [&] {
    gate g;
    worker_pool<int, int> p({.workers = 1}, [&](int j) {
      g.pass();
      return j;
    });
    future<int> f = p.submit(3);
    gofer::chan<absl::StatusOr<int>> got(1);
    gofer::go(gofer::named{"getter"}, [f, got]() { got.send(f.get()); });
    ASSERT_TRUE(wait_state("getter", "chan receive"));
    gofer::recv_chan<absl::StatusOr<int>> c = f.c();
    g.open();
    std::optional<absl::StatusOr<int>> from_c = c.recv();
    absl::StatusOr<int> from_get = *got.recv();
    for (bool won : {from_c.has_value() && from_c->ok(), from_get.ok()}) obtained += won ? 1 : 0;
    if (!from_c.has_value()) ++saw_taken;
    if (!from_get.ok() && from_get.status().code() == absl::StatusCode::kFailedPrecondition) ++saw_taken;
    p.shutdown();
  });
  EXPECT_EQ(obtained, 1);
  EXPECT_EQ(saw_taken, 1);
}

TEST_P(pool, void_result_pool_reports_ok_and_error_statuses) {
  std::atomic<int> sum{0};
  absl::Status a, b, c, d;
  run_main(threads(), [&] {
    worker_pool<int> plain({.workers = 2}, [&](int j) { sum += j; });
    a = plain.submit(3).get();
    plain.shutdown();
    worker_pool<int> checked({.workers = 2}, [](const gofer::context&, int j) -> absl::Status {
      if (j < 0) return absl::InvalidArgumentError("negative");
      return absl::OkStatus();
    });
    b = checked.submit(1).get();
    c = checked.submit(-1).get();
    checked.shutdown();
    d = checked.submit(2).get();  // after close
  });
  EXPECT_EQ(sum.load(), 3);
  EXPECT_TRUE(a.ok());
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(c, absl::InvalidArgumentError("negative"));
  EXPECT_EQ(d, absl::FailedPreconditionError("worker_pool: submit after close"));
}

TEST_P(pool, move_only_jobs_and_results) {
  std::vector<int> got;
  run_main(threads(), [&] {
    worker_pool<std::unique_ptr<int>, std::unique_ptr<int>> p(
        {.workers = 3, .queue = 2}, [](std::unique_ptr<int> j) { return std::make_unique<int>(*j * 10); });
    std::vector<future<std::unique_ptr<int>>> fs;
    for (int i = 1; i <= 5; ++i) fs.push_back(p.submit(std::make_unique<int>(i)));
    auto j = std::make_unique<int>(6);
    auto tf = p.try_submit(j);
    p.shutdown();
    for (auto& f : fs) got.push_back(**f.get());
    if (tf) got.push_back(**tf->get());
  });
  ASSERT_GE(got.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i], (i + 1) * 10);
}

// ---------------------------------------------------------------------------------------
// failures

TEST_P(pool, error_status_fails_only_that_job) {
  std::vector<absl::StatusOr<int>> rs;
  pool_stats s;
  run_main(threads(), [&] {
    worker_pool<int, int> p({.workers = 3, .queue = 3}, [](int j) -> absl::StatusOr<int> {
      if (j % 2) return absl::NotFoundError("odd " + std::to_string(j));
      return j;
    });
    std::vector<future<int>> fs;
    for (int j = 0; j < 10; ++j) fs.push_back(p.submit(j));
    p.shutdown();
    for (auto& f : fs) rs.push_back(f.get());
    s = p.stats();
  });
  for (int j = 0; j < 10; ++j) {
    if (j % 2) {
      EXPECT_EQ(rs[j].status(), absl::NotFoundError("odd " + std::to_string(j)));
    } else {
      ASSERT_TRUE(rs[j].ok());
      EXPECT_EQ(*rs[j], j);
    }
  }
  EXPECT_EQ(s.succeeded, 5u);
  EXPECT_EQ(s.failed, 5u);
}

TEST_P(pool, exceptions_become_failed_results_and_the_pool_keeps_working) {
  absl::StatusOr<int> boom, gopanic, other, fine;
  pool_stats s;
  run_main(threads(), [&] {
    worker_pool<int, int> p({.workers = 1, .queue = 4}, [](int j) -> int {
      if (j == 1) throw std::runtime_error("boom");
      if (j == 2) gofer::panic("send on closed channel");
      if (j == 3) throw 42;
      return j;
    });
    auto f1 = p.submit(1), f2 = p.submit(2), f3 = p.submit(3), f4 = p.submit(4);
    boom = f1.get();
    gopanic = f2.get();
    other = f3.get();
    fine = f4.get();
    p.shutdown();
    s = p.stats();
  });
  EXPECT_EQ(boom.status(), absl::InternalError("panic: boom"));
  EXPECT_EQ(gopanic.status(), absl::InternalError("panic: send on closed channel"));
  EXPECT_EQ(other.status(), absl::InternalError("panic: unknown exception"));
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ(*fine, 4);
  EXPECT_EQ(s.failed, 3u);
  EXPECT_EQ(s.succeeded, 1u);
}

// ---------------------------------------------------------------------------------------
// back-pressure and concurrency

TEST_P(pool, submit_parks_while_the_queue_is_full) {
  std::atomic<int> seq{0};
  int released_at = -1, accepted_at = -1;
  pool_stats while_parked;
  bool try_full = false, consistent_parked = false;
  absl::StatusOr<int> r4;
  run_main(threads(), [&] {
    gate g;
    worker_pool<int, int> p({.workers = 1, .queue = 2}, [g](int j) {
      if (j == 1) g.pass();
      return j;
    });
    auto q = queue_of(p);
    auto f1 = p.submit(1);
    ASSERT_TRUE(eventually([&] { return p.stats().running == 1; }));  // the worker holds job 1
    auto f2 = p.submit(2);  // queue: [2]
    auto f3 = p.submit(3);  // queue: [2 3] — full
    int five = 5;
    try_full = !p.try_submit(five).has_value() && five == 5;
    gofer::chan<future<int>> handed(1);
    gofer::go([&, p, handed]() {
      auto f4 = p.submit(4);  // parks: the queue is full
      accepted_at = seq.fetch_add(1);
      handed.send(std::move(f4));
    });
    ASSERT_TRUE(wait_parked_senders(q, 1));  // the submitter is parked on the job queue
    while_parked = p.stats();
    consistent_parked = consistent(while_parked);
    released_at = seq.fetch_add(1);
    g.open();  // job 1 returns; the worker takes 2; room for 4
    r4 = (*handed.recv()).get();
    p.shutdown();
  });
  EXPECT_TRUE(try_full) << "try_submit on a full queue must return nullopt and leave the job";
  EXPECT_EQ(while_parked.running, 1u);
  EXPECT_EQ(while_parked.queued, 3u) << "2 in the queue + 1 parked submitter";
  EXPECT_TRUE(consistent_parked);
  EXPECT_LT(released_at, accepted_at) << "submit(4) returned before the queue had room";
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(*r4, 4);
}

TEST_P(pool, unbuffered_queue_hands_jobs_to_idle_workers_only) {
  bool try_busy = true;
  run_main(threads(), [&] {
    gate g;
    worker_pool<int, int> p({.workers = 1, .queue = 0}, [g](int j) {
      g.pass();
      return j;
    });
    EXPECT_EQ(p.queue_capacity(), 0u);
    ASSERT_TRUE(eventually([&] { return gofer_test::parked_receivers(queue_of(p)) == 1; }));
    auto f1 = p.try_submit(1);  // the worker is parked on the queue: taken at once
    ASSERT_TRUE(f1.has_value());
    ASSERT_TRUE(eventually([&] { return p.stats().running == 1; }));
    try_busy = p.try_submit(2).has_value();  // no idle worker: not taken
    g.open();
    EXPECT_EQ(*f1->get(), 1);
    p.shutdown();
  });
  EXPECT_FALSE(try_busy);
}

TEST_P(pool, never_more_than_n_jobs_run_at_once) {
  constexpr int kWorkers = 3, kJobs = 60;
  std::atomic<int> active{0}, max_active{0};
  pool_stats at_full;
  run_main(threads(), [&] {
    gate g;
    worker_pool<int, int> p({.workers = kWorkers, .queue = 4}, [&, g](int j) {
      int now = active.fetch_add(1) + 1;
      int m = max_active.load();
      while (now > m && !max_active.compare_exchange_weak(m, now)) {
      }
      g.pass();
      for (int i = 0; i < 3; ++i) gofer::yield();
      active.fetch_sub(1);
      return j;
    });
    std::vector<future<int>> fs;
    gofer::go([&, p]() {
      for (int j = 0; j < kJobs; ++j) fs.push_back(p.submit(j));
      p.close();
    });
    // All workers busy, the queue full, the submitter parked: still only N running.
    ASSERT_TRUE(eventually([&] { return p.stats().running == kWorkers && p.stats().queued == 5; }));
    ASSERT_TRUE(wait_parked_senders(queue_of(p), 1));
    at_full = p.stats();
    g.open();
    p.wait();
    for (auto& f : fs) EXPECT_TRUE(f.get().ok());
  });
  EXPECT_EQ(max_active.load(), kWorkers);
  EXPECT_EQ(at_full.running, static_cast<std::uint64_t>(kWorkers));
  EXPECT_EQ(at_full.queued, 5u) << "4 queued + 1 parked submitter";
}

TEST_P(pool, counters_are_consistent_at_every_moment) {
  constexpr int kSubmitters = 4, kPer = 500;
  bool all_consistent = true, running_bounded = true;
  int samples = 0;
  pool_stats end;
  run_main(threads(), [&] {
    worker_pool<int, int> p({.workers = 3, .queue = 5}, [](int j) -> absl::StatusOr<int> {
      if (j % 7 == 0) return absl::InternalError("seven");
      gofer::yield();
      return j;
    });
    gofer::wait_group wg;
    wg.add(kSubmitters);
    for (int s = 0; s < kSubmitters; ++s) {
      gofer::go([&, p]() {
        for (int j = 0; j < kPer; ++j) p.submit(j);
        wg.done();
      });
    }
    gofer::go([&wg, p]() {
      wg.wait();
      p.close();
    });
    for (bool finished = false; !finished;) {
      pool_stats s = p.stats();
      all_consistent = all_consistent && consistent(s);
      running_bounded = running_bounded && s.running <= 3;
      ++samples;
      finished = gofer::select(gofer::recv_case(p.done()), gofer::default_case()) == 0;
      gofer::yield();
    }
    end = p.stats();
  });
  EXPECT_TRUE(all_consistent);
  EXPECT_TRUE(running_bounded);
  EXPECT_GT(samples, 0);
  const std::uint64_t total = kSubmitters * kPer;
  const std::uint64_t sevens = kSubmitters * ((kPer + 6) / 7);
  EXPECT_EQ(end.submitted, total);
  EXPECT_EQ(end.failed, sevens);
  EXPECT_EQ(end.succeeded, total - sevens);
  EXPECT_EQ(end.queued + end.running + end.cancelled, 0u);
  EXPECT_EQ(end.completed(), total);
}

// ---------------------------------------------------------------------------------------
// shutdown: close/shutdown drain, stop drops

TEST_P(pool, close_rejects_new_jobs_but_runs_the_queued_ones) {
  std::vector<int> ran;
  absl::StatusOr<int> late;
  std::optional<future<int>> try_late;
  pool_stats s;
  run_main(threads(), [&] {
    gate g;
    gofer::mutex mu;
    worker_pool<int, int> p({.workers = 1, .queue = 5}, [&, g](int j) {
      g.pass();
      std::lock_guard lk(mu);
      ran.push_back(j);
      return j;
    });
    std::vector<future<int>> fs;
    for (int j = 1; j <= 6; ++j) fs.push_back(p.submit(j));  // 1 running (gated) + 5 queued
    ASSERT_TRUE(eventually([&] { return p.stats().running == 1; }));
    p.close();
    p.close();  // idempotent
    late = p.submit(7).get();
    int eight = 8;
    try_late = p.try_submit(eight);
    g.open();
    p.wait();
    for (auto& f : fs) EXPECT_TRUE(f.get().ok());
    s = p.stats();
  });
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3, 4, 5, 6})) << "one worker runs the queue in FIFO order";
  EXPECT_EQ(late.status(), absl::FailedPreconditionError("worker_pool: submit after close"));
  ASSERT_TRUE(try_late.has_value());
  EXPECT_EQ(try_late->get().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.submitted, 6u);
  EXPECT_EQ(s.succeeded, 6u);
}

TEST_P(pool, shutdown_waits_for_parked_submitters_jobs_too) {
  std::vector<absl::StatusOr<int>> rs;
  run_main(threads(), [&] {
    gate g;
    worker_pool<int, int> p({.workers = 1, .queue = 1}, [g](int j) {
      g.pass();
      return j;
    });
    auto f1 = p.submit(1);
    ASSERT_TRUE(eventually([&] { return p.stats().running == 1; }));
    auto f2 = p.submit(2);  // fills the queue
    gofer::chan<future<int>> handed(1);
    gofer::go([p, handed]() { handed.send(p.submit(3)); });
    ASSERT_TRUE(wait_parked_senders(queue_of(p), 1));
    p.close();  // the parked submit(3) was first: it still gets in
    g.open();
    p.wait();
    rs.push_back(f1.get());
    rs.push_back(f2.get());
    rs.push_back((*handed.recv()).get());
  });
  ASSERT_EQ(rs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(rs[i].ok()) << rs[i].status();
    EXPECT_EQ(*rs[i], i + 1);
  }
}

TEST_P(pool, stop_fails_queued_jobs_as_cancelled_without_running_them) {
  std::atomic<int> ran{0};
  std::vector<absl::StatusOr<int>> rs;
  absl::Status running_saw;
  absl::StatusOr<int> after;
  pool_stats s;
  run_main(threads(), [&] {
    gate g;  // never opened: job 1 returns only because stop() cancels its context
    worker_pool<int, int> p({.workers = 1, .queue = 4}, [&, g](const gofer::context& ctx, int j) -> absl::StatusOr<int> {
      ran.fetch_add(1);
      if (j == 1) {
        running_saw = g.pass(ctx);
        return running_saw;
      }
      return j;
    });
    std::vector<future<int>> fs;
    for (int j = 1; j <= 5; ++j) fs.push_back(p.submit(j));
    ASSERT_TRUE(eventually([&] { return p.stats().running == 1; }));
    p.stop();
    for (auto& f : fs) rs.push_back(f.get());
    after = p.submit(6).get();
    p.stop();  // idempotent
    s = p.stats();
  });
  EXPECT_EQ(ran.load(), 1) << "stop() must not run queued jobs";
  EXPECT_EQ(running_saw.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(rs[0].status().code(), absl::StatusCode::kCancelled) << "job 1 returned its ctx error";
  for (int i = 1; i < 5; ++i) {
    EXPECT_EQ(rs[i].status(), absl::CancelledError("worker_pool: stopped")) << "job " << i + 1;
  }
  EXPECT_EQ(after.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.cancelled, 4u);
  EXPECT_EQ(s.succeeded, 0u);
  EXPECT_TRUE(consistent(s));
}

TEST_P(pool, stop_wakes_parked_submitters_with_cancelled_futures) {
  absl::StatusOr<int> parked_result;
  pool_stats s;
  run_main(threads(), [&] {
    gate g;
    worker_pool<int, int> p({.workers = 1, .queue = 1}, [g](const gofer::context& ctx, int j) -> absl::StatusOr<int> {
      if (absl::Status st = g.pass(ctx); !st.ok()) return st;
      return j;
    });
    auto f1 = p.submit(1);
    ASSERT_TRUE(eventually([&] { return p.stats().running == 1; }));
    auto f2 = p.submit(2);
    gofer::chan<future<int>> handed(1);
    gofer::go([p, handed]() { handed.send(p.submit(3)); });
    ASSERT_TRUE(wait_parked_senders(queue_of(p), 1));
    p.stop();
    parked_result = (*handed.recv()).get();
    EXPECT_EQ(f2.get().status(), absl::CancelledError("worker_pool: stopped"));
    EXPECT_EQ(f1.get().status().code(), absl::StatusCode::kCancelled);
    s = p.stats();
  });
  EXPECT_EQ(parked_result.status(), absl::CancelledError("worker_pool: stopped"));
  EXPECT_EQ(s.submitted, 3u);
  EXPECT_EQ(s.cancelled, 2u);
  EXPECT_TRUE(consistent(s));
}

TEST_P(pool, stop_waits_for_a_running_job_that_ignores_its_context) {
  bool returned_while_stop_parked = true, returned_when_stop_returned = false;
  run_main(threads(), [&] {
    gofer::chan<int> step;
    std::atomic<bool> returned{false};
    worker_pool<int, int> p({.workers = 1}, [&, step](int j) {
      step.recv();  // waits for the helper below, not for the context
      returned = true;
      return j;
    });
    auto f = p.submit(1);
    ASSERT_TRUE(eventually([&] { return p.stats().running == 1; }));
    gofer::go([&, step, done = p.done()]() {
      EXPECT_TRUE(wait_parked_receivers(done, 1));  // main is parked in stop()'s wait
      returned_while_stop_parked = returned.load();
      step.send(0);  // now let the job return
    });
    p.stop();
    returned_when_stop_returned = returned.load();
    EXPECT_EQ(*f.get(), 1) << "a job that returns a value after stop() still succeeds";
  });
  EXPECT_FALSE(returned_while_stop_parked);
  EXPECT_TRUE(returned_when_stop_returned);
}

// ---------------------------------------------------------------------------------------
// cancellation through the parent context

TEST_P(pool, cancelling_the_parent_context_stops_the_pool) {
  std::vector<absl::StatusOr<int>> rs;
  absl::Status job_ctx_err;
  absl::StatusOr<int> after;
  pool_stats s;
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    gate g;
    worker_pool<int, int> p(ctx, {.workers = 2, .queue = 4}, [g](const gofer::context& c, int j) -> absl::StatusOr<int> {
      if (absl::Status st = g.pass(c); !st.ok()) return st;
      return j;
    });
    std::vector<future<int>> fs;
    for (int j = 1; j <= 6; ++j) fs.push_back(p.submit(j));  // 2 running, 4 queued
    ASSERT_TRUE(eventually([&] { return p.stats().running == 2; }));
    cancel();
    p.wait();  // the pool finishes by itself: no close() needed
    for (auto& f : fs) rs.push_back(f.get());
    job_ctx_err = p.job_context().err();
    after = p.submit(7).get();
    s = p.stats();
  });
  for (const auto& r : rs) EXPECT_EQ(r.status(), absl::CancelledError("context canceled"));
  EXPECT_EQ(job_ctx_err.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(after.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.failed, 2u);
  EXPECT_EQ(s.cancelled, 4u);
}

TEST_P(pool, deadline_of_the_parent_context_fails_pending_jobs_with_deadline_exceeded) {
  std::vector<absl::StatusOr<int>> rs;
  run_main(threads(), [&] {
    // A deadline is time, not ordering: 100 ms only has to outlast three submits.
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), std::chrono::milliseconds(100));
    gate g;  // never opened: the deadline ends everything
    worker_pool<int, int> p(ctx, {.workers = 1, .queue = 2}, [g](const gofer::context& c, int j) -> absl::StatusOr<int> {
      if (absl::Status st = g.pass(c); !st.ok()) return st;
      return j;
    });
    std::vector<future<int>> fs;
    for (int j = 1; j <= 3; ++j) fs.push_back(p.submit(j));  // 1 running, 2 queued
    p.wait();
    for (auto& f : fs) rs.push_back(f.get());
    cancel();
  });
  ASSERT_EQ(rs.size(), 3u);
  for (const auto& r : rs) EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
}

TEST_P(pool, submit_on_a_cancelled_context_is_cancelled_not_run) {
  std::atomic<int> ran{0};
  absl::StatusOr<int> r;
  run_main(threads(), [&] {
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    cancel();
    worker_pool<int, int> p(ctx, {.workers = 1, .queue = 1}, [&](int j) {
      ran.fetch_add(1);
      return j;
    });
    r = p.submit(1).get();
    p.wait();
  });
  EXPECT_EQ(ran.load(), 0);
  // Either rejected (the pool already closed itself) or accepted and cancelled.
  EXPECT_TRUE(r.status().code() == absl::StatusCode::kCancelled ||
              r.status().code() == absl::StatusCode::kFailedPrecondition)
      << r.status();
}

// ---------------------------------------------------------------------------------------
// handles, lifetime, goroutines

TEST_P(pool, copies_submit_to_one_pool_from_many_goroutines) {
  constexpr int kSubmitters = 8, kPer = 100;
  std::atomic<long> sum{0};
  pool_stats s;
  run_main(threads(), [&] {
    worker_pool<int, int> p({.workers = 4, .queue = 2}, [&](int j) {
      sum += j;
      return j;
    });
    gofer::wait_group wg;
    wg.add(kSubmitters);
    for (int i = 0; i < kSubmitters; ++i) {
      gofer::go([&wg, p, i]() {
        worker_pool<int, int> copy = p;
        EXPECT_TRUE(copy == p);
        for (int j = 0; j < kPer; ++j) copy.submit(i * kPer + j);
        wg.done();
      });
    }
    wg.wait();
    p.shutdown();
    s = p.stats();
  });
  const long n = kSubmitters * kPer;
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
  EXPECT_EQ(s.succeeded, static_cast<std::uint64_t>(n));
}

TEST_P(pool, dropping_the_last_handle_closes_the_pool_and_leaves_no_goroutine) {
  absl::StatusOr<int> r;
  bool none_left = false;
  run_main(threads(), [&] {
    future<int> f;
    gofer::recv_chan<std::monostate> done;
    {
      worker_pool<int, int> p({.workers = 3, .queue = 3}, [](int j) { return j * 3; });
      f = p.submit(5);
      done = p.done();
    }  // closed, not waited for
    r = f.get();
    done.recv();  // every worker exited
    none_left = eventually([] { return gofer::num_goroutine() == 1; });
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 15);
  EXPECT_TRUE(none_left);
}

TEST_P(pool, no_goroutine_left_after_shutdown_or_stop) {
  bool after_shutdown = false, after_stop = false;
  run_main(threads(), [&] {
    worker_pool<int, int> a({.workers = 8, .queue = 8}, [](int j) { return j; });
    for (int j = 0; j < 50; ++j) a.submit(j);
    a.shutdown();
    after_shutdown = eventually([] { return gofer::num_goroutine() == 1; });
    gate g;
    worker_pool<int, int> b({.workers = 8, .queue = 8}, [g](const gofer::context& c, int j) {
      (void)g.pass(c);
      return j;
    });
    for (int j = 0; j < 16; ++j) b.submit(j);
    b.stop();
    after_stop = eventually([] { return gofer::num_goroutine() == 1; });
  });
  EXPECT_TRUE(after_shutdown);
  EXPECT_TRUE(after_stop);
}

TEST_P(pool, wait_from_several_goroutines_and_done_in_select) {
  std::atomic<int> woke{0};
  run_main(threads(), [&] {
    worker_pool<int, int> p({.workers = 2}, [](int j) { return j; });
    gofer::wait_group wg;
    wg.add(3);
    for (int i = 0; i < 3; ++i) {
      gofer::go([&, p]() {
        p.wait();
        woke.fetch_add(1);
        wg.done();
      });
    }
    EXPECT_EQ(gofer::select(gofer::recv_case(p.done()), gofer::default_case()), 1u) << "not finished yet";
    p.close();
    wg.wait();
    EXPECT_EQ(gofer::select(gofer::recv_case(p.done()), gofer::default_case()), 0u);
  });
  EXPECT_EQ(woke.load(), 3);
}

TEST_P(pool, zero_workers_means_one_per_scheduler_thread_and_workers_are_named) {
  std::size_t n = 0;
  run_main(threads(), [&] {
    worker_pool<int, int> p({.queue = 1, .name = "squarer"}, [](int j) { return j * j; });
    n = p.workers();
    EXPECT_EQ(*p.submit(9).get(), 81);
    p.shutdown();
  });
  EXPECT_EQ(n, threads());
}

TEST(pool_outside_run, constructing_a_pool_throws_logic_error) {
  auto make = [] { worker_pool<int, int> p({.workers = 1}, [](int j) { return j; }); };
  EXPECT_THROW(make(), std::logic_error);
}

// ---------------------------------------------------------------------------------------
// stress

class pool_stress : public threads_test {};

TEST_P(pool_stress, hundred_thousand_tiny_jobs_through_eight_workers) {
  constexpr int kJobs = 100'000;
  std::int64_t sum = 0;
  int errors = 0;
  pool_stats s;
  bool none_left = false;
  run_main(threads(), [&] {
    worker_pool<int, std::int64_t> p({.workers = 8, .queue = 64}, [](int j) { return std::int64_t{j}; });
    gofer::chan<future<std::int64_t>> results(256);  // ordered results, bounded read-ahead
    gofer::go([p, results]() {
      for (int j = 0; j < kJobs; ++j) results.send(p.submit(j));
      results.close();
      p.close();
    });
    std::int64_t expect = 0;
    for (future<std::int64_t> f : results) {
      absl::StatusOr<std::int64_t> r = f.get();
      if (!r.ok() || *r != expect) ++errors;
      sum += r.ok() ? *r : 0;
      ++expect;
    }
    p.wait();
    s = p.stats();
    none_left = eventually([] { return gofer::num_goroutine() == 1; });
  });
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(sum, std::int64_t{kJobs} * (kJobs - 1) / 2);
  EXPECT_EQ(s.submitted, static_cast<std::uint64_t>(kJobs));
  EXPECT_EQ(s.succeeded, static_cast<std::uint64_t>(kJobs));
  EXPECT_TRUE(consistent(s));
  EXPECT_TRUE(none_left);
}

TEST_P(pool_stress, stop_under_load_ends_every_job_exactly_once) {
  constexpr int kSubmitters = 4, kPer = 5000;
  std::atomic<int> results{0}, ran{0};
  pool_stats s;
  run_main(threads(), [&] {
    worker_pool<int, int> p({.workers = 8, .queue = 16}, [&](int j) {
      ran.fetch_add(1);
      gofer::yield();
      return j;
    });
    gofer::wait_group wg;
    wg.add(kSubmitters);
    for (int i = 0; i < kSubmitters; ++i) {
      gofer::go([&, p]() {
        for (int j = 0; j < kPer; ++j) {
          (void)p.submit(j).get();
          results.fetch_add(1);
        }
        wg.done();
      });
    }
    ASSERT_TRUE(eventually([&] { return p.stats().completed() > 1000; }));
    p.stop();
    wg.wait();
    s = p.stats();
  });
  EXPECT_EQ(results.load(), kSubmitters * kPer) << "every future got exactly one result";
  EXPECT_TRUE(consistent(s));
  EXPECT_EQ(s.succeeded + s.failed, static_cast<std::uint64_t>(ran.load()));
  EXPECT_EQ(s.queued + s.running, 0u);
}

INSTANTIATE_TEST_SUITE_P(, pool, ::testing::ValuesIn(kThreadCounts), threads_name);
INSTANTIATE_TEST_SUITE_P(, pool_stress, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
