// gofer/select.hpp — Go's select statement.
//
//   select        waits until one of several channel operations can proceed, and does it
//   recv_case     `case v, ok := <-c:` — receive, then call a handler / store / discard
//   send_case     `case c <- v:`       — send v, then call an optional handler
//   default_case  `default:`           — run when no other case is ready right now
//
// select(cases...) returns the index (0-based, in argument order) of the case that ran,
// after running its handler. Go's rules:
//   - If several cases are ready, one is chosen uniformly at random (fairness: a busy
//     channel cannot starve the others).
//   - If none is ready: a default_case runs if present; otherwise the goroutine parks until
//     one case can proceed. Exactly one case fires, even when the channels are shared with
//     goroutines on other threads: no value is lost or delivered twice.
//   - A nil channel is never ready. A closed channel is always ready for receive (the
//     handler gets nullopt). A send case on a closed channel throws
//     panic_error("send on closed channel") when select picks it, as in Go.
//   - select() with no cases, or with only nil channels and no default, parks forever
//     (`select {}`); when main returns, the goroutine is unwound like any other.
//   - Send values are evaluated when the case is built and moved only if that case fires;
//     an unchosen send case keeps its value (a move-only T is not lost).
//   - Handlers run after every channel lock is released, on the selecting goroutine; a
//     handler may itself use channels, select, or throw.
//
//   case \ channel | ready                    | not ready  | closed                  | nil
//   recv_case      | candidate; value         | wait       | candidate; nullopt      | never
//   send_case      | candidate; value sent    | wait       | candidate; throws       | never
//   default_case   | runs only if no other case is a candidate
//
// Memory ordering: a case that fires synchronizes exactly like the single operation (see
// chan.hpp). Thread-safety: any goroutine; channels may be shared freely. Calling select
// outside gofer::run throws std::logic_error if it would have to park.
//
// Cost: select builds its case list on the stack (no allocation), locks each distinct
// channel once in address order, and when it must wait links one waiter per case. A case
// made from an lvalue handle borrows its channel (no reference-count traffic); see
// "Lifetime" above recv_case.
//
// Loops read well with the returned index and a switch, or with handlers:
//
//   for (;;) {
//     std::optional<Job> job;
//     switch (gofer::select(gofer::recv_case(jobs, job),          // 0: a job or close
//                           gofer::recv_case(ctx_done),           // 1: cancelled
//                           gofer::recv_case(gofer::after(1s)))) {// 2: idle timeout
//       case 0: if (!job) return; handle(*job); break;
//       case 1: return;
//       case 2: std::puts("idle"); break;
//     }
//   }
//
//   gofer::select(gofer::recv_case(in, [](std::optional<int> v) { ... }),
//                 gofer::send_case(out, 42, [] { std::puts("sent"); }),
//                 gofer::default_case([] { std::puts("nobody ready"); }));
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "gofer/chan.hpp"

namespace gofer {

namespace detail {

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
std::size_t select_impl(select_case_rt* cases, waiter* waiters, std::size_t n, bool has_default);

struct no_handler {};

// Called by select_impl with c->lock held (which the analysis cannot see through the
// function pointer).
template <class T>
op_result attempt_send(chan_base* c, void* elem, goroutine*& wake) GOFER_NO_THREAD_SAFETY_ANALYSIS {
  return static_cast<chan_impl<T>*>(c)->send_locked(*static_cast<T*>(elem), wake);
}
template <class T>
op_result attempt_recv(chan_base* c, void* elem, goroutine*& wake) GOFER_NO_THREAD_SAFETY_ANALYSIS {
  return static_cast<chan_impl<T>*>(c)->recv_locked(*static_cast<std::optional<T>*>(elem), wake);
}

// A case holds a raw pointer to its channel. Made from an lvalue handle it borrows (the
// handle outlives the select's full-expression); made from an rvalue handle it owns the
// handle in `keep` (nil when borrowed). Borrowing skips two atomic reference-count updates
// per case per select, which dominated a select loop's cost.
template <class T, class H>
struct recv_case_t {
  using value_type = T;
  chan_impl<T>* c;    // nullptr: nil channel
  recv_chan<T> keep;  // owns the channel when made from an rvalue handle; nil when borrowed
  H handler;  // no_handler, std::optional<T>* (store), or a callable taking std::optional<T>
  std::optional<T> slot;

