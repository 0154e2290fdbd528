// tests/scheduler_test.cpp — where woken goroutines run (lib/src/scheduler.cpp).
//
//   a_woken_goroutine_runs_on_the_wakers_thread   Go's ready(): a goroutine parked on a
//       thread that is now busy is not stuck behind that thread's work when a goroutine on
//       another thread wakes it; it runs on the waker's thread.
//
// Ordering without sleeps: the test waits for a goroutine to be parked by reading the
// goroutine dump (its wait reason), yielding in between.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>

#include "gofer/chan.hpp"
#include "gofer/debug.hpp"
#include "gofer/runtime.hpp"
#include "gofer/sync.hpp"

namespace {

// True once the goroutine named `name` is parked receiving from a channel.
bool parked_receiving(const std::string& name) {
  std::ostringstream dump;
  gofer::dump_goroutines(dump);
  return dump.str().find("\"" + name + "\" [chan receive") != std::string::npos;
}

// The scenario, on 2 threads:
//   1. "parker" readies "hog" through an unbuffered hand-off, so the hog runs next on the
//      parker's thread, then parks receiving from `wake`.
//   2. The hog spins on that thread without ever yielding until the parker has run again
//      (giving up after 10 s, which fails the test instead of hanging it).
//   3. main, which has moved to the other thread (the hog holds the first one), sees the
//      parker parked and sends on `wake`.
// If a woken goroutine could only run on the thread it parked on (Boost's remote-ready
// queue), the parker would wait behind the hog's spin: the hog gives up.
TEST(scheduler, a_woken_goroutine_runs_on_the_wakers_thread) {
  for (int round = 0; round < 10; ++round) {
    std::atomic<bool> parker_ran{false};
    std::atomic<bool> hog_gave_up{false};
    gofer::run(
        [&] {
          gofer::chan<int> hand_off;
          gofer::chan<int> wake;
          gofer::wait_group wg;
          wg.add(2);
          gofer::go(gofer::named("hog"), [&]() {
            hand_off.recv();
            auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (!parker_ran.load()) {  // never yields: this thread is busy
              if (std::chrono::steady_clock::now() > give_up) {
                hog_gave_up = true;
                break;
              }
            }
            wg.done();
          });
          gofer::go(gofer::named("parker"), [&]() {
            while (!parked_receiving("hog")) gofer::yield();
            hand_off.send(1);  // wakes the hog: it becomes this thread's next goroutine
            wake.recv();       // park; the hog runs here now
            parker_ran = true;
            wg.done();
          });
          while (!parked_receiving("parker")) gofer::yield();
          wake.send(1);
          wg.wait();
        },
        {.threads = 2});
    ASSERT_FALSE(hog_gave_up.load())
        << "round " << round << ": the woken goroutine waited behind a busy thread";
  }
}

}  // namespace
