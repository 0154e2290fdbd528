// philosophers — the dining philosophers (book, chapter 2: "A little bit about CSP", "The
// dining philosophers problem"). Five philosophers share five forks, one between each pair,
// and need both of their forks to eat. If each picks up the left fork and then waits for
// the right one, they can all end up holding one fork forever: a deadlock. Two ways out,
// both run here: take the forks in one global order, or ask a waiter goroutine that owns
// every fork. Watch the table: everyone eats, and nobody waits much longer than the others.
//
// (The book only sketches this one and promises a solution it never gives.) With
// --strategy naive you can watch the deadlock itself: gofer's deadlock detector reports it
// like Go's runtime, with every goroutine, and ends the program with status 2. Fixing it
// yourself is an exercise (philosophers1).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using clock_type = std::chrono::steady_clock;
using ms = std::chrono::duration<double, std::milli>;

const char* const kNames[] = {"Kant", "Turing", "Descartes", "Kierkegaard", "Wittgenstein"};

std::string name_of(int seat) { return seat < 5 ? kNames[seat] : "philosopher-" + std::to_string(seat + 1); }

struct settings {
  int n, meals;
  bool verbose;
  unsigned seed;
};

// What one philosopher did; written only by that philosopher, read by main after the
// wait_group (done() happens before wait() returns).
struct record {
  int meals = 0;
  double hungry_ms = 0;  // total time spent waiting for forks
};

// Thinking and eating both take 1 to 3 ms (a sleep: the philosopher's goroutine parks).
void pause(std::mt19937& rng) { gofer::sleep(std::chrono::microseconds(1000 + rng() % 2000)); }

// A philosopher's life, whatever the strategy: think, get forks, eat, give forks back.
template <class Get, class Put>
void dine(int seat, const settings& s, record& r, Get get_forks, Put put_forks) {
  std::mt19937 rng(s.seed * 31 + seat);
  for (int meal = 1; meal <= s.meals; ++meal) {
    pause(rng);  // think
    auto hungry = clock_type::now();
    get_forks();
    r.hungry_ms += ms(clock_type::now() - hungry).count();
    if (s.verbose) std::printf("   %s eats (meal %d)\n", name_of(seat).c_str(), meal);
    pause(rng);  // eat
    ++r.meals;
    put_forks();
  }
}

// 0. (--strategy naive) Everybody takes the left fork, then the right one. Usually someone
// is quick enough to eat and the table goes on; the deadlock needs everybody to hold their
// left fork at the same moment. To show it every time, a wait_group forces that unlucky
// moment: nobody reaches right until all have picked up left. Then every philosopher waits
// for a fork their neighbour holds, and so does main: nothing can ever wake anyone, and the
// deadlock detector says so ("fatal error: all goroutines are asleep - deadlock!").
void naive(const settings& s) {
  std::vector<gofer::chan<int>> forks;
  for (int f = 0; f < s.n; ++f) {
    forks.emplace_back(1);
    forks.back().send(f);
  }
  gofer::wait_group holding_left, done;
  holding_left.add(s.n);
  done.add(s.n);
  for (int seat = 0; seat < s.n; ++seat) {
    gofer::go(gofer::named(name_of(seat)), [&, seat] {
      auto left = forks[seat], right = forks[(seat + 1) % s.n];
      left.recv();
      std::printf("   %s holds the left fork\n", name_of(seat).c_str());
      holding_left.done();
      holding_left.wait();  // the unlucky moment: everybody holds one fork
      right.recv();         // held by the neighbour, who waits too: forever
      done.done();
    });
  }
  done.wait();
}

// 1. Resource ordering. A fork is a channel with room for one token: picking it up is a
// receive (it waits while a neighbour holds the fork), putting it down is a send. Every
// philosopher takes the lower-numbered of their two forks first. Then a cycle of waits is
// impossible: the one whose forks are n-1 and 0 reaches for fork 0 first, like a neighbour,
// instead of closing the circle.
std::vector<record> ordered(const settings& s) {
  std::vector<gofer::chan<int>> forks;
  for (int f = 0; f < s.n; ++f) {
    forks.emplace_back(1);
    forks.back().send(f);  // the fork lies on the table
  }
  std::vector<record> records(s.n);
  gofer::wait_group wg;
  wg.add(s.n);
  for (int seat = 0; seat < s.n; ++seat) {
    gofer::go(gofer::named(name_of(seat)), [&, seat] {
      int left = seat, right = (seat + 1) % s.n;
      auto first = forks[std::min(left, right)], second = forks[std::max(left, right)];
      dine(
          seat, s, records[seat],
          [&] {
            first.recv();
            second.recv();
          },
          [&] {
            second.send(0);
            first.send(0);
          });
      wg.done();
    });
  }
  wg.wait();
  return records;
}

