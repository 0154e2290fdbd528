// gofer/blocking.hpp — gofer::blocking: a blocking call on a helper thread while the
// calling goroutine parks (marl's blockingcall.h; what Go's runtime does for a syscall that
// blocks: hand the P to another thread).
//
//   blocking(fn)   runs fn() on a helper thread, parks the goroutine until it returned,
//                  returns fn's result (or rethrows its exception in the goroutine)
//
// Use it for what has no non-blocking form: file I/O, getaddrinfo, a blocking C library,
// a database client's synchronous call. Sockets do not need it (gofer/net.hpp parks on the
// poller instead).
//
// Copy semantics: fn is taken by forwarding reference and called by reference on the
// helper thread while the goroutine is parked; nothing is copied, so fn may capture locals
// by reference.
//
// Blocking: parks the calling goroutine (never its thread). Outside a goroutine (a plain
// thread, outside gofer::run) it just calls fn() on the caller's thread.
//
// Memory ordering: the goroutine's writes before blocking() happen-before fn runs; fn's
// writes happen-before blocking() returns.
//
// Thread-safety: any number of goroutines may be in blocking() at once. fn runs on another
// thread: it must not use gofer operations that park (channels, sleep, gofer::mutex) — it
// is not a goroutine.
//
// Example — read a file without stalling the scheduler thread:
//   std::string text = gofer::blocking([&] { return read_whole_file(path); });
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace gofer {

namespace detail {
// Runs fn on a helper thread and parks the calling goroutine until it returned.
void run_blocking(std::function<void()> fn);
}  // namespace detail

// marl's blocking_call: runs fn() (a blocking syscall, a blocking C library, file I/O) on a
// helper thread while the calling goroutine parks, so its thread keeps running other
// goroutines; returns fn's result. fn must not use gofer operations that park. An exception
// from fn is rethrown in the goroutine. Outside a goroutine, just calls fn().
// The helper pool grows to 64 threads: while it has fewer, a call never waits in a queue
// behind another (so calls that wait for each other cannot deadlock); past 64 they queue.
// fn cannot be interrupted — no deadline, no context. If the run shuts down meanwhile, the
// goroutine stays parked (its thread runs the goroutines being unwound) until fn returned,
// then unwinds; run() returns only after that. Parks. Thread-safe. Allocates.
template <class F>
auto blocking(F&& fn) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  std::exception_ptr err;
  if constexpr (std::is_void_v<R>) {
    detail::run_blocking([&] {
      try { fn(); } catch (...) { err = std::current_exception(); }
    });
    if (err) std::rethrow_exception(err);
  } else {
    std::optional<R> out;
    detail::run_blocking([&] {
      try { out.emplace(fn()); } catch (...) { err = std::current_exception(); }
    });
    if (err) std::rethrow_exception(err);
    return std::move(*out);
  }
}

}  // namespace gofer
