// lib/src/detail/tracer.hpp — GOFER_TRACE's recorder (not installed).
//
//   trace_event   one recorded event (per worker buffer, no locks)
//   tracer        the run's trace: goroutine names, flow ids, the file written at the end
//   g_tracing     whether the hooks below run at all
//   trace_*       the hooks pick_next, park and unpark call while tracing
//
// Implemented in trace.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "detail/goroutine.hpp"

namespace gofer::detail {

using boost::fibers::context;
using clock = std::chrono::steady_clock;

struct runtime;
struct worker;

// One trace event, recorded in the buffer of the worker it happened on (no locks).
struct trace_event {
  char ph;                 // 'X' run slice, 'i' park, 's'/'f' wake-up flow start/end
  wait_reason reason;      // for 'i'
  std::int64_t ts_ns;      // since the tracer's origin
  std::int64_t dur_ns;     // for 'X'
  std::uint64_t gid;
  std::uint64_t flow;      // for 's'/'f'
};

// GOFER_TRACE=path.json: a Chrome/Perfetto trace-event file written when run() returns.
class tracer {
 public:
  explicit tracer(std::string path) : path_(std::move(path)), origin_(clock::now()) {}
  std::int64_t now_ns() const noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - origin_).count();
  }
  void name_goroutine(goroutine* g);
  std::uint64_t next_flow() noexcept { return flow_.fetch_add(1, std::memory_order_relaxed) + 1; }
  // Writes every worker's events; returns false (and says why on stderr) on failure.
  bool write(const runtime& rt);

 private:
  std::string path_;
  clock::time_point origin_;
  std::atomic<std::uint64_t> flow_{0};
  std::mutex names_mu_;
  std::vector<std::pair<std::uint64_t, std::string>> names_;  // guarded by names_mu_
};

// True while a run is being traced: set before the workers start, cleared after they
// stopped, so a plain (non-atomic) read is race-free. One predictable branch per hook site.
extern bool g_tracing;

// Hooks, called only when tracing (runtime::trace != nullptr).
void trace_switch(worker& w, context* next) noexcept;  // from pick_next
void trace_park(goroutine* g, wait_reason why) noexcept;
void trace_unpark(goroutine* g) noexcept;

}  // namespace gofer::detail
