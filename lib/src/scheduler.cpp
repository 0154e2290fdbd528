// lib/src/scheduler.cpp — gofer's M:N scheduling algorithm on Boost.Fiber.
//
// Each worker thread installs one sched_algo. Boost calls it to queue a context that became
// ready (awakened), to choose the next one to run (pick_next), and to wait when there is
// nothing to do (suspend_until), woken by notify() from other threads.
//
// Migration (Boost's documented way, as its work_stealing does it): a goroutine context is
// *detached* from its thread's scheduler when it becomes ready, sits detached in a run
// queue (ours or, after a steal, another worker's) and is *attached* to whichever thread
// picks it. A goroutine that parks (runtime.cpp, park()) is detached too, by pick_next
// right after the switch away from it was decided (worker::parking): a parked goroutine
// belongs to no thread, and unpark() makes it ready on the *waker's* worker — never
// through Boost's remote-ready queue of the thread it parked on, where it would wait
// behind whatever that thread runs (Go's ready() does the same: the woken G goes to the
// waker's P). Pinned contexts (the thread's main and dispatcher contexts) never migrate
// and never enter a stealable queue.
//
// runnext (Go's): a goroutine readied by the goroutine running on this worker runs next on
// this worker, so a hand-off chain stays on one thread instead of bouncing between threads
// with a futex wake per hop. Every 61st pick the run queue goes first. A thief takes it
// only when the owner has kept it for kRunnextGrace without a switch (Go's runqsteal with
// stealRunNextG waits 3 us): a hand-off is picked within a few hundred nanoseconds, while
// a goroutine readied by one that then computes without a gofer call starts on an idle
// thread instead of waiting for the time slice. Readying into runnext wakes an idle worker
// (Go's ready() calls wakep()), which spins and so can see a runnext that stays.
//
// Boost's dispatcher context is in the ready set whenever a fiber runs (Boost re-queues it
// each time it resumes a fiber). It drains the remote-ready queue and releases terminated
// fibers, so it must get turns: pick_next returns it when no goroutine is ready, and every
// 61st pick regardless (at another offset) (Go checks its global run queue on the same schedule).
//
// Idle protocol (no lost wake-up; Go's wakep / nmspinning): a worker with nothing to run
// first spins a little (runtime::spinning counts it), then stops spinning, announces
// itself in runtime::idle_list (idle_count++), issues a seq_cst fence, re-checks every
// queue, and only then sleeps on its condition variable. Whoever publishes work (a push to
// a run queue or the injection queue, from a worker or from any other thread; a new
// earliest timer) calls wake_one_idle *after* publishing: a seq_cst fence, then a read of
// `spinning` and `idle_count`; it wakes an idle worker unless one spins. The two fences
// are ordered one way or the other: either the publisher sees the idler counted idle and
// not spinning, and wakes it, or the idler's re-check sees the work. A spinner that finds
// work and was the last one spinning calls wake_one_idle too (Go's resetspinning):
// publishers relied on it, and there may be more work than it takes. The monitor counts
// any wake-up lost anyway in runtime::lost_wakeups_rescued (see its comment below).
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

#include <boost/fiber/scheduler.hpp>

#include "detail/runtime.hpp"

