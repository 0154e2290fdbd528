// races1 — solution. A gofer::mutex makes take-append-advance one critical section. It
// parks the goroutine, not the thread, so holding it across the yield is fine (a std::mutex
// held across a yield could be unlocked on another thread: undefined behaviour). A lock
// protects the data; it does not decide which worker takes which letter.

#include <cctype>
#include <mutex>
#include <string>

#include <gtest/gtest.h>

#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

std::string capitalize(const std::string& text, int workers) {
  std::string out;        // shared by the workers
  std::size_t next = 0;   // shared by the workers: the next position to take
  gofer::wait_group wg;
  gofer::mutex mu;  // guards out and next
  for (int w = 0; w < workers; ++w) {
    wg.add(1);
    gofer::go([&] {
      for (;;) {
        std::lock_guard<gofer::mutex> lk(mu);
        std::size_t i = next;
        if (i >= text.size()) break;
        gofer::yield();  // the scheduler may switch to the other worker here: keep this line
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

const std::string kLorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.";
const std::string kUpper = "LOREM IPSUM DOLOR SIT AMET, CONSECTETUR ADIPISCING ELIT.";

TEST(races1, one_thread_two_workers) {
  std::string got;
  gofer::run([&] { got = capitalize(kLorem, 2); }, {.threads = 1});
  EXPECT_EQ(got, kUpper);
}

TEST(races1, two_threads_two_workers) {
  std::string got;
  gofer::run([&] { got = capitalize(kLorem, 2); }, {.threads = 2});
  EXPECT_EQ(got, kUpper);
}

TEST(races1, one_worker_alone) {
  std::string got;
  gofer::run([&] { got = capitalize(kLorem, 1); }, {.threads = 1});
  EXPECT_EQ(got, kUpper);
}
