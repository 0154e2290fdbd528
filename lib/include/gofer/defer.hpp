// gofer/defer.hpp — Go's `defer`: run a call when the enclosing scope ends.
//
//   defer   a scope guard that calls its function once, when it is destroyed
//
// Go's `defer f(args)` runs f when the surrounding *function* returns, newest first. C++
// has no function-exit hook, but a local object's destructor runs when its *scope* ends,
// on every path (return, break, an exception, a goroutine unwound at shutdown), and locals
// are destroyed in reverse order of construction — Go's LIFO order. So:
//
//   auto [ctx, cancel] = gofer::with_timeout(parent, 2s);
//   gofer::defer d(cancel);                        // Go: defer cancel()
//
//   gofer::defer d1([] { std::puts("second"); });  // runs last
//   gofer::defer d2([] { std::puts("first"); });   // runs first (LIFO)
//
// Binding (what Go calls evaluating a deferred call's arguments):
//   - `gofer::defer d(f, args...)` copies f and args *now* and calls f(args...) at scope
//     exit: Go's `defer f(args)`, whose arguments are evaluated at the defer statement
//     (early binding: a later change to a variable is not seen).
//   - `gofer::defer d([&] { use(x); })` reads x when it runs: Go's
//     `defer func() { use(x) }()` (late binding: the value x has at scope exit).
//   - `gofer::defer d([x] { use(x); })` copies x now: early binding again.
//
// Differences from Go, on purpose: the call runs at the end of the enclosing *block*, not
// the function (put the defer in the function's outermost block for Go's timing); a
// deferred call cannot change the function's return value; and a deferred call must not
// throw (a destructor that throws during unwinding terminates the program: catch inside).
// A panic (exception) still runs every defer on its way out, as in Go.
//
// Copy semantics: not copyable, not movable (it is tied to its scope, like Go's defer
// record). Zero value: none (a defer always has a function).
// Thread-safety: a defer belongs to the goroutine whose stack holds it.
// Cost: the function object and the bound arguments are stored inline (no allocation);
// one call at scope exit.
// Implementation: absl::Cleanup (absl/cleanup/cleanup.h) does the work; this header adds
// Go's argument binding and Go's name.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/cleanup/cleanup.h"

namespace gofer {

template <class F, class... Args>
  requires std::is_invocable_v<F&, Args&...>
class [[nodiscard]] defer {
 public:
  // defer d(f, args...): calls f(args...) once when d goes out of scope. f and args are
  // copied (or moved) in now: Go evaluates a deferred call's arguments at the defer.
  explicit defer(F f, Args... args) : cleanup_(absl::MakeCleanup(call{std::move(f), {std::move(args)...}})) {}

  defer(const defer&) = delete;
  defer& operator=(const defer&) = delete;

 private:
  struct call {
    F f;
    std::tuple<Args...> args;
    void operator()() && { std::apply(f, args); }
  };
  decltype(absl::MakeCleanup(std::declval<call>())) cleanup_;
};

// Deduces decayed copies: `defer d(cancel)`, `defer d(std::printf, "%d\n", i)`.
template <class F, class... Args>
defer(F, Args...) -> defer<F, Args...>;

}  // namespace gofer
