// gofer/chan.hpp — Go's channels.
//
//   chan<T>        `chan T`: a bidirectional channel handle (unbuffered, buffered or nil)
//   send_chan<T>   `chan<- T`: a send-only view (send, try_send, close, len, cap)
//   recv_chan<T>   `<-chan T`: a receive-only view (recv, try_recv, range-for, len, cap)
//
// A channel moves values of type T between goroutines, with Go's exact rules:
// an unbuffered send completes only when a receiver takes the value; a buffered channel is
// FIFO; blocked senders and receivers are served in arrival order; close() wakes every
// blocked receiver (nullopt, once the buffer is drained) and every blocked sender (which
// throws "send on closed channel").
//
// Zero value: a default-constructed chan<T> is an *unbuffered* channel, as in
// `make(chan T)`. The nil channel (`var c chan T`) is chan<T>(nullptr): sends and receives
// on it block forever, close() throws.
//
// Copy semantics: copies are handles to one channel (like Go's channel values); a moved-from
// handle is nil. Handles compare equal when they refer to the same channel. Every operation
// is const: like a shared_ptr, a handle's constness says nothing about the channel, so a
// `const chan<T>&` parameter can send and receive, and a lambda that captures a channel by
// value needs no `mutable`.
//
//   op \ state   | open, ready              | open, not ready   | closed                   | nil
//   send(v)      | hand off / buffer v      | park goroutine    | throws panic_error       | park forever
//   recv()       | value                    | park goroutine    | buffered value, then     | park forever
//                |                          |                   | nullopt                  |
//   try_send(v)  | true, v moved from       | false             | throws panic_error        | false
//   try_recv()   | value                    | empty, !closed()  | buffered value, then     | empty, !closed()
//                |                          |                   | empty with closed()      |
//   close()      | closed; wakes everyone   | same              | throws panic_error       | throws panic_error
//   len()/cap()  | buffered count / capacity| same              | same                     | 0 / 0
//   for (v : c)  | receives until closed and drained                                     | park forever
//
// Call sites: send, recv and begin (range-for) take a defaulted trailing
// gofer::source_location and record it when they park, so dump_goroutines and the deadlock
// report show the line that waits (gofer/debug.hpp). Leave it defaulted; a helper that
// wraps them can take and pass on its own `where` so its callers' lines are shown.
//
// "Ready" means: for send, a parked receiver or room in the buffer; for recv, a parked
// sender or a buffered value. Panic texts are Go's: "send on closed channel",
// "close of closed channel", "close of nil channel", "makechan: size out of range".
//
// Invariants (under the channel lock, as in Go's hchan):
//   - 0 <= len <= cap; buffered values are the oldest sends, in order.
//   - at most one of the two waiter queues is non-empty (a select that both sends and
//     receives on one unbuffered channel is the exception, as in Go);
//   - buffer non-empty => no receiver waits; buffer not full => no sender waits;
//   - once closed, a channel never reopens, and no waiter is ever queued on it again.
//
// Memory ordering (the Go memory model): a send is synchronized before the completion of
// the matching receive; a close is synchronized before a receive that returns nullopt
// because of it; a receive from an unbuffered channel is synchronized before the completion
// of the matching send; the k-th receive on a channel of capacity C is synchronized before
// the (k+C)-th send completes. All of it comes from the channel lock and from the
// park/unpark hand-over (gofer/detail/park.hpp).
//
// Thread-safety: every operation may be called from any goroutine on any thread
// concurrently. A *handle object* is like any C++ object: don't assign to one while
// another goroutine uses that same object (copy the handle instead, it is cheap).
// Blocking operations outside gofer::run throw std::logic_error only when they would
// actually have to wait; try_*, close, len and cap work anywhere.
//
// Requirements on T: move-constructible with a non-throwing move constructor and destructor
// (T's move runs under the channel lock; it is the only user code that ever does). T may
// be move-only.
//
// Example:
//   gofer::chan<int> jobs(3);                       // make(chan int, 3)
//   gofer::go([jobs] {                              // producer: a copy of the handle
//     for (int i = 1; i <= 5; ++i) jobs.send(i);
//     jobs.close();
//   });
//   for (int j : jobs) std::printf("job %d\n", j);  // for j := range jobs
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include "gofer/detail/source_location.hpp"
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "gofer/detail/spinlock.hpp"
#include "gofer/detail/park.hpp"
#include "gofer/panic.hpp"

