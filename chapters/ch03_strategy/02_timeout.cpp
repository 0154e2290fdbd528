// timeout — don't wait forever (book, chapter 3: "Exploring timeouts"). A select on a job's
// result channel and on gofer::after(d) returns whichever comes first. But giving up on a
// job does not stop it: it keeps running, unseen, until it finishes or until it is told to
// stop and checks. Watch part 2: the abandoned job still finishes, long after main moved
// on; in part 3, a context's deadline stops the job itself.

#include <chrono>
#include <cstdio>
#include <string>
#include <optional>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

long ms_since(clock_type::time_point t) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count());
}

// A job that takes `d` and answers 42. Its result channel has room for one value: if main
// has given up, the job can still send and exit. With an unbuffered channel it would park
// in send forever, waiting for a receiver that is gone: a goroutine leak.
gofer::chan<int> start_job(const char* name, std::chrono::milliseconds d) {
  gofer::chan<int> result(1);
  gofer::go(gofer::named(name), [result, d]() {
    gofer::sleep(d);  // the work
    result.send(42);
  });
  return result;
}

// Waits for a result or a timeout, whichever comes first. Returns true on a result.
bool wait_with_timeout(const char* name, gofer::chan<int> result, std::chrono::milliseconds timeout) {
  auto t0 = clock_type::now();
  bool got = false;
  gofer::select(gofer::recv_case(result,
                                 [&](std::optional<int> v) {
                                   std::printf("   %s answered %d after %ld ms\n", name, *v, ms_since(t0));
                                   got = true;
                                 }),
                gofer::recv_case(gofer::after(timeout), [&](auto) {
                  std::printf("   %s: gave up after %ld ms\n", name, ms_since(t0));
                }));
  return got;
}

int main(int argc, char** argv) {
  int timeout_ms = 100, fast_ms = 10, slow_ms = 300;
  unsigned threads = 0;
  CLI::App app{"timeouts with select and after, and stopping the work with a context", "timeout"};
  app.add_option("--timeout-ms", timeout_ms, "how long main waits")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--fast-ms", fast_ms, "how long the fast job takes")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  app.add_option("--slow-ms", slow_ms, "how long the slow job takes")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.callback([&] {
    if (fast_ms >= timeout_ms || slow_ms <= timeout_ms) {
      throw CLI::ValidationError("need --fast-ms < --timeout-ms < --slow-ms");
    }
  });
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  auto timeout = std::chrono::milliseconds(timeout_ms);
  bool ok = true;
  int status = gofer::run(
      [&] {
        // 1. select on the result and on a timer channel. after(d) is time.After: a channel
        // that delivers once, d from now.
        std::printf("1. main waits %d ms for a %d ms job and for a %d ms job:\n", timeout_ms, fast_ms,
                    slow_ms);
        bool fast =
            wait_with_timeout("fast job", start_job("fast job", std::chrono::milliseconds(fast_ms)), timeout);
        auto slow_result = start_job("slow job", std::chrono::milliseconds(slow_ms));
        auto abandoned_at = clock_type::now();
        bool slow = wait_with_timeout("slow job", slow_result, timeout);

        // 2. The slow job did not notice: it is still running (num_goroutine counts it),
        // and its answer turns up later in the buffered channel, wasted.
        std::printf("2. after giving up, %zu goroutines exist: main and the slow job\n",
                    gofer::num_goroutine());
        slow_result.recv();
        std::printf("   the abandoned slow job finished anyway, %ld ms later\n", ms_since(abandoned_at));

        // 3. To stop the work itself, tell the job, and have it check. A context with a
        // deadline closes ctx.done() when the time is up; the job does its work in 10 ms
        // steps and selects on ctx.done() between them. (There is no way to stop a
        // goroutine from outside: in Go neither.)
        int steps = slow_ms / 10;
        std::printf("3. the slow job again (%d steps of 10 ms), under a %d ms deadline:\n", steps,
                    timeout_ms);
        auto [ctx, cancel] = gofer::with_timeout(gofer::background(), timeout);
        gofer::chan<std::string> outcome(1);
        auto t0 = clock_type::now();
        gofer::go(gofer::named("cancellable job"), [ctx = ctx, outcome, steps]() {
          for (int step = 1; step <= steps; ++step) {
            bool stop = false;
            gofer::select(gofer::recv_case(ctx.done(), [&](auto) { stop = true; }),
                          gofer::recv_case(gofer::after(10ms)));  // one step of work
            if (stop) {
              outcome.send("stopped at step " + std::to_string(step) + ": " +
                           std::string(ctx.err().message()));
              return;
            }
          }
          outcome.send("finished all steps");
        });
        std::string what = *outcome.recv();
        cancel();  // always release a context (it is idempotent; here the deadline won)
        std::printf("   after %ld ms the job %s\n", ms_since(t0), what.c_str());
        bool stopped = what.rfind("stopped", 0) == 0;

        ok = fast && !slow && stopped;
      },
      gofer::options{.threads = threads});
  if (status != 0) return status;
  if (!ok) {
    std::puts("FAILED: a job did not behave as its timeout says");
    return 1;
  }
  std::puts("the fast job beat the timeout, the abandoned one ran on, the cancelled one stopped");
  return 0;
}
