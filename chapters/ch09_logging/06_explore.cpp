// explore — finding a check-then-act bug by schedule exploration, then proving the fix
// (book, chapter 10: "Using Go with unit testing", with chapter 3's bank; gofer/runtime.hpp,
// gofer::schedule). The bank's racy version locks the balance for the check and again for
// the debit, so another customer can pass the check on the same dollars in between. A test
// that runs it once passes almost always. Run under gofer::schedule::random(seed), every
// seed is one interleaving that replays exactly: the demo tries seeds until one overdraws
// the account, replays that seed twice (the same lines, in the same order), then runs the
// fixed version (one lock around check and debit) under 10,000 seeds. Watch the replay: two
// customers check before either debits.

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

constexpr int kOpening = 100;
constexpr int kAmount = 40;  // every customer asks for $40: two can be paid, never three

struct account {
  gofer::mutex mu;  // guards balance
  int balance = kOpening;
  std::vector<std::string>* log = nullptr;  // the replay's lines (one goroutine at a time)
};

std::string dollars(int n) { return (n < 0 ? "-$" : "$") + std::to_string(n < 0 ? -n : n); }

void note(account& a, const std::string& line) {
  if (a.log != nullptr) a.log->push_back(line);
}

// The racy withdrawal: each step is locked, the pair is not. Between the check and the
// debit the lock is free, and a customer can be preempted there (a safe point).
void withdraw_racy(account& a, int customer) {
  bool ok;
  {
    std::lock_guard lk(a.mu);
    ok = kAmount <= a.balance;  // check ...
    note(a, "customer " + std::to_string(customer) + " checks $" + std::to_string(kAmount) + " against $" +
                std::to_string(a.balance) + (ok ? ": enough" : ": declined"));
  }
  if (!ok) return;
  std::lock_guard lk(a.mu);
  a.balance -= kAmount;  // ... then act, on a balance that may have changed
  note(a, "customer " + std::to_string(customer) + " debits $" + std::to_string(kAmount) + ", balance " +
              dollars(a.balance));
}

// The fix: the check and the debit in one critical section.
void withdraw_fixed(account& a, int customer) {
  std::lock_guard lk(a.mu);
  if (kAmount > a.balance) {
    note(a, "customer " + std::to_string(customer) + " declined at $" + std::to_string(a.balance));
    return;
  }
  a.balance -= kAmount;
  note(a, "customer " + std::to_string(customer) + " debits $" + std::to_string(kAmount) + ", balance " +
              dollars(a.balance));
}

// One run of the bank under one seed: `customers` goroutines withdraw at once. Returns the
// final balance (below $0: the bug showed).
int bank_run(bool racy, int customers, std::uint64_t seed, double yield, std::vector<std::string>* log) {
  account a;
  a.log = log;
  int status = gofer::run(
      [&] {
        gofer::wait_group wg;
        for (int c = 1; c <= customers; ++c) {
          wg.add(1);
          gofer::go(gofer::named("customer-" + std::to_string(c)), [&, c] {
            racy ? withdraw_racy(a, c) : withdraw_fixed(a, c);
            wg.done();
          });
        }
        wg.wait();
      },
      {.schedule = gofer::schedule::random(seed, yield)});
  if (status != 0) {
    std::fprintf(stderr, "explore: gofer::run returned %d at seed %llu\n", status,
                 static_cast<unsigned long long>(seed));
    std::exit(1);
  }
  return a.balance;
}

int main(int argc, char** argv) {
  int customers = 3;
  int seeds = 10000;
  double yield = 0.1;
  CLI::App app{"a check-then-act bug found by seeded schedule exploration, and the fix proven over many seeds",
               "explore"};
  app.add_option("--customers", customers, "goroutines withdrawing $40 each from $100")
      ->capture_default_str()
      ->check(CLI::Range(3, 100));
  app.add_option("--seeds", seeds, "seeds to try on each version")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  app.add_option("--yield", yield, "probability of a preemption at each safe point")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  if (int rc = gofer_demo::parse_flags(app, argc, argv); rc >= 0) return rc;

  // 1. Explore the racy version: seeds 0, 1, 2, ... until one overdraws the account.
  std::printf("1. the racy bank (%d customers ask $%d each of $%d), seeds 0 to %d:\n", customers, kAmount, kOpening,
              seeds - 1);
  std::int64_t found = -1;
  for (int seed = 0; seed < seeds && found < 0; ++seed) {
    if (bank_run(true, customers, seed, yield, nullptr) < 0) found = seed;
  }
  if (found < 0) {
    std::printf("   no seed of %d overdrew the account (try more --seeds or a higher --yield)\n", seeds);
    return 1;
  }
  std::printf("   seed %lld overdrew the account (%lld seeds passed first)\n", static_cast<long long>(found),
              static_cast<long long>(found));

  // 2. Replay it: the same seed is the same interleaving, line for line.
  std::vector<std::string> first, second;
  int balance = bank_run(true, customers, found, yield, &first);
  int again = bank_run(true, customers, found, yield, &second);
  std::printf("2. the replay of seed %lld (gofer::schedule::random(%lld, %.2g)):\n", static_cast<long long>(found),
              static_cast<long long>(found), yield);
  for (auto& line : first) std::printf("   %s\n", line.c_str());
  bool same = first == second && balance == again && balance < 0;
  std::printf("   balance %s; replayed again: %s\n", dollars(balance).c_str(), same ? "the same lines" : "DIFFERENT");
  if (!same) return 1;

  // 3. The fix under every seed: none may overdraw.
  int failed = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    if (bank_run(false, customers, seed, yield, nullptr) < 0) ++failed;
  }
  std::printf("3. the fixed bank (check and debit under one lock), seeds 0 to %d: %d overdrew\n", seeds - 1, failed);
  if (failed != 0) return 1;
  std::printf("the racy bank failed at seed %lld and again on replay, the fixed bank passed all %d seeds\n",
              static_cast<long long>(found), seeds);
  return 0;
}
