// gofer/select.hpp — Go's select statement.
//
//   select        waits until one of several channel operations can proceed, and does it
//   recv_case     `case v, ok := <-c:` — receive, then call a handler / store / discard
//   send_case     `case c <- v:`       — send v, then call an optional handler
//   default_case  `default:`           — run when no other case is ready right now
//
// select(cases...) runs one case, then its handler, and returns
//   - the chosen handler's result, when every case has a handler and they all return the
//     same non-void type R (a handler cannot `return` or `break` out of the enclosing
//     function, but it can tell the loop around select what to do);
//   - otherwise (no handlers, or handlers returning void) the index of the case that ran:
//     0-based, in argument order, a default_case counted where it stands.
// Mixing the two is a compile error (static_assert): once one handler returns a value,
// every case, default_case included, needs a handler returning the same R — a case without
// one (recv_case(ch), recv_case(ch, out), send_case(ch, v), default_case()) has no value
// to give; nor has a void handler beside an R one.
//
// Go's rules:
//   - If several cases are ready, one is chosen uniformly at random (fairness: a busy
//     channel cannot starve the others).
//   - If none is ready: a default_case runs if present; otherwise the goroutine parks until
//     one case can proceed. Exactly one case fires, even when the channels are shared with
//     goroutines on other threads: no value is lost or delivered twice. A parked select
//     queues its cases in random order too, so of several cases on one channel, a peer
//     that arrives later picks each with equal probability (as Go).
//   - A nil channel is never ready. A closed channel is always ready for receive (the
//     handler gets nullopt). A send case on a closed channel throws
//     panic_error("send on closed channel") when select picks it, as in Go.
//   - select() with no cases, or with only nil channels and no default, parks forever
//     (`select {}`); when main returns, the goroutine is unwound like any other.
//   - Send values. `send_case(ch, v)` with v a non-const lvalue of the channel's type T
//     refers to v: v is moved from only if this case fires, and keeps its value otherwise
//     (like chan::try_send(T&); a move-only T is not lost). Any other argument (an rvalue,
//     a const lvalue, a value of another type) is turned into a T owned by the case when
//     the case is built, and is consumed either way: an unchosen case destroys it. To send
//     a copy of an lvalue and keep it, pass std::as_const(v) or T(v).
//   - Handlers run after every channel lock is released, on the selecting goroutine; a
//     handler may itself use channels, select, or throw.
//
//   case \ channel | ready                    | not ready  | closed                  | nil
//   recv_case      | candidate; value         | wait       | candidate; nullopt      | never
//   send_case      | candidate; value sent    | wait       | candidate; throws       | never
//   default_case   | runs only if no other case is a candidate
//
// Channels: each case takes a chan<T> (either direction's case), a recv_chan<T> (receive)
// or a send_chan<T> (send); const or not, lvalue or rvalue (see "Lifetime" below).
//
// Memory ordering: a case that fires synchronizes exactly like the single operation (see
// chan.hpp). Thread-safety: any goroutine; channels may be shared freely. Calling select
// outside gofer::run throws std::logic_error if it would have to park.
//
// Cost: select builds its case list on the stack (no allocation), locks each distinct
// channel once in address order, and when it must wait links one waiter per case. A case
// made from an lvalue handle borrows its channel (no reference-count traffic); see
// "Lifetime" above recv_case. A send case from a T lvalue sends straight from it (no copy).
//
// A loop that ends from inside a handler: every handler returns bool, "keep going".
//
//   for (;;) {
//     bool more = gofer::select(
//         gofer::recv_case(in, [&](std::optional<Job> j) {
//           if (!j) return false;                    // in closed: done
//           handle(*j);
//           return true;
//         }),
//         gofer::recv_case(ctx.done(), [](auto) { return false; }),  // cancelled
//         gofer::recv_case(gofer::after(1s), [](auto) { std::puts("idle"); return true; }));
//     if (!more) break;
//   }
//
// The index form, with the receive stored into an optional:
//
//   std::optional<Job> job;
//   switch (gofer::select(gofer::recv_case(jobs, job),     // 0: a job or close
//                         gofer::recv_case(ctx.done()))) { // 1: cancelled
//     case 0: if (!job) return; handle(*job); break;
//     case 1: return;
//   }
//
//   gofer::select(gofer::recv_case(in, [](std::optional<int> v) { ... }),
//                 gofer::send_case(out, 42, [] { std::puts("sent"); }),
//                 gofer::default_case([] { std::puts("nobody ready"); }));
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include "gofer/detail/source_location.hpp"
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "gofer/chan.hpp"

