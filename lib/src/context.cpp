// lib/src/context.cpp — the context tree.
//
// A node is either a *cancel* node (with_cancel, with_deadline; it owns a done channel, an
// error, a cause and its live children) or a *value* node (with_value; everything else is
// its parent's). Children hold their parent strongly; a cancel node holds its children
// weakly (no cycles: a child nobody refers to any more just disappears, and unregisters).
//
// Locks: each cancel node's `mu` guards err/cause/children; it is never held while taking
// another node's lock, closing a channel or touching the timer heap. cancel() therefore
// snapshots the children under the lock, then closes `done`, then cancels the children.
// A deadline is a detail::func_timer (the time layer's AfterFunc, detail/timer_heap.hpp):
// its function cancels the node through a weak reference, on the timer path after the heap
// lock is released.
#include "gofer/context.hpp"

#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "detail/runtime.hpp"
#include "detail/synctest_impl.hpp"
#include "gofer/detail/spinlock.hpp"
#include "gofer/time.hpp"

namespace gofer::detail {

struct ctx_node : std::enable_shared_from_this<ctx_node> {
  enum class kind { cancel, value };
  explicit ctx_node(kind k) : k(k) {}
  ~ctx_node();

  const kind k;
  std::shared_ptr<ctx_node> parent;   // nullptr: child of background
  // The cancel ancestor holding us in `children`, nullptr once it forgot us. Atomic: our
  // own cancel and the ancestor's cancel may both clear it.
  std::atomic<ctx_node*> registered{nullptr};

  // value nodes
  const void* key = nullptr;
  std::shared_ptr<const void> value;

  // cancel nodes
  // A spinlock, not a std::mutex: goroutine code, a few dozen instructions, never parks
  // and runs no user code while held (lib/DESIGN.md, "Locks").
  detail::spinlock mu;
  std::atomic<bool> cancelled{false};  // set under mu; read without it (acquire)
  absl::Status err ABSL_GUARDED_BY(mu);    // set once
  absl::Status cause ABSL_GUARDED_BY(mu);  // set once
  std::unordered_map<ctx_node*, std::weak_ptr<ctx_node>> children ABSL_GUARDED_BY(mu);
  chan<std::monostate> done{0};
  std::optional<time_point> deadline;  // own deadline (with_deadline)
  // Made before the node is published (propagate), so a concurrent cancel finds it set;
  // only arm() and stop() touch it afterwards, under the heap's lock.
  func_timer timer;
};

namespace {

const absl::Status& canceled_error() {
  static const absl::Status s = absl::CancelledError("context canceled");
  return s;
}
const absl::Status& deadline_error() {
  static const absl::Status s = absl::DeadlineExceededError("context deadline exceeded");
  return s;
}

// The nearest cancel node at or above n (value nodes pass through), or nullptr.
ctx_node* cancel_node_of(ctx_node* n) {
  while (n != nullptr && n->k != ctx_node::kind::cancel) n = n->parent.get();
  return n;
}

void stop_timer(ctx_node& n) { n.timer.stop(); }

void cancel(const std::shared_ptr<ctx_node>& n, const absl::Status& err, const absl::Status& cause,
            bool detach_from_parent) {
  std::vector<std::shared_ptr<ctx_node>> kids;
  {
    detail::spinlock_guard lk(n->mu);
    if (n->cancelled.load(std::memory_order_relaxed)) return;  // the first cancel wins
    n->err = err;
    n->cause = cause;
    for (auto& [raw, weak] : n->children)
      if (auto sp = weak.lock()) kids.push_back(std::move(sp));
    n->children.clear();
    n->cancelled.store(true, std::memory_order_release);
  }
  // Not done.close(): a cancel may come from outside the synctest bubble that made the
  // context (a parent cancelled outside), and must not panic half-way (gofer/synctest.hpp).
  detail::chan_access::get(n->done)->close_and_wake();
  for (auto& kid : kids) {
    kid->registered.store(nullptr);  // the parent forgot it already
    cancel(kid, err, cause, false);
  }
  if (ctx_node* p = detach_from_parent ? n->registered.exchange(nullptr) : nullptr) {
    detail::spinlock_guard lk(p->mu);  // p is alive: n->parent keeps it
    p->children.erase(n.get());
  }
  stop_timer(*n);
}

// Links a new cancel node under parent: registered with the nearest cancel ancestor, or
// cancelled at once if that ancestor already is.
void propagate(const std::shared_ptr<ctx_node>& child, const gofer::context& parent) {
  child->parent = ctx_access::node(parent);
  ctx_node* anc = cancel_node_of(child->parent.get());
  if (anc == nullptr) return;  // background: never cancelled
  absl::Status err, cause;
  {
    detail::spinlock_guard lk(anc->mu);
    if (!anc->cancelled.load(std::memory_order_relaxed)) {
      anc->children.emplace(child.get(), child);
      child->registered.store(anc);
      return;
    }
    err = anc->err;
    cause = anc->cause;
  }
  cancel(child, err, cause, false);
}

std::shared_ptr<ctx_node> new_cancel_node(const gofer::context& parent) {
  auto n = std::make_shared<ctx_node>(ctx_node::kind::cancel);
  propagate(n, parent);
  return n;
}

cancel_func canceller(const std::shared_ptr<ctx_node>& n) {
  return [n] { cancel(n, canceled_error(), canceled_error(), true); };
}

}  // namespace

ctx_node::~ctx_node() {
  if (ctx_node* p = registered.load()) {
    // Our ancestor (kept alive by `parent`) still lists us: unlist.
    detail::spinlock_guard lk(p->mu);
    p->children.erase(this);
  }
  stop_timer(*this);
}

std::shared_ptr<ctx_node> make_value_node(const gofer::context& parent, const void* key,
                                          std::shared_ptr<const void> value) {
  auto n = std::make_shared<ctx_node>(ctx_node::kind::value);
  n->parent = ctx_access::node(parent);
  n->key = key;
  n->value = std::move(value);
  return n;
}

}  // namespace gofer::detail

