// defer1 — Go's defer as a C++ scope guard (book, chapter 1: "Implementing the defer control
// mechanism").
//
// `defer` below runs a function when its scope ends, newest first, like Go's defer. Two
// things are wrong in this program:
//   1. pay() keeps the lock until the function returns, so the receipt goes out while the
//      lock is still held. Never hold a lock while you wait on a channel.
//   2. Go evaluates a deferred call's arguments when the defer statement runs. The "early"
//      guard should print the counter as it was then (0); it prints 100.
//
// Goal: exactly this output:
//   locked
//   balance is now 90
//   unlocked
//   receipt sent
//   late binding saw 100
//   early binding saw 0

#include <cstdio>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

// A scope guard: calls f when it goes out of scope.
template <class F>
struct defer {
  F f;
  ~defer() { f(); }
};
template <class F>
defer(F) -> defer<F>;

void pay(gofer::mutex& mu, int& balance, gofer::chan<std::string> receipts) {
  mu.lock();
  std::puts("locked");
  defer unlock{[&] {
    mu.unlock();
    std::puts("unlocked");
  }};
  balance -= 10;
  std::printf("balance is now %d\n", balance);

  // TODO: the lock must be released before the receipt goes out. Give the guard a
  // shorter life.
  receipts.send("paid 10");
  std::puts("receipt sent");
}

void bindings() {
  int counter = 0;
  // TODO: this one should see the counter as it is *now*, like Go's defer arguments.
  defer early{[&] { std::printf("early binding saw %d\n", counter); }};
  defer late{[&] { std::printf("late binding saw %d\n", counter); }};
  counter = 100;
}

int main() {
  return gofer::run([] {
    gofer::mutex mu;
    int balance = 100;
    gofer::chan<std::string> receipts(1);
    pay(mu, balance, receipts);
    bindings();
  });
}