namespace gofer {

namespace detail {

// The channel handles a case (or a pipeline stage, pipeline.hpp) takes, whatever their
// cv-qualifiers and value category: chan<T> or recv_chan<T> to receive, chan<T> or
// send_chan<T> to send. Both derive from chan_handle<T>, which a borrowing case reads.
template <class C>
using chan_value_t = typename std::remove_cvref_t<C>::value_type;
template <class C>
concept receivable = requires { typename std::remove_cvref_t<C>::value_type; } &&
                     (std::derived_from<std::remove_cvref_t<C>, chan<chan_value_t<C>>> ||
                      std::derived_from<std::remove_cvref_t<C>, recv_chan<chan_value_t<C>>>);
template <class C>
concept sendable = requires { typename std::remove_cvref_t<C>::value_type; } &&
                   (std::derived_from<std::remove_cvref_t<C>, chan<chan_value_t<C>>> ||
                    std::derived_from<std::remove_cvref_t<C>, send_chan<chan_value_t<C>>>);
// What send_case accepts as the value for a channel of T: a T lvalue (sent from in place)
// or anything a T can be made from.
template <class V, class T>
concept send_value = std::is_same_v<V, T&> || std::is_constructible_v<T, V&&>;

// One case, type-erased, as select's runtime core sees it (lib/src/select.cpp).
struct select_case_rt {
  chan_base* c = nullptr;  // nullptr: nil channel, never ready
  bool is_send = false;
  void* elem = nullptr;    // send: T*; recv: std::optional<T>*
  // Attempts the operation with c->lock held (chan_impl<T>::send_locked / recv_locked).
  op_result (*attempt)(chan_base* c, void* elem, goroutine*& wake) = nullptr;
};

// Go's selectgo over n cases. `waiters` is storage for n waiters (not yet constructed:
// select_impl constructs waiter i in place when it parks on case i). Returns the index of the case that proceeded, or `n` if
// has_default and no case was ready. Throws panic_error for a chosen send on a closed
// channel, std::logic_error if it must park outside a goroutine, goroutine_exit at shutdown.
// `where`: the user's select, recorded if it parks (gofer/detail/park.hpp, "Call sites").
std::size_t select_impl(select_case_rt* cases, waiter* waiters, std::size_t n, bool has_default,
                        gofer::source_location where);

struct no_handler {};

// Called by select_impl with c->lock held (which the analysis cannot see through the
// function pointer).
template <class T>
op_result attempt_send(chan_base* c, void* elem, goroutine*& wake) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return static_cast<chan_impl<T>*>(c)->send_locked(*static_cast<T*>(elem), wake);
}
template <class T>
op_result attempt_recv(chan_base* c, void* elem, goroutine*& wake) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return static_cast<chan_impl<T>*>(c)->recv_locked(*static_cast<std::optional<T>*>(elem), wake);
}

// What a handler returns; void for a case without one. has_handler tells them apart.
template <class H, class... Args>
struct handler_traits {
  static constexpr bool has_handler = true;
  using result_type = std::invoke_result_t<H&, Args...>;
};
template <class... Args>
struct handler_traits<no_handler, Args...> {
  static constexpr bool has_handler = false;
  using result_type = void;
};

// A case holds a raw pointer to its channel. Made from an lvalue handle it borrows (the
// handle outlives the select's full-expression); made from an rvalue handle it owns the
// handle in `keep` (nil when borrowed). Borrowing skips two atomic reference-count updates
// per case per select, which dominated a select loop's cost.
template <class T, class H>
struct recv_case_t {
  using value_type = T;
  // H: no_handler, std::optional<T>* (store), or a callable taking std::optional<T>.
  using traits = std::conditional_t<std::is_same_v<H, std::optional<T>*>, handler_traits<no_handler>,
                                    handler_traits<H, std::optional<T>>>;
  chan_impl<T>* c;    // nullptr: nil channel
  recv_chan<T> keep;  // owns the channel when made from an rvalue handle; nil when borrowed
  H handler;
  std::optional<T> slot;
  gofer::source_location where;  // the case builder's call site (select's, for dumps)

  select_case_rt rt() { return {c, false, &slot, &attempt_recv<T>}; }
  typename traits::result_type fire() {
    if constexpr (std::is_same_v<H, no_handler>) {
    } else if constexpr (std::is_same_v<H, std::optional<T>*>) {
      *handler = std::move(slot);
    } else {
      return handler(std::move(slot));
    }
  }
};

// Borrowed: `value` points at the caller's T lvalue, moved from only if this case fires.
// Not borrowed: the case owns the T it sends, destroyed with the case if not sent.
template <class T, class H, bool Borrowed>
struct send_case_t {
  using value_type = T;
  using traits = handler_traits<H>;
  chan_impl<T>* c;    // nullptr: nil channel
  send_chan<T> keep;  // owns the channel when made from an rvalue handle; nil when borrowed
  std::conditional_t<Borrowed, T*, T> value;
  H handler;  // no_handler or a callable taking no arguments
  gofer::source_location where;  // the case builder's call site (select's, for dumps)

