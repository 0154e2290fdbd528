// directional — send-only and receive-only channels at API boundaries, so that only the
// owner can close (book, chapter 10: "Choosing unidirectional and bidirectional channels",
// "Using receive-only or send-only channels").
//
// The book's ch10_8: a producer sends 0..99, the consumer decides it has had enough after
// 98 and closes the channel, and the producer's next send panics: "send on closed
// channel". The rule that prevents it: the sender owns the channel and is the only one who
// closes it. gofer's send_chan<T> (Go's chan<- T) can send and close; recv_chan<T> (<-chan
// T) can only receive — it has no close() at all, so a consumer given one cannot make the
// mistake: it does not compile. A consumer that wants the producer to stop says so on a
// channel of its own (here `stop`), which the producer watches in a select.
//
// Watch part 1 (the book's program, run as a child process with --book): the panic and
// exit status 2, as in Go. Part 2: the same exchange with directional types, ending cleanly.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

namespace {

// What the types allow, checked by the compiler: a recv_chan has no close() and no
// send(); a send_chan has no recv(). A chan converts to either view (implicitly, like Go).
template <class C>
concept closable = requires(const C& c) { c.close(); };
template <class C>
concept receivable = requires(const C& c) { c.recv(); };
static_assert(closable<gofer::chan<int>> && closable<gofer::send_chan<int>>);
static_assert(!closable<gofer::recv_chan<int>>, "a receive-only channel cannot be closed");
static_assert(!receivable<gofer::send_chan<int>>, "a send-only channel cannot be received from");

// ---- part 1: the book's program -----------------------------------------------------------
// Both sides get the bidirectional channel, so the consumer can close it under the producer.
int book_program() {
  return gofer::run([] {
    gofer::chan<int> ch;
    gofer::wait_group wg;
    wg.add(1);
    gofer::go(gofer::named{"consumer"}, [ch, &wg] {
      for (;;) {
        int v = ch.recv().value_or(-1);
        if (v == 98) {
          std::printf("consumer: got %d, closing the channel\n", v);
          std::fflush(stdout);
          ch.close();  // the receiver closes: the sender does not know
          wg.done();
          return;
        }
      }
    });
    for (int i = 0; i < 100; ++i) ch.send(i);  // the send of 99 throws: send on closed channel
    wg.wait();
  });
}

// Runs this program again with --book and returns its exit status and output.
std::pair<int, std::vector<std::string>> run_child(const char* flag) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return {-1, {"cannot find /proc/self/exe"}};
  self[n] = '\0';
  std::string cmd = std::string("'") + self + "' " + flag + " 2>&1";
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

// ---- part 2: directional types ------------------------------------------------------------
// The producer owns its channel: it makes it, hands out only the receive side, and closes
// it when it stops — after 100 values, or earlier when the consumer asks it to on `stop`.
gofer::recv_chan<int> producer(gofer::recv_chan<int> stop, int& sent) {
  gofer::chan<int> out;
  gofer::go(gofer::named{"producer"}, [out, stop, &sent] {
    for (int i = 0; i < 100; ++i) {
      bool stopped = false;
      gofer::select(gofer::send_case(out, i, [&] { ++sent; }),
                    gofer::recv_case(stop, [&](std::optional<int>) { stopped = true; }));
      if (stopped) break;
    }
    out.close();  // only the owner closes
  });
  return out;
}

// The consumer sees a recv_chan<int>: in.close() would not compile (see the static_asserts
// above). To stop early it closes its own `stop` channel (it owns that one), then drains.
int consumer(gofer::recv_chan<int> in, gofer::send_chan<int> stop) {
  int received = 0;
  for (int v : in) {
    ++received;
    if (v == 98) {
      std::printf("   consumer: got %d, asking the producer to stop\n", v);
      stop.close();
      break;
    }
  }
  for ([[maybe_unused]] int v : in) ++received;  // until the producer closes: nothing is left behind
  return received;
}

}  // namespace

int main(int argc, char** argv) {
  bool book = false;
  CLI::App app{"directional channels: only the owner closes, and the types enforce it", "directional"};
  app.add_flag("--book", book, "run only the book's program (the receiver closes; the sender panics)");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  if (book) return book_program();

  // 1. The book's program, in a child process (its panic ends that process).
  std::puts("1. the book's program: the consumer closes the channel it receives from");
  auto [st, lines] = run_child("--book");
  for (std::size_t i = 0; i < lines.size() && i < 4; ++i) std::printf("   | %s\n", lines[i].c_str());
  if (lines.size() > 4) std::printf("   | ... (%zu more lines)\n", lines.size() - 4);
  std::printf("   the child exited with status %d\n", st);
  bool panicked = false;
  for (const auto& l : lines)
    if (l.find("send on closed channel") != std::string::npos) panicked = true;

  // 2. The same exchange with send_chan/recv_chan at the boundaries.
  std::puts("2. directional channels: the producer owns and closes its channel");
  int sent = 0, received = 0;
  gofer::run([&] {
    gofer::chan<int> stop;
    received = consumer(producer(stop, sent), stop);
  });
  std::printf("   the producer sent %d values, the consumer received %d\n", sent, received);
  int status = panicked && st == 2 && sent == received && sent >= 99 ? 0 : 1;
  std::printf("the receiver's close panicked the sender (status %d), with directional types the owner closed "
              "after %d values and nothing panicked\n",
              st, sent);
  return status;
}
