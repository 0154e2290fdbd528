// races1 — solution. A gofer::mutex makes take-append-advance one critical section. It
// parks the goroutine, not the thread, so holding it across let_others_run() is fine (a
// std::mutex held across a switch could be unlocked on another thread: undefined
// behaviour). A lock protects the data; it does not decide which worker takes which letter.

#include <cctype>
#include <cstdint>
#include <mutex>
#include <string>

#include <gtest/gtest.h>

#include <gofer/gtest.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

// Defined with the tests at the bottom: another worker may run here, as it could if this
// thread were preempted at this point.
void let_others_run();

std::string capitalize(const std::string& text, int workers) {
  std::string out;        // shared by the workers
  std::size_t next = 0;   // shared by the workers: the next position to take
  gofer::wait_group wg;
  gofer::mutex mu;  // guards out and next
  for (int w = 1; w <= workers; ++w) {
    wg.add(1);
    gofer::go(gofer::named{"worker-" + std::to_string(w)}, [&] {
      for (;;) {
        std::lock_guard<gofer::mutex> lk(mu);
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

// let_others_run() is a switch point: under a seeded schedule the scheduler may run any
// other ready worker here, as a thread could be preempted here (gofer::yield).
void let_others_run() { gofer::yield(); }

const std::string kLorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.";
const std::string kUpper = "LOREM IPSUM DOLOR SIT AMET, CONSECTETUR ADIPISCING ELIT.";

// Runs capitalize under 100 seeds of gofer::schedule::random (runtime.hpp): one thread, and
// every choice of the goroutine that runs next drawn from the seed. A seed is one
// interleaving, the same every run: a failing seed is named and fails the same way again.
void expect_capitalized(int workers) {
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    std::string got;
    ASSERT_GOFER_OK(gofer::testing::run([&] { got = capitalize(kLorem, workers); },
                                        {.schedule = gofer::schedule::random(seed)}));
    ASSERT_EQ(got, kUpper) << "seed " << seed << ", " << workers << " workers";
  }
}

TEST(races1, two_workers_under_100_seeded_schedules) { expect_capitalized(2); }

TEST(races1, three_workers_under_100_seeded_schedules) { expect_capitalized(3); }

TEST(races1, one_worker_alone) {
  std::string got;
  ASSERT_GOFER_OK(gofer::testing::run([&] { got = capitalize(kLorem, 1); }, {.threads = 1}));
  EXPECT_EQ(got, kUpper);
}
