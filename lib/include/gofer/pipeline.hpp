// gofer/pipeline.hpp — small composable pipeline stages on channels (Go's "Pipelines and
// cancellation" blog post, Rob Pike's generator and fan-in patterns).
//
//   generate(ctx, v1, v2, ...)  a channel that yields the values, in order, then closes
//   generate(ctx, fn)           yields fn() again and again (fn returns T: until cancelled;
//                               std::optional<T>: until the first nullopt)
//   from_range(ctx, range)      yields the elements of a range (owned by the stage), in order
//   fan_out(ctx, in, n, fn)     n goroutines apply fn to values from in; one output channel
//                               (completion order; input order when n == 1)
//   merge(ctx, c1, c2, ...)     fan-in: every value of every input on one channel
//                               (each input's own order is kept)
//   merge(ctx, vector)          the same for a run-time number of inputs
//   rate_limit(ctx, in, d, b)   forwards in's values, in order, at most one per d after an
//                               initial burst of b
//
// Every stage is a function that starts its goroutine(s) and returns a recv_chan at once.
// Rules shared by all of them (Go's pipeline rules):
//   - A stage closes its output when it is done: its input is closed and drained, its
//     generator ran out, or ctx was cancelled (`defer close(out)`). Consumers range over it.
//   - Every receive and every send of a stage also watches ctx.done(), so cancelling ctx
//     ends every stage that uses it (or a descendant): a stage parked on a send nobody
//     will receive, or on a receive nobody will send, returns. Values in flight at that
//     moment are dropped. Use one context for a whole pipeline; a stage whose consumer is
//     gone and whose context is never cancelled parks forever (Go's goroutine leak).
//   - When both a value and the cancellation are ready, select chooses at random (Go): a
//     stage may forward a few more values after ctx is cancelled, then closes.
//   - Outputs are unbuffered: each stage runs at most one value ahead of its consumer.
//   - Functions given to stages run on the stages' goroutines; fan_out calls fn from n
//     goroutines at once, so fn must be safe to call concurrently. An exception escaping a
//     stage's function is an unrecovered panic (the program ends), as in Go; return a
//     Status-like value to report per-value errors.
//
//   stage \ event | input value        | input closed      | ctx cancelled     | consumer slow
//   generate      | —                  | (values run out): | close output      | parks on send
//                 |                    | close output      |                   |
//   fan_out       | fn, send result    | last worker closes| close output      | parks on send
//   merge         | forward            | last input closes | close output      | parks on send
//   rate_limit    | wait token, send   | close output      | close output      | parks on send
//
// Invariants: each output is closed exactly once, after its stage's last send; a stage's
// goroutines have all returned (or are returning) when its output reads closed.
// Memory ordering: as the channels' (a send is synchronized before the matching receive).
// Thread-safety: stages run on any scheduler thread; their channels are ordinary channels.
// Every function here starts goroutines: call them inside gofer::run.
//
// Example (squares of 1..5 on three workers, fanned back in, printed in completion order):
//   auto [ctx, cancel] = gofer::with_cancel(gofer::background());
//   auto nums = gofer::generate(ctx, 1, 2, 3, 4, 5);
//   auto squares = gofer::fan_out(ctx, nums, 3, [](int n) { return n * n; });
//   for (int sq : squares) std::printf("%d\n", sq);
//   cancel();
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "gofer/chan.hpp"
#include "gofer/defer.hpp"
#include "gofer/context.hpp"
#include "gofer/runtime.hpp"
#include "gofer/select.hpp"
#include "gofer/time.hpp"

namespace gofer {

namespace detail {

// A channel handle a stage can receive from (chan<T> or recv_chan<T>): detail::receivable,
// defined in select.hpp beside select's own case builders.

template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};

// Closes a shared output when the last of several goroutines ends (fan_out, merge).
template <class T>
struct last_closes {
  last_closes(send_chan<T> o, std::size_t n) : out(std::move(o)), left(n) {}
  send_chan<T> out;
  std::atomic<std::size_t> left;
  void leave() {
    if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) out.close();
  }
};

// out <- v, unless done is closed first. Returns whether v was sent.
template <class T>
bool send_or_done(const send_chan<T>& out, const recv_chan<std::monostate>& done, T v) {
  return gofer::select(send_case(out, std::move(v)), recv_case(done)) == 0;
}

