// nilchan — what a nil channel does, and the one thing it is good for (book, chapter 10:
// "Implementing nil channel blocks", "Using nil channels").
//
// A nil channel (gofer::chan<T>(nullptr), Go's `var c chan T`) is never ready: a send or receive on it
// blocks forever, and a select case on it never fires. The book shows the first half — an
// unguarded send on a nil channel hangs, the runtime calls it a deadlock — and stops there.
// The idiom it never shows: when merging two streams in a select loop, set a stream's
// channel to nil once it is closed, so its case goes quiet and the loop ends when both are.
// Watch the two merge loops: the naive one keeps waking up on the closed channel (a closed
// channel is always ready), the nil-channel one notices each close exactly once.
//
// --unguarded runs only part 1's bad program: a send on a nil channel; gofer's deadlock
// detector reports it and the process exits with status 2 (Go's behaviour). The default run
// starts that in a child process, so the demo itself still ends normally.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;

namespace {

// A producer: sends its values (a few ms apart, so the two streams interleave), then closes.
gofer::recv_chan<int> produce(const char* name, std::vector<int> values, std::chrono::milliseconds gap) {
  gofer::chan<int> out;
  gofer::go(gofer::named{name}, [out, values, gap] {
    for (int v : values) {
      gofer::sleep(gap);
      out.send(v);
    }
    out.close();
  });
  return out;
}

struct merge_result {
  std::vector<int> values;
  long closed_wakeups = 0;  // select fired on a channel that was already closed
};

// The naive merge: remember which stream ended, loop until both did. A closed channel is
// always ready, so once `a` is closed the select keeps picking it (half the time, at random)
// while `b` still has values coming: each of those turns is a wasted wake-up.
merge_result merge_naive(gofer::recv_chan<int> a, gofer::recv_chan<int> b) {
  merge_result r;
  bool a_done = false, b_done = false;
  while (!a_done || !b_done) {
    std::optional<int> va, vb;
    switch (gofer::select(gofer::recv_case(a, va), gofer::recv_case(b, vb))) {
      case 0:
        if (va) r.values.push_back(*va);
        else if (a_done) {
          ++r.closed_wakeups;
          gofer::yield();  // a busy loop: gofer does not preempt, so it must let others run
        } else {
          a_done = true;
        }
        break;
      case 1:
        if (vb) r.values.push_back(*vb);
        else if (b_done) {
          ++r.closed_wakeups;
          gofer::yield();
        } else {
          b_done = true;
        }
        break;
    }
  }
  return r;
}

// The nil-channel merge: when a stream closes, set its channel to nil. Its case can never
// fire again, so select waits only for the other one; the loop ends when both are nil.
merge_result merge_nil(gofer::recv_chan<int> a, gofer::recv_chan<int> b) {
  merge_result r;
  while (a || b) {  // a nil channel handle is false
    std::optional<int> va, vb;
    switch (gofer::select(gofer::recv_case(a, va), gofer::recv_case(b, vb))) {
      case 0:
        if (va) r.values.push_back(*va);
        else if (!a) ++r.closed_wakeups;  // cannot happen: a nil case never fires
        else a = nullptr;
        break;
      case 1:
        if (vb) r.values.push_back(*vb);
        else if (!b) ++r.closed_wakeups;
        else b = nullptr;
        break;
    }
  }
  return r;
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return s;
}

// Runs this program again with --unguarded and returns its exit status and stderr.
std::pair<int, std::vector<std::string>> run_unguarded_child() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return {-1, {"cannot find /proc/self/exe"}};
  self[n] = '\0';
  std::string cmd = std::string("'") + self + "' --unguarded 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, {"popen failed"}};
  std::vector<std::string> lines;
  char line[1024];
  while (std::fgets(line, sizeof line, p)) {
    std::string l(line);
    if (!l.empty() && l.back() == '\n') l.pop_back();
    lines.push_back(l);
  }
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), lines};
}

}  // namespace

int main(int argc, char** argv) {
  bool unguarded = false;
  CLI::App app{"nil channels: an unguarded send blocks forever, and merging two streams with nil cases",
               "nilchan"};
  app.add_flag("--unguarded", unguarded, "only send on a nil channel (the deadlock detector exits 2)");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  if (unguarded) {
    // The book's warning, as a program: nobody can ever receive from a nil channel.
    return gofer::run([] {
      gofer::chan<int> c(nullptr);  // nil: Go's `var c chan int`, declared and never made
      std::puts("sending on a nil channel...");
      std::fflush(stdout);
      c.send(1);  // blocks forever; every goroutine is asleep: the detector ends the run
      std::puts("never printed");
    });
  }

  // 1. The unguarded send, in a child process (this same program with --unguarded).
  std::puts("1. an unguarded send on a nil channel (run as a child process):");
  auto [child_status, child_lines] = run_unguarded_child();
  for (std::size_t i = 0; i < child_lines.size() && i < 6; ++i) std::printf("   | %s\n", child_lines[i].c_str());
  if (child_lines.size() > 6) std::printf("   | ... (%zu more lines)\n", child_lines.size() - 6);
  std::printf("   the child exited with status %d\n", child_status);
  bool detected = child_status == 2 && !child_lines.empty();

  int status = 0;
  merge_result naive, nil;
  gofer::run([&] {
    // 2. The book's guard: check for nil before sending, and a select whose nil case is
    //    never ready (so the default runs).
    std::puts("2. guarded:");
    gofer::chan<int> c(nullptr);  // var c chan int
    if (c == nullptr) std::puts("   the channel is nil: not sending");
    gofer::select(gofer::recv_case(c, [](std::optional<int>) { std::puts("   never: a nil case cannot fire"); }),
                  gofer::default_case([] { std::puts("   select with a nil case took its default"); }));

    // 3. Merging two streams until both close, naively and with nil channels.
    std::puts("3. merging stream a (1..5, every 2 ms) and stream b (10..60, every 5 ms):");
    const std::vector<int> av{1, 2, 3, 4, 5}, bv{10, 20, 30, 40, 50, 60};
    naive = merge_naive(produce("a", av, 2ms), produce("b", bv, 5ms));
    std::printf("   naive loop:       %zu values, %ld wake-ups on an already closed channel\n", naive.values.size(),
                naive.closed_wakeups);
    nil = merge_nil(produce("a", av, 2ms), produce("b", bv, 5ms));
    std::printf("   nil-channel loop: %zu values, %ld wake-ups on an already closed channel\n", nil.values.size(),
                nil.closed_wakeups);
    std::printf("   merged: %s\n", join(nil.values).c_str());
  });
  if (!detected || nil.values.size() != 11 || naive.values.size() != 11 || nil.closed_wakeups != 0) status = 1;
  std::printf("merged %zu values from 2 streams: the nil-channel loop saw each close once, the naive one woke %ld "
              "extra times on a closed channel%s\n",
              nil.values.size(), naive.closed_wakeups, detected ? "" : " (and the nil send was NOT detected)");
  return status;
}
