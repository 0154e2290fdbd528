// lib/src/time.cpp — after, tick, timer, ticker: channels fed by the runtime's timer heap.
//
// A timer channel is a chan_impl<time_point> of internal capacity 1 flagged `timer_chan`
// (len and cap report 0, as in Go 1.23). Its node's fire() runs under the heap lock and
// sends with the channel lock held (lock order: heap, then channel): a parked receiver gets
// the tick directly; otherwise it waits in the one slot; if the slot is full (a ticker's
// slow receiver) the tick is dropped. stop() and reset() take the heap lock, remove the
// node and drain the slot, so they are atomic with respect to fire(): no stale tick can be
// received after they return (Go 1.23's guarantee).
#include "gofer/time.hpp"

#include <stdexcept>

#include "detail/runtime.hpp"
#include "detail/synctest_impl.hpp"
#include "gofer/panic.hpp"

namespace gofer::detail {

struct chan_timer : timer_node {
  std::shared_ptr<chan_impl<time_point>> ch;
  std::shared_ptr<timer_heap> heap;  // set for timer/ticker objects; heap-owned nodes don't
  runtime* rt = nullptr;             // the run it was created in (to wake an idle worker)
  clock::duration period{0};         // > 0 for tickers
};

namespace {

bool fire_chan(timer_node* self, clock::time_point now, timer_effects& fx) {
  auto* t = static_cast<chan_timer*>(self);
  time_point v = now;
  goroutine* w = nullptr;
  {
    spinlock_guard lk(t->ch->lock);
    t->ch->send_locked(v, w);  // not_ready (slot full): the tick is dropped
  }
  if (w != nullptr) fx.wake.push_back(w);
  if (t->period > clock::duration::zero()) {
    // Stay on the period's grid, skipping the ticks that a slow pass missed.
    t->when += t->period * (1 + (now - t->when) / t->period);
    return true;
  }
  return false;
}

void dispose_owned(timer_node* self) { delete static_cast<chan_timer*>(self); }

// Withdraws a tick that waits in the channel; returns whether there was one.
bool drain(chan_impl<time_point>& ch) {
  spinlock_guard lk(ch.lock);
  if (ch.count.load(std::memory_order_relaxed) == 0) return false;
  std::optional<time_point> discard;
  ch.pop_buf(discard);
  return true;
}

runtime& runtime_or_throw(const char* what) {
  runtime* rt = current_runtime();
  if (rt == nullptr) throw std::logic_error(std::string("gofer: ") + what + " called outside gofer::run");
  return *rt;
}

std::unique_ptr<chan_timer> make_timer(runtime& rt, clock::duration first, clock::duration period) {
  auto t = std::make_unique<chan_timer>();
  t->heap = timers_here(rt);  // a synctest bubble's, or the run's
  t->ch = std::make_shared<chan_impl<time_point>>(1);
  t->ch->timer_chan = true;
  t->rt = &rt;
  t->period = period;
  t->fire = &fire_chan;
  t->when = t->heap->now() + first;
  return t;
}

void arm(runtime& rt, chan_timer* t) {
  if (t->heap->add(t) && !t->heap->is_virtual()) rt.wake_one_idle();
}

// after()/tick(): the node belongs to the heap (it holds no reference back to it).
void arm_owned(runtime& rt, chan_timer* t) {
  const std::shared_ptr<timer_heap>& heap = timers_here(rt);
  if (heap->add(t) && !heap->is_virtual()) rt.wake_one_idle();
}

recv_chan<time_point> handle_of(const std::shared_ptr<chan_impl<time_point>>& ch) {
  return chan_access::make_recv(ch);
}

}  // namespace
}  // namespace gofer::detail