// v, ok := <-in, unless done is closed first: nullopt if in is closed or ctx cancelled.
template <class T>
std::optional<T> recv_or_done(const recv_chan<T>& in, const recv_chan<std::monostate>& done) {
  std::optional<T> v;
  gofer::select(recv_case(in, v), recv_case(done));
  return v;
}

template <class F, class T>
decltype(auto) call_stage(F& fn, const context& ctx, T&& v) {
  if constexpr (std::is_invocable_v<F&, const context&, T&&>) {
    return std::invoke(fn, ctx, std::move(v));
  } else {
    return std::invoke(fn, std::move(v));
  }
}

}  // namespace detail

// from_range(ctx, r): a channel yielding r's elements in order, closed after the last (or
// on cancellation). r is moved (or copied) into the stage, so it may be a temporary.
// Starts one goroutine. May allocate.
template <std::ranges::input_range R>
auto from_range(const context& ctx, R&& r) {
  using T = std::ranges::range_value_t<std::remove_cvref_t<R>>;
  chan<T> out;
  gofer::go([ctx, out, r = std::remove_cvref_t<R>(std::forward<R>(r))]() mutable {
    gofer::defer close_out([&out] { out.close(); });
    auto done = ctx.done();
    for (auto&& v : r) {
      if (!detail::send_or_done<T>(out, done, T(std::move(v)))) return;
    }
  });
  return recv_chan<T>(std::move(out));
}

// generate(ctx, v1, v2, ...): a channel yielding the values in argument order, then
// closed (Go's gen(nums ...int)). The element type is the common type of the arguments.
// Starts one goroutine. May allocate.
template <class V, class... Vs>
  requires(!std::is_invocable_v<std::decay_t<V>&>) &&
          requires { typename std::common_type_t<std::decay_t<V>, std::decay_t<Vs>...>; }
auto generate(const context& ctx, V&& v, Vs&&... vs) {
  using T = std::common_type_t<std::decay_t<V>, std::decay_t<Vs>...>;
  std::vector<T> values;
  values.reserve(1 + sizeof...(Vs));
  values.emplace_back(std::forward<V>(v));
  (values.emplace_back(std::forward<Vs>(vs)), ...);
  return from_range(ctx, std::move(values));
}

// generate(ctx, fn): a channel yielding fn(), fn(), ... in call order. If fn returns
// std::optional<T>, the channel is closed at the first nullopt; if it returns T, only
// cancelling ctx ends it. fn runs on the stage's goroutine, one value ahead of the
// consumer at most. Starts one goroutine. May allocate.
template <class F>
  requires std::is_invocable_v<F&> && (!std::is_void_v<std::invoke_result_t<F&>>)
auto generate(const context& ctx, F fn) {
  using R = std::remove_cvref_t<std::invoke_result_t<F&>>;
  if constexpr (detail::is_optional<R>::value) {
    using T = typename R::value_type;
    chan<T> out;
    gofer::go([ctx, out, fn = std::move(fn)]() mutable {
      gofer::defer close_out([&out] { out.close(); });
      auto done = ctx.done();
      while (ctx.err().ok()) {
        std::optional<T> v = fn();
        if (!v || !detail::send_or_done<T>(out, done, std::move(*v))) return;
      }
    });
    return recv_chan<T>(std::move(out));
  } else {
    chan<R> out;
    gofer::go([ctx, out, fn = std::move(fn)]() mutable {
      gofer::defer close_out([&out] { out.close(); });
      auto done = ctx.done();
      while (ctx.err().ok()) {
        if (!detail::send_or_done<R>(out, done, fn())) return;
      }
    });
    return recv_chan<R>(std::move(out));
  }
}

