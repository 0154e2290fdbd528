// restore1 — restore that reports the wrong error (Module 2, chapter 8: "Filesystem
// Backup", the restore side).
//
// restore_all() unzips archives with a bounded pool: `limit` unzipper goroutines take
// archive names from a channel. When several archives fail, it should report the *first*
// error (what Go's errgroup does, and what a user needs: later errors are often
// consequences of the first). As it ships it reports the last one.
//
// Goal: the tests pass: with one unzipper the archives run in order and the first failure
// (a.zip's) is the one returned; every archive is still tried.
// Question: with 3 unzippers, which error is "first" — and is it always the same one?

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/status/status.h"

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

absl::Status restore_all(const std::vector<std::string>& archives, int limit,
                         const std::function<absl::Status(const std::string&)>& unzip) {
  gofer::chan<std::string> jobs;
  gofer::wait_group wg;
  gofer::mutex mu;
  absl::Status err;  // guarded by mu
  wg.add(limit);
  for (int w = 0; w < limit; ++w) {
    gofer::go(gofer::named("unzipper"), [&] {
      for (std::string a : jobs) {
        absl::Status s = unzip(a);
        if (!s.ok()) {
          std::lock_guard lk(mu);
          if (err.ok()) err = s;  // keep the first; later ones are dropped (errgroup's rule)
        }
      }
      wg.done();
    });
  }
  for (const std::string& a : archives) jobs.send(a);
  jobs.close();
  wg.wait();
  return err;
}

// ---- the tests: no need to change anything below ----

// A fake unzip: archives named "bad-..." fail with their name in the message.
struct fake_unzip {
  gofer::mutex mu;
  std::vector<std::string> tried;
  absl::Status operator()(const std::string& a) {
    {
      std::lock_guard lk(mu);
      tried.push_back(a);
    }
    if (a.starts_with("bad-")) return absl::DataLossError(a + ": not a zip archive");
    return absl::OkStatus();
  }
};

TEST(restore1, one_unzipper_reports_the_first_error) {
  absl::Status got;
  std::size_t tried = 0;
  gofer::run([&] {
    fake_unzip f;
    got = restore_all({"ok-1.zip", "bad-a.zip", "ok-2.zip", "bad-b.zip", "bad-c.zip"}, 1, std::ref(f));
    tried = f.tried.size();
  });
  EXPECT_EQ(std::string(got.message()), "bad-a.zip: not a zip archive");
  EXPECT_EQ(tried, 5u) << "every archive is still tried";
}

TEST(restore1, three_unzippers_report_the_one_error) {
  absl::Status got;
  gofer::run(
      [&] {
        fake_unzip f;
        got = restore_all({"bad-a.zip", "ok-1.zip", "ok-2.zip", "ok-3.zip", "ok-4.zip"}, 3, std::ref(f));
      },
      {.threads = 2});
  EXPECT_EQ(std::string(got.message()), "bad-a.zip: not a zip archive");
}

TEST(restore1, no_error_is_ok) {
  absl::Status got = absl::UnknownError("not run");
  gofer::run([&] {
    fake_unzip f;
    got = restore_all({"ok-1.zip", "ok-2.zip"}, 2, std::ref(f));
  });
  EXPECT_TRUE(got.ok()) << got;
}
