// bench/user_queue.hpp — benchmark your own channel: the adapter for a queue you wrote.
//
//   user_impl<Q>   the adapter (bench/adapters.hpp's concept) for your class template Q
//
// `./gofer bench --impl FILE[:TEMPLATE]` builds chan_bench once more with FILE included and
// runs every channel scenario with your queue beside gofer's chan, Boost.Fiber, moodycamel,
// the mutex+condvar and absl::Mutex queues and Go, into the same tables and charts; your
// queue is the column "yours" (benchmark names BM_user_...). TEMPLATE defaults to
// bounded_buffer. What your queue must offer — a few lines, nothing else:
//
//   template <class T> class Q {
//    public:
//     explicit Q(std::size_t capacity);  // 0 asks for a rendezvous (unbuffered); a queue
//                                        // that cannot do that may treat it as 1: say so
//     void put(T v);                     // waits while full
//     T take();                          // waits while empty
//   };
//
// Q need not be copyable or movable (it may hold a mutex): the adapter keeps it behind a
// unique_ptr and shares it by reference. The tasks are goroutines (gofer::run with the
// scenario's thread count, as for gofer's chan), so put and take must *park* a goroutine,
// not block its thread: build Q on gofer::mutex + gofer::cond (or gofer::chan), not on
// std::mutex + std::condition_variable, which would stall a scheduler thread and, with one
// thread, deadlock. No close is needed: every scenario gives each receiver an exact count.
//
// FILE may also hold GoogleTest tests (an exercise does): chan_bench_user links GoogleTest
// but never runs them. The worked example is the bounded-buffer exercise's solution:
//   ./gofer bench --quick --impl exercises/solutions/04_integrity/buffer1.cpp
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include "adapters.hpp"

namespace bench {

template <template <class> class Q>
struct user_impl {
  static constexpr const char* name = "user";

  static void run(unsigned threads, std::function<void()> fn) { gofer_impl::run(threads, std::move(fn)); }

  using task = gofer_impl::task;
  template <class F>
  static task spawn(F fn) {
    return gofer_impl::spawn(std::move(fn));
  }

  template <class T>
  static std::unique_ptr<Q<T>> make(std::size_t cap) {
    return std::make_unique<Q<T>>(cap);
  }
  template <class T>
  static void send(std::unique_ptr<Q<T>>& q, T v) {
    q->put(std::move(v));
  }
  template <class T>
  static T recv(std::unique_ptr<Q<T>>& q) {
    return q->take();
  }
};

}  // namespace bench
