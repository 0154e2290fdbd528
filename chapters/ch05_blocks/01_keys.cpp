// keys — "Where did I leave my keys?": blocking method 1, a listening, waiting channel (book,
// chapter 5: "Understanding blocking methods in Go", "Blocking method 1 – a listening,
// waiting channel"; ch5_1_block.go).
//
// A thinker goroutine prints "still thinking" each round and, after --rounds rounds, sends
// on an unbuffered channel; main blocks on that channel until the keys are found. The
// thinker then tries to signal once more, and nobody will ever receive: it is blocked for
// good. Watch the goroutine dump: main has the keys, and the thinker is parked in "chan
// send". In Go the process exit just kills it; gofer unwinds it when main returns (its
// destructors run), and the line "thinker unwound" shows that it happened.
#include <cstdio>
#include <sstream>
#include <string>

#include <gofer/debug.hpp>
#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;

namespace {
// Printed from a destructor: proof that the blocked thinker was unwound, not abandoned.
struct says_goodbye {
  ~says_goodbye() { std::puts("   (thinker unwound when main returned: its destructors ran)"); }
};
}  // namespace

int main(int argc, char** argv) {
  int rounds = 5, every_ms = 20;
  CLI::App app{"where did I leave my keys: a goroutine signals main on a channel, then blocks forever", "keys"};
  app.add_option("--rounds", rounds, "rounds of thinking before the keys turn up")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--every-ms", every_ms, "milliseconds per round")->capture_default_str()->check(CLI::Range(0, 10000));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  std::size_t left = 0;
  std::string dump;
  gofer::run([&] {
    // 1. The thinker: a round per tick, then a signal; then it tries to signal again.
    gofer::chan<bool> found;  // unbuffered: a send waits for a receiver
    gofer::go(gofer::named{"thinker"}, [found, rounds, every_ms] {
      says_goodbye bye;
      for (int i = 1; i <= rounds; ++i) {
        std::printf("   still thinking (%d)\n", i);
        gofer::sleep(std::chrono::milliseconds(every_ms));
      }
      found.send(true);
      found.send(true);  // nobody will receive this one: blocked for good
    });

    // 2. main blocks on the channel: the first receive is the "found them" signal.
    std::puts("1. main waits on the channel while the thinker thinks:");
    found.recv();
    std::puts("2. OK, I found them!");

    // 3. What is left: wait until the thinker is parked again (it has one more send to
    //    reach), then look at the dump.
    for (int tries = 0; tries < 1000; ++tries) {
      std::ostringstream probe;
      gofer::dump_goroutines(probe);
      if (probe.str().find("\"thinker\" [chan send") != std::string::npos) {
        dump = probe.str();
        break;
      }
      gofer::sleep(1ms);
    }
    left = gofer::num_goroutine();
    std::printf("3. %zu goroutines exist; the dump:\n", left);
    // (the dump lists goroutines by id, each with the function and file:line it waits in)
    std::istringstream in(dump);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) std::printf("   %s\n", line.c_str());
    }
    std::puts("4. main returns, with the thinker still blocked on its second send");
  });
  bool ok = left == 2 && dump.find("\"thinker\" [chan send") != std::string::npos;
  if (!ok) {
    std::puts("FAILED: expected main and a thinker blocked in chan send");
    return 1;
  }
  std::printf("found the keys after %d rounds, the thinker was left blocked on chan send and unwound when main returned\n",
              rounds);
  return 0;
}
