// gomaxprocs — concurrency is not parallelism (book, chapter 1: "Using system variables"
// and the timings of "Using Go's scheduler"). The same jobs run three ways: one after
// another, as goroutines on one thread (concurrent), and as goroutines on several threads
// (parallel). Watch the times: for computing, only parallel is faster; for waiting,
// concurrent is already as fast as parallel. Times vary from run to run, the results don't.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <thread>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// The CPU-bound job: count the primes in [lo, hi) by trial division. No blocking, no
// yields: a goroutine running it keeps its thread until it is done.
std::int64_t count_primes(std::int64_t lo, std::int64_t hi) {
  std::int64_t n = 0;
  for (std::int64_t x = std::max<std::int64_t>(lo, 2); x < hi; ++x) {
    bool prime = true;
    for (std::int64_t d = 2; d * d <= x; ++d) {
      if (x % d == 0) {
        prime = false;
        break;
      }
    }
    n += prime;
  }
  return n;
}

// The waiting job: pretend to fetch something for 10 ms (the book's sleep per task).
// Its result is 1: one thing fetched.
std::int64_t fetch() {
  gofer::sleep(10ms);
  return 1;
}

// Job k of `parts` works on its share of [0, limit).
std::int64_t job(bool cpu, int k, int parts, std::int64_t limit) {
  if (!cpu) return fetch();
  std::int64_t step = limit / parts;
  return count_primes(k * step, k + 1 == parts ? limit : (k + 1) * step);
}

// A run's answer, its wall-clock time, and the CPU time the whole process used meanwhile
// (all threads together). CPU time / wall time = how many cores were busy on average: a
// number that still tells the truth when other programs share the machine.
struct outcome {
  std::int64_t result = 0;
  double ms = 0, cores = 0;
};

struct stopwatch {
  clock_type::time_point wall = clock_type::now();
  std::clock_t cpu = std::clock();
  void stop(outcome& o) const {
    o.ms = std::chrono::duration<double, std::milli>(clock_type::now() - wall).count();
    double cpu_ms = 1000.0 * static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
    o.cores = o.ms > 0 ? cpu_ms / o.ms : 0;
  }
};

// Serial: one goroutine does every part itself, in order, on one thread.
outcome serial(bool cpu, int parts, std::int64_t limit) {
  outcome out;
  gofer::run(
      [&] {
        stopwatch sw;
        for (int k = 0; k < parts; ++k) out.result += job(cpu, k, parts, limit);
        sw.stop(out);
      },
      gofer::options{.threads = 1});
  return out;
}

// Concurrent or parallel: one goroutine per part, each sending its share of the answer on
// a channel; main adds up `parts` answers. Only the number of threads differs.
outcome split(bool cpu, int parts, std::int64_t limit, unsigned threads, bool show_counts) {
  outcome out;
  gofer::run(
      [&] {
        stopwatch sw;
        gofer::chan<std::int64_t> answers(parts);  // buffered: no job waits for main
        for (int k = 0; k < parts; ++k) {
          gofer::go([=]() { answers.send(job(cpu, k, parts, limit)); });
        }
        // runtime.NumGoroutine and runtime.GOMAXPROCS(0): main plus the jobs not yet done.
        if (show_counts) {
          std::printf("   (inside the concurrent run: %zu goroutines, %u thread)\n", gofer::num_goroutine(),
                      gofer::num_threads());
        }
        for (int k = 0; k < parts; ++k) out.result += *answers.recv();
        sw.stop(out);
      },
      gofer::options{.threads = threads});
  return out;
}

void show(const char* how, unsigned threads, int goroutines, const outcome& o) {
  std::printf("   %-10s %2u thread(s), %2d goroutine(s): %7.1f ms, %3.1f cores busy  -> %lld\n", how, threads,
              goroutines, o.ms, o.cores, static_cast<long long>(o.result));
}

int main(int argc, char** argv) {
  std::int64_t limit = 1000000;
  int parts = 8;
  unsigned threads = 0;
  CLI::App app{"serial vs concurrent vs parallel, for computing and for waiting", "gomaxprocs"};
  app.add_option("--limit", limit, "count the primes below this")
      ->capture_default_str()
      ->check(CLI::Range(10, 100000000));
  app.add_option("--parts", parts, "split each job into this many goroutines")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--threads", threads, "threads for the parallel runs (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  // Go's runtime.NumCPU: the cores the OS offers. gofer::options::threads is GOMAXPROCS;
  // 0 means one thread per core (or the GOFER_THREADS environment variable).
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  unsigned par = threads != 0 ? threads : cores;
  std::printf("%u core(s) available; parallel runs use %u thread(s)\n", cores, par);

  bool ok = true;
  for (bool cpu : {true, false}) {
    if (cpu) {
      std::printf("computing: count the primes below %lld in %d parts\n", static_cast<long long>(limit),
                  parts);
    } else {
      std::printf("waiting: %d fetches of 10 ms each\n", parts);
    }
    // Each run is a fresh gofer::run with its own number of threads.
    outcome s = serial(cpu, parts, limit);
    show("serial", 1, 1, s);
    outcome c = split(cpu, parts, limit, 1, cpu);
    show("concurrent", 1, parts, c);
    outcome p = split(cpu, parts, limit, par, false);
    show("parallel", par, parts, p);
    ok = ok && s.result == c.result && c.result == p.result;
  }

  // The timings are the lesson, but they depend on the machine and its load; the results
  // must not depend on anything.
  if (!ok) {
    std::puts("FAILED: the strategies disagree");
    return 1;
  }
  std::puts("all 3 strategies computed the same results");
  return 0;
}
