// lib/src/detail/tsan.hpp — ThreadSanitizer's view of goroutines (the tsan preset only).
//
//   GOFER_TSAN           defined when compiling with -fsanitize=thread
//   tsan_fiber           a goroutine's TSan fiber (member of detail::goroutine)
//   tsan_switch_to(c)    tells TSan that this thread now runs context c (pick_next)
//   tsan_release(addr)   a release on addr that Boost's uninstrumented code performs
//   tsan_thread_init()   per worker thread: switches TSan back to the thread at exit
//
// Debian's Boost.Context 1.74 switches stacks in assembly with no sanitizer hooks (its TSan
// annotations arrived in 1.76), so by itself TSan sees one "thread" per OS thread whose
// call stack jumps around. gofer tells it about goroutines itself, the way Boost 1.76+ does
// in its ucontext backend: every goroutine gets a TSan fiber (__tsan_create_fiber), and
// every switch Boost makes is announced with __tsan_switch_to_fiber just before it.
//
// Where: every switch between contexts on a worker thread goes through gofer's
// sched_algo::pick_next (Boost calls it, then jumps to the context it returned). pick_next
// is compiled *without* TSan instrumentation (GOFER_NO_TSAN: with GCC that also drops the
// __tsan_func_entry/exit calls), so switching TSan's fiber inside it does not unbalance
// TSan's shadow call stacks: the frames between pick_next and the jump are all Boost's
// (uninstrumented), and the context we switch to resumes in uninstrumented Boost code too,
// returning into the instrumented frame (park, yield, goroutine_main's caller) that its own
// shadow stack holds. (Calling the switch from an instrumented function would pop that
// function's frame from the wrong fiber's shadow stack: Tencent/flare#197.) With clang,
// no_sanitize("thread") keeps entry/exit calls; the tsan preset uses GCC.
//
// The switch synchronizes (flag 0): TSan orders everything a thread's previous context did
// before what the next one does. That is what makes gofer's hand-offs visible (a goroutine
// readied on one thread and resumed on another is ordered by the run queue's lock, then by
// the switch), and it means that races between two goroutines that happen to run on the
// same thread, one after the other, are not reported. Races between goroutines running on
// different threads are. See lib/DESIGN.md, "Sanitizers".
#pragma once

#if defined(__SANITIZE_THREAD__)
#define GOFER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GOFER_TSAN 1
#endif
#endif

#ifdef GOFER_TSAN
#include <sanitizer/tsan_interface.h>

#include <boost/fiber/context.hpp>

#define GOFER_NO_TSAN __attribute__((no_sanitize("thread")))

namespace gofer::detail {

// A goroutine's TSan fiber: created with the goroutine record (so TSan orders the spawner's
// writes before the goroutine's first step), destroyed with it (never while it runs: Boost
// destroys a context's properties after it terminated, from another context). The last
// member of the record, so destroyed first: its acquire pairs with the release that
// goroutine_main makes after its last access to the record. Whoever drops the context's
// last reference deletes the record, and Boost orders that with a relaxed decrement and an
// acquire fence, which TSan does not model.
struct tsan_fiber {
  void* fiber = __tsan_create_fiber(0);
  tsan_fiber() = default;
  tsan_fiber(const tsan_fiber&) = delete;
  tsan_fiber& operator=(const tsan_fiber&) = delete;
  ~tsan_fiber() {
    __tsan_acquire(this);
    __tsan_destroy_fiber(fiber);
  }
};

// Per worker thread: the thread's own fiber (its main context runs on it) and the fiber of
// Boost's dispatcher context, made when the dispatcher first runs.
struct tsan_thread {
  void* main = nullptr;
  void* dispatcher = nullptr;
  // Thread exit: Boost's scheduler destructor (a thread_local destroyed before this one)
  // last switches dispatcher -> main without asking pick_next. Tell TSan, then free.
  GOFER_NO_TSAN ~tsan_thread() {
    if (main != nullptr) __tsan_switch_to_fiber(main, 0);
    if (dispatcher != nullptr) __tsan_destroy_fiber(dispatcher);
  }
};

GOFER_NO_TSAN inline tsan_thread& tsan_this_thread() noexcept {
  static thread_local tsan_thread t;
  return t;
}

// From worker_main, before Boost's per-thread scheduler exists: constructs the thread_local
// first, so it is destroyed after Boost's.
GOFER_NO_TSAN inline void tsan_thread_init() noexcept {
  tsan_thread& t = tsan_this_thread();
  t.main = __tsan_get_current_fiber();
}

// Called last in pick_next, with the context Boost is about to switch to and, if that is a
// goroutine, its fiber (nullptr for the thread's main and dispatcher contexts).
GOFER_NO_TSAN inline void tsan_switch_to(boost::fibers::context* c, void* goroutine_fiber) noexcept {
  if (c == nullptr || c == boost::fibers::context::active()) return;
  void* f = goroutine_fiber;
  if (f == nullptr) {
    tsan_thread& t = tsan_this_thread();
    if (c->is_context(boost::fibers::type::main_context)) {
      f = t.main;
    } else {
      if (t.dispatcher == nullptr) t.dispatcher = __tsan_create_fiber(0);
      f = t.dispatcher;
    }
  }
  if (f != nullptr) __tsan_switch_to_fiber(f, 0);
}

inline void tsan_release(void* addr) noexcept { __tsan_release(addr); }

}  // namespace gofer::detail

#else  // !GOFER_TSAN

#define GOFER_NO_TSAN

namespace gofer::detail {
inline void tsan_thread_init() noexcept {}
inline void tsan_release(void*) noexcept {}
}  // namespace gofer::detail

#endif
