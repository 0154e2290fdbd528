// closures — closures and goroutines (book, chapter 1: "Closures and goroutines"). A
// closure carries state, and a goroutine started from a closure sees whatever the closure
// captured: a copy made when the goroutine was started, or a reference to a variable that
// keeps changing. Watch part 2: goroutines that captured the loop variable by reference all
// see its last value — Go's classic loop-variable bug — while copies see every value.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

// 1. The book's closure: shortener(msg) returns a function that, each time it is called,
// drops the last word of the message and returns what is left, then "nothing left". The
// words live inside the closure (a mutable lambda owns its captures), so every call sees
// what the previous one left behind.
auto shortener(const std::string& msg) {
  std::vector<std::string> words;
  std::istringstream in(msg);
  for (std::string w; in >> w;) words.push_back(w);
  return [words = std::move(words)]() mutable -> std::string {
    if (!words.empty()) words.pop_back();
    if (words.empty()) return "nothing left";
    std::string s = words.front();
    for (std::size_t i = 1; i < words.size(); ++i) s += " " + words[i];
    return s;
  };
}

// Receives n ints from c and returns them sorted: the goroutines below report in whatever
// order they ran, and sorting makes the lesson easy to read.
std::vector<int> collect(gofer::chan<int> c, int n) {
  std::vector<int> seen;
  for (int k = 0; k < n; ++k) seen.push_back(*c.recv());
  std::sort(seen.begin(), seen.end());
  return seen;
}

std::string show(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += " " + std::to_string(x);
  return s;
}

int main(int argc, char** argv) {
  int n = 5;
  unsigned threads = 0;
  std::string msg = "the quick brown fox jumps";
  CLI::App app{"closures and goroutines: captured state, and the loop-variable bug", "closures"};
  app.add_option("--n", n, "goroutines started in each loop of part 2")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--msg", msg, "the message part 1 shortens")->capture_default_str();
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int unhappy = 0;
  int status = gofer::run(
      [&] {
        // A closure can be handed to a goroutine: it moves into the goroutine, which owns
        // it from then on (nobody else can call it, so its state needs no lock).
        std::puts("1. a closure that remembers what it has already dropped:");
        gofer::chan<std::string> lines;
        gofer::go([next = shortener(msg), lines]() mutable {  // mutable: next() changes its state
          for (std::string s = next();; s = next()) {
            lines.send(s);
            if (s == "nothing left") break;
          }
          lines.close();
        });
        for (const std::string& s : lines) std::printf("   %s\n", s.c_str());

        // 2. Goroutines in a loop. Each one waits at a gate (a channel that main closes
        // when the loop is over) and then reports the value of i it sees.
        //
        // Late binding, [&i]: every goroutine refers to the one variable i, and by the time
        // the gate opens the loop has left it at n. This is Go's loop-variable bug (before
        // Go 1.22, every iteration shared one variable). It is well-defined here only
        // because i is a std::atomic and outlives the goroutines. With a plain int it would
        // be a data race, undefined behaviour (TSan reports it), and with the usual
        // `for (int i = 0; ...) gofer::go([&] { use(i); })` worse still: i is gone after its
        // iteration, so every goroutine reads a dangling reference.
        gofer::chan<int> gate, seen_late(n);
        std::atomic<int> i{0};
        for (i = 0; i < n; ++i) {
          gofer::go([&i, gate, seen_late]() {
            gate.recv();  // returns (nullopt) once main closes the gate
            seen_late.send(i.load());
          });
        }
        gate.close();
        std::vector<int> late = collect(seen_late, n);
        std::printf("2. %-44s%s\n", "captured by reference [&i], they saw:", show(late).c_str());

        // The fix: give each goroutine its own copy, made when it is started. [i] copies
        // into the closure (Go 1.22's per-iteration variable does the same); so does passing
        // i as an argument, go(f, i), which copies like Go's `go func(i int) {...}(i)`.
        gofer::chan<int> gate2, seen_copy(n);
        for (int j = 0; j < n; ++j) {
          gofer::go([j, gate2, seen_copy]() {
            gate2.recv();
            seen_copy.send(j);
          });
        }
        gate2.close();
        std::vector<int> copied = collect(seen_copy, n);
        std::printf("   %-44s%s\n", "captured by value [i], they saw:", show(copied).c_str());

        gofer::chan<int> seen_arg(n);
        auto report = [](int k, gofer::chan<int> out) { out.send(k); };
        for (int j = 0; j < n; ++j) gofer::go(report, j, seen_arg);
        std::vector<int> args = collect(seen_arg, n);
        std::printf("   %-44s%s\n", "passed as an argument go(f, i), they saw:", show(args).c_str());

        // Check: late binding saw only n; both fixes saw 0 .. n-1 once each.
        std::vector<int> all_n(n, n), each(n);
        for (int k = 0; k < n; ++k) each[k] = k;
        if (late == all_n && copied == each && args == each) {
          std::printf("by reference all %d goroutines saw %d, by value they saw 0 to %d\n", n, n, n - 1);
        } else {
          std::puts("FAILED: the goroutines saw something unexpected");
          unhappy = 1;
        }
      },
      gofer::options{.threads = threads});
  return status != 0 ? status : unhappy;
}
