// lib/src/poller.cpp — the network poller: epoll, folded into the scheduler's idle wait.
//
// Sockets register once, edge-triggered, for input and output. A goroutine that gets
// EAGAIN calls wait(): under the record's lock it either consumes a pending edge (rready /
// wready, set by an event that arrived while nobody waited) and retries at once, or links
// a waiter and parks. An event claims the parked goroutine (the claim protocol of
// gofer/detail/wait.hpp, so a deadline timer or shutdown may win instead) or, with nobody
// to wake, records the edge. Because both sides decide under the record's lock, an edge
// that arrives between the goroutine's EAGAIN and its park is never lost.
//
// Who calls epoll_wait: an idle worker, instead of sleeping on its condition variable,
// while goroutines wait on sockets (suspend_until), blocking until the next timer; and any
// worker on its fairness tick (non-blocking), so readiness is noticed while every worker
// is busy. worker::wake() interrupts a blocking poll through the eventfd.
//
// Records are recycled, never freed: an event for a closed socket carries an old
// generation and is dropped.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "detail/runtime.hpp"

namespace gofer::detail {

namespace {
std::uint64_t pack(std::uint32_t index, std::uint32_t gen) {
  return (static_cast<std::uint64_t>(gen) << 32) | index;
}
}  // namespace

poller::poller() {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  evfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = ~std::uint64_t{0};  // the eventfd
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
}

poller::~poller() {
  if (evfd_ >= 0) ::close(evfd_);
  if (epfd_ >= 0) ::close(epfd_);
}

poll_desc* poller::open(int fd, std::uint32_t& gen) {
  poll_desc* pd;
  {
    std::lock_guard<std::mutex> lk(table_mu_);
    if (!free_.empty()) {
      pd = &table_[free_.back()];
      free_.pop_back();
    } else {
      table_.emplace_back();
      pd = &table_.back();
      pd->index = static_cast<std::uint32_t>(table_.size() - 1);
    }
  }
  {
    spinlock_guard lk(pd->lock);
    pd->fd = fd;
    pd->closing = false;
    pd->rready = pd->wready = false;
    pd->rwaiter = pd->wwaiter = nullptr;
    gen = pd->gen;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = pack(pd->index, gen);
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;  // EPERM: a regular file or directory; ENOMEM, ENOSPC
    {
      spinlock_guard lk(pd->lock);
      ++pd->gen;
      pd->fd = -1;
    }
    {
      std::lock_guard<std::mutex> lk(table_mu_);
      free_.push_back(pd->index);
    }
    errno = err;
    return nullptr;
  }
  return pd;
}

void poller::close(poll_desc* pd, std::uint32_t gen) {
  goroutine* wake[2] = {nullptr, nullptr};
  int fd;
  {
    spinlock_guard lk(pd->lock);
    if (pd->gen != gen || pd->closing) return;
    pd->closing = true;
    ++pd->gen;  // events still in flight for this socket are now stale
    fd = pd->fd;
    waiter** slots[2] = {&pd->rwaiter, &pd->wwaiter};
    for (int i = 0; i < 2; ++i) {
      waiter* w = *slots[i];
      if (w != nullptr && try_claim(w->g)) {
        *slots[i] = nullptr;
        w->index = io_closed;
        set_fired(w->g, w);
        wake[i] = w->g;
      }
    }
  }
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  for (goroutine* g : wake)
    if (g != nullptr) unpark(g);
  std::lock_guard<std::mutex> lk(table_mu_);
  free_.push_back(pd->index);
}

void poller::rearm(poll_desc* pd, std::uint32_t gen, bool write) {
  goroutine* g = nullptr;
  {
    spinlock_guard lk(pd->lock);
    if (pd->gen != gen) return;
    waiter*& slot = write ? pd->wwaiter : pd->rwaiter;
    if (slot != nullptr && try_claim(slot->g)) {
      slot->index = io_rearm;
      set_fired(slot->g, slot);
      g = slot->g;
      slot = nullptr;
    }
  }
  if (g != nullptr) unpark(g);
}

absl::Status poller::wait(poll_desc* pd, std::uint32_t gen, bool write,
                          const std::atomic<clock::rep>& deadline, const std::atomic<bool>* interrupt,
                          gofer::source_location where) {
  static const absl::Status closed =
      absl::FailedPreconditionError("use of closed network connection");
  static const absl::Status timeout = absl::DeadlineExceededError("i/o timeout");
  goroutine* g = current_goroutine_or_throw("net I/O");
  runtime* rt = current_runtime();
  auto deadline_now = [&] {
    clock::rep v = deadline.load(std::memory_order_seq_cst);
    return v == 0 ? clock::time_point::max() : clock::time_point(clock::duration(v));
  };
  waiter w;
  w.g = g;
  clock::time_point when;
  {
    // The deadline and the interrupt flag are read under the record's lock: whoever
    // changes them stores first and then calls rearm(), which takes this lock. So either
    // we see the new value here, or our waiter is linked before rearm() looks for it.
    spinlock_guard lk(pd->lock);
    if (pd->gen != gen || pd->closing) return closed;
    bool& ready = write ? pd->wready : pd->rready;
    if (ready) {
      ready = false;
      return absl::OkStatus();
    }
    if (interrupt != nullptr && interrupt->load(std::memory_order_seq_cst)) return absl::OkStatus();
    when = deadline_now();
    if (when <= clock::now()) return timeout;
    begin_wait(g);
    (write ? pd->wwaiter : pd->rwaiter) = &w;
  }
  timer_node t;
  if (when != clock::time_point::max()) {
    t.when = when;
    t.fire = &fire_sleep;
    t.g = g;
    if (rt->timers->add(&t)) rt->wake_one_idle();
  }
  waiters.fetch_add(1, std::memory_order_seq_cst);
  rt->external_waits.fetch_add(1, std::memory_order_seq_cst);  // not a deadlock: I/O may come
  rt->wake_one_idle();  // make sure some idle worker becomes the poller
  park(g, wait_reason::io_wait, pd, where);
  rt->external_waits.fetch_sub(1, std::memory_order_seq_cst);
  waiters.fetch_sub(1, std::memory_order_seq_cst);
  if (when != clock::time_point::max()) rt->timers->remove(&t);
  {
    spinlock_guard lk(pd->lock);  // unlink if a timer or shutdown won the claim
    waiter*& slot = write ? pd->wwaiter : pd->rwaiter;
    if (slot == &w) slot = nullptr;
  }
  if (woken_by_shutdown(g)) throw_goroutine_exit();
  if (fired(g) != &w) {
    // The deadline timer won. If the deadline was moved later meanwhile (its rearm lost
    // the claim to the timer), this is no timeout: let the caller retry.
    return deadline_now() <= clock::now() ? timeout : absl::OkStatus();
  }
  switch (w.index) {
    case io_closed: return closed;
    default: return absl::OkStatus();  // ready, or re-read the deadline / interrupt (io_rearm)
  }
}

int poller::poll(int timeout_ms) {
  epoll_event evs[128];
  int n = ::epoll_wait(epfd_, evs, 128, timeout_ms);
  int woken = 0;
  for (int i = 0; i < n; ++i) {
    std::uint64_t data = evs[i].data.u64;
    if (data == ~std::uint64_t{0}) {  // the eventfd: just drain it
      std::uint64_t v;
      [[maybe_unused]] ssize_t r = ::read(evfd_, &v, sizeof v);
      continue;
    }
    auto index = static_cast<std::uint32_t>(data & 0xffffffffu);
    auto gen = static_cast<std::uint32_t>(data >> 32);
    poll_desc* pd;
    {
      std::lock_guard<std::mutex> lk(table_mu_);
      if (index >= table_.size()) continue;
      pd = &table_[index];
    }
    std::uint32_t e = evs[i].events;
    bool readable = (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    bool writable = (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
    goroutine* wake[2] = {nullptr, nullptr};
    {
      spinlock_guard lk(pd->lock);
      if (pd->gen != gen || pd->closing) continue;
      auto fire = [&](bool on, waiter*& slot, bool& ready, goroutine*& out) {
        if (!on) return;
        if (slot != nullptr && try_claim(slot->g)) {
          slot->index = io_ready;
          set_fired(slot->g, slot);
          out = slot->g;
          slot = nullptr;
        } else {
          ready = true;  // nobody (left) to wake: remember the edge
        }
      };
      fire(readable, pd->rwaiter, pd->rready, wake[0]);
      fire(writable, pd->wwaiter, pd->wready, wake[1]);
    }
    for (goroutine* g : wake)
      if (g != nullptr) {
        unpark(g);
        ++woken;
      }
  }
  return woken;
}

void poller::interrupt() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(evfd_, &one, sizeof one);
}

}  // namespace gofer::detail
