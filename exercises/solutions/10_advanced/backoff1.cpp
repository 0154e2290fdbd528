// backoff1 — solution. main forwards what the check found (r.answered), not `false`: only the
// server that failed backs off, a healthy one keeps the first delay.

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
      verdicts[r.server].send(r.answered);
    }
    wg.wait();
    for (int id = 0; id < 2; ++id) {
      std::string d;
      for (int v : delays[id]) d += std::to_string(v) + " ";
      std::printf("%s: delays %sms\n", names[id], d.c_str());
    }
  });
}
