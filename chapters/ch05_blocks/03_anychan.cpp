// anychan — a channel of a closed set of message types, and the goroutines it leaks (book,
// chapter 5: "Creating an interface channel", "Using structs, interfaces, and more complex
// channels"; ch5_2_interfacechan.go).
//
// Go sends interface values on a `chan Messenger` and takes them apart with a type switch.
// With a closed set of types the C++ spelling is a channel of std::variant and std::visit:
// the compiler checks that every type is handled. The book starts 10 goroutines that each
// send one message on an unbuffered channel, prints the first that arrives, takes one
// more — and returns, leaving 8 goroutines blocked in "chan send" forever. Watch the count
// of goroutines: 9 (main and the 8), then the two fixes, each leaving only main.
#include <cstdio>
#include <string>
#include <type_traits>
#include <variant>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;

namespace {

// The closed set of messages: a variant instead of an interface.
struct relay {
  int from;  // Relay() returns "Done with k"
};
struct status_report {
  int from;
  double load;
};
using message = std::variant<relay, status_report>;

// Go's type switch: one branch per type; forgetting one is a compile error.
std::string describe(const message& m) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, relay>) {
          return "Done with " + std::to_string(v.from);
        } else {
          static_assert(std::is_same_v<T, status_report>);
          return "status from " + std::to_string(v.from) + ": load " + std::to_string(v.load).substr(0, 4);
        }
      },
      m);
}

message make_message(int k) {
  if (k % 2 == 0) return relay{k};
  return status_report{k, k / 10.0};
}

// Waits (at most 2 s) until only `n` goroutines are left: a goroutine that sent its last
// message still has to return.
std::size_t settle_to(std::size_t n) {
  for (int tries = 0; tries < 2000 && gofer::num_goroutine() > n; ++tries) gofer::sleep(1ms);
  return gofer::num_goroutine();
}

}  // namespace

int main(int argc, char** argv) {
  int senders = 10;
  CLI::App app{"a channel of std::variant (Go's interface channel), the book's 8 leaked goroutines and two fixes",
               "anychan"};
  app.add_option("--senders", senders, "goroutines that send one message each")->capture_default_str()->check(CLI::Range(3, 100000));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  std::size_t leaked = 0, after_buffered = 0, after_cancel = 0;
  const std::size_t want_leak = static_cast<std::size_t>(senders - 2);
  gofer::run([&] {
    // 1. The book's version: unbuffered, `senders` senders, two receives.
    gofer::chan<message> msgs;
    for (int k = 0; k < senders; ++k)
      gofer::go(gofer::named{"sender-" + std::to_string(k)}, [msgs, k] { msgs.send(make_message(k)); });
    std::printf("1. the book's version: %d senders on an unbuffered channel, main takes two\n", senders);
    std::printf("   first:  %s\n", describe(*msgs.recv()).c_str());
    std::printf("   second: %s\n", describe(*msgs.recv()).c_str());
    // The others can never finish their send: nobody receives any more.
    leaked = settle_to(want_leak + 1) - 1;
    std::printf("   goroutines besides main: %zu, blocked in chan send for good\n", leaked);
    // (Let them go, for the next parts: receive what they are stuck sending.)
    for (std::size_t i = 0; i < leaked; ++i) msgs.recv();
    settle_to(1);

    // 2. Fix 1: a buffer with room for every message. Each send completes at once; the
    //    messages nobody wants are garbage with the channel.
    gofer::chan<message> buffered(static_cast<std::size_t>(senders));
    for (int k = 0; k < senders; ++k) gofer::go([buffered, k] { buffered.send(make_message(k)); });
    std::printf("2. fix 1, a buffer for all %d: main takes two\n", senders);
    std::printf("   first:  %s\n", describe(*buffered.recv()).c_str());
    std::printf("   second: %s\n", describe(*buffered.recv()).c_str());
    after_buffered = settle_to(1) - 1;
    std::printf("   goroutines besides main: %zu\n", after_buffered);

    // 3. Fix 2: cancellation. Each sender selects on its send and on ctx.done(); once main
    //    has its two, it cancels and the rest give up.
    auto [ctx, cancel] = gofer::with_cancel(gofer::background());
    gofer::chan<message> unbuffered;
    for (int k = 0; k < senders; ++k)
      gofer::go([unbuffered, k, ctx] {
        gofer::select(gofer::send_case(unbuffered, make_message(k)), gofer::recv_case(ctx.done()));
      });
    std::printf("3. fix 2, unbuffered with a context: main takes two, then cancels\n");
    std::printf("   first:  %s\n", describe(*unbuffered.recv()).c_str());
    std::printf("   second: %s\n", describe(*unbuffered.recv()).c_str());
    cancel();
    after_cancel = settle_to(1) - 1;
    std::printf("   goroutines besides main: %zu\n", after_cancel);
  });
  if (leaked != want_leak || after_buffered != 0 || after_cancel != 0) {
    std::printf("FAILED: leaked %zu (want %zu), then %zu and %zu left\n", leaked, want_leak, after_buffered, after_cancel);
    return 1;
  }
  std::printf("the book's version leaked %zu goroutines, a full buffer and a cancelled context leaked none\n", leaked);
  return 0;
}