namespace gofer::detail {

namespace {
constexpr std::uint64_t kFairnessTick = 61;
// Spin rounds before an idle worker sleeps; each round checks every queue, then pauses 16
// times: roughly 10-20 microseconds in all.
constexpr int kSpinRounds = 64;
// How long a victim's runnext must stay unpicked (its owner not switching) before a thief
// takes it. Go: 3 us; a channel hand-off takes ~0.1-0.3 us here.
constexpr auto kRunnextGrace = std::chrono::microseconds(5);

bool is_pinned(context* c) noexcept { return c->is_context(boost::fibers::type::pinned_context); }

// Per worker, no thread-local state.
std::uint64_t next_random(std::uint64_t& s) noexcept { return xorshift64star(s); }
}  // namespace

// ---------------------------------------------------------------------------------------
// worker

void worker::push_local(context* c) {
  {
    spinlock_guard lk(runq_lock);
    runq.push_back(c);
    runq_size.store(runq.size(), std::memory_order_relaxed);
  }
  // With one worker nobody can be idle while we run: skip the fence and the check.
  if (rt->nthreads > 1) rt->wake_one_idle();
}

void worker::make_ready(context* c, bool next) {
  if (!next) {
    push_local(c);  // stays detached: any worker may take it
    return;
  }
  if (rt->nthreads == 1) {  // nobody steals: plain accesses
    context* old = runnext.load(std::memory_order_relaxed);
    runnext.store(c, std::memory_order_relaxed);
    if (old != nullptr) push_local(old);
    return;
  }
  // acq_rel: publishes c to a thief's compare-exchange; acquires a displaced one.
  context* old = runnext.exchange(c, std::memory_order_acq_rel);
  if (old != nullptr) push_local(old);  // wakes an idle worker itself
  else rt->wake_one_idle();             // Go's wakep: a thief may take c if we keep it
}

context* worker::pop_local() {
  if (runq_size.load(std::memory_order_relaxed) == 0) return nullptr;
  spinlock_guard lk(runq_lock);
  if (runq.empty()) return nullptr;
  context* c = runq.front();
  runq.pop_front();
  runq_size.store(runq.size(), std::memory_order_relaxed);
  return c;
}

void worker::wake() {
  bool in_poll;
  {
    std::lock_guard<std::mutex> lk(sleep_mu);
    wakeup = true;
    wake_flag.store(true, std::memory_order_release);
    in_poll = polling;
  }
  if (in_poll) rt->poll.interrupt();
  sleep_cv.notify_one();
}

// ---------------------------------------------------------------------------------------
// runtime: idle workers

void runtime::wake_one_idle() noexcept {
  // The publisher's half of the idle protocol (see the top of this file): the work it
  // published (a plain or release store: a run queue's size, the injection queue's tail
  // index) must be visible before it reads `spinning` and `idle_count`. A seq_cst load is
  // no fence: on x86 it is a plain load that may pass the publisher's earlier stores still
  // in its store buffer (StoreLoad reordering), so without this fence the publisher could
  // read idle_count == 0 while the idler, having announced itself, re-checks and misses
  // the work — both sides miss (Dekker). This was the lost wake-up of gofer::blocking
  // completions (the helper thread's unpark had no fence at all).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // A spinning worker will find the work by itself: it re-checks every queue after it
  // stops spinning (after its own fence), and one that finds work wakes a successor.
  if (spinning.load(std::memory_order_relaxed) > 0) return;
  if (idle_count.load(std::memory_order_relaxed) == 0) return;
  worker* w = nullptr;
  {
    std::lock_guard<std::mutex> lk(idle_mu);
    if (idle_list.empty()) return;
    w = idle_list.back();
    idle_list.pop_back();
    w->idle = false;
    idle_count.fetch_sub(1, std::memory_order_seq_cst);
  }
  w->wake();
}

void runtime::wake_all() noexcept {
  for (auto& w : workers) w->wake();
}

bool runtime::has_work_anywhere() const noexcept {
  if (inject.size_approx() > 0) return true;
  for (auto& w : workers)
    if (w->runq_size.load(std::memory_order_seq_cst) > 0) return true;
  return false;
}

// ---------------------------------------------------------------------------------------
// sched_algo

// Threads: Boost calls awakened on this worker's own thread only — a yield readies the
// yielder in the ontop step of the switch (after the switch away from it is complete), and a
// context readied from another thread goes through Boost's remote-ready queue, which this
// thread's dispatcher drains into awakened. So `pinned` is owner-only like the rest of
// pick_next_impl's state; the one structure shared with other threads here is the injection
// queue (moodycamel's, thread-safe). A TSan report between awakened and pick_next_impl
// (seen once) was inside that queue's code: its fence-based block recycling is beyond what
// TSan models — benign, and suppressed narrowly in tools/tsan.supp, which says why.
void sched_algo::awakened(context* ctx) noexcept {
  if (is_pinned(ctx)) {
    w_.pinned.push_back(ctx);
    return;
  }
  // Boost readies a context itself only after a yield (and for the pinned dispatcher);
  // gofer's own wake-ups go through worker::make_ready. Ready goroutines are detached so
  // that any worker may attach and run them.
  ctx->detach();
  // A yield goes to the injection queue, as Go's Gosched puts the G on the global run
  // queue: every worker takes from it when its own queue is empty and at least every
  // kFairnessTick picks. At the back of the local queue the yielder would wait behind
  // everything it has just readied: a hub that fans one event out to 1,000 writers and
  // yields would handle one event per 1,000 switches
  // (scheduler_yield.a_yielder_returns_before_the_goroutines_it_readied_all_ran).
  rt_.inject.enqueue(ctx);
  if (rt_.nthreads > 1) rt_.wake_one_idle();
}

context* sched_algo::steal() noexcept {
  const std::size_t n = rt_.workers.size();
  if (n < 2) return nullptr;
  std::size_t start = next_random(w_.rng) % n;
  for (std::size_t k = 0; k < n; ++k) {
    worker& v = *rt_.workers[(start + k) % n];
    if (&v == &w_) continue;
    if (v.runq_size.load(std::memory_order_relaxed) != 0) {
      // Take half of the victim's queue (at least one) from its front, oldest first.
      std::vector<context*> got;
      {
        spinlock_guard lk(v.runq_lock);
        std::size_t take = (v.runq.size() + 1) / 2;
        for (std::size_t i = 0; i < take; ++i) {
          got.push_back(v.runq.front());
          v.runq.pop_front();
        }
        v.runq_size.store(v.runq.size(), std::memory_order_relaxed);
      }
      if (!got.empty()) {
        if (got.size() > 1) {
          {
            spinlock_guard lk(w_.runq_lock);
            w_.runq.insert(w_.runq.end(), got.begin() + 1, got.end());
            w_.runq_size.store(w_.runq.size(), std::memory_order_seq_cst);
          }
          // The extras are published anew, in our queue: the publisher's half of the idle
          // protocol, like any push. Without it a worker that looked while they were in
          // flight (in neither queue: `got`) and went to sleep was never told, and they
          // waited behind the goroutine we run next — forever if it never reaches a safe
          // point (scheduler_yield.a_polling_loop_… at 8 threads on 2 loaded cores: its
          // pollers spin until all have started). The wake-up that suspend_until's last
          // spinner sends comes before this steal, so it does not cover them.
          rt_.wake_one_idle();
        }
        return got.front();
      }
    }
    // Nothing queued there: its runnext, if the owner has kept it too long.
    context* rn = v.runnext.load(std::memory_order_relaxed);
    if (rn != nullptr && runnext_stale(v, rn) &&
        v.runnext.compare_exchange_strong(rn, nullptr, std::memory_order_acq_rel)) {
      return rn;
    }
  }
  return nullptr;
}

// True when this thief has seen `c` in v's runnext, with v not having switched since, for
// kRunnextGrace; else records the sighting. Go sleeps 3 us and looks again; our thief
// looks again on its next steal or spin round.
bool sched_algo::runnext_stale(worker& v, context* c) noexcept {
  if (w_.runnext_seen.size() != rt_.workers.size()) w_.runnext_seen.resize(rt_.workers.size());
  worker::runnext_sighting& s = w_.runnext_seen[v.index];
  const std::uint64_t tick = v.sched_tick.load(std::memory_order_relaxed);
  const clock::time_point now = clock::now();
  if (s.c != c || s.tick != tick) {
    s = {c, tick, now};
    return false;
  }
  return now - s.since >= kRunnextGrace;
}

// For the spin loop: some victim's runnext is stale (steal() will take it).
bool sched_algo::stealable_runnext() noexcept {
  for (auto& v : rt_.workers) {
    if (v.get() == &w_) continue;
    context* rn = v->runnext.load(std::memory_order_relaxed);
    if (rn != nullptr && runnext_stale(*v, rn)) return true;
  }
  return false;
}

inline bool sched_algo::take_injected(context*& c) noexcept {
  if (!rt_.inject.try_dequeue(c)) return false;
  w_.inject_taken.store(w_.inject_taken.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return true;
}

[[gnu::always_inline]] inline context* sched_algo::pick_next_impl() noexcept {
  // The context that is switching away (Boost's thread-local: read it once per pick).
  context* const self = context::active();
  ++w_.tick;
  // For the monitor: a pick is a switch (plain stores: only this thread writes them).
  w_.sched_tick.store(w_.tick, std::memory_order_relaxed);

  // Ready sockets and expired timers first: they make goroutines ready (cheap when no
  // socket is waited on and no timer is pending). Only on the dispatcher: a goroutine
  // calls pick_next from park() while holding its own park_lock, and firing its timer
  // there would unpark it on the same thread (deadlock).
  // The dispatcher runs whenever the local queue is empty and every kFairnessTick picks.
  if (self->is_context(boost::fibers::type::dispatcher_context)) {
    // Netpoll while busy (same reason to be on the dispatcher: poll() unparks goroutines),
    // at most once per kFairnessTick picks. A busy worker reaches the dispatcher once per
    // kFairnessTick picks (it is returned at phase kFairnessTick/2), so readiness is seen
    // within about two rounds even when no worker ever goes idle — otherwise a socket's
    // deadline timer (fired below on every visit) could beat data that had long arrived.
    if (w_.tick - w_.last_netpoll >= kFairnessTick && rt_.poll.waiters.load(std::memory_order_relaxed) > 0 &&
        !rt_.poll.polling.load(std::memory_order_relaxed)) {
      w_.last_netpoll = w_.tick;
      rt_.poll.poll(0);
    }
    clock::time_point next = rt_.timers->next();
    if (next != clock::time_point::max()) {
      clock::time_point now = clock::now();
      if (now >= next) rt_.timers->fire_due(now);
    }
  }

  // End of the run: hand control back to the thread's main context, which then exits.
  if (w_.main_ctx != nullptr && rt_.stop_threads.load(std::memory_order_acquire) &&
      self != w_.main_ctx) {
    context* m = w_.main_ctx;
    w_.main_ctx = nullptr;
    return m;
  }

  // Schedule exploration: every choice from the run's seeded generator (schedule.cpp).
  if (__builtin_expect(g_sched_random, false)) return pick_random();

  context* c = nullptr;
  // Fairness, on two offsets of the same schedule (Go checks its global queue every 61
  // picks): the injection queue and the run queue go ahead of runnext, so a ping-pong pair
  // living in runnext cannot starve the goroutines queued behind it; and the dispatcher
  // gets its turn to drain remote wake-ups even when local goroutines keep each other busy.
  const std::uint64_t phase = w_.tick % kFairnessTick;
  if (phase == 0 && (take_injected(c) || (c = w_.pop_local()) != nullptr)) {
    self->attach(c);
    return c;
  }
  if (phase == kFairnessTick / 2 && !w_.pinned.empty()) {
    c = w_.pinned.front();
    w_.pinned.pop_front();
    return c;
  }
  if (w_.runnext.load(std::memory_order_relaxed) != nullptr) {
    // A thief may take it meanwhile (with more than one worker): exchange.
    if (rt_.nthreads == 1) {
      c = w_.runnext.load(std::memory_order_relaxed);
      w_.runnext.store(nullptr, std::memory_order_relaxed);
    } else {
      c = w_.runnext.exchange(nullptr, std::memory_order_acquire);
    }
    if (c != nullptr) {
      self->attach(c);
      return c;
    }
  }
  if ((c = w_.pop_local()) != nullptr || take_injected(c)) {
    self->attach(c);
    return c;
  }
  if (!w_.pinned.empty()) {
    c = w_.pinned.front();
    w_.pinned.pop_front();
    return c;
  }
  if ((c = steal()) != nullptr) {
    self->attach(c);
    return c;
  }
  return nullptr;
}

// GOFER_NO_TSAN: under ThreadSanitizer this function announces the switch Boost makes right
// after it returns, so it must not be instrumented (detail/tsan.hpp).
GOFER_NO_TSAN context* sched_algo::pick_next() noexcept {
  context* c = pick_next_impl();
  w_.current = c != nullptr ? static_cast<goroutine*>(c->get_properties()) : nullptr;
  if (w_.parking != nullptr) {
    // The active goroutine is parking (park() set this under its park_lock, which stays
    // held until the switch away from it is complete, so no unpark() can see it yet).
    // Detach it: whoever unparks it attaches it to their own worker. It is in no Boost
    // queue (not ready, not sleeping, not waiting on a Boost primitive), as
    // detach_worker_context requires. After pick_next_impl: that may attach `c` through
    // the active context, which needs its scheduler.
    context* p = w_.parking;
    w_.parking = nullptr;
    p->get_scheduler()->detach_worker_context(p);
  }
  if (__builtin_expect(g_tracing, false)) trace_switch(w_, c);
  if (__builtin_expect(rt_.hog_after.count() != 0, false)) {
    auto* g = c != nullptr ? static_cast<goroutine*>(c->get_properties()) : nullptr;
    w_.running_gid.store(g != nullptr ? g->id : 0, std::memory_order_relaxed);
  }
#ifdef GOFER_TSAN
  // Last: nothing instrumented may run between this and Boost's switch.
  tsan_switch_to(c, c != nullptr && c->get_properties() != nullptr
                        ? static_cast<goroutine*>(c->get_properties())->tsan.fiber
                        : nullptr);
#endif
  return c;
}

bool sched_algo::has_ready_fibers() const noexcept {
  return w_.runnext.load(std::memory_order_relaxed) != nullptr || !w_.pinned.empty() || w_.runq_size.load(std::memory_order_relaxed) > 0;
}

void sched_algo::suspend_until(std::chrono::steady_clock::time_point const& abs_time) noexcept {
  w_.in_idle.store(true, std::memory_order_relaxed);
  struct idle_end {
    worker& w;
    ~idle_end() { w.in_idle.store(false, std::memory_order_relaxed); }
  } idle_end_{w_};
  // Spin a little first (Go's spinning M): work often arrives within microseconds, and a
  // futex sleep + wake costs far more. While we spin, publishers don't wake anybody.
  if (rt_.nthreads > 1 && abs_time > clock::now()) {
    rt_.spinning.fetch_add(1, std::memory_order_seq_cst);
    bool found = false;
    for (int i = 0; i < kSpinRounds && !found; ++i) {
      found = rt_.has_work_anywhere() || w_.wake_flag.load(std::memory_order_acquire) ||
              rt_.stop_threads.load(std::memory_order_relaxed) || stealable_runnext();
      for (int k = 0; k < 16 && !found; ++k) spin_pause();
    }
    const bool last_spinner = rt_.spinning.fetch_sub(1, std::memory_order_seq_cst) == 1;
    if (found) {
      w_.wake_flag.store(false, std::memory_order_relaxed);
      // Go's resetspinning: publishers skipped waking anybody while we spun, so more work
      // than we take may be waiting; the last spinner to stop hands the search on to an
      // idle worker (wake_one_idle wakes nobody if none is idle or another spins).
      if (last_spinner) rt_.wake_one_idle();
      return;  // the dispatcher calls pick_next again, which steals
    }
  }
  // Announce that this worker is idle, then look again for work published meanwhile.
  {
    std::lock_guard<std::mutex> lk(rt_.idle_mu);
    if (!w_.idle) {
      w_.idle = true;
      rt_.idle_list.push_back(&w_);
      rt_.idle_count.fetch_add(1, std::memory_order_seq_cst);
    }
  }
  // The idler's half: announced (and no longer counted as spinning), then a full fence,
  // then every queue again. Either a publisher's fence comes first in the single total
  // order of seq_cst fences and we see its work here, or ours does and it sees our
  // idle_count (and not our spinning count) and wakes us. The fence matters formally:
  // the injection queue's size is read with relaxed loads.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  bool work = rt_.has_work_anywhere() || rt_.stop_threads.load(std::memory_order_seq_cst);
  if (!work && rt_.poll.waiters.load(std::memory_order_seq_cst) > 0 &&
      !rt_.poll.polling.exchange(true, std::memory_order_acq_rel)) {
    // Goroutines wait on sockets: this worker sleeps in epoll_wait instead (until the next
    // timer), so readiness wakes it. wake() interrupts it through the eventfd.
    clock::time_point deadline = std::min(abs_time, rt_.timers->next());
    bool go_poll;
    {
      std::lock_guard<std::mutex> lk(w_.sleep_mu);
      go_poll = !w_.wakeup;
      w_.polling = go_poll;
    }
    if (go_poll) {
      int timeout_ms = -1;
      if (deadline != clock::time_point::max()) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
        timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left, 0, 1 << 30));
      }
      rt_.poll.poll(timeout_ms);
    }
    {
      std::lock_guard<std::mutex> lk(w_.sleep_mu);
      w_.polling = false;
      w_.wakeup = false;
      w_.wake_flag.store(false, std::memory_order_relaxed);
    }
    rt_.poll.polling.store(false, std::memory_order_release);
    work = true;  // skip the condition-variable sleep below
  }
  if (!work) {
    clock::time_point deadline = std::min(abs_time, rt_.timers->next());
    std::unique_lock<std::mutex> lk(w_.sleep_mu);
    if (deadline == clock::time_point::max()) {
      if (!w_.wakeup) {
        // Waiting with no deadline: if every worker is, maybe nothing can ever wake anyone.
        w_.sleeping_forever = true;
        if (rt_.forever_sleepers.fetch_add(1) + 1 == static_cast<int>(rt_.nthreads)) {
          lk.unlock();
          rt_.check_deadlock();  // exits the process if it is a deadlock
          lk.lock();
        }
        w_.asleep = true;
        w_.sleep_cv.wait(lk, [&] { return w_.wakeup; });
        w_.asleep = false;
        w_.sleeping_forever = false;
        rt_.forever_sleepers.fetch_sub(1);
      }
    } else {
      rt_.timed_sleepers.fetch_add(1);
      w_.asleep = true;
      w_.sleep_cv.wait_until(lk, deadline, [&] { return w_.wakeup; });
      w_.asleep = false;
      rt_.timed_sleepers.fetch_sub(1);
    }
    w_.wakeup = false;
    w_.wake_flag.store(false, std::memory_order_relaxed);
  }
  {
    std::lock_guard<std::mutex> lk(rt_.idle_mu);
    if (w_.idle) {
      w_.idle = false;
      rt_.idle_list.erase(std::find(rt_.idle_list.begin(), rt_.idle_list.end(), &w_));
      rt_.idle_count.fetch_sub(1, std::memory_order_seq_cst);
    }
  }
}

