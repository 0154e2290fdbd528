// lib/src/errgroup.cpp — errgroup on a wait_group, a semaphore channel and once.
//
// As in errgroup.go: the limit is a buffered channel used as a counting semaphore (go()
// sends a token, blocking while it is full; a goroutine's end receives one); the first
// error is recorded under a once and cancels the context with that error as its cause.
#include "gofer/errgroup.hpp"

#include <string>

#include "gofer/chan.hpp"
#include "gofer/panic.hpp"
#include "gofer/sync.hpp"

namespace gofer {

namespace detail {

struct errgroup_state {
  wait_group wg;
  chan<std::monostate> sem{nullptr};  // nil: no limit; else capacity = limit
  once err_once;
  absl::Status err;            // written once under err_once, read after wg.wait()
  cancel_cause_func cancel;    // set by with_context
};

}  // namespace detail

errgroup::errgroup() : s_(std::make_shared<detail::errgroup_state>()) {}

void errgroup::acquire() const {
  if (s_->sem) s_->sem.send(std::monostate{});
  s_->wg.add(1);
}

bool errgroup::try_acquire() const {
  if (s_->sem && !s_->sem.try_send(std::monostate{})) return false;
  s_->wg.add(1);
  return true;
}

void errgroup::done(const std::shared_ptr<detail::errgroup_state>& s) {
  if (s->sem) s->sem.try_recv();  // give the token back (never blocks: we hold one)
  s->wg.done();
}

void errgroup::record(const std::shared_ptr<detail::errgroup_state>& s, absl::Status r) {
  s->err_once.call([&] {
    s->err = r;
    if (s->cancel) s->cancel(s->err);
  });
}

void errgroup::set_limit(int n) const {
  if (n < 0) {
    s_->sem = nullptr;
    return;
  }
  if (std::size_t active = s_->sem.len(); active != 0) {
    throw panic_error("errgroup: modify limit while " + std::to_string(active) +
                      " goroutines in the group are still active");
  }
  s_->sem = chan<std::monostate>(static_cast<std::size_t>(n));
}

absl::Status errgroup::wait(gofer::source_location where) const {
  s_->wg.wait(where);
  if (s_->cancel) s_->cancel(s_->err);
  return s_->err;
}

std::pair<errgroup, gofer::context> errgroup::with_context(const gofer::context& parent) {
  errgroup g;
  auto [ctx, cancel] = with_cancel_cause(parent);
  g.s_->cancel = std::move(cancel);
  return {g, ctx};
}

}  // namespace gofer