  select_case_rt rt() {
    if constexpr (Borrowed) {
      return {c, true, value, &attempt_send<T>};
    } else {
      return {c, true, std::addressof(value), &attempt_send<T>};
    }
  }
  typename traits::result_type fire() {
    if constexpr (!std::is_same_v<H, no_handler>) return handler();
  }
};

// The channel of a case: borrowed from an lvalue handle, owned (in keep) from an rvalue.
template <class Keep, class C>
std::pair<chan_impl<chan_value_t<C>>*, Keep> case_chan(C&& ch) {
  if constexpr (std::is_lvalue_reference_v<C>) {
    return {chan_access::get(ch), Keep()};
  } else {
    Keep keep(std::forward<C>(ch));
    chan_impl<chan_value_t<C>>* c = chan_access::get(keep);
    return {c, std::move(keep)};
  }
}

template <class C, class H>
auto make_recv(C&& ch, H h, gofer::source_location where) {
  using T = chan_value_t<C>;
  auto [c, keep] = case_chan<recv_chan<T>>(std::forward<C>(ch));
  return recv_case_t<T, H>{c, std::move(keep), std::move(h), std::nullopt, where};
}

template <class C, class V, class H>
auto make_send(C&& ch, V&& v, H h, gofer::source_location where) {
  using T = chan_value_t<C>;
  auto [c, keep] = case_chan<send_chan<T>>(std::forward<C>(ch));
  if constexpr (std::is_same_v<V, T&>) {
    return send_case_t<T, H, true>{c, std::move(keep), std::addressof(v), std::move(h), where};
  } else {
    return send_case_t<T, H, false>{c, std::move(keep), T(std::forward<V>(v)), std::move(h), where};
  }
}

template <class H>
struct default_case_t {
  using traits = handler_traits<H>;
  H handler;
  typename traits::result_type fire() {
    if constexpr (!std::is_same_v<H, no_handler>) return handler();
  }
};

template <class C> struct is_default_case : std::false_type {};
template <class H> struct is_default_case<default_case_t<H>> : std::true_type {};

// select's result: R when some handler returns a non-void R (checked in select: all
// cases then have handlers returning R), else the case index.
template <class... Rs> struct first_non_void { using type = void; };
template <class R, class... Rs> struct first_non_void<R, Rs...> {
  using type = std::conditional_t<std::is_void_v<R>, typename first_non_void<Rs...>::type, R>;
};
template <class... Cases>
using handler_result_t = typename first_non_void<typename std::decay_t<Cases>::traits::result_type...>::type;
template <class... Cases>
using select_result_t = std::conditional_t<std::is_void_v<handler_result_t<Cases...>>, std::size_t,
                                           handler_result_t<Cases...>>;

// Runs the handler of case k of cs... and returns its result.
template <class R, class C, class... Cs>
R fire_nth(std::size_t k, C& c, Cs&... cs) {
  if constexpr (sizeof...(Cs) == 0) {
    return c.fire();
  } else {
    if (k == 0) return c.fire();
    return fire_nth<R>(k - 1, cs...);
  }
}

}  // namespace detail

// Lifetime: a case made from an lvalue handle (`recv_case(jobs, v)`) borrows that handle's
// channel: the handle must outlive the case. Cases written inside the select(...) call,
// as in every example here, always satisfy this (a case lives until the end of the
// select's full-expression); a case stored in a variable must not outlive the handle it
// was made from. A case made from an rvalue handle (`recv_case(gofer::after(1s))`,
// `recv_case(ctx.done())`, `recv_case(std::move(c))`) owns it and has no such rule. The
// same holds for a send case's T lvalue: the case refers to it.
//
// Every case builder below takes chan<T> or recv_chan<T> (receive), chan<T> or
// send_chan<T> (send), const or not, by lvalue (borrowed) or rvalue (owned), and records
// its call site (a defaulted trailing gofer::source_location): a select that parks shows its
// first channel case's line in dumps and the deadlock report (gofer/debug.hpp). A helper
// that builds cases for its caller can pass its own caller's location explicitly.

// case v, ok := <-ch: the handler gets the value, or nullopt if the channel is closed.
// Its result, if not void, is what select returns (see the top of this file).
template <detail::receivable C, class F>
  requires std::is_invocable_v<F&, std::optional<detail::chan_value_t<C>>>
auto recv_case(C&& ch, F handler, gofer::source_location where = gofer::source_location::current()) {
  return detail::make_recv(std::forward<C>(ch), std::move(handler), where);
}
// case v, ok := <-ch, storing into `out` (nullopt if closed) — for index-and-switch loops.
template <detail::receivable C>
auto recv_case(C&& ch, std::optional<detail::chan_value_t<C>>& out,
               gofer::source_location where = gofer::source_location::current()) {
  return detail::make_recv(std::forward<C>(ch), &out, where);
}
// case <-ch: the value is discarded.
template <detail::receivable C>
auto recv_case(C&& ch, gofer::source_location where = gofer::source_location::current()) {
  return detail::make_recv(std::forward<C>(ch), detail::no_handler{}, where);
}

