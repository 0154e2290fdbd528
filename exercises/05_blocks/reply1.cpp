// reply1 — request and reply with a reply channel (book, chapter 5: "Creating channels of
// channels"; chapter 3's bank).
//
// One goroutine, the bank, owns the balances; nobody else touches them. Customers send it
// requests and wait for the answer. As shipped a request carries no way back: its reply
// channel is nil, and a send on a nil channel waits forever — so the bank is stuck on the
// first answer and gofer's deadlock detector ends the program.
//
// Goal: every request carries a reply channel of its own. The program prints
//   alice has $110
//   bob has $260
//   carol has $10
//
// Question: why give the reply channel a buffer of one? What would the bank wait for
// without it, if a customer gave up before reading its answer?

#include <cstdio>
#include <map>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

struct request {
  std::string account;
  int deposit;
  gofer::chan<int> reply = nullptr;  // where the bank sends the new balance
};

// The bank: the only goroutine that touches the balances.
void bank(gofer::chan<request> requests) {
  std::map<std::string, int> balances = {{"alice", 100}, {"bob", 250}, {"carol", 0}};
  for (request r : requests) {
    balances[r.account] += r.deposit;
    r.reply.send(balances[r.account]);
  }
}

// A customer's call: send a request, wait for the answer.
int deposit(const gofer::chan<request>& bank, const std::string& account, int amount) {
  request r{account, amount};
  // TODO: give the request a reply channel of its own, and wait on that channel for the
  //       answer (the balance after the deposit).
  bank.send(r);
  return -1;
}

int main() {
  return gofer::run([] {
    gofer::chan<request> requests;
    gofer::go(gofer::named{"bank"}, bank, requests);

    // Three customers deposit $10 each, at the same time.
    gofer::chan<std::pair<std::string, int>> results(3);
    for (std::string name : {"alice", "bob", "carol"})
      gofer::go(gofer::named{name}, [requests, results, name] { results.send({name, deposit(requests, name, 10)}); });
    std::map<std::string, int> after;
    for (int i = 0; i < 3; ++i) {
      auto [name, balance] = *results.recv();
      after[name] = balance;
    }
    for (auto& [name, balance] : after) std::printf("%s has $%d\n", name.c_str(), balance);
    requests.close();
  });
}
