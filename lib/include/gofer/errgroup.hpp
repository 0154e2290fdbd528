// gofer/errgroup.hpp — golang.org/x/sync/errgroup: goroutines working on subtasks of one
// task, with the first error and optional cancellation and concurrency limit.
//
//   errgroup               a handle to one group (copies share it)
//   errgroup::with_context a group whose context is cancelled on the first error or when
//                          wait() returns
//
//   go(f)        starts f (returns absl::Status) in a goroutine; with a limit, parks until
//                fewer than limit goroutines of the group are active
//   try_go(f)    starts f only if the limit allows it now; returns whether it did
//   set_limit(n) at most n active goroutines (n < 0: no limit). Throws panic_error
//                "errgroup: modify limit while N goroutines in the group are still active"
//   wait()       parks until every goroutine started by go/try_go returned; returns the
//                first non-OK status (OK if none); cancels the group's context
//
// Rules (errgroup.go's): the first error is recorded once and cancels the context (with the
// error as its cause); later errors are dropped. An exception escaping f is *not* turned
// into an error: like a panic in Go, it crashes the program (panic report, exit status 2).
//
// Zero value: a default-constructed errgroup has no limit and no context. Copy semantics:
// copies are handles to one group. Memory ordering: every f's return is synchronized before
// wait() returns. Thread-safety: any goroutine; wait() from one goroutine at a time.
//
// Example:
//   auto [g, ctx] = gofer::errgroup::with_context(gofer::background());
//   for (auto& url : urls)
//     g.go([ctx, url] { return fetch(ctx, url); });
//   absl::Status first = g.wait();
#pragma once

#include <cstddef>
#include <memory>
#include "gofer/detail/source_location.hpp"
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "gofer/context.hpp"
#include "gofer/defer.hpp"
#include "gofer/runtime.hpp"

namespace gofer {

namespace detail {
struct errgroup_state;
}

class errgroup {
 public:
  errgroup();

  template <class F>
    requires std::is_invocable_r_v<absl::Status, F&>
  void go(F f) const {
    detail::check_spawn_allowed();  // before taking a slot: a failed go() must not count
    acquire();                      // parks while the limit is reached
    launch(std::move(f));
  }
  template <class F>
    requires std::is_invocable_r_v<absl::Status, F&>
  bool try_go(F f) const {
    detail::check_spawn_allowed();
    if (!try_acquire()) return false;
    launch(std::move(f));
    return true;
  }
  void set_limit(int n) const;
  // Parks until every goroutine of the group returned (see the table above). Records the
  // call site for dumps (gofer/debug.hpp).
  absl::Status wait(gofer::source_location where = gofer::source_location::current()) const;

  static std::pair<errgroup, gofer::context> with_context(const gofer::context& parent);

 private:
  template <class F>
  void launch(F f) const {
    gofer::go([s = s_, f = std::move(f)]() mutable {
      gofer::defer finished([&s] { errgroup::done(s); });  // also if f is unwound by shutdown
      absl::Status r = f();
      if (!r.ok()) record(s, std::move(r));
    });
  }
  void acquire() const;
  bool try_acquire() const;
  static void done(const std::shared_ptr<detail::errgroup_state>& s);
  static void record(const std::shared_ptr<detail::errgroup_state>& s, absl::Status r);
  std::shared_ptr<detail::errgroup_state> s_;
};

}  // namespace gofer
