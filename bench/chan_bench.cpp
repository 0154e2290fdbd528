// bench/chan_bench.cpp — channels and queues: gofer::chan against every peer (adapters.hpp).
//
// Names are BM_<implementation>_<scenario>[/<param>:<v>]/threads:N; the implementations are
// the adapters of adapters.hpp (gofer, boost_fiber, moodycamel_thread, moodycamel_fiber,
// mutex_cv_thread, absl_thread) and worker_pool (gofer::worker_pool, pool_throughput only);
// built as chan_bench_user, also user (your queue: bench/user_queue.hpp).
//
//   ping_pong_unbuffered          two tasks bounce an int over two unbuffered queues;
//                                 1 iteration = 1 round trip
//   spsc_buffered/cap:C           one producer, one consumer, capacity C (1, 64, 1024);
//                                 1 iteration = 1 item
//   mpmc_balanced/pairs:P         P producers and P consumers on one queue of capacity 1024,
//                                 each with a share of the items; 1 iteration = 1 item.
//                                 pairs:4 is the 4×4 scenario; 1, 2, 8, 16 (at 2 threads)
//                                 the sweep. One batch holds at least 200,000 items
//   pool_throughput/jobs:J        J tiny jobs (x -> 2x) through 8 workers, results back on a
//                                 second queue (capacity 128 each); 1 iteration = J jobs,
//                                 reported per job. worker_pool: gofer::worker_pool with a
//                                 future per job, the futures streamed through a chan
//
// threads:N is the scheduler's OS thread count for goroutine adapters, and the number of
// CPUs the threads are pinned to for thread adapters (boost_fiber: 1 only).
//
// Timing. The timed loop runs inside the scenario's main task, so scheduler start-up and
// shutdown are never timed; real time (UseRealTime) and process-wide CPU time
// (MeasureProcessCPUTime: every thread, idle spinning included) are reported. Receivers
// get exact counts (state.max_iterations is the number of timed iterations), so no queue
// needs closing. mpmc_balanced is one timed batch (KeepRunningBatch) that includes starting
// and joining its 2P tasks, as Go's version does. `ns/op` in RESULTS.md is 1e9 /
// items_per_second.
//
// GOFER_BENCH_SCALE=k divides the pool's job count by k (bench-smoke sets it: a smoke run
// must stay short).
#include "adapters.hpp"
#include "gofer/pool.hpp"

// chan_bench_user (./gofer bench --impl FILE[:TEMPLATE]): the same scenarios with the
// user's queue as one more implementation, "user" (bench/user_queue.hpp).
#ifdef GOFER_BENCH_USER_FILE
#include GOFER_BENCH_USER_FILE
#include "user_queue.hpp"
#endif

#include <benchmark/benchmark.h>

#include <boost/version.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace bench;

constexpr std::size_t kMpmcCapacity = 1024;
constexpr std::int64_t kMpmcMinBatch = 200'000;
constexpr std::size_t kPoolCapacity = 128;
constexpr int kPoolWorkers = 8;
constexpr std::int64_t kPoolJobs = 1'000'000;

std::int64_t scale() {
  const char* s = std::getenv("GOFER_BENCH_SCALE");
  const long k = s ? std::atol(s) : 1;
  return k > 0 ? k : 1;
}

// The scheduler threads: the last benchmark argument (at index `arg`).
unsigned threads_arg(const benchmark::State& state, int arg) {
  return static_cast<unsigned>(state.range(arg));
}

// ---- Scenarios ------------------------------------------------------------------------

template <class A>
void ping_pong_unbuffered(benchmark::State& state) {
  A::run(threads_arg(state, 0), [&state] {
    auto ping = A::template make<int>(0);
    auto pong = A::template make<int>(0);
    const std::int64_t n = state.max_iterations;
    auto peer = A::spawn([&ping, &pong, n] {
      for (std::int64_t i = 0; i < n; ++i) A::send(pong, A::recv(ping) + 1);
    });
    int x = 0;
    for (auto _ : state) {
      A::send(ping, x);
      x = A::recv(pong);
      benchmark::DoNotOptimize(x);
    }
    peer.join();
  });
  state.SetItemsProcessed(state.iterations());
}

template <class A>
void spsc_buffered(benchmark::State& state) {
  const auto cap = static_cast<std::size_t>(state.range(0));
  A::run(threads_arg(state, 1), [&state, cap] {
    auto q = A::template make<int>(cap);
    const std::int64_t n = state.max_iterations;
    auto consumer = A::spawn([&q, n] {
      std::int64_t sum = 0;
      for (std::int64_t i = 0; i < n; ++i) sum += A::recv(q);
      benchmark::DoNotOptimize(sum);
    });
    int i = 0;
    for (auto _ : state) {
      benchmark::DoNotOptimize(i);
      A::send(q, i++);
    }
    consumer.join();  // the consumer's drain of at most cap items is timed out: < 0.1%
  });
  state.SetItemsProcessed(state.iterations());
}

template <class A>
void mpmc_balanced(benchmark::State& state) {
  const std::int64_t pairs = state.range(0);
  A::run(threads_arg(state, 1), [&state, pairs] {
    auto q = A::template make<int>(kMpmcCapacity);
    // At least kMpmcMinBatch items per batch, so that starting 2P threads (thread
    // adapters: ~50 µs each here) never dominates a short run.
    const std::int64_t total = std::max<std::int64_t>(state.max_iterations, kMpmcMinBatch / scale());
    while (state.KeepRunningBatch(total)) {
      std::vector<typename A::task> tasks;
      for (std::int64_t k = 0; k < pairs; ++k) {
        tasks.push_back(A::spawn([&q, n = quota(total, pairs, k)] {
          for (std::int64_t i = 0; i < n; ++i) A::send(q, static_cast<int>(i));
        }));
        tasks.push_back(A::spawn([&q, n = quota(total, pairs, k)] {
          std::int64_t sum = 0;
          for (std::int64_t i = 0; i < n; ++i) sum += A::recv(q);
          benchmark::DoNotOptimize(sum);
        }));
      }
      for (auto& t : tasks) t.join();
    }
  });
  state.SetItemsProcessed(state.iterations());
}

