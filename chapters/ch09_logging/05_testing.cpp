// testing — testing concurrent code with GoogleTest (book, chapter 10: "Using Go with unit
// testing"; the twin of chapter 9's logging). The tests below order goroutines with channels
// instead of sleeps, take time as a parameter (a fake clock) where time is the subject, and
// catch the book's Square bug (x·3 instead of x·x). The demo runs its own tests twice, in
// child processes: with the bug (red: one test fails) and fixed (green). Under the tsan
// preset the same tests run with ThreadSanitizer: ./gofer run --preset tsan testing.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"
#include "server.hpp"

// ---------- the code under test ----------

bool g_buggy = false;  // --square buggy: the book's mathematics.Square

// The book's package mathematics: Square returned x*3 until the test caught it.
int square(int x) { return g_buggy ? x * 3 : x * x; }

// Squares every input on its own goroutine; results come back in input order.
std::vector<int> square_all(const std::vector<int>& in) {
  std::vector<gofer::chan<int>> outs;
  for (int x : in) {
    gofer::chan<int> out(1);
    gofer::go([x, out] { out.send(square(x)); });
    outs.push_back(out);
  }
  std::vector<int> res;
  for (auto& c : outs) res.push_back(c.recv().value_or(-1));
  return res;
}

// A lease that is valid for `ttl` after it was granted. Time is a parameter, so a test can
// pass any instant (a fake clock) instead of sleeping until the lease runs out.
struct lease {
  using clock = std::chrono::steady_clock;
  clock::time_point granted;
  clock::duration ttl;
  bool valid_at(clock::time_point now) const { return now < granted + ttl; }
};

// ---------- the tests ----------

TEST(square, two_squared_is_four) { EXPECT_EQ(square(2), 4); }

TEST(square, square_all_keeps_the_order_on_two_threads) {
  std::vector<int> got;
  ASSERT_EQ(gofer::run([&] { got = square_all({1, 2, 3, 4, 5}); }, {.threads = 2}), 0);
  EXPECT_EQ(got, (std::vector<int>{1, 4, 9, 16, 25}));
}

// A deterministic interleaving: ping and pong take turns because each waits for the other's
// message, so the log's order is the only possible one — no sleep decides it.
TEST(interleaving, ping_pong_alternates_exactly) {
  std::vector<std::string> log;  // written by one goroutine at a time, ordered by the channels
  ASSERT_EQ(gofer::run([&] {
    gofer::chan<int> ping, pong;
    gofer::chan<int> done;
    gofer::go(gofer::named("pong"), [&log, ping, pong, done] {
      while (auto n = ping.recv()) {
        log.push_back("pong " + std::to_string(*n));
        pong.send(*n);
      }
      done.send(1);
    });
    for (int i = 1; i <= 3; ++i) {
      log.push_back("ping " + std::to_string(i));
      ping.send(i);
      pong.recv();
    }
    ping.close();
    done.recv();
  }, {.threads = 4}), 0);
  EXPECT_EQ(log, (std::vector<std::string>{"ping 1", "pong 1", "ping 2", "pong 2", "ping 3", "pong 3"}));
}

// Time is the subject: a fake clock (explicit instants) checks the edge exactly, in no time.
TEST(fake_clock, a_lease_expires_exactly_at_its_ttl) {
  lease::clock::time_point t0{};  // any instant will do
  lease l{t0, std::chrono::seconds(30)};
  EXPECT_TRUE(l.valid_at(t0));
  EXPECT_TRUE(l.valid_at(t0 + std::chrono::seconds(30) - std::chrono::nanoseconds(1)));
  EXPECT_FALSE(l.valid_at(t0 + std::chrono::seconds(30)));
}

// ---------- the demo: run the tests above in two child processes ----------

struct child_result {
  int status = -1;
  std::string verdict;  // GoogleTest's "[  PASSED  ]" / "[  FAILED  ]" summary lines
};

child_result run_tests(const std::string& square_mode, const std::filesystem::path& out) {
  auto p = gofer_demo::process::spawn({"/proc/self/exe", "--run-tests", "--square", square_mode}, out);
  child_result r;
  r.status = p.wait();
  std::ifstream in(out);
  for (std::string l; std::getline(in, l);)
    if (l.rfind("[  PASSED  ]", 0) == 0 || l.rfind("[  FAILED  ]", 0) == 0) {
      if (l.size() > 3 && l.compare(l.size() - 3, 3, "ms)") == 0) l.erase(l.rfind(" ("));  // the time varies
      r.verdict += "   " + l + "\n";
    }
  return r;
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);  // takes the --gtest_* flags out of argv
  bool run_here = false;
  std::string mode = "fixed";
  CLI::App app{"testing concurrent code with GoogleTest: red with the Square bug, then green", "testing"};
  app.add_flag("--run-tests", run_here, "run the tests in this process (what the children do)");
  app.add_option("--square", mode, "which Square the tests see")->capture_default_str()
      ->check(CLI::IsMember({"fixed", "buggy"}));
  if (int rc = gofer_demo::parse_flags(app, argc, argv); rc >= 0) return rc;
  g_buggy = mode == "buggy";
  if (run_here) return RUN_ALL_TESTS();

  auto dir = std::filesystem::temp_directory_path() / ("gofer-testing-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::puts("1. the tests with the book's Square (x*3):");
  child_result red = run_tests("buggy", dir / "red.txt");
  std::printf("%s   exit status %d\n", red.verdict.c_str(), red.status);
  std::puts("2. the same tests with Square fixed (x*x):");
  child_result green = run_tests("fixed", dir / "green.txt");
  std::printf("%s   exit status %d\n", green.verdict.c_str(), green.status);
  std::filesystem::remove_all(dir);

  bool red_ok = red.status != 0 && red.verdict.find("square.two_squared_is_four") != std::string::npos;
  if (!red_ok || green.status != 0) {
    std::puts("unexpected: the bug was not caught, or the fix did not pass");
    return 1;
  }
  std::puts("red with the Square bug, green with the fix: the tests caught it, without a single sleep");
  return 0;
}
