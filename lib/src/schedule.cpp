// lib/src/schedule.cpp — schedule::random: seeded schedule exploration (gofer/runtime.hpp).
//
// One worker thread; sched_algo::pick_next_impl hands every choice to pick_random below,
// and select's poll order (select.cpp) and the PCT-style yields at safe points
// (runtime.cpp, preempt_slow) draw from the same generator, the run's sched_rng. With one
// thread everything that reaches the scheduler happens in one order for one seed, so the
// interleaving replays. Cost in normal runs: one untaken branch in pick_next and in
// select's random draw.
//
// pick_random: due timers and the stop hand-over were handled by pick_next_impl before.
// The injection queue (yields, the main goroutine, wake-ups from other threads) is moved
// into the run queue, in its order; then one ready goroutine — runnext or any run queue
// entry — is drawn uniformly. The dispatcher runs when nothing is ready and, as in
// normal runs, at a fixed phase of the pick counter, so it keeps releasing ended fibers.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "detail/runtime.hpp"

namespace gofer::detail {

bool g_sched_random = false;

std::uint64_t sched_random() noexcept {
  // splitmix64: any seed (0 included) gives a good stream.
  runtime* rt = current_runtime();
  std::uint64_t z = (rt->sched_rng += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

context* sched_algo::pick_random() noexcept {
  context* c = nullptr;
  while (rt_.inject.try_dequeue(c)) w_.push_local(c);
  if (w_.tick % 61 == 30 && !w_.pinned.empty()) {
    c = w_.pinned.front();
    w_.pinned.pop_front();
    return c;
  }
  std::size_t queued = w_.runq_size.load(std::memory_order_relaxed);
  // One thread: nobody steals runnext, plain (relaxed) accesses suffice.
  context* next = w_.runnext.load(std::memory_order_relaxed);
  std::size_t n = queued + (next != nullptr ? 1 : 0);
  if (n == 0) {
    if (!w_.pinned.empty()) {
      c = w_.pinned.front();
      w_.pinned.pop_front();
    }
    return c;
  }
  std::size_t k = static_cast<std::size_t>(sched_random() % n);
  if (k == queued) {  // runnext (detached, like the run queue's entries)
    w_.runnext.store(nullptr, std::memory_order_relaxed);
    context::active()->attach(next);
    return next;
  }
  {
    spinlock_guard lk(w_.runq_lock);
    c = w_.runq[k];
    w_.runq.erase(w_.runq.begin() + static_cast<std::ptrdiff_t>(k));
    w_.runq_size.store(w_.runq.size(), std::memory_order_relaxed);
  }
  context::active()->attach(c);
  return c;
}

gofer::schedule parse_schedule(const char* text) {
  std::string s(text);
  auto bad = [&] {
    return std::invalid_argument("gofer: GOFER_SCHEDULE=\"" + s +
                                 "\": want random:SEED or random:SEED:yield=P (0 <= P <= 1)");
  };
  if (s == "normal") return gofer::schedule::normal();
  if (s.rfind("random:", 0) != 0) throw bad();
  std::string rest = s.substr(7);
  std::string seed_text = rest, opt;
  if (auto colon = rest.find(':'); colon != std::string::npos) {
    seed_text = rest.substr(0, colon);
    opt = rest.substr(colon + 1);
  }
  char* end = nullptr;
  if (seed_text.empty()) throw bad();
  std::uint64_t seed = std::strtoull(seed_text.c_str(), &end, 10);
  if (*end != '\0') throw bad();
  double p = 0;
  if (!opt.empty()) {
    if (opt.rfind("yield=", 0) != 0) throw bad();
    p = std::strtod(opt.c_str() + 6, &end);
    if (*end != '\0' || end == opt.c_str() + 6 || !(p >= 0 && p <= 1)) throw bad();
  }
  return gofer::schedule::random(seed, p);
}

}  // namespace gofer::detail