// 2. A waiter. One goroutine owns every fork (nobody else touches them, so no locks); the
// philosophers only talk to it. A philosopher asks for both forks at once and waits for
// the answer; the waiter grants a request when both forks are free, else queues it and
// serves the queue in order as forks come back. Nobody ever holds one fork and waits for
// another, so there is no cycle: CSP's answer, communication instead of shared locks.
struct request {
  int seat;
  gofer::chan<int> granted;  // the waiter answers here
};

std::vector<record> waiter(const settings& s) {
  gofer::chan<request> ask;
  gofer::chan<int> finished;  // a philosopher puts both forks back

  gofer::go(gofer::named("waiter"), [&s, ask, finished]() {
    std::vector<bool> in_use(s.n, false);
    std::deque<request> queue;
    auto free_for = [&](int seat) { return !in_use[seat] && !in_use[(seat + 1) % s.n]; };
    auto take = [&](int seat, bool v) { in_use[seat] = in_use[(seat + 1) % s.n] = v; };
    // Grants every queued request that can be served now, oldest first.
    auto serve_queue = [&] {
      for (auto it = queue.begin(); it != queue.end();) {
        if (free_for(it->seat)) {
          take(it->seat, true);
          it->granted.send(0);  // buffered: never waits
          it = queue.erase(it);
        } else {
          ++it;
        }
      }
    };
    for (int served = 0; served < s.n * s.meals;) {
      std::optional<request> req;
      std::optional<int> back;
      switch (gofer::select(gofer::recv_case(ask, req), gofer::recv_case(finished, back))) {
        case 0:
          queue.push_back(std::move(*req));
          break;
        case 1:
          take(*back, false);
          ++served;
          break;
      }
      serve_queue();
    }
  });

  std::vector<record> records(s.n);
  gofer::wait_group wg;
  wg.add(s.n);
  for (int seat = 0; seat < s.n; ++seat) {
    gofer::go(gofer::named(name_of(seat)), [&, seat, ask, finished]() {
      gofer::chan<int> granted(1);
      dine(
          seat, s, records[seat],
          [&] {
            ask.send(request{seat, granted});
            granted.recv();
          },
          [&] { finished.send(seat); });
      wg.done();
    });
  }
  wg.wait();
  return records;
}

// The fairness table: meals and time spent hungry, per philosopher.
bool report(const std::vector<record>& records, const settings& s) {
  bool all_ate = true;
  std::printf("   %-14s %5s %12s\n", "philosopher", "meals", "hungry (ms)");
  for (int seat = 0; seat < s.n; ++seat) {
    std::printf("   %-14s %5d %12.1f\n", name_of(seat).c_str(), records[seat].meals, records[seat].hungry_ms);
    all_ate = all_ate && records[seat].meals == s.meals;
  }
  return all_ate;
}

int main(int argc, char** argv) {
  settings s{5, 3, false, 1};
  std::string strategy = "both";
  unsigned threads = 0;
  CLI::App app{"the dining philosophers, without deadlock: resource ordering and a waiter goroutine",
               "philosophers"};
  app.add_option("--philosophers", s.n, "philosophers (and forks) at the table")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  app.add_option("--meals", s.meals, "meals each philosopher eats")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--strategy", strategy, "ordered, waiter or both; naive deadlocks (the detector reports it, exit 2)")
      ->capture_default_str()
      ->check(CLI::IsMember({"ordered", "waiter", "both", "naive"}));
  app.add_option("--seed", s.seed, "seed for the thinking and eating times")->capture_default_str();
  app.add_flag("--verbose", s.verbose, "print every meal");
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  bool ok = true;
  int status = gofer::run(
      [&] {
        if (strategy == "naive") {
          std::puts("0. everybody takes the left fork, then the right one:");
          std::fflush(stdout);
          naive(s);
          return;  // never reached: the deadlock detector ends the program
        }
        if (strategy != "waiter") {
          std::puts("1. forks taken in a global order (lowest number first):");
          ok = report(ordered(s), s) && ok;
        }
        if (strategy != "ordered") {
          std::puts("2. a waiter goroutine hands out both forks at once:");
          ok = report(waiter(s), s) && ok;
        }
      },
      gofer::options{.threads = threads});
  if (status != 0) return status;
  if (!ok) {
    std::puts("FAILED: somebody went hungry");
    return 1;
  }
  std::printf("all %d philosophers ate %d times\n", s.n, s.meals);
  return 0;
}