  select_case_rt rt() { return {c, false, &slot, &attempt_recv<T>}; }
  void fire() {
    if constexpr (std::is_same_v<H, no_handler>) {
    } else if constexpr (std::is_same_v<H, std::optional<T>*>) {
      *handler = std::move(slot);
    } else {
      handler(std::move(slot));
    }
  }
};

template <class T, class H>
struct send_case_t {
  using value_type = T;
  chan_impl<T>* c;    // nullptr: nil channel
  send_chan<T> keep;  // owns the channel when made from an rvalue handle; nil when borrowed
  T value;
  H handler;  // no_handler or a callable taking no arguments

  select_case_rt rt() { return {c, true, &value, &attempt_send<T>}; }
  void fire() {
    if constexpr (!std::is_same_v<H, no_handler>) handler();
  }
};

// Case builders: borrow from an lvalue handle, take ownership of an rvalue one.
template <class T, class H>
recv_case_t<T, H> make_recv(const chan_handle<T>& borrowed, H h) {
  return {chan_access::get(borrowed), recv_chan<T>(), std::move(h), std::nullopt};
}
template <class T, class H>
recv_case_t<T, H> make_recv(recv_chan<T>&& owned, H h) {
  chan_impl<T>* c = chan_access::get(owned);
  return {c, std::move(owned), std::move(h), std::nullopt};
}
template <class T, class H>
send_case_t<T, H> make_send(const chan_handle<T>& borrowed, std::type_identity_t<T>&& v, H h) {
  return {chan_access::get(borrowed), send_chan<T>(), std::move(v), std::move(h)};
}
template <class T, class H>
send_case_t<T, H> make_send(send_chan<T>&& owned, std::type_identity_t<T>&& v, H h) {
  chan_impl<T>* c = chan_access::get(owned);
  return {c, std::move(owned), std::move(v), std::move(h)};
}

template <class H>
struct default_case_t {
  H handler;
  void fire() {
    if constexpr (!std::is_same_v<H, no_handler>) handler();
  }
};

template <class C> struct is_default_case : std::false_type {};
template <class H> struct is_default_case<default_case_t<H>> : std::true_type {};

}  // namespace detail

// Lifetime: a case made from an lvalue handle (`recv_case(jobs, v)`) borrows that handle's
// channel: the handle must outlive the case. Cases written inside the select(...) call,
// as in every example here, always satisfy this (a case lives until the end of the
// select's full-expression); a case stored in a variable must not outlive the handle it
// was made from. A case made from an rvalue handle (`recv_case(gofer::after(1s))`,
// `recv_case(ctx.done())`, `recv_case(std::move(c))`) owns it and has no such rule.

// case v, ok := <-ch: the handler gets the value, or nullopt if the channel is closed.
template <class T, class F>
  requires std::is_invocable_v<F&, std::optional<T>>
auto recv_case(const recv_chan<T>& ch, F handler) {
  return detail::make_recv(ch, std::move(handler));
}
template <class T, class F>
  requires std::is_invocable_v<F&, std::optional<T>>
auto recv_case(recv_chan<T>&& ch, F handler) {
  return detail::make_recv(std::move(ch), std::move(handler));
}
// case v, ok := <-ch, storing into `out` (nullopt if closed) — for index-and-switch loops.
template <class T>
auto recv_case(const recv_chan<T>& ch, std::optional<T>& out) {
  return detail::make_recv(ch, &out);
}
template <class T>
auto recv_case(recv_chan<T>&& ch, std::optional<T>& out) {
  return detail::make_recv(std::move(ch), &out);
}
// case <-ch: the value is discarded.
template <class T>
auto recv_case(const recv_chan<T>& ch) {
  return detail::make_recv(ch, detail::no_handler{});
}
template <class T>
auto recv_case(recv_chan<T>&& ch) {
  return detail::make_recv(std::move(ch), detail::no_handler{});
}
// Overloads for chan<T> (a recv_chan<T> cannot be deduced through the conversion).
template <class T, class F>
  requires std::is_invocable_v<F&, std::optional<T>>
auto recv_case(const chan<T>& ch, F handler) {
  return detail::make_recv(ch, std::move(handler));
}
template <class T, class F>
  requires std::is_invocable_v<F&, std::optional<T>>
auto recv_case(chan<T>&& ch, F handler) {
  return detail::make_recv(recv_chan<T>(std::move(ch)), std::move(handler));
}
template <class T>
auto recv_case(const chan<T>& ch, std::optional<T>& out) {
  return detail::make_recv(ch, &out);
}
template <class T>
auto recv_case(chan<T>&& ch, std::optional<T>& out) {
  return detail::make_recv(recv_chan<T>(std::move(ch)), &out);
}
template <class T>
auto recv_case(const chan<T>& ch) {
  return detail::make_recv(ch, detail::no_handler{});
}
template <class T>
auto recv_case(chan<T>&& ch) {
  return detail::make_recv(recv_chan<T>(std::move(ch)), detail::no_handler{});
}

// case ch <- v: v is moved into the case now and sent only if this case is chosen.
template <class T, class V, class F>
  requires std::is_constructible_v<T, V&&> && std::is_invocable_v<F&>
auto send_case(const send_chan<T>& ch, V&& v, F handler) {
  return detail::make_send(ch, T(std::forward<V>(v)), std::move(handler));
}
template <class T, class V, class F>
  requires std::is_constructible_v<T, V&&> && std::is_invocable_v<F&>
auto send_case(send_chan<T>&& ch, V&& v, F handler) {
  return detail::make_send(std::move(ch), T(std::forward<V>(v)), std::move(handler));
}
template <class T, class V>
  requires std::is_constructible_v<T, V&&>
auto send_case(const send_chan<T>& ch, V&& v) {
  return detail::make_send(ch, T(std::forward<V>(v)), detail::no_handler{});
}
template <class T, class V>
  requires std::is_constructible_v<T, V&&>
auto send_case(send_chan<T>&& ch, V&& v) {
  return detail::make_send(std::move(ch), T(std::forward<V>(v)), detail::no_handler{});
}
template <class T, class V, class F>
  requires std::is_constructible_v<T, V&&> && std::is_invocable_v<F&>
auto send_case(const chan<T>& ch, V&& v, F handler) {
  return detail::make_send(ch, T(std::forward<V>(v)), std::move(handler));
}
template <class T, class V, class F>
  requires std::is_constructible_v<T, V&&> && std::is_invocable_v<F&>
auto send_case(chan<T>&& ch, V&& v, F handler) {
  return detail::make_send(send_chan<T>(std::move(ch)), T(std::forward<V>(v)), std::move(handler));
}
template <class T, class V>
  requires std::is_constructible_v<T, V&&>
auto send_case(const chan<T>& ch, V&& v) {
  return detail::make_send(ch, T(std::forward<V>(v)), detail::no_handler{});
}
template <class T, class V>
  requires std::is_constructible_v<T, V&&>
auto send_case(chan<T>&& ch, V&& v) {
  return detail::make_send(send_chan<T>(std::move(ch)), T(std::forward<V>(v)), detail::no_handler{});
}

// default: runs the handler (if any) when no other case is ready.
template <class F>
  requires std::is_invocable_v<F&>
auto default_case(F handler) {
  return detail::default_case_t<F>{std::move(handler)};
}
inline auto default_case() { return detail::default_case_t<detail::no_handler>{}; }

// Runs one ready case (see the top of this file) and returns its index.
template <class... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t ndefault = (std::size_t{0} + ... + detail::is_default_case<std::decay_t<Cases>>::value);
  static_assert(ndefault <= 1, "gofer::select: at most one default_case");
  constexpr std::size_t n = sizeof...(Cases);
  if constexpr (n == 0) {
    detail::block_forever(detail::wait_reason::select_no_cases, {});  // TODO(diag): call site
  } else {
    // Channel cases, in argument order; the default (if any) is left out of the runtime list.
    std::array<detail::select_case_rt, n> rts{};
    std::array<std::size_t, n> arg_index{};  // runtime case -> argument position
    std::size_t nrt = 0, default_pos = n;
    std::size_t pos = 0;
    auto collect = [&](auto& c) {
      if constexpr (detail::is_default_case<std::decay_t<decltype(c)>>::value) {
        default_pos = pos;
      } else {
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
    std::size_t k = detail::select_impl(rts.data(), waiters.w, nrt, default_pos != n);
    std::size_t chosen = k == nrt ? default_pos : arg_index[k];
    // Run the chosen case's handler, outside every lock.
    pos = 0;
    auto run = [&](auto& c) {
      if (pos++ == chosen) c.fire();
    };
    (run(cases), ...);
    return chosen;
  }
}

}  // namespace gofer
