// bank — one balance, many customers (book, chapter 3: "Identifying race conditions with
// race detection", "Using mutual exclusions", "Synchronizing our concurrent operations").
// A hundred goroutines withdraw from one $1000 account at once. A withdrawal checks the
// balance and then debits it; if two goroutines interleave between the check and the debit,
// money goes missing or the balance goes negative. Two safe ways, both run here: a mutex
// around check-and-debit, and a teller goroutine that owns the balance and takes requests
// over a channel. Watch the totals: however the customers arrive, the books balance.
//
// (Without either, it is a data race: the racy version is an exercise, run under TSan.)

#include <algorithm>
#include <cstdio>
#include <random>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

constexpr int kOpening = 1000;

struct settings {
  int customers;
  unsigned seed;
  bool verbose;
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

  gofer::go(gofer::named("teller"), [&s, requests, closing]() mutable {
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
    gofer::go([&, c, requests]() mutable {
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
  settings s{100, 1, false};
  unsigned threads = 0;
  CLI::App app{"a shared bank balance made safe: a mutex, and a teller goroutine that owns it", "bank"};
  app.add_option("--customers", s.customers, "goroutines withdrawing at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--seed", s.seed, "seed for the amounts")->capture_default_str();
  app.add_flag("--verbose", s.verbose, "log every transaction");
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int asked = 0;
  for (int c = 1; c <= s.customers; ++c) asked += amount_for(c, s.seed);
  std::printf("%d customers ask for $%d in all from an account holding $%d\n", s.customers, asked, kOpening);

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