namespace gofer {

using detail::clock;

namespace {
clock::duration to_clock(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<clock::duration>(d);
}
}  // namespace

time_point now() noexcept {
  if (__builtin_expect(detail::g_bubbles.load(std::memory_order_relaxed) != 0, false)) {
    if (detail::bubble* b = detail::current_bubble()) return b->timers->now();
  }
  return clock::now();
}

recv_chan<time_point> after(std::chrono::nanoseconds d) {
  detail::runtime& rt = detail::runtime_or_throw("after");
  auto t = detail::make_timer(rt, to_clock(d), clock::duration::zero());
  t->dispose = &detail::dispose_owned;
  t->heap.reset();  // owned by the heap: no reference back to it
  auto ch = detail::handle_of(t->ch);
  detail::arm_owned(rt, t.release());  // owned by the heap from here on
  return ch;
}

recv_chan<time_point> tick(std::chrono::nanoseconds d) {
  detail::runtime& rt = detail::runtime_or_throw("tick");
  if (d <= std::chrono::nanoseconds::zero()) return nullptr;
  auto t = detail::make_timer(rt, to_clock(d), to_clock(d));
  t->dispose = &detail::dispose_owned;
  t->heap.reset();  // owned by the heap: no reference back to it
  auto ch = detail::handle_of(t->ch);
  detail::arm_owned(rt, t.release());
  return ch;
}

// ---- timer ----

namespace {

// Go: a timer or ticker made in a synctest bubble belongs to it (as its channel does), and
// stopping or resetting it from outside panics. Destructors and move-assignment skip this.
void check_timer_bubble(const std::unique_ptr<detail::chan_timer>& t, const char* what) {
  if (__builtin_expect(t->ch->bubble != 0, false) && detail::bubble_here() != t->ch->bubble)
    throw panic_error(std::string(what) + " synctest timer from outside bubble");
}

}  // namespace

timer::timer(std::chrono::nanoseconds d) {
  detail::runtime& rt = detail::runtime_or_throw("timer");
  t_ = detail::make_timer(rt, to_clock(d), clock::duration::zero());
  detail::arm(rt, t_.get());
}
timer::timer(timer&&) noexcept = default;
timer& timer::operator=(timer&& o) noexcept {
  if (this != &o) {
    stop_unchecked();
    t_ = std::move(o.t_);
  }
  return *this;
}
timer::~timer() { stop_unchecked(); }

recv_chan<time_point> timer::c() const noexcept {
  return t_ ? detail::handle_of(t_->ch) : recv_chan<time_point>();
}

bool timer::stop() {
  if (t_) check_timer_bubble(t_, "stop of");
  return stop_unchecked();
}

bool timer::stop_unchecked() noexcept {
  if (!t_) return false;
  bool pending;
  {
    auto lk = t_->heap->lock();
    pending = t_->heap->remove_locked(t_.get());
    if (detail::drain(*t_->ch)) pending = true;
  }
  t_->heap->after_unlock();
  return pending;
}

bool timer::reset(std::chrono::nanoseconds d) {
  if (!t_) return false;
  check_timer_bubble(t_, "reset of");
  bool pending, earliest;
  {
    auto lk = t_->heap->lock();
    pending = t_->heap->remove_locked(t_.get());
    if (detail::drain(*t_->ch)) pending = true;
    t_->when = t_->heap->now() + to_clock(d);
    earliest = t_->heap->add_locked(t_.get());
  }
  if (earliest && t_->rt == detail::current_runtime()) t_->rt->wake_one_idle();
  return pending;
}

// ---- ticker ----

ticker::ticker(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) throw panic_error("non-positive interval for NewTicker");
  detail::runtime& rt = detail::runtime_or_throw("ticker");
  t_ = detail::make_timer(rt, to_clock(d), to_clock(d));
  detail::arm(rt, t_.get());
}
ticker::ticker(ticker&&) noexcept = default;
ticker& ticker::operator=(ticker&& o) noexcept {
  if (this != &o) {
    stop_unchecked();
    t_ = std::move(o.t_);
  }
  return *this;
}
ticker::~ticker() { stop_unchecked(); }

recv_chan<time_point> ticker::c() const noexcept {
  return t_ ? detail::handle_of(t_->ch) : recv_chan<time_point>();
}

void ticker::stop() {
  if (t_) check_timer_bubble(t_, "stop of");
  stop_unchecked();
}

void ticker::stop_unchecked() noexcept {
  if (!t_) return;
  {
    auto lk = t_->heap->lock();
    t_->heap->remove_locked(t_.get());
    detail::drain(*t_->ch);
  }
  t_->heap->after_unlock();
}

void ticker::reset(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) throw panic_error("non-positive interval for Ticker.Reset");
  if (!t_) return;
  check_timer_bubble(t_, "reset of");
  bool earliest;
  {
    auto lk = t_->heap->lock();
    t_->heap->remove_locked(t_.get());
    detail::drain(*t_->ch);
    t_->period = to_clock(d);
    t_->when = t_->heap->now() + t_->period;
    earliest = t_->heap->add_locked(t_.get());
  }
  if (earliest && t_->rt == detail::current_runtime()) t_->rt->wake_one_idle();
}

}  // namespace gofer