void sched_algo::notify() noexcept { w_.wake(); }

// ---------------------------------------------------------------------------------------
// The monitor: cooperative preemption at safe points (Go 1.2-1.13's sysmon + stackguard
// model, without signals). Every kMonitorPeriod it reads each busy worker's sched_tick
// (stored by every pick); a worker whose tick has not moved for kTimeSlice has run one
// goroutine that long: the monitor sets its `preempt_at` to that tick, and g_preempt_hint,
// so that the goroutine's next safe point (gofer/detail/park.hpp) yields — if the worker
// has not switched since (a stale request matches no tick). Cost while nobody is asked:
// one relaxed load per safe point and one relaxed store per pick.

std::atomic<bool> g_preempt_hint{false};

namespace {
constexpr auto kTimeSlice = std::chrono::milliseconds(10);  // Go's forcePreemptNS
constexpr auto kMonitorPeriod = std::chrono::milliseconds(5);
}  // namespace

void runtime::start_monitor() {
  monitor = std::thread([this] {
    struct seen {
      std::uint64_t tick = 0;
      clock::time_point since{};
      clock::time_point running_since{};  // since the last switch (hog warnings)
      bool hog_warned = false;            // for this tick: once per episode
    };
    std::vector<seen> last(workers.size());
    int stuck_periods = 0;
    std::uint64_t last_taken = 0;
    // Each worker thread's CPU clock, to tell a worker the OS has not run (a loaded
    // machine) from one the protocol forgot (see the net below).
    std::vector<clockid_t> cpu_clock(workers.size(), CLOCK_MONOTONIC);
    for (std::size_t i = 0; i < workers.size(); ++i) {
      if (::pthread_getcpuclockid(workers[i]->thread.native_handle(), &cpu_clock[i]) != 0)
        cpu_clock[i] = CLOCK_MONOTONIC;  // then every worker counts as on the CPU
    }
    auto cpu_now = [&](std::size_t i) {
      timespec ts{};
      ::clock_gettime(cpu_clock[i], &ts);
      return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    };
    std::vector<std::int64_t> cpu_then(workers.size(), 0);
    std::unique_lock<std::mutex> lk(monitor_mu);
    while (!monitor_cv.wait_for(lk, kMonitorPeriod, [&] { return monitor_stop; })) {
      clock::time_point now = clock::now();
      bool asked = false;
      for (std::size_t i = 0; i < workers.size(); ++i) {
        worker& w = *workers[i];
        std::uint64_t t = w.sched_tick.load(std::memory_order_relaxed);
        if (t != last[i].tick || w.in_idle.load(std::memory_order_relaxed)) {
          last[i] = {t, now, now, false};
        } else {
          if (now - last[i].since >= kTimeSlice) {
            w.preempt_at.store(t, std::memory_order_relaxed);
            last[i].since = now;  // ask again after another slice if it still runs
            // Work queued behind a goroutine that has run a whole slice waits for its
            // safe point, which may never come (a loop with no gofer call): a thief must
            // take it. If none is spinning and one sleeps, wake it (Go's sysmon hands a
            // P whose M is stuck to another M; here the queue goes to another worker).
            // Not the idle protocol's job — nothing was published since the thieves
            // looked — so not counted in lost_wakeups_rescued, nor anywhere else.
            if ((w.runq_size.load(std::memory_order_relaxed) > 0 ||
                 w.runnext.load(std::memory_order_relaxed) != nullptr) &&
                spinning.load(std::memory_order_seq_cst) == 0 &&
                idle_count.load(std::memory_order_seq_cst) > 0) {
              lk.unlock();  // wake_one_idle takes idle_mu and a worker's sleep_mu
              wake_one_idle();
              lk.lock();
            }
          }
          if (hog_after.count() != 0 && !last[i].hog_warned && now - last[i].running_since >= hog_after) {
            last[i].hog_warned = true;
            if (std::uint64_t gid = w.running_gid.load(std::memory_order_relaxed); gid != 0) {
              lk.unlock();  // warn_hog takes a registry lock and prints
              warn_hog(gid, now - last[i].running_since);
              lk.lock();
            }
          }
        }
        // Still asked while the same goroutine runs (a pick moves sched_tick on).
        asked = asked || w.preempt_at.load(std::memory_order_relaxed) == t;
      }
      g_preempt_hint.store(asked, std::memory_order_relaxed);
      // A regression signal with a safety net, not the protocol: for two periods in a row,
      // goroutines waited in the injection queue, no worker took one from it, none spun,
      // none had been woken without having run yet, and one slept — a lost wake-up. Waking
      // every worker turns the hang into a delay of ~2 periods; lost_wakeups_rescued counts
      // it (unless the OS kept a worker off the CPU: below) and the tests assert it stays 0
      // (scheduler_wake.*). It caught the missing
      // StoreLoad fence on the foreign-thread paths (gofer::blocking completions; see
      // DESIGN.md, "The idle protocol").
      std::uint64_t taken = 0;
      bool waking = false;  // a worker was woken and has not run yet (the OS may be slow)
      for (auto& w : workers) {
        taken += w->inject_taken.load(std::memory_order_relaxed);
        waking = waking || w->wake_flag.load(std::memory_order_relaxed);
      }
      bool queued = inject.size_approx() > 0 && taken == last_taken && !waking &&
                    spinning.load(std::memory_order_seq_cst) == 0 &&
                    idle_count.load(std::memory_order_seq_cst) > 0;
      last_taken = taken;
      stuck_periods = queued ? stuck_periods + 1 : 0;
      if (stuck_periods == 1) {
        for (std::size_t i = 0; i < workers.size(); ++i) cpu_then[i] = cpu_now(i);
      } else if (stuck_periods >= 2) {
        // Counted only if every worker that does not sleep got the CPU during the last
        // period: one that was woken (or was about to look at the queue) but that the OS
        // has not run since — 8 workers on 2 loaded cores — is no lost wake-up.
        bool off_cpu = false;
        for (std::size_t i = 0; i < workers.size() && !off_cpu; ++i) {
          worker& w = *workers[i];
          bool sleeps;
          {
            std::lock_guard<std::mutex> sl(w.sleep_mu);
            sleeps = w.asleep || w.polling;
          }
          off_cpu = !sleeps && cpu_now(i) - cpu_then[i] < 1000000;  // under 1 ms of 5
        }
        if (!off_cpu) ++lost_wakeups_rescued;
        wake_all();
        stuck_periods = 0;
      }
    }
    g_preempt_hint.store(false, std::memory_order_relaxed);
  });
}

