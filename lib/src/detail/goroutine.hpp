// lib/src/detail/goroutine.hpp — the runtime record of one goroutine (not installed).
//
//   goroutine     Boost fiber_properties of a goroutine's fiber: its id and name, the claim
//                 word and park state of the claim protocol (detail/park.hpp,
//                 gofer/detail/wait.hpp), diagnostics, tracing, synctest and registry links
//
// Owned by the fiber's context; see lib/DESIGN.md ("Parking").
#pragma once

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include <boost/fiber/context.hpp>
#include <boost/fiber/detail/spinlock.hpp>
#include <boost/fiber/properties.hpp>

#include "gofer/detail/source_location.hpp"
#include "gofer/detail/wait.hpp"
#include "detail/tsan.hpp"

namespace gofer::detail {

using boost::fibers::context;
using clock = std::chrono::steady_clock;

struct bubble;  // a synctest bubble (detail/synctest_impl.hpp)

// The runtime record of a goroutine. Owned by its fiber's context (Boost deletes the
// properties object when the context is destroyed, after the goroutine returned).
struct goroutine final : boost::fibers::fiber_properties {
  goroutine(context* c, std::uint64_t gid) noexcept : fiber_properties(c), ctx(c), id(gid) {}

  context* const ctx;
  const std::uint64_t id;

  // --- the claim protocol (gofer/detail/wait.hpp) ---
  // 0: a wait is open (begin_wait ran, nobody claimed it yet); 1: claimed / not waiting.
  std::atomic<std::uint32_t> claim{1};
  // Written by the claim winner before unpark(); read by this goroutine after park().
  waiter* fired = nullptr;
  bool shutdown_woken = false;

  // --- parking: guards `parked` and `wake_pending`. Boost's spinlock type, because
  // context::suspend(lock) releases it only after this goroutine's stack is switched out,
  // so a waker that takes it can never schedule a goroutine that is still running.
  boost::fibers::detail::spinlock park_lock;
  bool parked = false;        // suspended in park(), waiting for unpark()
  bool wake_pending = false;  // unpark() came before park(): the next park() returns at once
  std::uint32_t unparks = 0;  // parked -> not parked transitions (the leak check's snapshot)

  // --- diagnostics ---
  std::string name;                                    // immutable after spawn
  std::atomic<wait_reason> reason{wait_reason::none};  // set in park()
  std::atomic<std::int64_t> parked_since_ms{0};        // coarse clock, set in park()
  // The user's call that parked it (wait.hpp, "Call sites"), set in park(). An atomic
  // because dumps read it from other threads; one pointer, so lock-free (asserted below).
  std::atomic<gofer::source_location> where{gofer::source_location{}};

  // --- tracing (trace.cpp), only when GOFER_TRACE is set ---
  std::uint64_t trace_flow = 0;  // a pending wake-up flow to end when it next runs
  bool trace_named = false;      // its name is recorded in the tracer

  // --- synctest (detail/synctest_impl.hpp): the bubble this goroutine belongs to, or the
  // bubble its synctest::run is starting (then bub_member is false). Written by the
  // goroutine itself or before it starts; bub_durable is guarded by park_lock.
  bubble* bub = nullptr;
  bool bub_member = false;   // counted in bub's active/members
  bool bub_durable = false;  // parked durably: unpark() counts it active again

  // --- runtime registry links, guarded by the mutex of the registry shard of `id` ---
  goroutine* reg_prev = nullptr;
  goroutine* reg_next = nullptr;

#ifdef GOFER_TSAN
  tsan_fiber tsan;  // ThreadSanitizer's fiber for this goroutine (detail/tsan.hpp)
#endif
};

static_assert(std::atomic<gofer::source_location>::is_always_lock_free,
              "goroutine::where must be a plain pointer store");

// Milliseconds on CLOCK_MONOTONIC_COARSE (a few ns, no syscall): when a goroutine parked,
// for the dump's "[chan receive, 2.5s]".
inline std::int64_t coarse_now_ms() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace gofer::detail