// fan_out(ctx, in, n, fn): n goroutines receive from in and send fn(v) (or fn(ctx, v)) on
// one output channel, closed when all n have finished (in closed and drained, or ctx
// cancelled). Results arrive in completion order; with n == 1 in input order. n == 0
// means num_threads(). fn is shared by the n goroutines: it must be safe to call
// concurrently. Starts n goroutines. May allocate.
template <detail::receivable In, class F>
auto fan_out(const context& ctx, const In& in, std::size_t n, F fn) {
  using T = typename In::value_type;
  using R = std::remove_cvref_t<decltype(detail::call_stage(std::declval<F&>(), ctx, std::declval<T&&>()))>;
  static_assert(!std::is_void_v<R>, "gofer::fan_out: fn must return a value to send on");
  if (n == 0) n = std::max(1u, num_threads());
  chan<R> out;
  auto closer = std::make_shared<detail::last_closes<R>>(out, n);
  auto shared_fn = std::make_shared<F>(std::move(fn));
  recv_chan<T> input(in);
  for (std::size_t i = 0; i < n; ++i) {
    gofer::go([ctx, input, closer, shared_fn] {
      gofer::defer leave([&closer] { closer->leave(); });
      auto done = ctx.done();
      while (std::optional<T> v = detail::recv_or_done(input, done)) {
        if (!detail::send_or_done<R>(closer->out, done, detail::call_stage(*shared_fn, ctx, std::move(*v)))) return;
      }
    });
  }
  return recv_chan<R>(std::move(out));
}

// merge(ctx, inputs): fan-in. One goroutine per input forwards its values to a single
// output channel, closed when every input is closed and drained (or ctx is cancelled).
// Values of one input keep their order; inputs interleave as they come. No inputs: the
// output is closed at once. Starts one goroutine per input. May allocate.
template <class T>
recv_chan<T> merge(const context& ctx, std::vector<recv_chan<T>> inputs) {
  chan<T> out;
  if (inputs.empty()) {
    out.close();
    return out;
  }
  auto closer = std::make_shared<detail::last_closes<T>>(out, inputs.size());
  for (auto& input : inputs) {
    gofer::go([ctx, input = std::move(input), closer] {
      gofer::defer leave([&closer] { closer->leave(); });
      auto done = ctx.done();
      while (std::optional<T> v = detail::recv_or_done(input, done)) {
        if (!detail::send_or_done<T>(closer->out, done, std::move(*v))) return;
      }
    });
  }
  return recv_chan<T>(std::move(out));
}

// merge(ctx, c1, c2, ...): the same for channels known at compile time (chan<T> or
// recv_chan<T>, one element type).
template <detail::receivable C, detail::receivable... Cs>
  requires(std::is_same_v<typename C::value_type, typename Cs::value_type> && ...)
recv_chan<typename C::value_type> merge(const context& ctx, const C& c, const Cs&... cs) {
  using T = typename C::value_type;
  return merge(ctx, std::vector<recv_chan<T>>{recv_chan<T>(c), recv_chan<T>(cs)...});
}

// rate_limit(ctx, in, interval, burst = 1): forwards in's values in order, no faster than
// a token bucket allows: it holds up to `burst` tokens (full at the start), gains one per
// interval (a gofer::ticker; ticks while the bucket is full are lost), and each value
// takes one. So the first `burst` values pass at once, then one per interval (Go by
// Example's "bursty limiter"). Closes its output when in is closed and drained or ctx is
// cancelled; stops its ticker. interval must be positive (ticker's panic otherwise);
// burst 0 is taken as 1. Starts one goroutine. May allocate.
template <detail::receivable In>
auto rate_limit(const context& ctx, const In& in, std::chrono::nanoseconds interval, std::size_t burst = 1) {
  using T = typename In::value_type;
  if (burst == 0) burst = 1;
  chan<T> out;
  auto tk = std::make_shared<ticker>(interval);  // made here: a bad interval throws to the caller
  gofer::go([ctx, input = recv_chan<T>(in), out, tk, burst] {
    gofer::defer close_out([&out] { out.close(); });
    auto done = ctx.done();
    std::size_t tokens = burst;
    for (;;) {
      // Wait for the next value, collecting tokens meanwhile.
      std::optional<T> v;
      for (bool got = false; !got;) {
        switch (gofer::select(recv_case(input, v), recv_case(tk->c()), recv_case(done))) {
          case 0: got = true; break;
          case 1: tokens = std::min(burst, tokens + 1); break;
          default: return;  // cancelled
        }
      }
      if (!v) return;  // input closed and drained
      while (tokens == 0) {
        if (gofer::select(recv_case(tk->c()), recv_case(done)) == 1) return;
        ++tokens;
      }
      --tokens;
      if (!detail::send_or_done<T>(out, done, std::move(*v))) return;
    }
  });
  return recv_chan<T>(std::move(out));
}

}  // namespace gofer
