// lib/src/synctest.cpp — synctest bubbles: virtual time that jumps when every member of a
// bubble is durably blocked (gofer/synctest.hpp; Go's src/runtime/synctest.go).
//
// The caller of synctest::run is the bubble's *root*: not a member, it starts f as the
// first member and then waits (claim protocol) for the bubble to go idle — its `active`
// count of members not durably blocked reaching 0 (accounting: detail/synctest_impl.hpp).
// Each time it is idle, the root, in this order: returns if no member is left; fires the
// timers due at the current virtual instant; wakes synctest::wait's caller; advances the
// clock to the next timer and fires what is due then (not once f has returned: time stops,
// as in Go); or, with nothing left that could wake a member, unwinds the members and
// panics with the deadlock report.
//
// The root acts on a snapshot: a member may be woken from outside the bubble between the
// root's read of `active` and its action (Go forbids that by tying channels to bubbles; see
// the header's differences). Nothing breaks then: the root's timers fire early at worst.
#include "gofer/synctest.hpp"

#include <sstream>
#include <string>
#include <vector>

#include "detail/runtime.hpp"
#include "detail/synctest_impl.hpp"
#include "gofer/chan.hpp"
#include "gofer/panic.hpp"
#include "gofer/runtime.hpp"

namespace gofer::detail {

std::atomic<int> g_bubbles{0};

namespace {

std::atomic<std::uint32_t> g_next_bubble_id{0};

// Go's synctestBaseTime: midnight UTC 2000-01-01, as Unix time.
constexpr clock::time_point kBubbleStart{std::chrono::duration_cast<clock::duration>(std::chrono::seconds(946684800))};

void release(bubble* b) noexcept {
  if (b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    delete b;
    g_bubbles.fetch_sub(1, std::memory_order_relaxed);
  }
}

// The bubble went idle: wake the root if it waits (else it sees `active` == 0 itself:
// it reads `active` after opening its wait, we claim after the decrement, both seq_cst).
void wake_root(bubble* b) noexcept {
  spinlock_guard lk(b->mu);
  goroutine* r = b->root;
  if (r != nullptr && try_claim(r)) {
    set_fired(r, nullptr);
    unpark(r);
  }
}

// Claims every member whose wait is open and wakes it with shutdown_woken: it unwinds
// (goroutine_exit) from its wait, running its destructors. A member not parked yet (woken
// already, or running) is left alone; the root calls this again when the bubble is idle.
void unwind_members(runtime& rt, bubble* b) {
  std::vector<goroutine*> claimed;
  for (runtime::registry_shard& sh : rt.registry) {
    std::lock_guard<std::mutex> lk(sh.mu);
    for (goroutine* g = sh.head; g != nullptr; g = g->reg_next) {
      if (g->bub == b && g->bub_member && try_claim(g)) {
        g->shutdown_woken = true;
        claimed.push_back(g);
      }
    }
  }
  for (goroutine* g : claimed) unpark(g);
}

}  // namespace

bubble* current_bubble() noexcept {
  goroutine* g = current_goroutine();
  return g != nullptr && g->bub_member ? g->bub : nullptr;
}

std::uint32_t bubble_here_slow() noexcept {
  bubble* b = current_bubble();
  return b != nullptr ? b->id : 0;
}

void check_bubble(std::uint32_t b, const char* what) {
  if (bubble_here() != b) throw panic_error(std::string(what) + " synctest channel from outside bubble");
}

// The root fires the bubble's timers on the bubble's behalf: while it does, it counts as a
// member for current_bubble() (a timer's channel send, a context's cancel closing its done
// channel, a goroutine a callback starts all belong to the bubble), without being counted
// in `members` or `active` (it never parks in there).
static void fire_in_bubble(goroutine* root, bubble* b, clock::time_point now) {
  root->bub = b;
  root->bub_member = true;
  b->timers->fire_due(now);
  root->bub_member = false;
  root->bub = nullptr;
}

void bubble_on_spawn(goroutine* g) noexcept {
  goroutine* parent = current_goroutine();
  if (parent == nullptr || parent->bub == nullptr) return;
  bubble* b = parent->bub;
  g->bub = b;
  g->bub_member = true;
  b->refs.fetch_add(1, std::memory_order_relaxed);
  b->members.fetch_add(1, std::memory_order_seq_cst);
  b->active.fetch_add(1, std::memory_order_seq_cst);
  if (!parent->bub_member) b->main_gid = g->id;  // the root starting f (before f runs)
}

void bubble_on_exit(goroutine* g) noexcept {
  bubble* b = g->bub;
  if (g->id == b->main_gid) b->main_done.store(true, std::memory_order_seq_cst);
  b->members.fetch_sub(1, std::memory_order_seq_cst);
  if (b->active.fetch_sub(1, std::memory_order_seq_cst) == 1) wake_root(b);
  // g->bub stays set (dumps may read it until g's record goes); g is out of the registry.
  release(b);
}

void bubble_on_park(goroutine* g, wait_reason why) noexcept {
  if (!durable_reason(why)) return;
  g->bub_durable = true;
  if (g->bub->active.fetch_sub(1, std::memory_order_seq_cst) == 1) wake_root(g->bub);
}

void bubble_on_unpark(goroutine* g) noexcept {
  g->bub_durable = false;
  g->bub->active.fetch_add(1, std::memory_order_seq_cst);
}

}  // namespace gofer::detail