namespace gofer {

using detail::ctx_node;

recv_chan<std::monostate> context::done() const {
  ctx_node* c = detail::cancel_node_of(n_.get());
  return c != nullptr ? recv_chan<std::monostate>(c->done) : recv_chan<std::monostate>();
}

const std::atomic<bool>* detail::cancelled_flag(const gofer::context& ctx) noexcept {
  ctx_node* c = detail::cancel_node_of(detail::ctx_access::node(ctx).get());
  return c != nullptr ? &c->cancelled : nullptr;
}

absl::Status context::err() const {
  ctx_node* c = detail::cancel_node_of(n_.get());
  if (c == nullptr || !c->cancelled.load(std::memory_order_acquire)) return absl::OkStatus();
  detail::spinlock_guard lk(c->mu);
  return c->err;
}

std::optional<time_point> context::deadline() const {
  std::optional<time_point> best;
  for (ctx_node* n = n_.get(); n != nullptr; n = n->parent.get()) {
    if (n->deadline && (!best || *n->deadline < *best)) best = n->deadline;
  }
  return best;
}

const void* context::lookup(const void* key) const {
  for (ctx_node* n = n_.get(); n != nullptr; n = n->parent.get()) {
    if (n->k == ctx_node::kind::value && n->key == key) return n->value.get();
  }
  return nullptr;
}

std::pair<context, cancel_func> with_cancel(const context& parent) {
  auto n = detail::new_cancel_node(parent);
  return {detail::ctx_access::make(n), detail::canceller(n)};
}

std::pair<context, cancel_cause_func> with_cancel_cause(const context& parent) {
  auto n = detail::new_cancel_node(parent);
  cancel_cause_func f = [n](absl::Status c) {
    if (c.ok()) c = detail::canceled_error();
    detail::cancel(n, detail::canceled_error(), c, true);
  };
  return {detail::ctx_access::make(n), std::move(f)};
}

std::pair<context, cancel_func> with_deadline(const context& parent, time_point d) {
  // A parent that ends sooner makes our deadline moot (Go: just WithCancel).
  if (auto pd = parent.deadline(); pd && *pd <= d) return with_cancel(parent);
  detail::runtime* rt = &detail::runtime_or_throw("with_deadline/with_timeout");
  auto n = std::make_shared<ctx_node>(ctx_node::kind::cancel);
  n->deadline = d;
  // The timer is made before propagate() publishes n: once n is in its ancestor's
  // `children`, the ancestor's cancel (on any thread) may cancel n and stop n->timer.
  // Made here, it happens-before that stop (propagate inserts n under the ancestor's mu;
  // cancel takes it out under the same mu); made after propagate, it raced with that cancel
  // (TSan: context_stress.concurrent_cancel_of_parents_and_children). Armed after
  // propagate: a cancel that stopped it first keeps arm() from adding it (func_timer).
  const std::shared_ptr<detail::timer_heap>& heap = detail::timers_here(*rt);  // a bubble's?
  const bool past = d <= heap->now();
  if (!past) {
    n->timer = detail::func_timer(heap, d, [weak = std::weak_ptr<ctx_node>(n)] {
      if (auto sp = weak.lock()) detail::cancel(sp, detail::deadline_error(), detail::deadline_error(), true);
    });
  }
  detail::propagate(n, parent);
  if (past) {
    detail::cancel(n, detail::deadline_error(), detail::deadline_error(), true);
    return {detail::ctx_access::make(n), detail::canceller(n)};
  }
  n->timer.arm(*rt);
  return {detail::ctx_access::make(n), detail::canceller(n)};
}

std::pair<context, cancel_func> with_timeout(const context& parent, std::chrono::nanoseconds d) {
  return with_deadline(parent, gofer::now() + std::chrono::duration_cast<detail::clock::duration>(d));
}

absl::Status cause(const context& ctx) {
  ctx_node* c = detail::cancel_node_of(detail::ctx_access::node(ctx).get());
  if (c == nullptr || !c->cancelled.load(std::memory_order_acquire)) return absl::OkStatus();
  detail::spinlock_guard lk(c->mu);
  return c->cause;
}

}  // namespace gofer