// Go by Example's worker pool: a producer task sends the jobs then one stop value (-1)
// per worker; each worker sends 2*job back; the main task receives every result.
template <class A>
void pool_throughput(benchmark::State& state) {
  const std::int64_t jobs = state.range(0);
  A::run(threads_arg(state, 1), [&state, jobs] {
    for (auto _ : state) {
      auto in = A::template make<int>(kPoolCapacity);
      auto out = A::template make<int>(kPoolCapacity);
      std::vector<typename A::task> tasks;
      for (int w = 0; w < kPoolWorkers; ++w) {
        tasks.push_back(A::spawn([&in, &out] {
          for (int j; (j = A::recv(in)) >= 0;) A::send(out, 2 * j);
        }));
      }
      tasks.push_back(A::spawn([&in, jobs] {
        for (std::int64_t j = 0; j < jobs; ++j) A::send(in, static_cast<int>(j));
        for (int w = 0; w < kPoolWorkers; ++w) A::send(in, -1);
      }));
      std::int64_t sum = 0;
      for (std::int64_t j = 0; j < jobs; ++j) sum += A::recv(out);
      if (sum != jobs * (jobs - 1)) fail("pool_throughput: wrong sum");
      for (auto& t : tasks) t.join();
    }
  });
  state.SetItemsProcessed(state.iterations() * jobs);
}

// The same through gofer::worker_pool: submit returns a future per job; a producer
// goroutine streams the futures through a chan (bounded read-ahead), main gets them.
void gofer_pool_throughput(benchmark::State& state) {
  const std::int64_t jobs = state.range(0);
  gofer_impl::run(threads_arg(state, 1), [&state, jobs] {
    for (auto _ : state) {
      gofer::worker_pool<int, int> pool({.workers = kPoolWorkers, .queue = kPoolCapacity},
                                        [](int j) { return 2 * j; });
      gofer::chan<gofer::future<int>> futures(kPoolCapacity);
      gofer::go([&pool, futures, jobs]() {
        for (std::int64_t j = 0; j < jobs; ++j) futures.send(pool.submit(static_cast<int>(j)));
        futures.close();
      });
      std::int64_t sum = 0;
      while (std::optional<gofer::future<int>> f = futures.recv()) sum += *f->get();
      if (sum != jobs * (jobs - 1)) fail("gofer_pool_throughput: wrong sum");
      pool.shutdown();
    }
  });
  state.SetItemsProcessed(state.iterations() * jobs);
}

// ---- Registration ---------------------------------------------------------------------

using bench_fn = void (*)(benchmark::State&);

benchmark::internal::Benchmark* reg(const std::string& impl, const std::string& scenario, bench_fn fn) {
  return benchmark::RegisterBenchmark(("BM_" + impl + "_" + scenario).c_str(), fn)
      ->UseRealTime()
      ->MeasureProcessCPUTime();
}

// Threads to run an implementation at: boost_fiber is single-threaded.
template <class A>
std::vector<int> threads_for() {
  if constexpr (std::is_same_v<A, boost_fiber_impl>) {
    return {1};
  } else {
    return {1, 2};
  }
}

template <class A>
void register_impl() {
  const std::string impl = A::name;
  auto* b = reg(impl, "ping_pong_unbuffered", &ping_pong_unbuffered<A>)->ArgName("threads");
  for (int t : threads_for<A>()) b->Arg(t);

  b = reg(impl, "spsc_buffered", &spsc_buffered<A>)->ArgNames({"cap", "threads"});
  for (int t : threads_for<A>())
    for (int cap : {1, 64, 1024}) b->Args({cap, t});

  b = reg(impl, "mpmc_balanced", &mpmc_balanced<A>)->ArgNames({"pairs", "threads"});
  for (int t : threads_for<A>()) b->Args({4, t});
  if constexpr (!std::is_same_v<A, boost_fiber_impl>) {
    for (int pairs : {1, 2, 8, 16}) b->Args({pairs, 2});  // the sweep
  }
  if constexpr (std::is_same_v<A, gofer_impl> || std::is_same_v<A, moodycamel_fiber>) {
    b->Args({4, 4});  // more scheduler threads than cores
  }

  b = reg(impl, "pool_throughput", &pool_throughput<A>)->ArgNames({"jobs", "threads"});
  for (int t : threads_for<A>()) b->Args({kPoolJobs / scale(), t});
}

}  // namespace

int main(int argc, char** argv) {
  register_impl<gofer_impl>();
  register_impl<boost_fiber_impl>();
  register_impl<moodycamel_thread>();
  register_impl<moodycamel_fiber>();
  register_impl<mutex_cv_thread>();
  register_impl<absl_thread>();
#ifdef GOFER_BENCH_USER_FILE
  register_impl<user_impl<GOFER_BENCH_USER_QUEUE>>();
#endif
  reg("worker_pool", "pool_throughput", &gofer_pool_throughput)
      ->ArgNames({"jobs", "threads"})
      ->Args({kPoolJobs / scale(), 1})
      ->Args({kPoolJobs / scale(), 2});

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Recorded in the output's context (and the JSON), for bench/RESULTS.md.
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
