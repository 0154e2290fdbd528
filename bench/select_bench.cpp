// bench/select_bench.cpp — select, timer and mutex benchmarks on gofer's scheduler.
//
//   BM_gofer_select_fan_in_buffered/channels:C/threads:N    C producer goroutines, each
//   BM_gofer_select_fan_in_unbuffered/channels:C/threads:N  sending ints on its own channel
//                                                   (capacity 64, or unbuffered); one
//                                                   consumer selects over all C;
//                                                   1 iteration = 1 item received
//   BM_gofer_timer_create_stop/threads:N            `gofer::timer t(1h); t.stop();`
//   BM_gofer_after_timeout/threads:N                select on a never-ready channel and
//                                                   after(0): one timer fire through the
//                                                   scheduler and back (round trip)
//   BM_gofer_mutex_uncontended/threads:N            gofer::mutex lock + unlock, one goroutine
//   BM_std_mutex_uncontended                        std::mutex lock + unlock, one thread
//   BM_gofer_mutex_contended/threads:N              4 goroutines increment one counter under
//                                                   a gofer::mutex; 1 iteration = 1 increment
//
// The same scenarios, written in Go, are in bench/go/ (bench/README.md compares them).
//
// Timing, as in chan_bench.cpp: each benchmark run is one gofer::run, and the timed loop
// runs inside its main goroutine, so scheduler start-up and shutdown are never timed.
// Real time (UseRealTime) and process-wide CPU time (MeasureProcessCPUTime) are reported.
//   - fan_in: the producers are started before the loop with quotas that add up to the
//     run's iteration count (state.max_iterations), so the consumer's loop receives exactly
//     every item sent; a producer that finished leaves its channel silent (never closed),
//     so select keeps scanning all C channels. Buffered producers may fill their buffers
//     (64 items each) before the timed loop starts: negligible against a measuring run.
//   - mutex_contended: one timed batch (KeepRunningBatch) that starts the 4 goroutines,
//     each with a quarter of the increments, and waits for them: goroutine start-up is
//     timed, like in Go's benchmark, and amortised over the whole run.
//   - The std::mutex baseline runs on the benchmark's own thread, without gofer.
#include "gofer/chan.hpp"
#include "gofer/runtime.hpp"
#include "gofer/select.hpp"
#include "gofer/sync.hpp"
#include "gofer/time.hpp"

#include <benchmark/benchmark.h>

#include <boost/version.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kFanInCapacity = 64;
constexpr int kContenders = 4;

// Runs fn as the main goroutine of a fresh run with `threads` scheduler threads (the
// benchmark argument at index `arg`).
void run_gofer(const benchmark::State& state, std::function<void()> fn, int arg = 0) {
  gofer::options opts;
  opts.threads = static_cast<unsigned>(state.range(arg));
  gofer::run(std::move(fn), opts);
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "select_bench: %s\n", what);
  std::abort();
}

// Share k of `total` items split over `parts` workers (the first ones take the remainder).
std::int64_t quota(std::int64_t total, std::int64_t parts, std::int64_t k) {
  return total / parts + (k < total % parts ? 1 : 0);
}

// ---- select fan-in --------------------------------------------------------------------

template <std::size_t C, std::size_t... I>
void select_one(std::array<gofer::chan<int>, C>& cs, std::optional<int>& v,
                std::index_sequence<I...>) {
  gofer::select(gofer::recv_case(cs[I], v)...);
}

template <std::size_t C>
void fan_in(benchmark::State& state, std::size_t capacity) {
  run_gofer(state, [&state, capacity] {
    std::array<gofer::chan<int>, C> cs;
    for (auto& c : cs) c = gofer::chan<int>(capacity);
    const std::int64_t total = state.max_iterations;
    gofer::wait_group wg;
    wg.add(static_cast<std::int64_t>(C));
    for (std::size_t k = 0; k < C; ++k) {
      gofer::go([c = cs[k], n = quota(total, C, static_cast<std::int64_t>(k)), &wg]() {
        for (std::int64_t i = 0; i < n; ++i) c.send(static_cast<int>(i));
        wg.done();
      });
    }
    std::optional<int> v;
    std::int64_t sum = 0;
    for (auto _ : state) {
      select_one(cs, v, std::make_index_sequence<C>{});
      sum += *v;  // never closed: every select receives a value
    }
    benchmark::DoNotOptimize(sum);
    wg.wait();
  }, /*arg=*/1);
  state.SetItemsProcessed(state.iterations());
}

