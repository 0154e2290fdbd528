// tests/park_test.cpp — the park layer's hand-over across threads (lib/src/park.cpp).
//
// park() suspends with context::suspend(lock): Boost releases the goroutine's park_lock in
// the ontop step of the switch, on the parking thread, as `lock.unlock()` — the spinlock's
// release store *and then* a store of the lock object's owns flag. Once the spinlock is
// free, a waker on another thread may unpark the goroutine and run it, so the lock object
// must not live on the goroutine's stack: if it does, the late owns store can land in the
// goroutine's *next* park frame (same stack address), Boost's next unlock throws EPERM
// inside a noexcept switch (std::terminate), and park_lock stays held for good (the
// select_bench fan_in abort, ~1 run in 20). The window is one store wide; the test widens
// it by interrupting the scheduler threads with a no-op signal as fast as it can while a
// fan-in keeps both threads parking and unparking each other. Honest odds, measured with
// the old code and a probe (a goroutine that found its lock still "owned" after resuming):
// the window was hit in 3 of 6 runs, the abort itself followed in none of 16, while
// select_bench's fan_in rows at 2 threads aborted in 2 of 8 runs. A regression guard,
// then, not a deterministic reproducer.
#include <pthread.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;

// The scheduler threads seen so far (pthread_self() of goroutines), for the signaller.
constexpr int kMaxThreads = 4;
std::array<std::atomic<pthread_t>, kMaxThreads> g_seen{};
std::atomic<int> g_seen_count{0};

void note_thread() {
  pthread_t self = pthread_self();
  int n = g_seen_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (pthread_equal(g_seen[static_cast<std::size_t>(i)].load(std::memory_order_relaxed), self)) return;
  static std::atomic<bool> adding{false};  // one writer at a time; rarely contended
  if (adding.exchange(true, std::memory_order_acquire)) return;  // next call adds it
  n = g_seen_count.load(std::memory_order_relaxed);
  if (n < kMaxThreads) {
    g_seen[static_cast<std::size_t>(n)].store(self, std::memory_order_relaxed);
    g_seen_count.store(n + 1, std::memory_order_release);
  }
  adding.store(false, std::memory_order_release);
}

void on_signal(int) {}

constexpr std::size_t kProducers = 4;
constexpr std::int64_t kItems = 2'000'000;

TEST(park, a_goroutine_woken_on_another_thread_at_once_survives_its_next_park) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &old), 0);

  std::int64_t received = 0;
  gofer_test::run_main(2, [&] {
    // Interrupts the scheduler threads until the fan-in is done (a plain thread: it never
    // parks). Stopped and joined before the run ends, so it never signals a dead thread.
    std::atomic<bool> stop{false};
    std::thread signaller([&stop] {
      while (!stop.load(std::memory_order_relaxed)) {
        int n = g_seen_count.load(std::memory_order_acquire);
        for (int i = 0; i < n; ++i) pthread_kill(g_seen[static_cast<std::size_t>(i)].load(), SIGUSR2);
        std::this_thread::yield();
      }
    });
    // Unbuffered: every item is a park on one side and an unpark from the other.
    std::array<gofer::chan<int>, kProducers> cs;
    for (auto& c : cs) c = gofer::chan<int>(0);
    gofer::wait_group wg;
    wg.add(static_cast<std::int64_t>(kProducers));
    for (std::size_t k = 0; k < kProducers; ++k) {
      gofer::go([c = cs[k], &wg] {
        for (std::int64_t i = 0; i < kItems / static_cast<std::int64_t>(kProducers); ++i) {
          note_thread();
          c.send(1);
        }
        wg.done();
      });
    }
    std::optional<int> v;
    const auto deadline = std::chrono::steady_clock::now() + 3s;  // a few seconds at most
    for (std::int64_t i = 0; i < kItems; ++i) {
      note_thread();
      gofer::select(gofer::recv_case(cs[0], v), gofer::recv_case(cs[1], v),
                    gofer::recv_case(cs[2], v), gofer::recv_case(cs[3], v));
      received += *v;
      if ((i & 1023) == 0 && std::chrono::steady_clock::now() > deadline) {
        // Slow machine: drain the rest without the signals.
        stop.store(true, std::memory_order_relaxed);
      }
    }
    stop.store(true, std::memory_order_relaxed);
    signaller.join();  // a short block of this worker: the signaller only checks `stop`
    wg.wait();
  });
  sigaction(SIGUSR2, &old, nullptr);
  EXPECT_EQ(received, kItems);  // before the fix the process could abort inside the run
}

}  // namespace