// case ch <- v, then handler(). A non-const T lvalue v is moved from only if this case
// fires; anything else becomes a T owned by the case now, consumed either way (see the
// top of this file). The handler's result, if not void, is what select returns.
template <detail::sendable C, class V, class F>
  requires detail::send_value<V, detail::chan_value_t<C>> && std::is_invocable_v<F&>
auto send_case(C&& ch, V&& v, F handler, gofer::source_location where = gofer::source_location::current()) {
  return detail::make_send(std::forward<C>(ch), std::forward<V>(v), std::move(handler), where);
}
// case ch <- v, without a handler.
template <detail::sendable C, class V>
  requires detail::send_value<V, detail::chan_value_t<C>>
auto send_case(C&& ch, V&& v, gofer::source_location where = gofer::source_location::current()) {
  return detail::make_send(std::forward<C>(ch), std::forward<V>(v), detail::no_handler{}, where);
}

// default: runs the handler (if any) when no other case is ready.
template <class F>
  requires std::is_invocable_v<F&>
auto default_case(F handler) {
  return detail::default_case_t<F>{std::move(handler)};
}
inline auto default_case() { return detail::default_case_t<detail::no_handler>{}; }

// Runs one ready case (see the top of this file). Returns the chosen handler's result if
// the handlers return a value, else the chosen case's index.
template <class... Cases>
detail::select_result_t<Cases...> select(Cases&&... cases) {
  constexpr std::size_t ndefault = (std::size_t{0} + ... + detail::is_default_case<std::decay_t<Cases>>::value);
  static_assert(ndefault <= 1, "gofer::select: at most one default_case");
  using R = detail::handler_result_t<Cases...>;
  constexpr bool returns_value = !std::is_void_v<R>;
  static_assert(!returns_value || (std::decay_t<Cases>::traits::has_handler && ...),
                "gofer::select: a handler returns a value, so every case needs a handler returning "
                "that type (select returns the chosen handler's result). A case without a handler "
                "(recv_case(ch), recv_case(ch, out), send_case(ch, v), default_case()) has no value "
                "to return: give it a handler, or make every handler return void (select then "
                "returns the case index)");
  static_assert(!returns_value ||
                    ((std::is_same_v<typename std::decay_t<Cases>::traits::result_type, R> ||
                      !std::decay_t<Cases>::traits::has_handler) && ...),
                "gofer::select: the handlers return different types: every handler must return the "
                "same type R (select returns the chosen handler's R), or all return void (select "
                "returns the case index)");
  constexpr std::size_t n = sizeof...(Cases);
  if constexpr (n == 0) {
    detail::block_forever(detail::wait_reason::select_no_cases, {});  // select() below records one
  } else {
    // Channel cases, in argument order; the default (if any) is left out of the runtime list.
    std::array<detail::select_case_rt, n> rts{};
    std::array<std::size_t, n> arg_index{};  // runtime case -> argument position
    std::size_t nrt = 0, default_pos = n;
    std::size_t pos = 0;
    gofer::source_location where;  // the first channel case's: the select's line
    auto collect = [&](auto& c) {
      if constexpr (detail::is_default_case<std::decay_t<decltype(c)>>::value) {
        default_pos = pos;
      } else {
        if (nrt == 0) where = c.where;
        rts[nrt] = c.rt();
        arg_index[nrt] = pos;
        ++nrt;
      }
      ++pos;
    };
    (collect(cases), ...);
    // Storage for the waiters, constructed by select_impl only if it must park: a select
    // that finds a ready case does not pay for zeroing them.
    struct waiter_storage {
      waiter_storage() noexcept {}
      union {
        detail::waiter w[n];
      };
    } waiters;
    std::size_t k = detail::select_impl(rts.data(), waiters.w, nrt, default_pos != n, where);
    std::size_t chosen = k == nrt ? default_pos : arg_index[k];
    // Run the chosen case's handler, outside every lock.
    if constexpr (returns_value) {
      return detail::fire_nth<R>(chosen, cases...);
    } else {
      detail::fire_nth<void>(chosen, cases...);
      return chosen;
    }
  }
}

// select {}: parks forever (until main returns), recording its call site for dumps and the
// deadlock report. Chosen over the template above for a call with no cases.
[[noreturn]] inline std::size_t select(gofer::source_location where = gofer::source_location::current()) {
  detail::block_forever(detail::wait_reason::select_no_cases, where);
}

}  // namespace gofer
