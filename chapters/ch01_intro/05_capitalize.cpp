// capitalize — the letter capitalization factory (book, chapter 1: "Channel-based sorting
// at the letter capitalization factory", "Buffered or unbuffered channels", "Using the
// select statement"). Worker A capitalizes letters and hands them over a channel to
// worker B, who packs them into the sentence; then main runs the factory itself with a
// select. Watch how far A gets ahead of B: an unbuffered channel keeps them in lock-step,
// a buffer (--buffer) lets A run ahead.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <optional>
#include <string>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

// The first sentence of the Gettysburg Address, as in the book.
constexpr const char* kSentence =
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, "
    "conceived in Liberty, and dedicated to the proposition that all men are created equal.";

char upper(char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }

// 1. Two workers and a conveyor belt. A sends each capitalized letter on `belt`; B takes
// them in order and appends them. A send on an unbuffered channel completes only when B
// receives, so A can never be more than one letter ahead of B; a buffer of n lets A get
// n + 1 ahead. (The book starts a goroutine per letter and waits after each one; two
// long-lived workers say the same thing with less machinery.)
std::string factory(const std::string& text, int buffer, int& max_lead) {
  gofer::chan<char> belt(buffer);     // make(chan byte, buffer)
  gofer::chan<std::string> finished;  // B hands the whole sentence back to main
  std::atomic<int> packed{0};         // letters B has appended so far

  // Worker A. Before each send it notes how far it is ahead of B.
  gofer::go([&text, belt, &packed, &max_lead]() {
    for (int i = 0; i < static_cast<int>(text.size()); ++i) {
      max_lead = std::max(max_lead, i - packed.load());
      belt.send(upper(text[i]));
    }
    belt.close();  // no more letters: B's loop ends once it has taken the last one
  });

  // Worker B: `for c := range belt`. The loop ends when A closed the belt and it is empty.
  gofer::go([belt, finished, &packed]() {
    std::string out;
    for (char c : belt) {
      out += c;
      ++packed;
    }
    finished.send(std::move(out));
  });

  // main waits for the finished sentence (this receive is what keeps main alive).
  // max_lead was last written by A before its final send, which B received before it sent
  // `finished`: reading it after this receive is safe.
  return *finished.recv();
}

// 2. The select version. A capitalizer goroutine sits between two unbuffered channels, and
// main both feeds it and collects from it. Feeding every letter first and collecting
// afterwards would deadlock: the capitalizer would wait to hand over letter 1 while main
// waits to hand over letter 2. A select waits for whichever of the two can happen.
std::string factory_select(const std::string& text) {
  gofer::chan<char> raw, caps;  // both unbuffered
  gofer::go([raw, caps]() {
    for (char c : raw) caps.send(upper(c));
    caps.close();
  });

  std::string out;
  std::size_t next = 0;
  gofer::chan<char> feed = raw;  // the send case's channel; nil once everything is sent
  auto stop_feeding = [&] {
    raw.close();     // tell the capitalizer there is no more
    feed = nullptr;  // a nil channel is never ready: the send case is now switched off
  };
  if (text.empty()) stop_feeding();
  for (bool done = false; !done;) {
    std::optional<char> c;
    switch (gofer::select(gofer::send_case(feed, next < text.size() ? text[next] : '\0'),
                          gofer::recv_case(caps, c))) {
      case 0:  // the capitalizer took a letter
        if (++next == text.size()) stop_feeding();
        break;
      case 1:  // a capitalized letter came back, or nullopt: caps is closed, all done
        if (c) {
          out += *c;
        } else {
          done = true;
        }
        break;
    }
  }
  return out;
}

int main(int argc, char** argv) {
  int buffer = 0;
  unsigned threads = 0;
  std::string text = kSentence;
  CLI::App app{"the letter capitalization factory: a channel hand-off, then a select", "capitalize"};
  app.add_option("--buffer", buffer, "capacity of the belt between A and B (0: unbuffered)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  app.add_option("--text", text, "the text to capitalize (default: the Gettysburg Address)");
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  std::string want;
  for (char c : text) want += upper(c);

  int unhappy = 0;
  int status = gofer::run(
      [&] {
        int max_lead = 0;
        std::printf("1. worker A hands letters to worker B over a channel of capacity %d:\n", buffer);
        std::string a = factory(text, buffer, max_lead);
        std::printf("   %s\n", a.c_str());
        std::printf("   A was at most %d letter(s) ahead of B (this channel allows %d)\n", max_lead,
                    buffer + 1);

        std::puts("2. main feeds a capitalizer and collects from it in one select loop:");
        std::string b = factory_select(text);
        std::printf("   %s\n", b.c_str());

        if (a == want && b == want && max_lead <= buffer + 1) {
          std::printf("both factories capitalized all %zu characters in order\n", text.size());
        } else {
          std::puts("FAILED: a factory lost, reordered or raced ahead");
          unhappy = 1;
        }
      },
      gofer::options{.threads = threads});
  return status != 0 ? status : unhappy;
}
