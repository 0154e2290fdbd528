// bank — one balance, many customers (book, chapter 3: "Identifying race conditions with
// race detection", "Using mutual exclusions", "Synchronizing our concurrent operations").
// A hundred goroutines withdraw from one $1000 account at once. A withdrawal checks the
// balance and then debits it; if two goroutines interleave between the check and the debit,
// money goes missing or the balance goes negative. Two safe ways, both run here: a mutex
// around check-and-debit, and a teller goroutine that owns the balance and takes requests
// over a channel. Watch the totals: however the customers arrive, the books balance.
//
// With --racy it first runs the book's unsafe version on plain threads: no lock at all, so
// the check and the debit of different customers interleave (a data race). See what it did
// to the books, then run it under ThreadSanitizer, the C++ counterpart of `go run -race`:
//   ./gofer run --preset tsan bank --racy
// (Fixing the racy version yourself is an exercise.)

#include <algorithm>
#include <cstdio>
#include <latch>
#include <random>
#include <thread>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

constexpr int kOpening = 1000;

struct settings {
  int customers;
  unsigned seed;
  bool verbose;
  bool racy;
};

// Customer c always asks for the same amount ($0 to $24), so both strategies face the same
// customers; only the order in which they arrive differs from run to run.
int amount_for(int customer, unsigned seed) {
  std::mt19937 rng(seed * 7919 + customer);
  return static_cast<int>(rng() % 25);
}

// What a strategy reports back: the ledger.
struct ledger {
  int balance = kOpening, lowest = kOpening;  // the balance now, and the lowest it ever was
  int approved = 0, declined = 0, paid_out = 0;
};

// Both strategies do the same thing to the ledger: check, then debit. Only what protects
// this function from running twice at once differs.
bool withdraw(ledger& l, int amount) {
  if (amount > l.balance) {
    ++l.declined;
    return false;
  }
  l.balance -= amount;
  l.lowest = std::min(l.lowest, l.balance);
  l.paid_out += amount;
  ++l.approved;
  return true;
}

void log_line(const settings& s, int customer, int amount, bool ok, int balance) {
  if (s.verbose) {
    std::printf("   customer %3d withdraws $%2d: %s, balance $%d\n", customer, amount,
                ok ? "approved" : "declined", balance);
  }
}

// 0. (--racy) No protection at all, the book's first version. Customers run on plain OS
// threads (std::thread, so that ThreadSanitizer sees ordinary threads) and all share one
// int. Between a customer's check and its debit another customer can check the same
// dollars (both approved: the balance goes negative) or debit in between (one debit
// overwrites the other: a lost update, money appears). The yield only widens the window
// that is always there. Formally this is undefined behaviour in C++ (a data race); in
// practice, on an int, it gives wrong numbers, never a crash, which is all we print.
// Each thread writes only its own slot of `got`; main reads them after join().
struct racy_result {
  int paid = 0, approved = 0, declined = 0, lowest = kOpening;
};

racy_result racy(const settings& s) {
  int balance = kOpening;  // shared by every thread, guarded by nothing: the bug
  const int nthreads = std::min(s.customers, 100);
  std::vector<racy_result> got(nthreads);
  std::latch start(nthreads);  // release all threads at once, so they overlap
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; ++t) {
    threads.emplace_back([&, t] {
      racy_result& mine = got[t];
      start.arrive_and_wait();
      for (int c = t + 1; c <= s.customers; c += nthreads) {
        int amount = amount_for(c, s.seed);
        if (amount > balance) {  // check ...
          ++mine.declined;
          continue;
        }
        std::this_thread::yield();
        balance -= amount;  // ... then act: the race TSan reports
        mine.paid += amount;
        ++mine.approved;
        mine.lowest = std::min(mine.lowest, balance);
      }
    });
  }
  for (auto& th : threads) th.join();
  racy_result total;
  for (const racy_result& r : got) {
    total.paid += r.paid;
    total.approved += r.approved;
    total.declined += r.declined;
    total.lowest = std::min(total.lowest, r.lowest);
  }
  std::printf("   racy  : %d approved ($%d paid out), %d declined, balance $%d, lowest seen $%d\n", total.approved,
              total.paid, total.declined, balance, total.lowest);
  bool off = false;
  if (total.lowest < 0) {
    std::printf("   racy  : the balance went below $0: customers passed the check on the same dollars\n");
    off = true;
  }
  if (total.paid + balance != kOpening) {
    std::printf("   racy  : paid out + balance = $%d, not $%d: debits overwrote each other (lost updates)\n",
                total.paid + balance, kOpening);
    off = true;
  }
  if (!off)
    std::puts("   racy  : this run happened to balance; the race is still there:"
              " ./gofer run --preset tsan bank --racy");
  return total;
}