namespace gofer {

template <class T> class chan;
template <class T> class send_chan;
template <class T> class recv_chan;
namespace detail {
template <class T> struct chan_impl;
}  // namespace detail

// What try_recv() found: Go's `select { case v, ok := <-c: ...; default: ... }` in one value.
//
//   has_value()   a value was received                      (case fires, ok == true)
//   closed()      the channel is closed and its buffer empty (case fires, ok == false)
//   neither       nothing is ready right now                 (the default branch)
//
// It is a std::optional<T>, so the common form reads as before:
//   if (auto v = c.try_recv()) use(*v);
//   else if (v.closed()) return;      // closed and drained: stop polling
//   else do_something_else();         // nothing ready yet
// ready() is has_value() || closed(): "a receive would not block".
template <class T>
class try_recv_result : public std::optional<T> {
 public:
  using std::optional<T>::optional;
  try_recv_result() = default;
  bool closed() const noexcept { return closed_; }
  bool ready() const noexcept { return this->has_value() || closed_; }

 private:
  bool closed_ = false;
  template <class> friend struct detail::chan_impl;
};

namespace detail {

// Go's maxAlloc on 64-bit Linux (runtime/malloc.go: 1 << heapAddrBits, 48 bits): makechan
// panics when the buffer alone would exceed it.
inline constexpr std::size_t max_chan_alloc = std::size_t{1} << 48;

// Outcome of one channel operation attempted under the channel lock.
enum class op_result { done, not_ready, closed };

// synctest (gofer/synctest.hpp, lib/src/synctest.cpp): the id of the calling goroutine's
// bubble, 0 outside every bubble — one relaxed load while no bubble exists.
std::uint32_t bubble_here_slow() noexcept;
inline std::uint32_t bubble_here() noexcept {
  return __builtin_expect(g_bubbles.load(std::memory_order_relaxed) != 0, false) ? bubble_here_slow() : 0;
}
// Panics with Go's "<what> synctest channel from outside bubble" (what: "send on",
// "receive on", "close of", "select on") unless the caller is in bubble `b`.
void check_bubble(std::uint32_t b, const char* what);

// Non-template part of every channel: the lock, the flags and the waiter queues.
// Implemented in lib/src/chan.cpp.
struct chan_base {
  explicit chan_base(std::size_t capacity) : cap(capacity), bubble(bubble_here()) {}

  // Guards everything below except `cap` (immutable). Held only for queue links and one
  // element move; nothing under it parks or wakes a goroutine (wakes happen after unlock).
  mutable spinlock lock;
  const std::size_t cap;
  // A timer's channel (time.hpp): len() and cap() report 0, as Go 1.23's synchronous timer
  // channels do. Set before the channel is shared.
  bool timer_chan = false;
  // The synctest bubble that made this channel (its id), 0 for none: only that bubble's
  // goroutines may use it, and only their waits on it are durable (gofer/synctest.hpp).
  const std::uint32_t bubble;
  // Buffered element count. Written under `lock`; read without it by len() (relaxed).
  std::atomic<std::size_t> count{0};
  std::size_t head ABSL_GUARDED_BY(lock) = 0;  // ring index of the oldest element
  bool closed ABSL_GUARDED_BY(lock) = false;
  waitq recvq ABSL_GUARDED_BY(lock);  // parked receivers, FIFO
  waitq sendq ABSL_GUARDED_BY(lock);  // parked senders, FIFO

  // close() (gofer's own closers call this directly, without the synctest bubble check):
  // marks the channel closed, claims and unlinks every waiter (receivers get
  // success=false and keep an empty slot; senders get success=false and will throw), then
  // unlocks and wakes them. Throws panic_error("close of closed channel").
  void close_and_wake();
};

[[noreturn]] void throw_send_on_closed();
[[noreturn]] void throw_close_of_nil();
[[noreturn]] void throw_makechan_size();

template <class T>
struct chan_impl final : chan_base {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "gofer::chan<T>: T's move constructor must be noexcept (it runs under the "
                "channel lock)");
  static_assert(std::is_nothrow_destructible_v<T>, "gofer::chan<T>: T's destructor must be noexcept");

  explicit chan_impl(std::size_t capacity) : chan_base(capacity) {
    // Go's rule (makechan): elem size × capacity must not overflow nor exceed maxAlloc.
    // Checked before allocating, so an absurd size panics instead of throwing bad_alloc.
    if (capacity > max_chan_alloc / (sizeof(T) == 0 ? 1 : sizeof(T))) throw_makechan_size();
    if (capacity > 0) buf = std::allocator<T>{}.allocate(capacity);
  }
  ~chan_impl() {
    // No lock: the last handle is gone, so no goroutine can be inside an operation.
    std::size_t n = count.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) std::destroy_at(slot((head_unlocked() + i) % cap));
    if (buf) std::allocator<T>{}.deallocate(buf, cap);
  }
  chan_impl(const chan_impl&) = delete;
  chan_impl& operator=(const chan_impl&) = delete;

