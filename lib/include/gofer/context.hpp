// gofer/context.hpp — Go's context package: cancellation, deadlines and request values.
//
//   context             a handle to a node of a context tree (copies share it)
//   background, todo    the root: never cancelled, no deadline, no values
//   with_cancel         a child cancelled by its cancel function or with its parent
//   with_cancel_cause   the same, recording a cause (context.WithCancelCause)
//   with_deadline       a child cancelled at a time point (DeadlineExceeded)
//   with_timeout        with_deadline(parent, now + d)
//   with_value          a child carrying one key/value pair
//   context_key<T>      a typed key for with_value / value
//   cause               context.Cause
//
// A context carries a cancellation signal down a tree of goroutines: cancelling a context
// cancels all its descendants, never its ancestors. Goroutines watch ctx.done() in select
// (or check ctx.err()) and return when it is closed.
//
// Zero value: a default-constructed context is background(). Copy semantics: copies are
// handles to the same node (cheap, like Go's interface values).
//
//   op \ state  | background      | live (not cancelled)  | cancelled / deadline passed
//   done()      | nil channel     | open channel          | closed channel
//   err()       | OK              | OK                    | CancelledError("context canceled")
//               |                 |                       | or DeadlineExceededError
//               |                 |                       | ("context deadline exceeded")
//   deadline()  | nullopt         | the earliest deadline of it and its ancestors, if any
//   value(k)    | nullptr         | the nearest value for k up the tree, or nullptr
//
// Rules (Go's): cancel is idempotent and safe from any goroutine; the first cancellation
// wins (its error and cause stick); a child of an already-cancelled parent is born
// cancelled; with_deadline with a deadline later than the parent's is just with_cancel;
// with a past deadline the child is born cancelled with DeadlineExceeded. Cancelling stops
// the deadline timer (no leak) and detaches the child from its parent. Not calling cancel
// keeps the child registered with its parent until the parent is cancelled or the child is
// destroyed (Go: "a leak"); always call cancel, e.g. with gofer::defer (gofer/defer.hpp):
//   auto [ctx, cancel] = gofer::with_timeout(parent, 2s);
//   gofer::defer d(cancel);  // Go: defer cancel()
//
// Memory ordering: a cancel is synchronized before every receive from done() that returns
// because of it, and before err() reports it. Thread-safety: every member from any thread.
// with_timeout / with_deadline need a running gofer::run (they use its timer heap).
//
// Example:
//   auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 100ms);
//   gofer::select(gofer::recv_case(results, [](auto r) { use(r); }),
//                 gofer::recv_case(ctx.done(), [&](auto) { std::puts(ctx.err().ToString().c_str()); }));
//   cancel();
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "gofer/chan.hpp"
#include "gofer/time.hpp"

namespace gofer {

namespace detail {
struct ctx_node;
struct ctx_access;
}

// A typed key for with_value/value. Keys compare by identity (address): declare one
// `static const context_key<T> k{"name"};` per kind of value. The name is for diagnostics.
template <class T>
struct context_key {
  const char* name;
};

class context {
 public:
  context() = default;  // background

  // The channel closed when this context is cancelled; nil for background (never ready in
  // select, like Go's nil Done()). Never blocks. Thread-safe.
  recv_chan<std::monostate> done() const;
  // OK while live; absl::CancelledError("context canceled") or
  // absl::DeadlineExceededError("context deadline exceeded") once cancelled.
  absl::Status err() const;
  // The deadline this context will be cancelled at, if any.
  std::optional<time_point> deadline() const;
  // The value stored under `key` by the nearest with_value ancestor (or this), or nullptr.
  // The pointer lives as long as any handle to that context.
  template <class T>
  const T* value(const context_key<T>& key) const {
    return static_cast<const T*>(lookup(&key));
  }

  friend bool operator==(const context& a, const context& b) noexcept { return a.n_ == b.n_; }

 private:
  explicit context(std::shared_ptr<detail::ctx_node> n) noexcept : n_(std::move(n)) {}
  const void* lookup(const void* key) const;
  std::shared_ptr<detail::ctx_node> n_;  // nullptr: background

  friend struct detail::ctx_access;
};

namespace detail {
struct ctx_access {
  static context make(std::shared_ptr<ctx_node> n) noexcept { return context(std::move(n)); }
  static const std::shared_ptr<ctx_node>& node(const context& c) noexcept { return c.n_; }
};
}  // namespace detail

using cancel_func = std::function<void()>;
using cancel_cause_func = std::function<void(absl::Status cause)>;

namespace detail {
// The flag ctx.err() reads first: true once ctx (or an ancestor, propagated) is cancelled;
// nullptr for a context that can never be cancelled (background). Lives as long as a handle
// to ctx. For hot loops that poll for cancellation (worker_pool: a load per job instead of
// an err() call); err()/cause() give the reason.
const std::atomic<bool>* cancelled_flag(const context& ctx) noexcept;

std::shared_ptr<ctx_node> make_value_node(const context& parent, const void* key,
                                          std::shared_ptr<const void> value);
}  // namespace detail

// context.Background() / context.TODO().
inline context background() { return context(); }
inline context todo() { return context(); }

// context.WithCancel: {ctx, cancel}; cancel() cancels ctx and its descendants with
// CancelledError. Idempotent.
std::pair<context, cancel_func> with_cancel(const context& parent);
// context.WithCancelCause: cancel(cause) records cause (OK → the CancelledError itself).
std::pair<context, cancel_cause_func> with_cancel_cause(const context& parent);
// context.WithDeadline / WithTimeout. Throw std::logic_error outside gofer::run.
std::pair<context, cancel_func> with_deadline(const context& parent, time_point deadline);
std::pair<context, cancel_func> with_timeout(const context& parent, std::chrono::nanoseconds d);

// context.WithValue: a child whose value(key) is v.
template <class T>
context with_value(const context& parent, const context_key<T>& key, T v) {
  return detail::ctx_access::make(
      detail::make_value_node(parent, &key, std::make_shared<const T>(std::move(v))));
}

// context.Cause: the cause recorded by the cancellation that cancelled ctx (from ctx or an
// ancestor), else ctx.err(); OK while ctx is live.
absl::Status cause(const context& ctx);

}  // namespace gofer
