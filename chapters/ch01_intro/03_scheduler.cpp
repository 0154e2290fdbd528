// scheduler — who runs when (book, chapter 1: "Using Go's scheduler"). gofer's scheduler is
// cooperative, as Go's was when the book was written: a goroutine keeps its thread until it
// blocks in gofer or calls gofer::yield(). Watch part 1 print only "Goodbye!", part 2 let
// the goroutines in with one yield, and part 3 a busy goroutine starve a sleeping one
// until it yields now and then.
//
// (Go has preempted long-running goroutines since Go 1.14; gofer never does. lib/DESIGN.md,
// "reasons not to use gofer".)

#include <atomic>
#include <chrono>
#include <cstdio>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// The book's ch1_4 program: start n goroutines that print their number, say "Goodbye!"
// and return. With `polite`, main calls gofer::yield() first (Go: runtime.Gosched()).
// Returns how many goroutines got to print before the run ended.
int goodbye(int n, bool polite, unsigned threads) {
  std::atomic<int> printed{0};
  gofer::run(
      [&] {
        for (int i = 0; i < n; ++i) {
          gofer::go([&printed, i] {
            std::printf(" %d", i);
            ++printed;
          });
        }
        // yield puts main at the back of its thread's run queue: every goroutine queued
        // before it runs first. It is a hint, not a wait: it says nothing about goroutines
        // that another thread took, or that have not been queued yet.
        if (polite) gofer::yield();
        std::puts(" Goodbye!");
      },
      gofer::options{.threads = threads});
  // main returned, so the run is over: goroutines that never started were dropped.
  return printed.load();
}

// A hog computes for `busy` without blocking; a sleeper wants to wake every 5 ms meanwhile.
// With `polite`, the hog calls yield() about every 100 microseconds. Returns how often the
// sleeper woke while the hog ran.
int hog_and_sleeper(clock_type::duration busy, bool polite, unsigned threads) {
  std::atomic<int> wakes{0};
  std::atomic<bool> hog_done{false};
  gofer::run(
      [&] {
        gofer::wait_group wg;
        wg.add(2);
        // The sleeper: sleep parks it; a timer makes it runnable again after 5 ms, but it
        // runs only when a thread is free to pick it.
        gofer::go([&] {
          while (!hog_done.load()) {
            gofer::sleep(5ms);
            if (!hog_done.load()) ++wakes;
          }
          wg.done();
        });
        // The hog: pure computation, checking the clock every 1000 steps.
        gofer::go([&] {
          auto until = clock_type::now() + busy;
          volatile unsigned long x = 0;
          for (unsigned long step = 1;; ++step) {
            x = x + step * step;
            if (step % 1000 != 0) continue;
            if (clock_type::now() >= until) break;
            if (polite) gofer::yield();  // let whoever is runnable have this thread
          }
          hog_done.store(true);
          wg.done();
        });
        wg.wait();
      },
      gofer::options{.threads = threads});
  return wakes.load();
}

int main(int argc, char** argv) {
  int n = 11, busy_ms = 100;
  unsigned threads = 1;
  CLI::App app{"the cooperative scheduler: main returning, yield, and a goroutine that never blocks",
               "scheduler"};
  app.add_option("--n", n, "goroutines in parts 1 and 2")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--busy-ms", busy_ms, "how long the hog of part 3 computes")
      ->capture_default_str()
      ->check(CLI::Range(10, 10000));
  app.add_option("--threads", threads, "OS threads (GOMAXPROCS); the book's Go had 1 (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  // 1. Main doesn't wait. Its goroutines sit in the run queue while main keeps the thread,
  // and when main returns the run is over. With more threads, idle threads steal a few.
  std::printf("1. main starts %d goroutines and returns:\n", n);
  int ran1 = goodbye(n, false, threads);
  std::printf("   %d of %d goroutines ran\n", ran1, n);

  // 2. Main yields once before it returns: the queued goroutines run first. (Go prints
  // the last one first: its runnext slot. gofer's spawn has no runnext, so 0 comes first.)
  std::printf("2. the same, but main calls gofer::yield() before it returns:\n");
  int ran2 = goodbye(n, true, threads);
  std::printf("   %d of %d goroutines ran\n", ran2, n);

  // 3. Nothing interrupts a goroutine that computes: the sleeper's 5 ms are soon up, but it
  // runs only when its thread is free. A second thread does not rescue it
  // either: the sleeper last parked on the hog's thread, and a gofer goroutine woken by
  // another thread waits in the queue of the thread it parked on. Yielding lets it in
  // (late, and not every 5 ms: while a goroutine keeps yielding, timers are checked only
  // every so often).
  auto busy = std::chrono::milliseconds(busy_ms);
  std::printf("3. a hog computes for %d ms while a sleeper wants to wake every 5 ms (~%d times):\n", busy_ms,
              busy_ms / 5);
  int rude = hog_and_sleeper(busy, false, threads);
  std::printf("   hog never yields:                the sleeper woke %d times\n", rude);
  int polite = hog_and_sleeper(busy, true, threads);
  std::printf("   hog yields every 1000 steps:     the sleeper woke %d times\n", polite);

  // The claims above, checked. On one thread the outcome is certain; with more threads,
  // idle threads steal queued goroutines, so only "some ran" is.
  bool ok = ran2 >= 1 && polite >= 1;
  if (threads == 1) ok = ok && ran1 == 0 && ran2 == n && rude == 0;
  if (!ok) {
    std::printf("FAILED: parts 1 and 2 ran %d and %d of %d; the sleeper woke %d and %d times\n", ran1, ran2,
                n, rude, polite);
    return 1;
  }
  std::printf("yield let the others run: main's goroutines in part 2, the sleeper in part 3\n");
  return 0;
}
