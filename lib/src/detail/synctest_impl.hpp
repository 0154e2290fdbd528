// lib/src/detail/synctest_impl.hpp — synctest bubbles inside the runtime (not installed).
//
//   bubble          one synctest::run: its members, its virtual clock and timer heap
//   g_bubbles       live bubbles in this process (0: every hook is one untaken branch)
//   timers_here     the timer heap a goroutine's timers go to (its bubble's, or the run's)
//   bubble_*        the hooks spawn, goroutine_main, park and unpark call
//
// Accounting (Go's synctestBubble, src/runtime/synctest.go): `active` counts the members
// that are not durably blocked — running, runnable, or parked for a reason that is not
// durable (a mutex, I/O, gofer::blocking). It changes only under a member's park_lock:
// park() decrements it when a member really suspends for a durable reason (bub_durable),
// unpark() increments it when it readies such a member; spawn increments it for a new
// member, the member's exit decrements it. The transition to 0 wakes the bubble's root
// (the caller of synctest::run, claim protocol), which then fires a due timer, wakes
// synctest::wait's caller, advances the clock to the next timer, or reports a deadlock.
// Lock order: a member's park_lock -> bubble::mu -> the root's park_lock (the root is
// never a member, so it never holds its own park_lock while taking mu).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <ostream>

#include "detail/runtime.hpp"

namespace gofer::detail {

struct bubble {
  runtime* rt = nullptr;
  // Owned jointly: timer objects made in the bubble keep it; its clock lives in it.
  std::shared_ptr<timer_heap> timers = std::make_shared<timer_heap>();
  std::atomic<int> refs{1};              // the root + one per member
  std::atomic<std::int64_t> active{0};   // members not durably blocked
  std::atomic<std::int64_t> members{0};  // members alive
  std::uint64_t main_gid = 0;            // the goroutine running f (set at its spawn)
  std::atomic<bool> main_done{false};    // f returned: time stops (Go)
  std::uint32_t id = 0;                  // never 0; channels made in the bubble carry it

  gofer::detail::spinlock mu;  // guards root and waiter (a leaf but for the root's park_lock)
  goroutine* root = nullptr;   // synctest::run's caller while it waits; nullptr after
  goroutine* waiter = nullptr; // synctest::wait's caller, if any
};


// Durably blocking, as Go's isIdleInSynctest: operations on channels of the bubble (a channel
// made outside may be readied from outside: not durable), select on such channels only, sleep and timers,
// sync.Cond, sync.WaitGroup, synctest::wait. Not: mutex locks (the holder may be outside),
// I/O, gofer::blocking.
inline bool durable_reason(wait_reason r) noexcept {
  switch (r) {
    case wait_reason::chan_send_durable:  // channels of the waiter's own bubble only
    case wait_reason::chan_recv_durable:
    case wait_reason::select_durable:
    case wait_reason::chan_send_nil:
    case wait_reason::chan_recv_nil:
    case wait_reason::select_no_cases:
    case wait_reason::sleep:
    case wait_reason::sync_waitgroup_wait:
    case wait_reason::sync_cond_wait:
    case wait_reason::synctest_wait:
      return true;
    default:
      return false;
  }
}

// The calling goroutine's bubble, or nullptr (one relaxed load when no bubble exists).
bubble* current_bubble() noexcept;

// The heap a timer made by the calling goroutine goes to.
inline const std::shared_ptr<timer_heap>& timers_here(runtime& rt) noexcept {
  if (__builtin_expect(g_bubbles.load(std::memory_order_relaxed) != 0, false)) {
    if (bubble* b = current_bubble()) return b->timers;
  }
  return rt.timers;
}

// --- hooks ---
// spawn(): g is new; if its parent is in (or starting) a bubble, g joins it.
void bubble_on_spawn(goroutine* g) noexcept;
// goroutine_main(): g (a member) ends.
void bubble_on_exit(goroutine* g) noexcept;
// park(), under g's park_lock, g about to suspend (a member).
void bubble_on_park(goroutine* g, wait_reason why) noexcept;
// unpark(), under g's park_lock, g was parked durably.
void bubble_on_unpark(goroutine* g) noexcept;

// Prints the goroutines of bubble b (runtime.cpp, dump_to's format).
void dump_bubble(runtime& rt, std::ostream& out, const bubble* b);

}  // namespace gofer::detail
