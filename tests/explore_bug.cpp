// tests/explore_bug.cpp — a planted check-then-act bug for ./gofer explore's test
// (tests/explore_test.sh): two clerks withdraw 80 from an account of 100. Each checks the
// balance, records the withdrawal in the audit log (a channel send: a safe point, where a
// seeded schedule may preempt the clerk), then subtracts. Under most interleavings one
// clerk is refused; when a clerk is preempted between its check and its act, both pass
// the check and the account goes to -60: the program says so and exits 1. With --fixed
// the check and the act happen under one gofer::mutex, and no seed overdraws.
#include <cstdio>
#include <cstring>
#include <mutex>

#include "gofer/gofer.hpp"

int main(int argc, char** argv) {
  const bool fixed = argc > 1 && std::strcmp(argv[1], "--fixed") == 0;
  if (argc > 1 && !fixed) {
    std::fprintf(stderr, "usage: explore_bug [--fixed]\n");
    return 2;
  }
  int balance = 100;
  int status = gofer::run([&] {
    gofer::chan<int> audit(4);
    gofer::mutex account;  // --fixed: held from the check to the act
    gofer::wait_group wg;
    for (int clerk = 1; clerk <= 2; ++clerk) {
      wg.add(1);
      gofer::go(gofer::named("clerk"), [&, clerk, audit] {
        std::unique_lock<gofer::mutex> lk(account, std::defer_lock);
        if (fixed) lk.lock();
        if (balance >= 80) {  // check ...
          audit.send(80);     // (a safe point: a preemption here breaks the invariant)
          balance -= 80;      // ... then act
          std::printf("clerk %d withdrew 80, balance %d\n", clerk, balance);
        } else {
          std::printf("clerk %d refused, balance %d\n", clerk, balance);
        }
        wg.done();
      });
    }
    wg.wait();
  });
  if (status != 0) return status;
  if (balance < 0) {
    std::printf("overdrawn: balance %d\n", balance);
    return 1;
  }
  std::printf("balance %d\n", balance);
  return 0;
}