void fan_in_dispatch(benchmark::State& state, std::size_t capacity) {
  switch (state.range(0)) {
    case 2: fan_in<2>(state, capacity); break;
    case 4: fan_in<4>(state, capacity); break;
    case 8: fan_in<8>(state, capacity); break;
    default: fail("fan_in: channels must be 2, 4 or 8");
  }
}

void BM_gofer_select_fan_in_buffered(benchmark::State& state) { fan_in_dispatch(state, kFanInCapacity); }
void BM_gofer_select_fan_in_unbuffered(benchmark::State& state) { fan_in_dispatch(state, 0); }

// ---- timers ---------------------------------------------------------------------------

// time.NewTimer(time.Hour) + Stop: a timer heap insert and removal, one channel allocation.
void BM_gofer_timer_create_stop(benchmark::State& state) {
  run_gofer(state, [&state] {
    for (auto _ : state) {
      gofer::timer t(1h);
      bool stopped = t.stop();
      benchmark::DoNotOptimize(stopped);
    }
  });
}

// select { case <-never: case <-time.After(0): }: arms a timer that is due at once, parks,
// and is woken by the scheduler's timer pass. Measures timer fire latency round trip.
void BM_gofer_after_timeout(benchmark::State& state) {
  run_gofer(state, [&state] {
    gofer::chan<int> never;  // nobody ever sends
    for (auto _ : state) {
      std::size_t k = gofer::select(gofer::recv_case(never), gofer::recv_case(gofer::after(0ns)));
      if (k != 1) fail("after_timeout: the never-ready channel fired");
    }
  });
}

// ---- mutex ----------------------------------------------------------------------------

void BM_gofer_mutex_uncontended(benchmark::State& state) {
  run_gofer(state, [&state] {
    gofer::mutex mu;
    for (auto _ : state) {
      mu.lock();
      mu.unlock();
    }
  });
}

void BM_std_mutex_uncontended(benchmark::State& state) {
  std::mutex mu;
  for (auto _ : state) {
    mu.lock();
    mu.unlock();
  }
}

void BM_gofer_mutex_contended(benchmark::State& state) {
  run_gofer(state, [&state] {
    gofer::mutex mu;
    std::int64_t counter = 0;
    const std::int64_t total = state.max_iterations;
    while (state.KeepRunningBatch(total)) {
      gofer::wait_group wg;
      wg.add(kContenders);
      for (int k = 0; k < kContenders; ++k) {
        gofer::go([&mu, &counter, &wg, n = quota(total, kContenders, k)] {
          for (std::int64_t i = 0; i < n; ++i) {
            std::lock_guard lk(mu);
            ++counter;
          }
          wg.done();
        });
      }
      wg.wait();
    }
    if (counter != total) fail("mutex_contended: lost increments");
  });
  state.SetItemsProcessed(state.iterations());
}

// ---- Registration ---------------------------------------------------------------------

// The last argument `threads` is the scheduler's OS thread count (GOMAXPROCS).
void fan_in_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"channels", "threads"})->UseRealTime()->MeasureProcessCPUTime();
  for (int threads : {1, 2})
    for (int channels : {2, 4, 8}) b->Args({channels, threads});
}
void gofer_threads(benchmark::internal::Benchmark* b) {
  b->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->MeasureProcessCPUTime();
}

BENCHMARK(BM_gofer_select_fan_in_buffered)->Apply(fan_in_args);
BENCHMARK(BM_gofer_select_fan_in_unbuffered)->Apply(fan_in_args);
BENCHMARK(BM_gofer_timer_create_stop)->Apply(gofer_threads);
BENCHMARK(BM_gofer_after_timeout)->Apply(gofer_threads);
BENCHMARK(BM_gofer_mutex_uncontended)->Apply(gofer_threads);
BENCHMARK(BM_std_mutex_uncontended)->UseRealTime();
BENCHMARK(BM_gofer_mutex_contended)->Apply(gofer_threads);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("boost", BOOST_LIB_VERSION);
#if defined(__clang__)
  benchmark::AddCustomContext("compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  benchmark::AddCustomContext("compiler", "gcc " __VERSION__);
#endif
#ifdef NDEBUG
  benchmark::AddCustomContext("gofer_asserts", "off (NDEBUG)");
#else
  benchmark::AddCustomContext("gofer_asserts", "on (not a release build)");
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
