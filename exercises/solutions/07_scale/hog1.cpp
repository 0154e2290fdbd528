// hog1 — reuse the hog's buffers (book, chapter 7: "High performance in Go", "Getting deeper
// into pprof", "Memory preservation").
//
// The book's CPU hog allocates a fresh 100,000-byte slice on every iteration, fills it and
// throws it away: gigabytes of allocation churn for a few megabytes of work, which pprof's
// graph shows as time in the allocator. Here 4 goroutines each fill 500 buffers of 100,000
// bytes, and the program counts, by replacing the global operator new, how many of those
// big buffers were allocated. A buffer is only scratch space: nothing keeps it after its
// iteration.
//
// Goal: the program prints exactly
//   4 goroutines filled 2000 buffers of 100000 bytes
//   checksum 318000
//   big allocations: 4
//
// Question: what does a goroutine need to keep between two iterations so that the next one
// can start without asking the allocator for anything? (And what does `perf record -g`
// show for the shipped version — where does the time go?)

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <mutex>
#include <vector>

#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

// Counts every allocation of 100,000 bytes or more (the program's "profile").
static std::atomic<long> big_allocations{0};
void* operator new(std::size_t n) {
  if (n >= 100000) big_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

constexpr int kGoroutines = 4, kIterations = 500;
constexpr std::size_t kSize = 100000;

// One iteration's work: fill the buffer and return a byte of it (so nothing is optimized away).
unsigned char fill(std::vector<unsigned char>& buf, int i) {
  for (std::size_t k = 0; k < buf.size(); ++k) buf[k] = static_cast<unsigned char>(i + k);
  return buf[kSize - 1 - static_cast<std::size_t>(i) % 256];
}

int main() {
  long checksum = 0;
  gofer::run([&] {
    gofer::wait_group wg;
    gofer::mutex mu;
    wg.add(kGoroutines);
    for (int g = 0; g < kGoroutines; ++g)
      gofer::go([&] {
        long sum = 0;
        // One buffer per goroutine, allocated once and refilled by every iteration. (Not one
        // shared by all four: they fill at the same time.)
        std::vector<unsigned char> buf(kSize);
        for (int i = 0; i < kIterations; ++i) {
          sum += fill(buf, i);
        }
        std::lock_guard lk(mu);
        checksum += sum;
        wg.done();
      });
    wg.wait();
  });
  std::printf("%d goroutines filled %d buffers of %zu bytes\n", kGoroutines, kGoroutines * kIterations, kSize);
  std::printf("checksum %ld\n", checksum);
  std::printf("big allocations: %ld\n", big_allocations.load());
}
