// clock1 — spot the bug: the wrong kind of lock (book, chapter 4: "Getting deeper with
// mutexes and sync", the draft in ch4_1_waitgroup.go).
//
// A clock keeps the time of its last change and how many changes there were, under a
// gofer::rw_mutex. Readers may share the lock; a writer must have it alone. The book's draft
// takes a *read* lock in the writer, so several writers are inside at once: two of them read
// the same counter and both write counter+1 (a change is lost), and a reader can see the new
// counter with the old time. The yields mark where a writer may be switched out in the middle
// of its change (getting the time, logging); keep them.
//
// Goal: no change is lost and no reader sees half of one; the tests pass.
// Question: why does the draft look fine when only one goroutine ever writes?

#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/gtest.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

class clock_state {
 public:
  // One change: the counter goes up by one and the time is set to `now`.
  void change(long now) {
    // TODO: which kind of lock does a goroutine that *writes* need?
    std::shared_lock lk(mu_);
    long next = changes_ + 1;
    gofer::yield();  // the writer may be switched out here: keep this line
    changes_ = next;
    gofer::yield();  // and here: keep this line too
    time_ = now * 1000 + next;  // the time carries the change number, so readers can check
  }

  // A reader's view: is it one whole change (the time matches the counter)?
  bool consistent() {
    std::shared_lock lk(mu_);  // readers share the lock: right as it is
    return changes_ == 0 || time_ % 1000 == changes_ % 1000;
  }

  long changes() {
    std::shared_lock lk(mu_);
    return changes_;
  }

 private:
  gofer::rw_mutex mu_;
  long changes_ = 0;  // guarded by mu_
  long time_ = 0;     // guarded by mu_
};

// ---- the tests: no need to change anything below ----

TEST(clock1, one_writer_is_fine) {
  clock_state c;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    for (int i = 1; i <= 100; ++i) c.change(i);
  }));
  EXPECT_EQ(c.changes(), 100);
}

TEST(clock1, many_writers_lose_no_change) {
  clock_state c;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    gofer::wait_group wg;
    wg.add(20);
    for (int w = 0; w < 20; ++w) {
      gofer::go(gofer::named("writer-" + std::to_string(w)), [&, w] {
        for (int i = 0; i < 50; ++i) c.change(w * 100 + i);
        wg.done();
      });
    }
    wg.wait();
  }, {.threads = 2}));
  EXPECT_EQ(c.changes(), 20 * 50) << "changes were lost: two writers were inside at once";
}

TEST(clock1, readers_never_see_half_a_change) {
  clock_state c;
  long torn = 0;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    gofer::wait_group wg;
    wg.add(4 + 4);
    for (int w = 0; w < 4; ++w) {
      gofer::go(gofer::named("writer-" + std::to_string(w)), [&, w] {
        for (int i = 0; i < 50; ++i) c.change(w * 100 + i);
        wg.done();
      });
    }
    std::vector<long> seen(4, 0);
    for (int r = 0; r < 4; ++r) {
      gofer::go(gofer::named("reader-" + std::to_string(r)), [&, r] {
        for (int i = 0; i < 200; ++i) {
          if (!c.consistent()) ++seen[r];
          gofer::yield();
        }
        wg.done();
      });
    }
    wg.wait();
    for (long s : seen) torn += s;
  }, {.threads = 1}));
  EXPECT_EQ(torn, 0) << "readers saw a counter that does not match the time";
}
