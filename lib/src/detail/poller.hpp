// lib/src/detail/poller.hpp — the runtime's epoll instance (not installed).
//
//   poll_desc     one socket's registration with the poller (Go's pollDesc)
//   poller        the run's epoll instance and the idle workers' wait in it
//
// Implemented in poller.cpp; used by net.cpp and the scheduler's idle wait.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"

#include "gofer/detail/source_location.hpp"
#include "gofer/detail/spinlock.hpp"
#include "gofer/detail/wait.hpp"

namespace gofer::detail {

using boost::fibers::context;
using clock = std::chrono::steady_clock;

// One socket's registration with the poller (Go's pollDesc). Records are never freed, only
// recycled with a new generation, so an epoll event that arrives after close() finds a
// record whose generation no longer matches and is ignored.
struct poll_desc {
  gofer::detail::spinlock lock;  // guards everything below but `index`
  int fd ABSL_GUARDED_BY(lock) = -1;
  std::uint32_t index = 0;       // position in the poller's table (epoll data); immutable
  std::uint32_t gen ABSL_GUARDED_BY(lock) = 0;  // bumped by close()
  bool closing ABSL_GUARDED_BY(lock) = false;
  bool rready ABSL_GUARDED_BY(lock) = false;  // an edge arrived while nobody waited
  bool wready ABSL_GUARDED_BY(lock) = false;
  waiter* rwaiter ABSL_GUARDED_BY(lock) = nullptr;  // the goroutine parked reading (one at a time)
  waiter* wwaiter ABSL_GUARDED_BY(lock) = nullptr;  // the goroutine parked writing
};

// Why a goroutine parked on a socket was woken (waiter::index).
enum : std::uint32_t { io_ready = 0, io_closed = 1, io_rearm = 2 };

// The runtime's epoll instance: sockets register once (edge-triggered); an idle worker
// waits in epoll_wait instead of its condition variable whenever goroutines wait on
// sockets (see sched_algo::suspend_until). An eventfd interrupts it.
class poller {
 public:
  poller();
  ~poller();
  // Registers fd; returns its record and generation, or nullptr with errno set when epoll
  // refuses the descriptor (EPERM for a regular file or a directory).
  poll_desc* open(int fd, std::uint32_t& gen);
  // Marks closing, wakes both waiters (io_closed), deregisters; the caller closes the fd.
  void close(poll_desc* pd, std::uint32_t gen);
  // Wakes a parked reader/writer so it re-reads its deadline (io_rearm).
  void rearm(poll_desc* pd, std::uint32_t gen, bool write);
  // Parks the calling goroutine until fd is ready for reading (writing), the deadline
  // passes, *interrupt becomes true (if given), or close(). `deadline` holds a
  // clock::time_point's count, 0 for none; it and *interrupt are read under the record's
  // lock, so a writer that stores and then calls rearm() is never missed. Returns OK
  // ("something changed: re-check, retry the syscall") when ready, re-armed or
  // interrupted; "i/o timeout" when the deadline has passed; closed after close().
  // `where`: the user's call, for dumps (gofer/detail/wait.hpp, "Call sites").
  absl::Status wait(poll_desc* pd, std::uint32_t gen, bool write, const std::atomic<clock::rep>& deadline,
                    const std::atomic<bool>* interrupt = nullptr, gofer::source_location where = {});
  // epoll_wait for up to timeout_ms (-1: forever) and wake the goroutines whose sockets
  // became ready. Returns how many were woken.
  int poll(int timeout_ms);
  void interrupt() noexcept;  // ends a poll() in progress
  std::atomic<int> waiters{0};      // goroutines parked in wait()
  std::atomic<bool> polling{false}; // a worker is inside poll() (blocking)

 private:
  int epfd_ = -1;
  int evfd_ = -1;
  std::mutex table_mu_;                // guards table_ growth and free_
  std::deque<poll_desc> table_;        // stable addresses
  std::vector<std::uint32_t> free_;
};

}  // namespace gofer::detail
