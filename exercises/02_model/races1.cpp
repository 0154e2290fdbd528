// races1 — spot the bug: the racy capitalizer (book, chapter 1: "Implementing channels",
// and chapter 2: "Using sync and mutexes to lock data").
//
// Two workers capitalize one text together. Each takes the next position from a shared
// cursor, upper-cases that letter onto the shared result and moves the cursor on. Between
// reading the cursor and moving it, the other worker may run: then both take the same
// letter. gofer does not preempt goroutines, so the gofer::yield() stands in for the moment
// a thread gets preempted or a goroutine blocks. Keep it: the fix must work in spite of it.
//
// This exercise is checked by GoogleTest tests at the bottom (they run with one and with two
// scheduler threads).
//
// Goal: capitalize() returns the whole text upper-cased, each letter once, in order, and the
// tests pass.

#include <cctype>
#include <string>

#include <gtest/gtest.h>

#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

std::string capitalize(const std::string& text, int workers) {
  std::string out;        // shared by the workers
  std::size_t next = 0;   // shared by the workers: the next position to take
  gofer::wait_group wg;
  // TODO: the workers share `out` and `next`. Make "take a position, add its letter, move
  // the cursor on" happen as one step that the other worker cannot cut into.
  for (int w = 0; w < workers; ++w) {
    wg.add(1);
    gofer::go([&] {
      for (;;) {
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