  T* slot(std::size_t i) noexcept { return std::launder(buf + i); }
  std::size_t head_unlocked() const ABSL_NO_THREAD_SAFETY_ANALYSIS { return head; }

  // Appends v to the ring. Requires lock, count < cap.
  void push_buf(T&& v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    std::size_t n = count.load(std::memory_order_relaxed);
    ::new (static_cast<void*>(buf + (head + n) % cap)) T(std::move(v));
    count.store(n + 1, std::memory_order_relaxed);
  }
  // Removes the oldest element into out. Requires lock, count > 0.
  void pop_buf(std::optional<T>& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    T* p = slot(head);
    out.emplace(std::move(*p));
    std::destroy_at(p);
    head = (head + 1 == cap) ? 0 : head + 1;
    count.store(count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }

  // ---- the paths of Go's chansend/chanrecv that run under the lock (select uses them too)

  // Tries to send v with the lock held: hands it to a parked receiver (claimed; `wake` is
  // set to its goroutine, to unpark after unlocking) or appends it to the buffer.
  // Returns done (v moved from), not_ready, or closed (v untouched).
  op_result send_locked(T& v, goroutine*& wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    if (closed) return op_result::closed;
    // A parked receiver takes v directly, even on a buffered channel (its buffer is empty).
    // empty() first: dequeue_claimed is out of line, and the queue is usually empty.
    if (waiter* r = recvq.empty() ? nullptr : recvq.dequeue_claimed()) {
      static_cast<std::optional<T>*>(r->elem)->emplace(std::move(v));
      r->success = true;
      set_fired(r->g, r);
      wake = r->g;
      return op_result::done;
    }
    if (count.load(std::memory_order_relaxed) < cap) {
      push_buf(std::move(v));
      return op_result::done;
    }
    return op_result::not_ready;
  }

  // Tries to receive into out with the lock held: the oldest buffered value (and, if a
  // sender is parked on the full buffer, its value moves to the tail: FIFO holds) or a parked
  // sender's value. Returns done, not_ready, or closed (closed and drained; out untouched).
  op_result recv_locked(std::optional<T>& out, goroutine*& wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    if (count.load(std::memory_order_relaxed) > 0) {
      pop_buf(out);
      if (waiter* s = sendq.empty() ? nullptr : sendq.dequeue_claimed()) {
        push_buf(std::move(*static_cast<T*>(s->elem)));
        s->success = true;
        set_fired(s->g, s);
        wake = s->g;
      }
      return op_result::done;
    }
    // Unbuffered (or empty buffer): take straight from a parked sender.
    if (waiter* s = sendq.empty() ? nullptr : sendq.dequeue_claimed()) {
      out.emplace(std::move(*static_cast<T*>(s->elem)));
      s->success = true;
      set_fired(s->g, s);
      wake = s->g;
      return op_result::done;
    }
    return closed ? op_result::closed : op_result::not_ready;
  }

  // c <- v (block) or its select-with-default form. Returns true if v was delivered (moved
  // from); false only when !block and the channel is not ready. Throws on a closed channel.
  // `where`: the user's call, recorded if it parks (park.hpp, "Call sites").
  bool send(T& v, bool block, gofer::source_location where) ABSL_LOCKS_EXCLUDED(lock) {
    safe_point();
    if (__builtin_expect(bubble != 0, false)) check_bubble(bubble, "send on");
    goroutine* wake = nullptr;
    lock.lock();
    switch (send_locked(v, wake)) {
      case op_result::done:
        lock.unlock();
        if (wake != nullptr) unpark(wake);
        return true;
      case op_result::closed:
        lock.unlock();
        throw_send_on_closed();
      case op_result::not_ready:
        break;
    }
    if (!block) {
      lock.unlock();
      return false;
    }
    // Park on sendq until a receiver takes v (success) or close() (panic).
    waiter w;
    w.elem = &v;
    if (!wait_in(lock, sendq, w, bubble != 0 ? wait_reason::chan_send_durable : wait_reason::chan_send,
                 "chan::send", where)) {
      throw_send_on_closed();
    }
    return true;
  }

  // select { case v, ok := <-c: ...; default: }: never parks. See try_recv_result.
  try_recv_result<T> try_recv() ABSL_LOCKS_EXCLUDED(lock) {
    safe_point();
    if (__builtin_expect(bubble != 0, false)) check_bubble(bubble, "receive on");
    try_recv_result<T> out;
    goroutine* wake = nullptr;
    lock.lock();
    op_result r = recv_locked(out, wake);
    lock.unlock();
    if (wake != nullptr) unpark(wake);
    out.closed_ = r == op_result::closed;
    return out;
  }

  // v, ok := <-c (block) or its select-with-default form: a value, or nullopt when closed
  // and drained (or, when !block, when nothing is ready).
  std::optional<T> recv(bool block, gofer::source_location where) ABSL_LOCKS_EXCLUDED(lock) {
    safe_point();
    if (__builtin_expect(bubble != 0, false)) check_bubble(bubble, "receive on");
    std::optional<T> out;
    goroutine* wake = nullptr;
    lock.lock();
    op_result r = recv_locked(out, wake);
    if (r != op_result::not_ready || !block) {
      lock.unlock();
      if (wake != nullptr) unpark(wake);
      return out;
    }
    // Park on recvq until a sender fills out (success) or close() (out stays empty).
    waiter w;
    w.elem = &out;
    wait_in(lock, recvq, w, bubble != 0 ? wait_reason::chan_recv_durable : wait_reason::chan_recv,
            "chan::recv", where);
    return out;  // filled by the sender if w.success, still empty if woken by close
  }

  T* buf = nullptr;
};

// The shared core of the three handle types.
template <class T>
class chan_handle {
 public:
  std::size_t len() const noexcept {
    return impl_ && !impl_->timer_chan ? impl_->count.load(std::memory_order_relaxed) : 0;
  }
  std::size_t cap() const noexcept { return impl_ && !impl_->timer_chan ? impl_->cap : 0; }
  explicit operator bool() const noexcept { return impl_ != nullptr; }
  friend bool operator==(const chan_handle& a, const chan_handle& b) noexcept { return a.impl_ == b.impl_; }
  friend bool operator==(const chan_handle& a, std::nullptr_t) noexcept { return a.impl_ == nullptr; }