namespace gofer::synctest {

using detail::bubble;
using detail::clock;
using detail::goroutine;

void run(std::function<void()> f, gofer::source_location where) {
  goroutine* self = detail::current_goroutine_or_throw("synctest::run");
  if (self->bub != nullptr) throw panic_error("synctest.Run called from within a synctest bubble");
  detail::runtime* rt = detail::current_runtime();

  auto* b = new bubble;
  b->rt = rt;
  b->timers->set_virtual_now(detail::kBubbleStart);
  do b->id = detail::g_next_bubble_id.fetch_add(1, std::memory_order_relaxed) + 1;
  while (b->id == 0);  // 0 means "no bubble" (after 2^32 bubbles the ids wrap)
  detail::g_bubbles.fetch_add(1, std::memory_order_relaxed);
  {
    detail::spinlock_guard lk(b->mu);
    b->root = self;
  }
  auto leave = [&] {
    {
      detail::spinlock_guard lk(b->mu);
      b->root = nullptr;
    }
    detail::release(b);
  };
  // The goroutine go() makes now joins b as its first member (bubble_on_spawn).
  self->bub = b;
  try {
    gofer::go(std::move(f));
  } catch (...) {
    self->bub = nullptr;
    leave();
    throw;
  }
  self->bub = nullptr;

  std::string deadlock;  // set once the bubble is found deadlocked: its members unwind
  std::string dump;
  for (;;) {
    detail::begin_wait(self);
    bool idle = b->active.load(std::memory_order_seq_cst) == 0;
    if (!idle || !detail::try_claim(self)) {
      // Not idle: wait until the last active member blocks. (Or a member claimed us just
      // now: this park returns at once.)
      detail::park(self, detail::wait_reason::synctest_run, b, where);
      if (detail::woken_by_shutdown(self)) {
        leave();  // the run's shutdown unwinds the members too
        detail::throw_goroutine_exit();
      }
      if (!idle) continue;
    }
    if (b->members.load(std::memory_order_seq_cst) == 0) break;
    if (b->active.load(std::memory_order_seq_cst) != 0) continue;
    if (!deadlock.empty()) {  // unwinding: a member blocked again in a destructor
      detail::unwind_members(*rt, b);
      continue;
    }
    const clock::time_point now = b->timers->now();
    const clock::time_point next = b->timers->next();
    if (next <= now) {  // due at this instant (a timer of 0, or set at the current time)
      detail::fire_in_bubble(self, b, now);
      continue;
    }
    goroutine* w = nullptr;
    {
      detail::spinlock_guard lk(b->mu);
      if (b->waiter != nullptr && detail::try_claim(b->waiter)) w = b->waiter;
    }
    if (w != nullptr) {
      detail::set_fired(w, nullptr);
      detail::unpark(w);
      continue;
    }
    const bool main_done = b->main_done.load(std::memory_order_seq_cst);
    if (next != clock::time_point::max() && !main_done) {
      b->timers->set_virtual_now(next);  // the jump: every member is durably blocked
      detail::fire_in_bubble(self, b, next);
      continue;
    }
    deadlock = main_done ? "deadlock: main bubble goroutine has exited but blocked goroutines remain"
                         : "deadlock: all goroutines in bubble are blocked";
    std::ostringstream out;
    detail::dump_bubble(*rt, out, b);
    dump = out.str();
    detail::unwind_members(*rt, b);
  }
  leave();
  if (!deadlock.empty()) throw panic_error(deadlock + "\n\n" + dump);
}

void wait(gofer::source_location where) {
  goroutine* g = detail::current_goroutine();
  if (g == nullptr || !g->bub_member) throw panic_error("goroutine is not in a bubble");
  bubble* b = g->bub;
  bool busy;
  {
    detail::spinlock_guard lk(b->mu);
    busy = b->waiter != nullptr;
    if (!busy) b->waiter = g;
  }
  if (busy) throw panic_error("wait already in progress");
  // Parking here is durable: when the others are durably blocked too, the bubble is idle
  // and the root wakes us (before it would advance the clock).
  detail::begin_wait(g);
  detail::park(g, detail::wait_reason::synctest_wait, b, where);
  {
    detail::spinlock_guard lk(b->mu);
    b->waiter = nullptr;
  }
  if (detail::woken_by_shutdown(g)) detail::throw_goroutine_exit();
}

}  // namespace gofer::synctest
