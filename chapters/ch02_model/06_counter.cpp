// counter — a lock protects data, not order (book, chapter 2: "Using sync and mutexes to
// lock data"). Goroutines increment one shared counter. Waiting for each goroutine before
// starting the next makes them run one at a time, in order — correct, but serial. Starting
// them all and waiting once at the end lets them run at once; a mutex around the increment
// keeps the count right, but which goroutine gets the lock first is up to the scheduler and
// the work each did before: the order changes from round to round. Watch: the counter is
// always right; the orders are (almost) never the same twice.
//
// (Without the mutex the increments race: a data race, undefined behaviour in C++, found by
// ThreadSanitizer like Go's -race. That version is an exercise.)

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

namespace {

// The shared data and the lock that guards it.
struct shared_counter {
  gofer::mutex mu;
  int value = 0;           // guarded by mu
  std::vector<int> order;  // who incremented, in order; guarded by mu
};

// What main reads once every goroutine is done.
struct outcome {
  int value;
  std::vector<int> order;
};

std::string to_string(const std::vector<int>& order) {
  std::string s;
  for (int g : order) s += (s.empty() ? "" : " ") + std::to_string(g);
  return s;
}

// Goroutine g's job: some work of its own first (a random pause of up to `pause_us`, as
// real work varies), then the increment, under the lock.
int pause_us = 300;

void increment(int g, shared_counter& c, unsigned seed) {
  std::mt19937 rng(seed);
  if (pause_us > 0) gofer::sleep(std::chrono::microseconds(rng() % pause_us));
  std::lock_guard lk(c.mu);
  ++c.value;
  c.order.push_back(g);
}

// 1. The book's first version: wait for each goroutine before starting the next.
outcome one_at_a_time(int n) {
  shared_counter c;
  gofer::wait_group wg;
  for (int g = 0; g < n; ++g) {
    wg.add(1);
    gofer::go([&, g] {
      increment(g, c, g);
      wg.done();
    });
    wg.wait();  // inside the loop: the goroutines never overlap
  }
  return {c.value, c.order};
}

// 2. All at once, waited for once; the mutex keeps the count right.
outcome all_at_once(int n, std::mt19937& seeds) {
  shared_counter c;
  gofer::wait_group wg;
  wg.add(n);
  for (int g = 0; g < n; ++g) {
    gofer::go([&, g, seed = seeds()] {
      increment(g, c, seed);
      wg.done();
    });
  }
  wg.wait();  // every unlock happened before this returns: main may read c
  return {c.value, std::move(c.order)};
}

}  // namespace

int main(int argc, char** argv) {
  int n = 10, rounds = 20, show = 5;
  unsigned threads = 0;
  unsigned seed = std::random_device{}();
  CLI::App app{"a mutex counter: the lock keeps the count right but does not order the goroutines", "counter"};
  app.add_option("--goroutines", n, "goroutines incrementing the counter")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--rounds", rounds, "how many times to run the concurrent version")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--show", show, "rounds whose order is printed")->capture_default_str()->check(CLI::Range(0, 10000));
  app.add_option("--pause-us", pause_us, "longest random pause before the increment (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option("--seed", seed, "seed for the pauses (default: a new one each run)");
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int right = 0;
  std::map<std::vector<int>, int> orders;  // each order seen, and how often
  int status = gofer::run(
      [&] {
        std::printf("1. wait for each goroutine before starting the next (serial):\n");
        outcome serial = one_at_a_time(n);
        std::printf("   counter %d, increments in order: %s\n", serial.value, to_string(serial.order).c_str());

        std::printf("2. start all %d, wait once; a gofer::mutex around the increment (%d rounds):\n", n, rounds);
        std::mt19937 seeds(seed);
        for (int r = 1; r <= rounds; ++r) {
          outcome c = all_at_once(n, seeds);
          if (c.value == n) ++right;
          ++orders[c.order];
          if (r <= show)
            std::printf("   round %2d: counter %d, increments in order: %s\n", r, c.value, to_string(c.order).c_str());
        }
        if (show < rounds) std::printf("   ...\n");
        int most = 0;
        for (const auto& [order, times] : orders) most = std::max(most, times);
        std::printf("   %d rounds: the counter was %d in %d of them; ", rounds, n, right);
        if (orders.size() == 1) std::printf("the same order every time\n");
        else if (most == 1) std::printf("%zu different orders, none seen twice\n", orders.size());
        else std::printf("%zu different orders, the commonest seen %d times\n", orders.size(), most);
      },
      {.threads = threads});
  if (status != 0) return status;
  if (right != rounds) {
    std::puts("FAILED: the mutex did not protect the counter");
    return 1;
  }
  std::printf("the counter was right in all %d rounds (%d each), and the increments came in %zu %s\n", rounds, n,
              orders.size(), orders.size() == 1 ? "order only" : "different orders");
  return 0;
}
