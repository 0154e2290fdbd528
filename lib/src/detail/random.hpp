// lib/src/detail/random.hpp — the runtime's cheap random numbers (not installed).
//
//   xorshift64star   one step of xorshift64* on caller-held state (never 0)
//   g_sched_random   whether this run uses schedule::random (schedule.cpp)
//   sched_random     that run's seeded generator
//
// Who draws: the scheduler (a steal victim, per worker state), select (the poll order, a
// per-thread state). Under schedule::random both draw from sched_random instead, so a
// seed replays a run.
#pragma once

#include <cstdint>

namespace gofer::detail {

// xorshift64* (Vigna): a few instructions, good enough to pick a victim or a case. `s` must
// not be 0.
inline std::uint64_t xorshift64star(std::uint64_t& s) noexcept {
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 2685821657736338717ULL;
}

// True while a run uses schedule::random (schedule.cpp): set before the workers start,
// cleared after they stopped, so a plain (non-atomic) read is race-free.
extern bool g_sched_random;
// The run's seeded generator (schedule::random only; one thread, so no lock).
std::uint64_t sched_random() noexcept;

}  // namespace gofer::detail
