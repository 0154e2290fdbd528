// star1 — fix the book's star master (book, chapter 7: "Type 1 – star").
//
// The book's master (Ch7_2_startopology.go) accepts workers on a TCP port and hands them
// tasks round-robin. It never worked. This is a faithful port, with its three bugs; the
// workers are goroutines of this same program that dial the master over loopback. The
// master waits until 3 workers have joined, then sends 9 tasks, one line each, round robin;
// each worker counts the tasks it receives until the master hangs up.
//
// Goal: the program prints these lines, the workers' in any order, the last one last:
//   worker-1 got 3 tasks
//   worker-2 got 3 tasks
//   worker-3 got 3 tasks
//   9 tasks dispatched round robin to 3 workers
//
// As shipped it hangs (the exercise runner stops it and shows where every goroutine
// waits). Fix one bug at a time, and run it after each.
//
// Question: when the accept loop calls a function, who accepts the next worker while that
// function runs?

#include <cstdio>
#include <string>
#include <vector>

#include <gofer/chan.hpp>
#include <gofer/net.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

constexpr int kWorkers = 3, kTasks = 9;

// One line from a connection (byte by byte: short and slow, fine here). Empty at EOF.
std::string read_line(gofer::net::conn& c) {
  std::string line;
  char ch = 0;
  while (c.read(&ch, 1).ok()) {
    if (ch == '\n') return line;
    line += ch;
  }
  return line;
}

// A worker as the master knows it: a name and the channel its tasks go to.
struct subscriber {
  std::string name;
  gofer::chan<std::string> todo{kTasks};
};

// Registers a new worker in the master's list.
// TODO: does the master's list ever see this worker?
void add_subscriber(std::vector<subscriber> list, subscriber s) { list.push_back(std::move(s)); }

// The master's side of one connection: read the worker's name, announce it, then write
// every task sent to it, and hang up when its channel is closed.
void serve(gofer::net::conn c, gofer::chan<subscriber> joined) {
  subscriber s{read_line(c)};
  joined.send(s);
  while (auto task = s.todo.recv()) c.write(*task + "\n");
  c.close();
}

// Accepts workers until the listener is closed.
void accept_loop(gofer::net::listener& ln, gofer::chan<subscriber> joined) {
  for (;;) {
    auto c = ln.accept();
    if (!c.ok()) return;
    // TODO: the book's loop: this call returns only when the worker is gone.
    serve(std::move(*c), joined);
  }
}

// The dispatcher: waits for the workers, then hands out the tasks round robin.
void dispatch(gofer::chan<subscriber> joined) {
  std::vector<subscriber> subscribers;
  for (int i = 0; i < kWorkers; ++i) add_subscriber(subscribers, *joined.recv());
  std::size_t next = 0;
  for (int t = 1; t <= kTasks; ++t) {
    subscribers.at(next).todo.send("task " + std::to_string(t));
    // TODO: the book's bound. Which indexes does `next` take?
    next = (next + 1) % (subscribers.size() + 1);
  }
  for (auto& s : subscribers) s.todo.close();
}

int main() {
  return gofer::run([] {
    auto ln = gofer::net::listen("127.0.0.1:0").value();
    gofer::chan<subscriber> joined;
    gofer::go(gofer::named("accept-loop"), [&ln, joined] { accept_loop(ln, joined); });

    // The workers, in order: each joins before the next dials (so the names match the order).
    gofer::wait_group wg;
    for (int w = 1; w <= kWorkers; ++w) {
      gofer::chan<int> hello_sent;
      wg.add(1);
      gofer::go(gofer::named("worker-" + std::to_string(w)), [&ln, &wg, w, hello_sent] {
        auto c = gofer::net::dial(ln.addr()).value();
        c.write("worker-" + std::to_string(w) + "\n");
        hello_sent.close();
        int got = 0;
        while (!read_line(c).empty()) ++got;
        std::printf("worker-%d got %d tasks\n", w, got);
        wg.done();
      });
      hello_sent.recv();
    }
    dispatch(joined);
    wg.wait();
    ln.close();
    std::printf("%d tasks dispatched round robin to %d workers\n", kTasks, kWorkers);
  });
}
