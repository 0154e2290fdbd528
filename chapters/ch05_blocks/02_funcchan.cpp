// funcchan — a channel of functions: a callback delivered by message (book, chapter 5:
// "Sending more data types via channels", "Creating a function channel").
//
// In Go a function is a value, so `chan func() string` carries code: a goroutine sends a
// closure, the receiver calls it. The C++ spelling is gofer::chan<std::function<R()>>
// (or any move-only callable type). Here worker goroutines each send a closure that
// captured their own state, and main receives them in a select loop — next to a timeout
// case — and runs every callback on its own goroutine, like an event loop. Watch: the
// closures run in main (goroutine 1), yet each one reports the worker it came from.
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  int workers = 3;
  CLI::App app{"a channel of functions: callbacks delivered by message and run by the receiver", "funcchan"};
  app.add_option("--workers", workers, "goroutines that each send one callback")->capture_default_str()->check(CLI::Range(1, 1000));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int ran = 0, in_main = 0;
  gofer::run([&] {
    // 1. The book's example: one goroutine sends a function that returns "Sent!".
    gofer::chan<std::function<std::string()>> fns;
    gofer::go([fns] { fns.send([] { return std::string("Sent!"); }); });
    gofer::select(gofer::recv_case(fns, [](std::optional<std::function<std::string()>> f) {
      std::printf("1. received a function and called it: %s\n", (*f)().c_str());
    }));

    // 2. Callbacks as messages: each worker captures its own id and a result, and asks
    //    main to run the code. The channel carries std::function<void()>.
    gofer::chan<std::function<void()>> callbacks;
    for (int w = 1; w <= workers; ++w) {
      gofer::go(gofer::named{"worker-" + std::to_string(w)}, [callbacks, w, &ran, &in_main] {
        int result = w * w;  // the worker's own work, done on its goroutine
        callbacks.send([w, result, &ran, &in_main] {
          // This body runs wherever the receiver calls it: in main.
          if (gofer::goroutine_id() == 1) ++in_main;
          ++ran;  // only main touches it: no lock needed
          std::printf("   callback from worker %d ran on goroutine %llu: result %d\n", w,
                      static_cast<unsigned long long>(gofer::goroutine_id()), result);
        });
      });
    }
    // 3. main's select loop: a callback, or a timeout if the workers went quiet.
    std::printf("2. main runs the callbacks the %d workers send:\n", workers);
    for (int got = 0; got < workers;) {
      gofer::select(gofer::recv_case(callbacks,
                                     [&](std::optional<std::function<void()>> f) {
                                       (*f)();
                                       ++got;
                                     }),
                    gofer::recv_case(gofer::after(2s), [&](auto) {
                      std::puts("   (no callback within 2 s)");
                      got = workers;
                    }));
    }
  });
  if (ran != workers || in_main != workers) {
    std::printf("FAILED: %d of %d callbacks ran, %d in main\n", ran, workers, in_main);
    return 1;
  }
  std::printf("main ran all %d callbacks that arrived over a channel of functions\n", ran);
  return 0;
}
