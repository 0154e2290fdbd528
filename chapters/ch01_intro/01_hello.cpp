// hello — a patient goroutine (book, chapter 1: "Introducing goroutines", "A patient goroutine").
// main starts a few goroutines that each say hello, then waits for all of them with a
// wait_group before it returns. Watch: the hellos come in whatever order the scheduler's
// threads ran them (it can change from run to run); the summary line always comes last.
//
// Go's impatient version: when main returns, the program exits, goroutines or not.
//
//   func main() {
//       go fmt.Println("hello")    // scheduled, but maybe never run:
//   }                              // main returns first, nothing is printed
//
// gofer::run does the same: once main's function returns, goroutines that never started
// are dropped and parked ones are unwound. So, as in the book, main must wait.

#include <atomic>
#include <cstdint>
#include <cstdio>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

int main(int argc, char** argv) {
  // Flags: how many goroutines, and how many OS threads run them (0: one per core).
  unsigned long n = 5;
  unsigned threads = 0;
  CLI::App app{"goroutines say hello; main waits for them with a wait_group", "hello"};
  app.add_option("--n", n, "goroutines to start")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--threads", threads, "OS threads to run them on (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  // gofer::run is Go's main(): it starts the scheduler threads and runs this function as
  // goroutine 1. It returns when this function returns.
  int unhappy = 0;
  int status = gofer::run(
      [&] {
        std::printf("main: starting %lu goroutines\n", n);

        // The wait_group counts goroutines still to finish. add() comes before go, never
        // inside the goroutine: otherwise wait() could see 0 before they had even started.
        gofer::wait_group wg;
        std::atomic<unsigned long> said{0};
        wg.add(static_cast<std::int64_t>(n));
        for (unsigned long i = 1; i <= n; ++i) {
          // Captures: wg and said by reference (they outlive the goroutines, because main
          // waits below), i by value (each goroutine gets its own copy).
          gofer::go([&wg, &said, i] {
            std::printf("goroutine %lu says hello\n", i);
            said.fetch_add(1, std::memory_order_relaxed);
            wg.done();
          });
        }

        // The patient part: park main until every goroutine has called done(). The
        // goroutines may run on several threads at once, so their lines come in any order.
        wg.wait();

        // wg.done() happens before wg.wait() returns, so every increment is visible here.
        unsigned long count = said.load(std::memory_order_relaxed);
        if (count == n) {
          std::printf("all %lu goroutines said hello\n", n);
        } else {
          std::printf("only %lu of %lu goroutines said hello\n", count, n);
          unhappy = 1;
        }
      },
      gofer::options{.threads = threads});
  return status != 0 ? status : unhappy;
}
