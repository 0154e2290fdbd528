// lib/src/tomb.cpp — tomb.v2's state machine.
//
// One spinlock guards the reason, the alive count and the list of child-context cancel
// functions. It is never held while closing a channel or cancelling a context (both may
// wake goroutines); those happen right after unlocking, guarded by "first one to flip the
// flag under the lock does it".
#include "gofer/tomb.hpp"

#include <vector>

#include "absl/base/thread_annotations.h"
#include "gofer/panic.hpp"
#include "gofer/detail/spinlock.hpp"
#include "gofer/select.hpp"

namespace gofer {

const absl::Status& err_still_alive() {
  static const absl::Status s = absl::UnknownError("tomb: still alive");
  return s;
}
const absl::Status& err_dying() {
  static const absl::Status s = absl::UnknownError("tomb: dying");
  return s;
}

namespace detail {

struct tomb_state {
  // A spinlock: goroutine code, short sections that never park and run no user code (the
  // cancel functions and channel closes run after unlocking: effects, apply).
  detail::spinlock mu;
  absl::Status reason ABSL_GUARDED_BY(mu) = err_still_alive();
  int alive ABSL_GUARDED_BY(mu) = 0;  // tracked goroutines running
  bool dying_closed ABSL_GUARDED_BY(mu) = false;
  bool dead_closed ABSL_GUARDED_BY(mu) = false;
  std::vector<cancel_func> child_cancels ABSL_GUARDED_BY(mu);
  // One child per parent context (keyed by the parent's node; the parent is kept alive by
  // the stored pair so the key stays unique).
  std::vector<std::pair<gofer::context, gofer::context>> children ABSL_GUARDED_BY(mu);
  gofer::context parent;                    // with_context's parent; immutable after it
  chan<std::monostate> dying{0};
  chan<std::monostate> dead{0};

  // What kill decided under the lock, to do after unlocking.
  struct effects {
    bool close_dying = false;
    std::vector<cancel_func> cancels;
  };

  effects kill_locked(const absl::Status& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    effects fx;
    if (r == err_still_alive()) throw panic_error("tomb: Kill with ErrStillAlive");
    if (r == err_dying()) {
      if (reason == err_still_alive()) throw panic_error("tomb: Kill with ErrDying while still alive");
      return fx;
    }
    if (reason == err_still_alive() || reason.ok()) reason = r;
    if (!dying_closed) {
      dying_closed = true;
      fx.close_dying = true;
      fx.cancels = std::move(child_cancels);
      child_cancels.clear();
    }
    return fx;
  }
  void apply(effects& fx) {
    if (fx.close_dying) dying.close();
    for (auto& c : fx.cancels) c();
  }
};

}  // namespace detail

tomb::tomb() : s_(std::make_shared<detail::tomb_state>()) {}

void tomb::start() const {
  detail::spinlock_guard lk(s_->mu);
  if (s_->dead_closed) throw panic_error("tomb.Go called after all goroutines terminated");
  ++s_->alive;
}

void tomb::finish(const std::shared_ptr<detail::tomb_state>& s, absl::Status r) {
  detail::tomb_state::effects fx;
  bool close_dead = false;
  {
    detail::spinlock_guard lk(s->mu);
    --s->alive;
    if (s->alive == 0 || !r.ok()) {
      // A goroutine returning ErrDying is fine only once the tomb is dying (tomb.v2 panics
      // otherwise); the panic would have nowhere to go here, so record it as the reason.
      if (r == err_dying() && s->reason == err_still_alive()) {
        r = absl::InternalError("tomb: goroutine returned ErrDying while the tomb was alive");
      }
      fx = s->kill_locked(r);
    }
    if (s->alive == 0 && !s->dead_closed) {
      s->dead_closed = true;
      close_dead = true;
    }
  }
  s->apply(fx);
  if (close_dead) s->dead.close();
}

void tomb::kill(absl::Status reason) const {
  detail::tomb_state::effects fx;
  {
    detail::spinlock_guard lk(s_->mu);
    fx = s_->kill_locked(reason);
  }
  s_->apply(fx);
}

absl::Status tomb::wait(gofer::source_location where) const {
  s_->dead.recv(where);  // closed when dead
  detail::spinlock_guard lk(s_->mu);
  return s_->reason == err_dying() ? absl::OkStatus() : s_->reason;
}

absl::Status tomb::err() const {
  detail::spinlock_guard lk(s_->mu);
  return s_->reason;
}

bool tomb::alive() const { return err() == err_still_alive(); }

recv_chan<std::monostate> tomb::dying() const { return s_->dying; }
recv_chan<std::monostate> tomb::dead() const { return s_->dead; }

gofer::context tomb::context(const gofer::context& parent) const {
  {
    detail::spinlock_guard lk(s_->mu);
    for (auto& [p, child] : s_->children)
      if (p == parent) return child;
  }
  auto [child, cancel] = with_cancel(parent);
  bool dying;
  {
    detail::spinlock_guard lk(s_->mu);
    for (auto& [p, existing] : s_->children)  // another goroutine may have raced us
      if (p == parent) return existing;
    s_->children.emplace_back(parent, child);
    dying = s_->dying_closed;
    if (!dying) s_->child_cancels.push_back(cancel);
  }
  if (dying) cancel();  // already dying: born cancelled
  return child;
}

gofer::context tomb::context() const { return context(s_->parent); }

std::pair<tomb, gofer::context> tomb::with_context(const gofer::context& parent) {
  tomb t;
  t.s_->parent = parent;
  gofer::context child = t.context(parent);
  if (parent.done() != nullptr) {
    // tomb.v2 watches the parent with a goroutine of its own (not tracked by the tomb).
    gofer::go([t, parent] {
      gofer::select(gofer::recv_case(parent.done(), [&](auto) { t.kill(parent.err()); }),
                    gofer::recv_case(t.dying()));
    });
  }
  return {t, child};
}

}  // namespace gofer