// 1. A mutex. The lock covers the check *and* the debit: locking only the debit would
// still let two customers pass the check on the same money (a check-then-act race).
ledger with_mutex(const settings& s) {
  ledger l;
  gofer::mutex mu;  // guards l
  gofer::wait_group wg;
  wg.add(s.customers);
  for (int c = 1; c <= s.customers; ++c) {
    gofer::go([&, c] {
      int amount = amount_for(c, s.seed);
      {
        std::lock_guard lk(mu);
        bool ok = withdraw(l, amount);
        log_line(s, c, amount, ok, l.balance);
      }
      wg.done();
    });
  }
  wg.wait();  // every unlock happened before this returns: main may read l
  return l;
}

// 2. A teller goroutine owns the ledger: no other goroutine ever touches it, so it needs
// no lock. Customers send a request with a reply channel and wait for the answer.
// "Don't communicate by sharing memory; share memory by communicating."
struct withdrawal {
  int customer, amount;
  gofer::chan<bool> reply;
};

ledger with_teller(const settings& s) {
  gofer::chan<withdrawal> requests;
  gofer::chan<ledger> closing;  // the teller's final ledger, once requests is closed

  gofer::go(gofer::named("teller"), [&s, requests, closing]() {
    ledger l;
    for (withdrawal w : requests) {  // one request at a time: that is the whole trick
      bool ok = withdraw(l, w.amount);
      log_line(s, w.customer, w.amount, ok, l.balance);
      w.reply.send(ok);
    }
    closing.send(l);  // requests was closed: nobody can ask any more
  });

  gofer::wait_group wg;
  wg.add(s.customers);
  for (int c = 1; c <= s.customers; ++c) {
    gofer::go([&, c, requests]() {
      gofer::chan<bool> reply(1);
      requests.send(withdrawal{c, amount_for(c, s.seed), reply});
      reply.recv();
      wg.done();
    });
  }
  // Close the request channel only when every customer is done sending. (The book closes
  // it from "the last" customer goroutine, which need not be the last one to send: a
  // send on a closed channel panics.) Exactly one goroutine closes: main.
  wg.wait();
  requests.close();
  return *closing.recv();
}

// The invariants: never below $0; what was paid out plus what is left is what was there;
// every customer got an answer.
bool audit(const char* how, const ledger& l, const settings& s) {
  std::printf("   %s: %d approved ($%d paid out), %d declined, balance $%d, lowest $%d\n", how, l.approved,
              l.paid_out, l.declined, l.balance, l.lowest);
  return l.lowest >= 0 && l.paid_out + l.balance == kOpening && l.approved + l.declined == s.customers;
}

int main(int argc, char** argv) {
  settings s{100, 1, false, false};
  unsigned threads = 0;
  CLI::App app{"a shared bank balance made safe: a mutex, and a teller goroutine that owns it", "bank"};
  app.add_option("--customers", s.customers, "goroutines withdrawing at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--seed", s.seed, "seed for the amounts")->capture_default_str();
  app.add_flag("--verbose", s.verbose, "log every transaction");
  app.add_flag("--racy", s.racy,
               "first run the unsynchronized version on plain threads (a data race: "
               "./gofer run --preset tsan bank --racy shows it)");
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int asked = 0;
  for (int c = 1; c <= s.customers; ++c) asked += amount_for(c, s.seed);
  std::printf("%d customers ask for $%d in all from an account holding $%d\n", s.customers, asked, kOpening);

  if (s.racy) {
    std::puts("0. no lock at all, on plain threads (the data race):");
    racy(s);
  }
  bool ok = true;
  int status = gofer::run(
      [&] {
        std::puts("1. a gofer::mutex around check-and-debit:");
        ok = audit("mutex ", with_mutex(s), s) && ok;
        std::puts("2. a teller goroutine owns the balance; customers send it requests:");
        ok = audit("teller", with_teller(s), s) && ok;
      },
      gofer::options{.threads = threads});
  if (status != 0) return status;
  if (!ok) {
    std::puts("FAILED: the books do not balance");
    return 1;
  }
  std::printf("both ways the books balanced: paid out + balance = $%d, never below $0\n", kOpening);
  return 0;
}