// The hog warning (options::warn_hogs): looks the goroutine up in the registry (under its
// shard's lock, so it cannot be freed meanwhile; it may have ended: then nothing is said).
void runtime::warn_hog(std::uint64_t gid, clock::duration ran) {
  std::string name;
  gofer::source_location where{};
  {
    registry_shard& sh = registry[gid % kRegistryShards];
    spinlock_guard lk(sh.mu);
    goroutine* g = sh.head;
    while (g != nullptr && g->id != gid) g = g->reg_next;
    if (g == nullptr) return;
    name = g->name;
    where = g->where.load(std::memory_order_relaxed);
  }
  std::string text = "gofer: goroutine " + std::to_string(gid);
  if (!name.empty()) text += " \"" + name + "\"";
  text += " has run " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(ran).count()) +
          " ms without a gofer call, holding its thread";
  if (where.line() != 0) {
    std::string_view file(where.file_name());
    if (auto slash = file.find_last_of('/'); slash != std::string_view::npos) file.remove_prefix(slash + 1);
    text += " (it last parked at " + std::string(file) + ":" + std::to_string(where.line()) + ")";
  }
  text += "\n";
  std::fputs(text.c_str(), stderr);
}

void runtime::stop_monitor() {
  {
    std::lock_guard<std::mutex> lk(monitor_mu);
    monitor_stop = true;
  }
  monitor_cv.notify_one();
  if (monitor.joinable()) monitor.join();
}

}  // namespace gofer::detail
