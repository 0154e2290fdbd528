// lib/src/timer.cpp — the runtime's timer heap.
//
// One binary min-heap per run, guarded by one mutex. Nodes live on the waiting goroutine's
// stack and record their heap index, so removal is O(log n) and a stopped timer costs
// nothing afterwards; the heap array holds each node's deadline beside its pointer, so
// sifting reads only the array. The scheduler fires due timers from pick_next and sleeps in
// suspend_until no longer than the earliest deadline (next()).
//
// Every node's fire() runs under the heap lock. That is what makes sleep and timer
// channels safe: a goroutine woken by someone else (shutdown) removes its sleep node under
// the same lock before its stack frame dies, and timer::stop/reset remove the node and drain
// its channel under the same lock, so no stale tick can arrive after they return.
// Goroutines released by a fire are woken after unlocking.
#include "detail/runtime.hpp"

namespace gofer::detail {

void timer_heap::swap_nodes(std::size_t a, std::size_t b) {
  std::swap(heap_[a], heap_[b]);
  heap_[a].node->heap_index = a;
  heap_[b].node->heap_index = b;
}

void timer_heap::sift_up(std::size_t i) {
  while (i > 0) {
    std::size_t p = (i - 1) / 2;
    if (!(heap_[i].when < heap_[p].when)) break;
    swap_nodes(i, p);
    i = p;
  }
}

void timer_heap::sift_down(std::size_t i) {
  for (;;) {
    std::size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_.size() && heap_[l].when < heap_[m].when) m = l;
    if (r < heap_.size() && heap_[r].when < heap_[m].when) m = r;
    if (m == i) return;
    swap_nodes(i, m);
    i = m;
  }
}

void timer_heap::publish_next() {
  next_.store(heap_.empty() ? clock::time_point::max().time_since_epoch().count()
                            : heap_.front().when,
              std::memory_order_release);
}

timer_heap::~timer_heap() {
  for (const entry& e : heap_) {
    timer_node* t = e.node;
    t->heap_index = timer_node::npos;
    if (t->dispose != nullptr) t->dispose(t);
  }
}

bool timer_heap::add(timer_node* t) {
  std::lock_guard<std::mutex> lk(mu_);
  return add_locked(t);
}

bool timer_heap::add_locked(timer_node* t) {
  t->heap_index = heap_.size();
  heap_.push_back({t->when.time_since_epoch().count(), t});
  sift_up(t->heap_index);
  publish_next();
  return heap_.front().node == t;
}

bool timer_heap::remove(timer_node* t) {
  bool removed, emptied;
  {
    std::lock_guard<std::mutex> lk(mu_);
    removed = remove_locked(t);
    emptied = emptied_;  // after_unlock's part, without taking the lock a second time
    emptied_ = false;
  }
  if (emptied && on_emptied) on_emptied();
  return removed;
}

void timer_heap::after_unlock() {
  bool emptied;
  {
    std::lock_guard<std::mutex> lk(mu_);
    emptied = emptied_;
    emptied_ = false;
  }
  if (emptied && on_emptied) on_emptied();
}

bool timer_heap::remove_locked(timer_node* t) {
  std::size_t i = t->heap_index;
  if (i == timer_node::npos) return false;
  std::size_t last = heap_.size() - 1;
  if (i != last) swap_nodes(i, last);
  heap_.pop_back();
  t->heap_index = timer_node::npos;
  if (i < heap_.size()) {
    sift_down(i);
    sift_up(i);
  }
  if (heap_.empty()) emptied_ = true;
  publish_next();
  return true;
}

void timer_heap::fire_due(clock::time_point now) {
  timer_effects fx;
  {
    std::lock_guard<std::mutex> lk(mu_);
    const clock::rep now_rep = now.time_since_epoch().count();
    if (heap_.empty() || now_rep < heap_.front().when) return;
    firing_.fetch_add(1, std::memory_order_relaxed);  // published by publish_next (quiet())
    while (!heap_.empty() && heap_.front().when <= now_rep) {
      timer_node* t = heap_.front().node;
      swap_nodes(0, heap_.size() - 1);
      heap_.pop_back();
      t->heap_index = timer_node::npos;
      if (!heap_.empty()) sift_down(0);
      if (t->fire(t, now, fx)) {
        add_locked(t);  // a ticker: fire() moved `when` past `now`
      } else if (t->dispose != nullptr) {
        t->dispose(t);
      }
    }
    publish_next();
  }
  for (goroutine* g : fx.wake) unpark(g);
  for (auto& f : fx.calls) f();
  firing_.fetch_sub(1, std::memory_order_release);
}

bool fire_sleep(timer_node* self, clock::time_point, timer_effects& fx) {
  // Under the heap lock: a goroutine woken by someone else (shutdown) removes its node
  // under the same lock before its stack frame dies, so `self` is alive here.
  if (try_claim(self->g)) {
    set_fired(self->g, nullptr);
    fx.wake.push_back(self->g);
  }
  return false;
}

std::size_t timer_heap::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  return heap_.size();
}

}  // namespace gofer::detail
