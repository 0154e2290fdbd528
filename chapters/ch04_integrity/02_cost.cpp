// cost — the cost of a goroutine, measured (book, chapter 4: "The cost of goroutines").
// The book estimates a goroutine at about 5 KB (Go starts each one with a 2 KiB stack) and
// an OS thread at far more. Here N goroutines are started and parked on a channel, and the
// process's resident memory and the time to get them all parked are divided by N; then the
// same for std::thread, parked on a condition variable. Then what options::stack_size
// changes (the reserved address space, not the memory used) and where the limits are.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using clk = std::chrono::steady_clock;

// The process's resident and virtual memory, in bytes (/proc/self/status: VmRSS, VmSize).
struct mem {
  double rss = 0, vsize = 0;
};
mem memory_now() {
  std::ifstream in("/proc/self/status");
  mem m;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) m.rss = std::stod(line.substr(6)) * 1024;
    if (line.rfind("VmSize:", 0) == 0) m.vsize = std::stod(line.substr(7)) * 1024;
  }
  return m;
}

long read_long(const char* path) {
  std::ifstream in(path);
  long v = -1;
  in >> v;
  return v;
}

struct cost {
  long n = 0;
  double bytes = 0, vbytes = 0, us = 0;  // per goroutine or thread
};

void print(const char* what, const cost& c) {
  std::printf("   %-30s %8ld parked: %7.1f KiB resident, %9.1f KiB reserved, %6.2f us to start, each\n", what, c.n,
              c.bytes / 1024, c.vbytes / 1024, c.us);
}

// N goroutines, each parked in recv on one channel until main closes it. `before` is the
// memory before any goroutine of this stack size existed: stacks are recycled (a pool per
// size, kept committed), so a later run reuses pages an earlier one paid for.
cost goroutines(long n, std::size_t stack_size, unsigned threads, const mem& before) {
  cost c;
  c.n = n;
  gofer::run(
      [&] {
        gofer::chan<std::monostate> release;
        gofer::wait_group parked, gone;
        parked.add(n);
        gone.add(n);
        auto t0 = clk::now();
        for (long i = 0; i < n; ++i) {
          gofer::go([&parked, &gone, release] {
            parked.done();
            release.recv();  // parks until main closes release
            gone.done();
          });
        }
        parked.wait();  // every goroutine has run up to its recv (it parks right after done)
        auto t1 = clk::now();
        gofer::yield();
        mem m = memory_now();
        c.bytes = (m.rss - before.rss) / n;
        c.vbytes = (m.vsize - before.vsize) / n;
        c.us = std::chrono::duration<double, std::micro>(t1 - t0).count() / n;
        release.close();
        gone.wait();
      },
      gofer::options{.threads = threads, .stack_size = stack_size});
  return c;
}

// N threads, each parked on a condition variable until main releases them.
cost os_threads(long n) {
  cost c;
  c.n = n;
  mem before = memory_now();
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::latch parked(n);
  std::vector<std::thread> ts;
  ts.reserve(n);
  auto t0 = clk::now();
  for (long i = 0; i < n; ++i) {
    ts.emplace_back([&] {
      std::unique_lock lk(mu);
      parked.count_down();
      cv.wait(lk, [&] { return released; });
    });
  }
  parked.wait();
  auto t1 = clk::now();
  mem m = memory_now();
  c.bytes = (m.rss - before.rss) / n;
  c.vbytes = (m.vsize - before.vsize) / n;
  c.us = std::chrono::duration<double, std::micro>(t1 - t0).count() / n;
  {
    std::lock_guard lk(mu);
    released = true;
  }
  cv.notify_all();
  for (auto& t : ts) t.join();
  return c;
}

int main(int argc, char** argv) {
  long n = 100000, thread_n = 10000;
  unsigned threads = 0;
  CLI::App app{"the cost of a goroutine, measured: memory and start time per parked goroutine vs std::thread", "cost"};
  app.add_option("--n", n, "goroutines, largest run (from 10^4 up by powers of ten)")
      ->capture_default_str()
      ->check(CLI::Range(10000L, 100000000L));
  app.add_option("--thread-n", thread_n, "OS threads, largest run (from 10^3 up)")
      ->capture_default_str()
      ->check(CLI::Range(1000L, 1000000L));
  app.add_option("--threads", threads, "scheduler threads (0: one per core)")->capture_default_str()->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  auto counts = [](long from, long to) {
    std::vector<long> v;
    for (long k = from; k < to; k *= 10) v.push_back(k);
    v.push_back(to);
    return v;
  };

  // 1. Goroutines with the default stack (64 KiB reserved, lazily committed).
  std::puts("1. goroutines parked on a channel (default stack size):");
  mem base = memory_now();
  cost g;
  for (long k : counts(10000, n)) print("goroutines", g = goroutines(k, 0, threads, base));

  // 2. Threads: each gets an 8 MiB stack reservation (ulimit -s) and a kernel task.
  std::puts("2. std::threads parked on a condition variable:");
  cost t;
  for (long k : counts(1000, thread_n)) print("std::threads", t = os_threads(k));
  std::printf("   %-30s %8s          2 KiB stack to start (grown by copying when needed) + a g struct of ~0.4 KiB\n",
              "Go, for reference:", "");

  // 3. options::stack_size: the reservation per goroutine, not what a parked one touches.
  std::puts("3. options::stack_size (10^4 goroutines each):");
  for (std::size_t kib : {16, 256, 1024}) {
    mem b = memory_now();
    char what[64];
    std::snprintf(what, sizeof what, "stack_size = %zu KiB", kib);
    print(what, goroutines(10000, kib * 1024, threads, b));
  }
  std::puts("   a bigger stack reserves more address space, but a parked goroutine touches the same few pages;");
  std::puts("   stacks do not grow as Go's do, so a deep recursion needs a bigger stack_size");

  // 4. The limits on this machine.
  std::puts("4. the limits here:");
  rlimit nproc{};
  ::getrlimit(RLIMIT_NPROC, &nproc);
  long maps = read_long("/proc/sys/vm/max_map_count"), tmax = read_long("/proc/sys/kernel/threads-max");
  double avail = 0;
  {
    std::ifstream in("/proc/meminfo");
    for (std::string line; std::getline(in, line);)
      if (line.rfind("MemAvailable:", 0) == 0) avail = std::stod(line.substr(13)) * 1024;
  }
  std::printf("   threads: kernel.threads-max %ld, ulimit -u %s, vm.max_map_count %ld (a thread stack and its guard\n"
              "   page are 2 mappings: at most ~%ld threads), each with a kernel stack the numbers above do not show\n",
              tmax, nproc.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(nproc.rlim_cur).c_str(), maps,
              maps / 2);
  std::printf("   goroutines: memory only; %.1f GiB available / %.1f KiB = about %.0f million parked goroutines\n",
              avail / (1 << 30), g.bytes / 1024, g.bytes > 0 ? avail / g.bytes / 1e6 : 0.0);
  std::puts("   (a debug build puts a guard page under each stack: that splits the arena's mapping, so\n"
            "   vm.max_map_count caps it near 32,000 live goroutines, see lib/DESIGN.md)");

  std::printf("a parked goroutine cost %.1f KiB and %.2f us to start, a parked thread %.1f KiB and %.2f us (Go: 2 KiB)\n",
              g.bytes / 1024, g.us, t.bytes / 1024, t.us);
  return 0;
}