 protected:
  chan_handle() = default;
  explicit chan_handle(std::shared_ptr<chan_impl<T>> p) noexcept : impl_(std::move(p)) {}

  void do_send(T v, gofer::source_location where) const {
    if (!impl_) block_forever(wait_reason::chan_send_nil, where);
    impl_->send(v, true, where);
  }
  bool do_try_send(T& v) const { return impl_ ? impl_->send(v, false, {}) : false; }
  std::optional<T> do_recv(gofer::source_location where) const {
    if (!impl_) block_forever(wait_reason::chan_recv_nil, where);
    return impl_->recv(true, where);
  }
  try_recv_result<T> do_try_recv() const {
    if (!impl_) return {};
    return impl_->try_recv();
  }
  void do_close() const {
    if (!impl_) throw_close_of_nil();
    if (__builtin_expect(impl_->bubble != 0, false)) check_bubble(impl_->bubble, "close of");
    impl_->close_and_wake();
  }

  std::shared_ptr<chan_impl<T>> impl_;

  template <class> friend class gofer::chan;
  template <class> friend class gofer::send_chan;
  template <class> friend class gofer::recv_chan;
  friend struct chan_access;
};

// Range-for support: receives until the channel is closed and drained. Every receive
// records the range-for statement's line (begin()'s call site).
template <class T, class H>
class chan_range_iterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = T;
  using difference_type = std::ptrdiff_t;

  chan_range_iterator() = default;  // end
  chan_range_iterator(const H* h, gofer::source_location where) : h_(h), where_(where) { ++*this; }
  T& operator*() noexcept { return *cur_; }
  chan_range_iterator& operator++() {
    cur_ = h_->recv(where_);
    if (!cur_) h_ = nullptr;
    return *this;
  }
  friend bool operator==(const chan_range_iterator& a, const chan_range_iterator& b) noexcept {
    return a.h_ == b.h_;
  }

 private:
  const H* h_ = nullptr;
  gofer::source_location where_;
  std::optional<T> cur_;
};

// Internal access to a handle's channel (for select, timers).
struct chan_access {
  template <class T>
  static chan_impl<T>* get(const chan_handle<T>& h) noexcept { return h.impl_.get(); }
  template <class T>
  static recv_chan<T> make_recv(std::shared_ptr<chan_impl<T>> p) noexcept {
    recv_chan<T> r;
    r.impl_ = std::move(p);
    return r;
  }
};

}  // namespace detail

template <class T>
class chan : public detail::chan_handle<T> {
  using base = detail::chan_handle<T>;

 public:
  using value_type = T;
  using iterator = detail::chan_range_iterator<T, chan>;

