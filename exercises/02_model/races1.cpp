// races1 — spot the bug: the racy capitalizer (book, chapter 1: "Implementing channels",
// and chapter 2: "Using sync and mutexes to lock data").
//
// Two workers capitalize one text together. Each takes the next position from a shared
// cursor, upper-cases that letter onto the shared result and moves the cursor on. The
// result comes out wrong: some letters twice. Why? Follow two workers by hand.
// gofer does not preempt goroutines, so let_others_run() stands in for the moment a thread
// gets preempted or a goroutine blocks: it lets the other workers run there, the same
// unlucky way every time (the tests define it). Keep it: the fix must work in spite of it.
//
// This exercise is checked by GoogleTest tests at the bottom (they run with one and with two
// scheduler threads). A panic or a deadlock in a test fails that test with gofer's report.
//
// Goal: capitalize() returns the whole text upper-cased, each letter once, in order, and the
// tests pass.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <deque>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/debug.hpp>
#include <gofer/gtest.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

// Defined with the tests at the bottom: the other workers may run here, as they could if
// this thread were preempted at this point.
void let_others_run();

std::string capitalize(const std::string& text, int workers) {
  std::string out;        // shared by the workers
  std::size_t next = 0;   // shared by the workers: the next position to take
  gofer::wait_group wg;
  // TODO: the workers share `out` and `next`. What happens when one worker reads the cursor
  // while the other is between reading it and moving it on?
  for (int w = 1; w <= workers; ++w) {
    wg.add(1);
    gofer::go(gofer::named{"worker-" + std::to_string(w)}, [&] {
      for (;;) {
        std::size_t i = next;
        if (i >= text.size()) break;
        let_others_run();  // keep this line
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
        next = i + 1;
      }
      wg.done();
    });
  }
  wg.wait();
  return out;
}

// ---- the tests: no need to change anything below ----

// let_others_run() plays the scheduler at its worst, the same way every run: the worker
// that calls it waits until every other goroutine is either waiting there too or parked (on
// a lock, a channel, a wait_group: anything that blocks it); then the worker that has
// waited longest goes on, alone, until it calls again, parks or ends. So no two workers
// ever run at the same time between two calls (no data race, even on two threads), and
// every worker that *can* read the cursor before another one moves it on, does.
namespace {

std::mutex g_mu;                      // guards g_waiting; never held across a yield
std::deque<std::uint64_t> g_waiting;  // goroutines waiting in let_others_run, in order

// The other goroutines (ids) and whether each is parked, from gofer's goroutine dump.
std::vector<std::pair<std::uint64_t, bool>> other_goroutines() {
  std::ostringstream dump;
  gofer::dump_goroutines(dump);
  std::istringstream lines(dump.str());
  std::vector<std::pair<std::uint64_t, bool>> found;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("goroutine ", 0) != 0) continue;  // "goroutine 7 "worker-1" [select]:"
    std::uint64_t id = std::stoull(line.substr(10));
    std::size_t open = line.find('[');
    std::string state = line.substr(open + 1, line.find_first_of(",]", open) - open - 1);
    if (id != gofer::goroutine_id()) found.emplace_back(id, state != "runnable" && state != "running");
  }
  return found;
}

bool my_turn(std::uint64_t me) {
  auto others = other_goroutines();
  std::lock_guard<std::mutex> lk(g_mu);
  if (g_waiting.front() != me) return false;
  for (auto [id, parked] : others) {
    bool waiting = std::find(g_waiting.begin(), g_waiting.end(), id) != g_waiting.end();
    if (!parked && !waiting) return false;  // it runs, and may yet come here: wait for it
  }
  g_waiting.pop_front();
  return true;
}

}  // namespace

void let_others_run() {
  const std::uint64_t me = gofer::goroutine_id();
  {
    std::lock_guard<std::mutex> lk(g_mu);
    g_waiting.push_back(me);
  }
  try {
    while (!my_turn(me)) gofer::yield();
  } catch (...) {  // a failed run unwinds the workers: forget this one
    std::lock_guard<std::mutex> lk(g_mu);
    g_waiting.erase(std::find(g_waiting.begin(), g_waiting.end(), me));
    throw;
  }
}

const std::string kLorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.";
const std::string kUpper = "LOREM IPSUM DOLOR SIT AMET, CONSECTETUR ADIPISCING ELIT.";

TEST(races1, one_thread_two_workers) {
  std::string got;
  ASSERT_GOFER_OK(gofer::testing::run([&] { got = capitalize(kLorem, 2); }, {.threads = 1}));
  EXPECT_EQ(got, kUpper);
}

TEST(races1, two_threads_two_workers) {
  std::string got;
  ASSERT_GOFER_OK(gofer::testing::run([&] { got = capitalize(kLorem, 2); }, {.threads = 2}));
  EXPECT_EQ(got, kUpper);
}

TEST(races1, two_threads_three_workers) {
  std::string got;
  ASSERT_GOFER_OK(gofer::testing::run([&] { got = capitalize(kLorem, 3); }, {.threads = 2}));
  EXPECT_EQ(got, kUpper);
}

TEST(races1, one_worker_alone) {
  std::string got;
  ASSERT_GOFER_OK(gofer::testing::run([&] { got = capitalize(kLorem, 1); }, {.threads = 1}));
  EXPECT_EQ(got, kUpper);
}
