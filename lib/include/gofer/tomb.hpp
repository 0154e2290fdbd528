// gofer/tomb.hpp — gopkg.in/tomb.v2: track goroutines and their clean termination.
//
//   tomb                a handle to one tomb (copies share it)
//   tomb::with_context  a tomb killed when a parent context is cancelled
//   err_still_alive()   tomb.ErrStillAlive: err() while the tomb is alive
//   err_dying()         tomb.ErrDying: the clean-shutdown reason a goroutine may return
//
// A tomb is alive, then dying, then dead:
//   - go(f) starts f (a function returning absl::Status) as a goroutine tracked by the tomb.
//   - The tomb starts dying on the first kill(reason), or when a tracked goroutine returns a
//     non-OK status (that status is the reason), or when the last tracked goroutine returns.
//   - It is dead when it is dying and every tracked goroutine has returned.
//   - The first non-OK reason wins; an OK reason is replaced by a later error. Killing with
//     err_dying() never changes the reason (goroutines return it to say "I stopped because
//     the tomb is dying").
//   - An exception escaping f becomes the tomb's error (absl::InternalError with the
//     exception's what()) instead of crashing the program.
//
// tomb.v2's famous surprises, kept on purpose (go-tomb/tomb issues #3, #14, #17, #21, #30,
// #9, #16, #24, #28):
//   - wait() and dead() block forever if go() was never called — even after kill(): a tomb
//     is dead only once its goroutines have returned, and it has none.
//   - The tomb dies when its last goroutine returns, even with an OK status. A long-lived
//     service must keep one goroutine alive for as long as it should live.
//   - go() after the tomb is dead panics: "tomb.Go called after all goroutines terminated".
//
//   op \ state  | alive                    | dying                     | dead
//   go(f)       | tracks f                 | tracks f                  | throws panic_error
//   kill(r)     | -> dying, reason r       | reason r if reason was OK | same
//   err()       | err_still_alive()        | reason                    | reason
//   alive()     | true                     | false                     | false
//   dying()     | open                     | closed                    | closed
//   dead()      | open                     | open until last returns   | closed
//   wait()      | parks                    | parks                     | returns reason
//
// Panics (panic_error, tomb.v2's texts): "tomb: Kill with ErrStillAlive";
// "tomb: Kill with ErrDying while still alive"; "tomb.Go called after all goroutines
// terminated".
//
// Zero value: a default-constructed tomb is a fresh, alive tomb. Copy semantics: copies are
// handles to one tomb, so a goroutine can capture it by value.
// Memory ordering: kill is synchronized before receives from dying() it causes; each tracked
// goroutine's return is synchronized before wait() returns. Thread-safety: any goroutine.
//
// Example:
//   gofer::tomb t;
//   t.go([t, in]() -> absl::Status {
//     for (;;) {
//       bool stop = false;
//       gofer::select(gofer::recv_case(in, [&](auto v) { if (!v) stop = true; }),
//                     gofer::recv_case(t.dying(), [&](auto) { stop = true; }));
//       if (stop) return gofer::err_dying();
//     }
//   });
//   t.kill(absl::OkStatus());
//   absl::Status why = t.wait();  // OK
#pragma once

#include <exception>
#include <memory>
#include "gofer/detail/source_location.hpp"
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "gofer/chan.hpp"
#include "gofer/context.hpp"
#include "gofer/runtime.hpp"

namespace gofer {

const absl::Status& err_still_alive();
const absl::Status& err_dying();

namespace detail {
struct tomb_state;
}

class tomb {
 public:
  tomb();

  // Starts f() as a goroutine tracked by the tomb. f returns absl::Status. Throws
  // panic_error if the tomb is already dead.
  template <class F>
    requires std::is_invocable_r_v<absl::Status, F&>
  void go(F f) const {
    detail::check_spawn_allowed();  // before counting f in: a failed go() must not count
    start();                        // counts f in, or throws
    gofer::go([s = s_, f = std::move(f)]() mutable {
      absl::Status r;
      try {
        r = f();
      } catch (const detail::goroutine_exit&) {
        finish(s, absl::OkStatus());
        throw;
      } catch (const std::exception& e) {
        r = absl::InternalError(std::string("panic: ") + e.what());
      } catch (...) {
        r = absl::InternalError("panic: unknown exception");
      }
      finish(s, std::move(r));
    });
  }

  // Puts the tomb in the dying state with `reason` (see the rules above). Never blocks.
  void kill(absl::Status reason) const;
  // kill(absl::UnknownError(formatted)) and returns that error (tomb.Killf).
  template <class... Args>
  absl::Status killf(const absl::FormatSpec<Args...>& format, const Args&... args) const {
    absl::Status e = absl::UnknownError(absl::StrFormat(format, args...));
    kill(e);
    return e;
  }

  // Parks until the tomb is dead and returns its reason (OK if it died cleanly). Records the
  // call site for dumps (gofer/debug.hpp).
  absl::Status wait(gofer::source_location where = gofer::source_location::current()) const;
  // err_still_alive() while alive, else the reason.
  absl::Status err() const;
  bool alive() const;
  recv_chan<std::monostate> dying() const;
  recv_chan<std::monostate> dead() const;

  // tomb.Context(parent): a child of `parent` cancelled when the tomb starts dying — the
  // same child for the same parent on every call (tomb.v2 keeps one per parent). Born
  // cancelled if the tomb is already dying.
  gofer::context context(const gofer::context& parent) const;
  // tomb.Context(nil): the child of the with_context parent (background for a plain tomb).
  gofer::context context() const;
  // tomb.WithContext: a new tomb killed with parent.err() when parent is cancelled, and a
  // child context of parent cancelled when the tomb starts dying.
  static std::pair<tomb, gofer::context> with_context(const gofer::context& parent);

  friend bool operator==(const tomb& a, const tomb& b) noexcept { return a.s_ == b.s_; }

 private:
  void start() const;
  static void finish(const std::shared_ptr<detail::tomb_state>& s, absl::Status r);
  std::shared_ptr<detail::tomb_state> s_;
};

}  // namespace gofer
