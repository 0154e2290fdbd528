// defer1 — solution. A block gives the unlock guard a shorter life; capturing by value
// ("[counter]") binds the value when the guard is made, like Go's defer arguments.

#include <cstdio>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

template <class F>
struct defer {
  F f;
  ~defer() { f(); }
};
template <class F>
defer(F) -> defer<F>;

void pay(gofer::mutex& mu, int& balance, gofer::chan<std::string> receipts) {
  {
    mu.lock();
    std::puts("locked");
    defer unlock{[&] {
      mu.unlock();
      std::puts("unlocked");
    }};
    balance -= 10;
    std::printf("balance is now %d\n", balance);
  }  // the guard runs here
  receipts.send("paid 10");
  std::puts("receipt sent");
}

void bindings() {
  int counter = 0;
  defer early{[counter] { std::printf("early binding saw %d\n", counter); }};
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
