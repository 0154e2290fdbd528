// bench/chan_bench.cpp — channel benchmarks: gofer::chan against raw Boost.Fiber channels.
//
//   BM_chan_ping_pong_unbuffered/threads:N     gofer: two goroutines bounce an int over two
//                                              unbuffered channels; 1 iteration = 1 round trip
//   BM_chan_spsc_buffered/threads:N            gofer: capacity 1024, one producer goroutine,
//                                              one consumer goroutine; 1 iteration = 1 item
//   BM_boost_fiber_ping_pong_unbuffered/...    the same on boost::fibers::unbuffered_channel
//   BM_boost_fiber_spsc_buffered/...           the same on boost::fibers::buffered_channel
//
// Each scenario is written once, as a template over an implementation adapter (one adapter
// per competitor, as in moodycamel's benchmarks). Adding a competitor means adding one
// adapter and its BENCHMARK lines. An adapter A provides:
//
//   A::run(threads, fn)         runs fn as the scenario's "main" task in an environment with
//                               `threads` OS threads; returns after fn returned
//   A::spawn(fn) -> task        starts fn as a concurrent task; task.join() waits for it
//   A::make_unbuffered<T>()     a rendezvous channel handle
//   A::make_buffered<T>(cap)    a buffered channel handle
//   A::send(c, v)               blocking send
//   A::recv(c) -> optional<T>   blocking receive; nullopt once closed and drained
//   A::close(c)
//
// Timing. The `for (auto _ : state)` loop runs inside the main task, so the timed region
// holds only channel traffic, never scheduler start-up or shutdown. The main task may run
// on any thread (and, with gofer, migrate between threads), so every benchmark reports real
// time (UseRealTime) and process-wide CPU time (MeasureProcessCPUTime: all scheduler
// threads, idle spinning included). In spsc_buffered the producer is the timed side; the
// consumer's drain of at most `capacity` items after the loop is untimed (< 0.1% of the
// millions of items of a measuring run).
// gofer first: Boost.Fiber's detail/cpu_relax.hpp #defines a function-like macro
// cpu_relax(), which breaks gofer/detail/spinlock.hpp when included after it.
#include "gofer/chan.hpp"
#include "gofer/runtime.hpp"

#include <benchmark/benchmark.h>

#include <boost/fiber/buffered_channel.hpp>
#include <boost/fiber/channel_op_status.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/unbuffered_channel.hpp>
#include <boost/version.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

namespace {

constexpr std::size_t kCapacity = 1024;

// ---- Adapters -------------------------------------------------------------------------

// gofer: goroutines on gofer's M:N scheduler, gofer::chan.
struct gofer_impl {
  static void run(unsigned threads, std::function<void()> fn) {
    gofer::options opts;
    opts.threads = threads;
    gofer::run(std::move(fn), opts);
  }

  struct task {
    gofer::chan<int> done;  // closed when the goroutine's function returned
    void join() { done.recv(); }
  };
  template <class F>
  static task spawn(F fn) {
    task t;
    gofer::go([fn = std::move(fn), done = t.done]() mutable {
      fn();
      done.close();
    });
    return t;
  }

  template <class T>
  static gofer::chan<T> make_unbuffered() { return gofer::chan<T>(); }
  template <class T>
  static gofer::chan<T> make_buffered(std::size_t cap) { return gofer::chan<T>(cap); }

  template <class T>
  static void send(gofer::chan<T>& c, T v) { c.send(std::move(v)); }
  template <class T>
  static std::optional<T> recv(gofer::chan<T>& c) { return c.recv(); }
  template <class T>
  static void close(gofer::chan<T>& c) { c.close(); }
};

// Raw Boost.Fiber: fibers on one thread with Boost's default round_robin scheduler.
// Each run uses a fresh std::thread, so the thread's fiber scheduler is Boost's default
// whatever gofer::run did to the threads it used earlier in this process.
// Note: buffered_channel needs a power-of-two capacity and holds at most capacity - 1.
struct boost_fiber_impl {
  template <class F>
  static void run(unsigned threads, F fn) {
    if (threads != 1) {
      std::fputs("boost_fiber_impl: single-threaded only\n", stderr);
      std::abort();
    }
    std::thread(std::move(fn)).join();
  }