  // make(chan T): an unbuffered channel. May allocate.
  chan() : base(std::make_shared<detail::chan_impl<T>>(0)) {}
  // make(chan T, capacity): buffered when capacity > 0, unbuffered when 0. May allocate.
  // Throws panic_error("makechan: size out of range") for absurd capacities.
  // Any integer type: chan<int> c(0) must not be ambiguous with the nil constructor.
  // A negative capacity throws the same panic, like make(chan T, -1).
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  explicit chan(I capacity) : base(make_impl(capacity)) {}
  // var c chan T: the nil channel.
  chan(std::nullptr_t) noexcept {}

  // c <- v. Delivers v to a parked receiver, or buffers it, or parks until a receiver takes
  // it. Throws panic_error("send on closed channel") if the channel is closed before or
  // while waiting; on a nil channel parks forever. Thread-safe. Records the call site
  // (`where`, left defaulted) for dumps and the deadlock report (gofer/debug.hpp).
  void send(T v, gofer::source_location where = gofer::source_location::current()) const {
    this->do_send(std::move(v), where);
  }
  // v, ok := <-c. The oldest buffered value or a parked sender's value; parks until one
  // arrives; nullopt once the channel is closed and drained. Nil: parks forever. Thread-safe.
  // Records the call site.
  std::optional<T> recv(gofer::source_location where = gofer::source_location::current()) const {
    return this->do_recv(where);
  }
  // select { case c <- v: ...; default: }. Never blocks: true and v moved from if a
  // receiver was parked or the buffer had room; false otherwise (and on a nil channel).
  // Throws panic_error("send on closed channel") on a closed channel, like Go's select.
  bool try_send(T& v) const { return this->do_try_send(v); }
  bool try_send(T&& v) const { return this->do_try_send(v); }
  // select { case v, ok := <-c: ...; default: }. Never blocks: a value if one is ready;
  // empty with closed() == true if the channel is closed and drained; empty with
  // closed() == false if nothing is ready (and always on a nil channel).
  try_recv_result<T> try_recv() const { return this->do_try_recv(); }
  // close(c). Wakes every parked receiver (nullopt once drained) and sender (throws).
  // Throws panic_error "close of closed channel" / "close of nil channel". Never blocks.
  void close() const { this->do_close(); }

  // for (T v : c): receives until closed and drained. Records the for statement's line.
  iterator begin(gofer::source_location where = gofer::source_location::current()) const {
    return iterator(this, where);
  }
  iterator end() const noexcept { return iterator(); }

 private:
  template <class I>
  static std::shared_ptr<detail::chan_impl<T>> make_impl(I capacity) {
    if constexpr (std::is_signed_v<I>) {
      if (capacity < 0) detail::throw_makechan_size();
    }
    return std::make_shared<detail::chan_impl<T>>(static_cast<std::size_t>(capacity));
  }
};

template <class T>
class send_chan : public detail::chan_handle<T> {
  using base = detail::chan_handle<T>;

 public:
  using value_type = T;
  send_chan() noexcept = default;  // nil
  send_chan(std::nullptr_t) noexcept {}
  send_chan(const chan<T>& c) noexcept : base(c.impl_) {}  // NOLINT: implicit, like Go
  send_chan(chan<T>&& c) noexcept : base(std::move(c.impl_)) {}

  // As chan<T>'s: each records its call site.
  void send(T v, gofer::source_location where = gofer::source_location::current()) const {
    this->do_send(std::move(v), where);
  }
  bool try_send(T& v) const { return this->do_try_send(v); }
  bool try_send(T&& v) const { return this->do_try_send(v); }
  void close() const { this->do_close(); }
};

template <class T>
class recv_chan : public detail::chan_handle<T> {
  using base = detail::chan_handle<T>;

 public:
  using value_type = T;
  using iterator = detail::chan_range_iterator<T, recv_chan>;
  recv_chan() noexcept = default;  // nil
  recv_chan(std::nullptr_t) noexcept {}
  recv_chan(const chan<T>& c) noexcept : base(c.impl_) {}  // NOLINT: implicit, like Go
  recv_chan(chan<T>&& c) noexcept : base(std::move(c.impl_)) {}

  // As chan<T>'s: each records its call site.
  std::optional<T> recv(gofer::source_location where = gofer::source_location::current()) const {
    return this->do_recv(where);
  }
  try_recv_result<T> try_recv() const { return this->do_try_recv(); }
  iterator begin(gofer::source_location where = gofer::source_location::current()) const {
    return iterator(this, where);
  }
  iterator end() const noexcept { return iterator(); }
};

}  // namespace gofer
