// backoff1 — spot the bug: healthy servers back off too (book, chapter 10: "Building
// workers").
//
// One worker per server checks it five times. After each check it reports to main, and
// main answers whether the server is OK; the worker then sets its next delay:
// back to 30 ms after a success, 50 ms longer after a failure (the book's 3 s and +5 s,
// scaled down; the worker records the delays instead of sleeping them). alpha always
// answers; at gamma's address nothing listens. As shipped, alpha's delays grow just like
// gamma's — the book's ch10_1 behaves the same way.
//
// Goal: the program prints
//   alpha: delays 30 30 30 30 30 ms
//   gamma: delays 80 130 180 230 280 ms
//
// Question: where does the information "the check succeeded" get lost on its way back to
// the worker?

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>

struct report {
  int server;
  bool answered;  // what the check found
};

// Pretend checks: alpha answers, gamma never does.
bool check(int server) { return server == 0; }

int main() {
  return gofer::run([] {
    const char* names[] = {"alpha", "gamma"};
    gofer::chan<report> reports;
    gofer::chan<bool> verdicts[2];  // main's answer to each server: is it OK?
    std::vector<int> delays[2];
    gofer::wait_group wg;
    for (int id = 0; id < 2; ++id) {
      wg.add(1);
      gofer::go([&, id] {
        int delay = 30;
        for (int i = 0; i < 5; ++i) {
          reports.send(report{id, check(id)});
          bool ok = verdicts[id].recv().value_or(false);
          delay = ok ? 30 : delay + 50;
          delays[id].push_back(delay);
        }
        wg.done();
      });
    }
    // main: answers the 10 reports.
    for (int i = 0; i < 10; ++i) {
      report r = *reports.recv();
      // TODO: the book's main. What does it tell every server, whatever the check found?
      verdicts[r.server].send(false);
    }
    wg.wait();
    for (int id = 0; id < 2; ++id) {
      std::string d;
      for (int v : delays[id]) d += std::to_string(v) + " ";
      std::printf("%s: delays %sms\n", names[id], d.c_str());
    }
  });
}
