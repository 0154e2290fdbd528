// bench/runtime_bench.cpp — goroutine creation and the memory a blocked goroutine costs.
//
//   BM_gofer_spawn/n:N/threads:T          go() N goroutines that each call wg.done(), then
//                                         wg.wait(); 1 iteration = N goroutines, reported
//                                         per goroutine (N = 100,000). One untimed round
//                                         first: with 1 thread all N goroutines exist at
//                                         once, and the first touch of N fresh stacks costs
//                                         a page fault each (tens of µs on this KVM guest);
//                                         later rounds reuse cached stacks. Go's
//                                         testing.Benchmark likewise discards its b.N=1 run.
//   BM_boost_fiber_spawn/n:N/threads:1    the same with raw Boost.Fiber fibers on one thread
//                                         (round_robin, pooled 64 KiB stacks), joined one by one
//   BM_gofer_memory_per_goroutine/...     N goroutines each parked on a receive: the process's
//   BM_boost_fiber_memory_per_goroutine   RSS growth (/proc/self/statm) from before the first
//                                         go() to when all N are parked, divided by N: the
//                                         counter bytes_per_goroutine. One iteration; run it
//                                         in a fresh process (stacks freed by an earlier
//                                         benchmark are cached and would be reused)
//
// GOFER_BENCH_SCALE=k divides N by k (bench-smoke sets it).
#include "adapters.hpp"

#include <benchmark/benchmark.h>

#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/mutex.hpp>
#include <boost/fiber/pooled_fixedsize_stack.hpp>
#include <boost/version.hpp>

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace bench;

constexpr std::int64_t kGoroutines = 100'000;
constexpr std::size_t kBoostStack = 64 * 1024;  // gofer's default virtual stack size

std::int64_t scale() {
  const char* s = std::getenv("GOFER_BENCH_SCALE");
  const long k = s ? std::atol(s) : 1;
  return k > 0 ? k : 1;
}

// Resident set size of this process in bytes.
std::int64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

void BM_gofer_spawn(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  gofer_impl::run(static_cast<unsigned>(state.range(1)), [&state, n] {
    auto round = [n] {
      gofer::wait_group wg;
      wg.add(n);
      for (std::int64_t i = 0; i < n; ++i) gofer::go([&wg] { wg.done(); });
      wg.wait();
    };
    round();  // untimed warm-up: first-touch page faults of n fresh stacks (see the top)
    for (auto _ : state) round();
  });
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_boost_fiber_spawn(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  boost_fiber_impl::run(1, [&state, n] {
    boost::fibers::pooled_fixedsize_stack stacks(kBoostStack);
    std::vector<boost::fibers::fiber> fibers;
    fibers.reserve(static_cast<std::size_t>(n));
    std::int64_t ran = 0;
    auto round = [&] {
      for (std::int64_t i = 0; i < n; ++i)
        fibers.emplace_back(std::allocator_arg, stacks, [&ran] { ++ran; });
      for (auto& f : fibers) f.join();
      fibers.clear();
    };
    round();  // untimed warm-up, as for gofer
    for (auto _ : state) round();
    if (ran != (state.iterations() + 1) * n) fail("boost_fiber_spawn: lost fibers");
  });
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_gofer_memory_per_goroutine(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  gofer_impl::run(static_cast<unsigned>(state.range(1)), [&state, n] {
    for (auto _ : state) {
      const std::int64_t before = rss_bytes();
      gofer::chan<int> block;  // never sent on; closed to release them
      gofer::wait_group parked, finished;
      parked.add(n);
      finished.add(n);
      for (std::int64_t i = 0; i < n; ++i) {
        gofer::go([&parked, &finished, block]() {
          parked.done();
          block.recv();
          finished.done();
        });
      }
      parked.wait();
      const std::int64_t after = rss_bytes();
      state.counters["bytes_per_goroutine"] = static_cast<double>(after - before) / static_cast<double>(n);
      block.close();
      finished.wait();
    }
  });
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_boost_fiber_memory_per_goroutine(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  boost_fiber_impl::run(1, [&state, n] {
    for (auto _ : state) {
      const std::int64_t before = rss_bytes();
      boost::fibers::pooled_fixedsize_stack stacks(kBoostStack);
      boost::fibers::mutex mu;
      boost::fibers::condition_variable cv;
      bool released = false;
      std::vector<boost::fibers::fiber> fibers;
      fibers.reserve(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        fibers.emplace_back(std::allocator_arg, stacks, [&] {
          std::unique_lock lk(mu);
          cv.wait(lk, [&] { return released; });
        });
      }
      boost::this_fiber::yield();  // every fiber runs once and parks on cv
      const std::int64_t after = rss_bytes();
      state.counters["bytes_per_goroutine"] = static_cast<double>(after - before) / static_cast<double>(n);
      {
        std::unique_lock lk(mu);
        released = true;
      }
      cv.notify_all();
      for (auto& f : fibers) f.join();
    }
  });
  state.SetItemsProcessed(state.iterations() * n);
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n = kGoroutines / scale();
  benchmark::RegisterBenchmark("BM_gofer_spawn", BM_gofer_spawn)
      ->ArgNames({"n", "threads"})->Args({n, 1})->Args({n, 2})->UseRealTime()->MeasureProcessCPUTime();
  benchmark::RegisterBenchmark("BM_boost_fiber_spawn", BM_boost_fiber_spawn)
      ->ArgNames({"n", "threads"})->Args({n, 1})->UseRealTime()->MeasureProcessCPUTime();
  benchmark::RegisterBenchmark("BM_gofer_memory_per_goroutine", BM_gofer_memory_per_goroutine)
      ->ArgNames({"n", "threads"})->Args({n, 1})->Args({n, 2})->Iterations(1)->UseRealTime();
  benchmark::RegisterBenchmark("BM_boost_fiber_memory_per_goroutine", BM_boost_fiber_memory_per_goroutine)
      ->ArgNames({"n", "threads"})->Args({n, 1})->Iterations(1)->UseRealTime();

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("boost", BOOST_LIB_VERSION);
#if defined(__clang__)
  benchmark::AddCustomContext("compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  benchmark::AddCustomContext("compiler", "gcc " __VERSION__);
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