  struct task {
    boost::fibers::fiber f;
    void join() { f.join(); }
  };
  template <class F>
  static task spawn(F fn) { return task{boost::fibers::fiber(std::move(fn))}; }

  // Boost channels are neither copyable nor movable: handles own them through a pointer.
  template <class T>
  static auto make_unbuffered() { return std::make_unique<boost::fibers::unbuffered_channel<T>>(); }
  template <class T>
  static auto make_buffered(std::size_t cap) {
    return std::make_unique<boost::fibers::buffered_channel<T>>(cap);
  }

  template <class C>
  static void send(std::unique_ptr<C>& c, typename C::value_type v) {
    if (c->push(std::move(v)) != boost::fibers::channel_op_status::success) {
      std::fputs("boost_fiber_impl: push on a closed channel\n", stderr);
      std::abort();
    }
  }
  template <class C>
  static std::optional<typename C::value_type> recv(std::unique_ptr<C>& c) {
    typename C::value_type v;
    if (c->pop(v) == boost::fibers::channel_op_status::success) return v;
    return std::nullopt;
  }
  template <class C>
  static void close(std::unique_ptr<C>& c) { c->close(); }
};

// ---- Scenarios ------------------------------------------------------------------------

// Two tasks bounce an int over two unbuffered channels. One iteration = one round trip
// (two rendezvous, four context switches on one thread).
template <class A>
void ping_pong_unbuffered(benchmark::State& state) {
  A::run(static_cast<unsigned>(state.range(0)), [&state] {
    auto ping = A::template make_unbuffered<int>();
    auto pong = A::template make_unbuffered<int>();
    auto peer = A::spawn([&ping, &pong] {
      while (std::optional<int> v = A::recv(ping)) A::send(pong, *v + 1);
    });
    int x = 0;
    for (auto _ : state) {
      A::send(ping, x);
      x = *A::recv(pong);
      benchmark::DoNotOptimize(x);
    }
    A::close(ping);
    peer.join();
  });
  state.SetItemsProcessed(state.iterations());
}

// One producer sends ints into a channel of capacity kCapacity, one consumer receives them
// until the channel is closed. One iteration = one item.
template <class A>
void spsc_buffered(benchmark::State& state) {
  A::run(static_cast<unsigned>(state.range(0)), [&state] {
    auto c = A::template make_buffered<int>(kCapacity);
    auto consumer = A::spawn([&c] {
      std::int64_t sum = 0;
      while (std::optional<int> v = A::recv(c)) sum += *v;
      benchmark::DoNotOptimize(sum);
    });
    int i = 0;
    for (auto _ : state) {
      benchmark::DoNotOptimize(i);
      A::send(c, i++);
    }
    A::close(c);
    consumer.join();
  });
  state.SetItemsProcessed(state.iterations());
}

// ---- Registration ---------------------------------------------------------------------

// Common settings. The argument `threads` is the scheduler's OS thread count (GOMAXPROCS
// for gofer); raw Boost.Fiber runs on one thread.
void settings(benchmark::internal::Benchmark* b) {
  b->ArgName("threads")->UseRealTime()->MeasureProcessCPUTime();
}
void gofer_threads(benchmark::internal::Benchmark* b) { settings(b); b->Arg(1)->Arg(2); }
void single_thread(benchmark::internal::Benchmark* b) { settings(b); b->Arg(1); }

void BM_chan_ping_pong_unbuffered(benchmark::State& s) { ping_pong_unbuffered<gofer_impl>(s); }
void BM_boost_fiber_ping_pong_unbuffered(benchmark::State& s) { ping_pong_unbuffered<boost_fiber_impl>(s); }
void BM_chan_spsc_buffered(benchmark::State& s) { spsc_buffered<gofer_impl>(s); }
void BM_boost_fiber_spsc_buffered(benchmark::State& s) { spsc_buffered<boost_fiber_impl>(s); }

BENCHMARK(BM_chan_ping_pong_unbuffered)->Apply(gofer_threads);
BENCHMARK(BM_boost_fiber_ping_pong_unbuffered)->Apply(single_thread);
BENCHMARK(BM_chan_spsc_buffered)->Apply(gofer_threads);
BENCHMARK(BM_boost_fiber_spsc_buffered)->Apply(single_thread);

}  // namespace

int main(int argc, char** argv) {
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
