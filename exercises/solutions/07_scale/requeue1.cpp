// requeue1 — re-queue a dead worker's tasks, and complete every task exactly once (book,
// chapter 7: "Type 1 – star", "Serialized data": status 0 unassigned, 1 assigned, 2 done).
//
// A star master hands tasks to workers and must survive a worker that dies with tasks in
// hand. The master's goroutine (run_master, given) keeps its books in a task_table, which
// you complete. In the test, worker 0 is flaky: it finishes one task, then its connection is
// declared dead while it holds three more — and one of its results arrives after that, as a
// message still in flight when the master gave up on it.
//
// Goal: the GoogleTest tests at the bottom pass: every task completed exactly once, by a
// worker that held it, even though worker 0 dies.
//
// Question: once the master has given a dead worker's task to someone else, whose report
// may complete it?

#include <deque>
#include <map>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/gtest.hpp>
#include <gofer/runtime.hpp>
#include <gofer/select.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>
#include <gofer/time.hpp>

// The master's books. Only the master's goroutine uses it: no lock.
class task_table {
 public:
  explicit task_table(int tasks) {
    for (int t = 0; t < tasks; ++t) queue_.push_back(t);
  }
  // The next unassigned task, oldest first.
  std::optional<int> next_unassigned() {
    if (queue_.empty()) return std::nullopt;
    int t = queue_.front();
    queue_.pop_front();
    return t;
  }
  void assign(int task, int worker) { holder_[task] = worker; }

  // `worker` reports `task` done. Returns true if this report completes the task.
  bool on_done(int worker, int task) {
    // Only the worker that holds the task now: not a dead worker whose task was re-queued
    // (it no longer holds it), not a second report of a task already done (nobody holds it).
    auto it = holder_.find(task);
    if (it == holder_.end() || it->second != worker) return false;
    holder_.erase(it);
    ++completed_by_[task];
    return true;
  }

  // `worker`'s connection is dead. Returns the tasks it held, which must be done again.
  std::vector<int> on_dead(int worker) {
    std::vector<int> back;
    for (auto it = holder_.begin(); it != holder_.end();) {
      if (it->second == worker) {
        back.push_back(it->first);
        it = holder_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto t = back.rbegin(); t != back.rend(); ++t) queue_.push_front(*t);  // oldest first
    return back;
  }

  // How many times each task was completed.
  const std::map<int, int>& completions() const { return completed_by_; }

 private:
  std::deque<int> queue_;      // unassigned
  std::map<int, int> holder_;  // assigned: task → worker
  std::map<int, int> completed_by_;
};

// ---- the master and its workers (given) ---------------------------------------------------------
struct event {
  enum kind { done, dead } what;
  int worker = 0, task = -1;
};

// Runs `tasks` tasks on 3 worker goroutines, worker 0 flaky; returns the completions. Gives up
// after 2 s without progress (so a broken table fails the test instead of hanging it).
std::map<int, int> run_master(int tasks) {
  constexpr int kWorkers = 3;
  task_table table(tasks);
  gofer::chan<event> events(64);
  std::vector<gofer::chan<int>> inbox;
  std::vector<bool> live(kWorkers, true);
  gofer::wait_group wg;
  for (int w = 0; w < kWorkers; ++w) {
    inbox.emplace_back(static_cast<std::size_t>(tasks));
    wg.add(1);
    gofer::go(gofer::named("worker-" + std::to_string(w)), [in = inbox.back(), events, w, &wg] {
      if (w == 0) {  // flaky: one task done, then dead with the rest in hand, then a late report
        int first = *in.recv(), second = *in.recv();
        events.send(event{event::done, w, first});
        events.send(event{event::dead, w});
        events.send(event{event::done, w, second});
      } else {
        while (auto t = in.recv()) events.send(event{event::done, w, *t});
      }
      wg.done();
    });
  }
  std::size_t next = 0;
  auto hand_out = [&] {  // round robin over the live workers
    while (auto t = table.next_unassigned()) {
      while (!live[next % kWorkers]) ++next;
      int w = static_cast<int>(next++ % kWorkers);
      table.assign(*t, w);
      inbox[static_cast<std::size_t>(w)].send(*t);
    }
  };
  hand_out();
  for (int done = 0; done < tasks;) {
    std::optional<event> ev;
    if (gofer::select(gofer::recv_case(events, ev), gofer::recv_case(gofer::after(std::chrono::seconds(2)))) == 1) break;
    if (ev->what == event::done) {
      if (table.on_done(ev->worker, ev->task)) ++done;
    } else {
      live[static_cast<std::size_t>(ev->worker)] = false;
      table.on_dead(ev->worker);
    }
    hand_out();
  }
  for (int w = 1; w < kWorkers; ++w) inbox[static_cast<std::size_t>(w)].close();
  wg.wait();
  // Reports still queued (duplicates) count too.
  while (auto ev = events.try_recv())
    if (ev->what == event::done) table.on_done(ev->worker, ev->task);
  return table.completions();
}

TEST(requeue1, every_task_completed_exactly_once_though_a_worker_dies) {
  std::map<int, int> completions;
  ASSERT_GOFER_OK(gofer::testing::run([&] { completions = run_master(12); }));
  ASSERT_EQ(completions.size(), 12u) << "some tasks were never completed";
  for (auto [task, n] : completions) EXPECT_EQ(n, 1) << "task " << task << " completed " << n << " times";
}

TEST(requeue1, the_table_by_itself) {
  task_table table(2);
  table.assign(*table.next_unassigned(), 7);  // task 0 to worker 7
  table.assign(*table.next_unassigned(), 7);  // task 1 to worker 7
  EXPECT_TRUE(table.on_done(7, 0));
  EXPECT_EQ(table.on_dead(7), std::vector<int>{1}) << "worker 7 died holding task 1";
  EXPECT_FALSE(table.on_done(7, 1)) << "a dead worker's late report completed a re-queued task";
  EXPECT_EQ(table.next_unassigned(), 1);
  table.assign(1, 8);
  EXPECT_FALSE(table.on_done(9, 1)) << "worker 9 never held task 1";
  EXPECT_TRUE(table.on_done(8, 1));
  EXPECT_FALSE(table.on_done(8, 1)) << "the same report twice";
  EXPECT_EQ(table.completions().at(0), 1);
  EXPECT_EQ(table.completions().at(1), 1);
}
