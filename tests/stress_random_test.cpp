// tests/stress_random_test.cpp — randomized, seeded channel programs (label `stress`).
//
//   random_stress.programs
//       generates random programs from a seed and runs each one: 1-4 scheduler threads,
//       1-4 channels (capacities 0, 1, 2, 8), producers and consumers that mix send, select
//       send (with default, timeout or cancellation cases), try_send, recv, try_recv and
//       select receive (with timeouts and cancellation), a closer that may close a channel
//       while producers still send, contexts cancelled or timing out mid-run, and random
//       yields. Checks after each program:
//         - nothing lost, nothing duplicated: every value whose send completed (send
//           returned, try_send true, its send case chosen) is received exactly once; a value
//           whose send failed (panic, default, timeout, cancellation) is never received;
//         - per-producer FIFO: each consumer sees one producer's values on one channel in
//           the order they were sent (all of a producer's sends on a channel are sequential);
//         - exactly one case per select: one handler ran, the one whose index select returned;
//         - every goroutine finishes (run returns, every goroutine reported its end) and no
//           value object is left alive (buffers freed, no copy leaked).
//
// Reproducing: each program's seed is printed before it runs (so a deadlock report or a
// crash, which end the process, still leaves it as the last line) and again with a failed
// check. GOFER_SEED=<seed> runs that one program again: the same channels, goroutines and
// operations in the same order per goroutine; how they interleave stays the scheduler's
// (and select's random choice), so rerun it a few times (--gtest_repeat=100) to catch a
// rare interleaving.
// GOFER_STRESS_DURATION=<n>[s|m|h] runs programs for that long (default 10 s);
// `./gofer test --stress 10m` sets it. Nothing sleeps: the only waits are gofer's own.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gofer/gofer.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr std::size_t kMaxChans = 4;

// splitmix64: one well-mixed 64-bit value per (seed, index); seeds each goroutine's own
// generator so that its operation sequence does not depend on the schedule.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct rng {
  std::mt19937_64 g;
  explicit rng(std::uint64_t seed) : g(seed) {}
  // uniform in [0, n)
  unsigned below(unsigned n) { return static_cast<unsigned>(g() % n); }
  bool chance(unsigned percent) { return below(100) < percent; }
};

// A value in flight. Counts live instances: a buffer that forgets to destroy, or a copy that
// leaks, shows up as live != 0 after the run.
struct item {
  static inline std::atomic<long> live{0};
  int producer = -1;
  int chan = -1;
  int seq = -1;
  item(int p, int c, int s) noexcept : producer(p), chan(c), seq(s) { live.fetch_add(1); }
  item(const item& o) noexcept : producer(o.producer), chan(o.chan), seq(o.seq) {
    live.fetch_add(1);
  }
  item(item&& o) noexcept : producer(o.producer), chan(o.chan), seq(o.seq) { live.fetch_add(1); }
  item& operator=(const item&) noexcept = default;
  item& operator=(item&&) noexcept = default;
  ~item() { live.fetch_sub(1); }
};

using ch_t = gofer::chan<item>;

// One generated program.
struct program {
  std::uint64_t seed = 0;
  unsigned threads = 1;
  std::size_t nchans = 1;
  std::array<std::size_t, kMaxChans> caps{};
  int producers = 1;
  int values_per_producer = 1;
  int consumers = 1;     // consumers 0..persistent-1 drain until every channel is closed
  int persistent = 1;    // the others may quit when the context is cancelled
  bool racing_close = false;   // a closer closes channels while producers still send
  int cancel_after = -1;       // cancel the context after this many completed sends (-1: never)
  bool ctx_timeout = false;    // the context is a with_timeout of a few microseconds instead

  std::string describe() const {
    std::string s = "seed " + std::to_string(seed) + ": " + std::to_string(threads) +
                    " threads, caps {";
    for (std::size_t i = 0; i < nchans; ++i) s += (i ? "," : "") + std::to_string(caps[i]);
    s += "}, " + std::to_string(producers) + " producers x " +
         std::to_string(values_per_producer) + ", " + std::to_string(consumers) +
         " consumers (" + std::to_string(persistent) + " persistent)";
    if (racing_close) s += ", racing close";
    if (cancel_after >= 0) s += ", cancel after " + std::to_string(cancel_after) + " sends";
    if (ctx_timeout) s += ", context times out";
    return s;
  }
};

program generate(std::uint64_t seed) {
  rng r(mix(seed));
  program p;
  p.seed = seed;
  p.threads = 1 + r.below(4);
  p.nchans = 1 + r.below(kMaxChans);
  constexpr std::size_t kCaps[] = {0, 1, 2, 8};
  for (std::size_t i = 0; i < p.nchans; ++i) p.caps[i] = kCaps[r.below(4)];
  p.producers = 1 + static_cast<int>(r.below(6));
  p.values_per_producer = 50 + static_cast<int>(r.below(400));
  p.consumers = 1 + static_cast<int>(r.below(5));
  p.persistent = 1 + static_cast<int>(r.below(static_cast<unsigned>(p.consumers)));
  p.racing_close = r.chance(30);
  p.cancel_after = r.chance(40) ? static_cast<int>(r.below(p.producers * p.values_per_producer))
                                : -1;
  p.ctx_timeout = p.cancel_after < 0 && r.chance(30);
  return p;
}

// What one program did. Written by its goroutines, read after run() returns.
struct record {
  explicit record(const program& p)
      : sent(static_cast<std::size_t>(p.producers) * kMaxChans *
             static_cast<std::size_t>(p.values_per_producer)),
        received(sent.size()) {}
  std::size_t index(int producer, int chan, int seq, int per) const {
    return (static_cast<std::size_t>(producer) * kMaxChans + static_cast<std::size_t>(chan)) *
               static_cast<std::size_t>(per) +
           static_cast<std::size_t>(seq);
  }
  // 1: the send completed; 0: never attempted or failed. Set by the producer.
  std::vector<std::atomic<int>> sent;
  // how many times the value was received
  std::vector<std::atomic<int>> received;
  std::atomic<long> completed_sends{0};
  std::atomic<int> finished{0};
  std::atomic<int> producers_finished{0};
  std::atomic<long> selects{0}, select_timeouts{0}, select_defaults{0}, send_panics{0};
  std::mutex problems_mu;  // guards problems; never held across a gofer call
  std::vector<std::string> problems;
  void problem(std::string s) {
    std::lock_guard<std::mutex> g(problems_mu);
    if (problems.size() < 20) problems.push_back(std::move(s));
  }
};

// A channel set as one goroutine sees it: its own handles, nil once it knows a channel is
// closed (the Go idiom for select loops).
using chan_set = std::array<ch_t, kMaxChans>;

// Runs `f` and reports whether exactly one handler ran and that it was case `index`.
struct select_checker {
  record* rec;
  int ran = 0;
  std::size_t ran_case = 99;
  void hit(std::size_t i) {
    ++ran;
    ran_case = i;
  }
  void check(std::size_t returned, const char* where) {
    rec->selects.fetch_add(1, std::memory_order_relaxed);
    if (ran != 1 || ran_case != returned) {
      rec->problem(std::string(where) + ": select returned case " + std::to_string(returned) +
                   " but " + std::to_string(ran) + " handler(s) ran (last: case " +
                   std::to_string(ran_case) + ")");
    }
    ran = 0;
    ran_case = 99;
  }
};

// A consumer: receives until every channel is closed and drained (or, if it is not
// persistent, until the context is cancelled). Checks per-producer FIFO per channel.
void consume(const program& p, record& rec, chan_set chans, gofer::context ctx, int id) {
  rng r(mix(p.seed ^ mix(1000 + static_cast<std::uint64_t>(id))));
  const bool persistent = id < p.persistent;
  std::vector<int> last(static_cast<std::size_t>(p.producers) * kMaxChans, -1);
  auto take = [&](std::size_t from, const item& v) {
    if (v.chan != static_cast<int>(from) || v.producer < 0 || v.producer >= p.producers ||
        v.seq < 0 || v.seq >= p.values_per_producer) {
      rec.problem("consumer " + std::to_string(id) + ": bogus item on channel " +
                  std::to_string(from));
      return;
    }
    rec.received[rec.index(v.producer, v.chan, v.seq, p.values_per_producer)].fetch_add(1);
    int& l = last[static_cast<std::size_t>(v.producer) * kMaxChans + from];
    if (v.seq <= l) {
      rec.problem("consumer " + std::to_string(id) + ": producer " + std::to_string(v.producer) +
                  " on channel " + std::to_string(from) + ": seq " + std::to_string(v.seq) +
                  " after " + std::to_string(l) + " (FIFO broken)");
    }
    l = v.seq;
  };
  gofer::recv_chan<std::monostate> done = ctx.done();
  select_checker sc{&rec};
  auto open = [&] {
    return std::any_of(chans.begin(), chans.end(), [](const ch_t& c) { return bool(c); });
  };
  while (open()) {
    const unsigned how = r.below(100);
    const auto nopen = std::count_if(chans.begin(), chans.end(), [](const ch_t& c) { return bool(c); });
    if (how < 15 && nopen == 1) {
      // plain recv, only when one channel is left: blocking on one of several could
      // deadlock the program (every producer blocked sending on the others)
      std::size_t k = 0;
      while (!chans[k]) ++k;
      std::optional<item> v = chans[k].recv();
      if (v) take(k, *v); else chans[k] = nullptr;
    } else if (how < 25) {
      // try_recv on one open channel: nullopt means empty or closed+drained; only a closed
      // one may be dropped, which len()==0 alone cannot tell, so keep it and move on
      std::size_t k;
      do k = r.below(kMaxChans); while (!chans[k]);
      if (std::optional<item> v = chans[k].try_recv()) take(k, *v); else gofer::yield();
    } else {
      // select over every open channel, plus a timeout (sometimes), the context (sometimes)
      // and a default (sometimes)
      std::array<std::optional<item>, kMaxChans> out;
      gofer::recv_chan<steady::time_point> timeout(nullptr);
      if (r.chance(30)) timeout = gofer::after(std::chrono::microseconds(r.below(50)));
      gofer::recv_chan<std::monostate> d = r.chance(40) ? done : gofer::recv_chan<std::monostate>(nullptr);
      bool cancelled = false;
      auto rc = [&](std::size_t k) {
        return gofer::recv_case(chans[k], [&, k](std::optional<item> v) {
          sc.hit(k);
          out[k] = std::move(v);
        });
      };
      auto on_timeout = [&](std::optional<steady::time_point>) {
        sc.hit(4);
        rec.select_timeouts.fetch_add(1, std::memory_order_relaxed);
      };
      auto on_done = [&](std::optional<std::monostate>) {
        sc.hit(5);
        cancelled = true;
      };
      std::size_t i;
      if (r.chance(20)) {
        i = gofer::select(rc(0), rc(1), rc(2), rc(3), gofer::recv_case(timeout, on_timeout),
                          gofer::recv_case(d, on_done), gofer::default_case([&] {
                            sc.hit(6);
                            rec.select_defaults.fetch_add(1, std::memory_order_relaxed);
                          }));
      } else {
        i = gofer::select(rc(0), rc(1), rc(2), rc(3), gofer::recv_case(timeout, on_timeout),
                          gofer::recv_case(d, on_done));
      }
      sc.check(i, "consumer select");
      if (i < kMaxChans) {
        if (out[i]) take(i, *out[i]); else chans[i] = nullptr;
      }
      if (cancelled) {
        if (!persistent) break;
        done = nullptr;  // seen; stop selecting on it
      }
      if (i == 6) gofer::yield();
    }
    if (r.chance(5)) gofer::yield();
  }
}

// A producer: sends values_per_producer values, each on a random channel, by a random
// method; records which sends completed. Stops using a channel once it found it closed.
void produce(const program& p, record& rec, chan_set chans, gofer::context ctx, int id) {
  rng r(mix(p.seed ^ mix(2000 + static_cast<std::uint64_t>(id))));
  std::array<int, kMaxChans> next_seq{};
  select_checker sc{&rec};
  gofer::recv_chan<std::monostate> done = ctx.done();
  for (int n = 0; n < p.values_per_producer; ++n) {
    if (std::none_of(chans.begin(), chans.end(), [](const ch_t& c) { return bool(c); })) break;
    std::size_t k;
    do k = r.below(kMaxChans); while (!chans[k]);
    const int seq = next_seq[k]++;
    auto& sent = rec.sent[rec.index(id, static_cast<int>(k), seq, p.values_per_producer)];
    bool ok = false;
    try {
      const unsigned how = r.below(100);
      if (how < 35) {
        chans[k].send(item(id, static_cast<int>(k), seq));
        ok = true;
      } else if (how < 45) {
        item v(id, static_cast<int>(k), seq);
        ok = chans[k].try_send(v);
        if (!ok && (v.producer != id || v.seq != seq)) {
          rec.problem("try_send that failed changed its value");
        }
      } else {
        // select: a send case on k, and a nil-or-real timeout, context, default
        gofer::recv_chan<steady::time_point> timeout(nullptr);
        if (r.chance(30)) timeout = gofer::after(std::chrono::microseconds(r.below(50)));
        gofer::recv_chan<std::monostate> d = r.chance(40) ? done : gofer::recv_chan<std::monostate>(nullptr);
        auto sendc = gofer::send_case(chans[k], item(id, static_cast<int>(k), seq), [&] { sc.hit(0); });
        auto on_timeout = [&](std::optional<steady::time_point>) { sc.hit(1); };
        auto on_done = [&](std::optional<std::monostate>) { sc.hit(2); };
        std::size_t i;
        if (r.chance(20)) {
          i = gofer::select(std::move(sendc), gofer::recv_case(timeout, on_timeout),
                            gofer::recv_case(d, on_done), gofer::default_case([&] { sc.hit(3); }));
        } else {
          i = gofer::select(std::move(sendc), gofer::recv_case(timeout, on_timeout),
                            gofer::recv_case(d, on_done));
        }
        sc.check(i, "producer select");
        ok = i == 0;
        if (i == 1) rec.select_timeouts.fetch_add(1, std::memory_order_relaxed);
        if (i == 3) rec.select_defaults.fetch_add(1, std::memory_order_relaxed);
        if (i == 2) done = nullptr;
      }
    } catch (const gofer::panic_error& e) {
      if (std::string(e.what()) != "send on closed channel") {
        rec.problem(std::string("producer: unexpected panic: ") + e.what());
      }
      rec.send_panics.fetch_add(1, std::memory_order_relaxed);
      chans[k] = nullptr;
    }
    if (ok) {
      sent.store(1, std::memory_order_relaxed);
      rec.completed_sends.fetch_add(1, std::memory_order_relaxed);
    }
    if (r.chance(5)) gofer::yield();
  }
  rec.producers_finished.fetch_add(1);
}

// Runs one program; returns the problems found ("" if none).
std::string run_program(const program& p) {
  record rec(p);
  const long live_before = item::live.load();
  int started = 0;
  const int rc = gofer::run(
      [&] {
        // unused slots are nil (a default-constructed chan is make(chan T), not nil):
        // selects over all four cases never pick them
        chan_set chans{nullptr, nullptr, nullptr, nullptr};
        for (std::size_t i = 0; i < p.nchans; ++i) chans[i] = ch_t(p.caps[i]);
        gofer::context ctx;
        gofer::cancel_func cancel;
        if (p.ctx_timeout) {
          std::tie(ctx, cancel) = gofer::with_timeout(gofer::background(), 20us);
        } else {
          std::tie(ctx, cancel) = gofer::with_cancel(gofer::background());
        }
        gofer::wait_group producers_done, consumers_done, closer_done;
        std::array<std::atomic<bool>, kMaxChans> closed{};
        auto spawn = [&](gofer::wait_group& wg, auto fn) {
          wg.add(1);
          ++started;
          gofer::go([&rec, &wg, fn]() {
            fn();
            rec.finished.fetch_add(1);
            wg.done();
          });
        };
        for (int c = 0; c < p.consumers; ++c) {
          spawn(consumers_done, [&p, &rec, chans, ctx, c] { consume(p, rec, chans, ctx, c); });
        }
        for (int q = 0; q < p.producers; ++q) {
          spawn(producers_done, [&p, &rec, chans, ctx, q] { produce(p, rec, chans, ctx, q); });
        }
        if (p.cancel_after >= 0) {
          spawn(closer_done, [&p, &rec, cancel] {
            while (rec.completed_sends.load() < p.cancel_after &&
                   rec.producers_finished.load() < p.producers) {
              gofer::yield();
            }
            cancel();
          });
        }
        if (p.racing_close) {
          // closes one channel (or all of them) after a random number of completed sends
          rng r(mix(p.seed ^ 3000));
          const long after = r.below(static_cast<unsigned>(p.producers * p.values_per_producer));
          const bool all = r.chance(30);
          const std::size_t which = r.below(static_cast<unsigned>(p.nchans));
          spawn(closer_done, [&p, &rec, &closed, chans, after, all, which]() {
            while (rec.completed_sends.load() < after &&
                   rec.producers_finished.load() < p.producers) {
              gofer::yield();
            }
            for (std::size_t i = 0; i < p.nchans; ++i) {
              if (all || i == which) {
                closed[i] = true;
                chans[i].close();
              }
            }
          });
        }
        producers_done.wait();
        closer_done.wait();
        for (std::size_t i = 0; i < p.nchans; ++i) {
          if (!closed[i]) chans[i].close();
        }
        consumers_done.wait();
        cancel();
      },
      {.threads = p.threads});
  std::string out;
  if (rc != 0) out += "run returned " + std::to_string(rc) + "\n";
  if (rec.finished.load() != started) {
    out += std::to_string(started - rec.finished.load()) + " goroutines did not finish\n";
  }
  for (const std::string& s : rec.problems) out += s + "\n";
  int reported = 0;
  for (int q = 0; q < p.producers; ++q) {
    for (std::size_t k = 0; k < kMaxChans; ++k) {
      for (int s = 0; s < p.values_per_producer; ++s) {
        const std::size_t i = rec.index(q, static_cast<int>(k), s, p.values_per_producer);
        const int sent = rec.sent[i].load(), got = rec.received[i].load();
        if (got != sent && reported++ < 10) {
          out += "producer " + std::to_string(q) + " channel " + std::to_string(k) + " seq " +
                 std::to_string(s) + ": " + (sent ? "sent" : "not sent") + ", received " +
                 std::to_string(got) + " times\n";
        }
      }
    }
  }
  if (item::live.load() != live_before) {
    out += std::to_string(item::live.load() - live_before) + " items still alive after run\n";
  }
  return out;
}

// "10m", "30s", "1h", "45" (seconds) -> seconds; 0 if malformed.
double parse_duration(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || v <= 0) return 0;
  const std::string unit(end);
  if (unit.empty() || unit == "s") return v;
  if (unit == "m") return v * 60;
  if (unit == "h") return v * 3600;
  return 0;
}

TEST(random_stress, programs) {
  if (const char* one = std::getenv("GOFER_SEED"); one != nullptr && *one != '\0') {
    const program p = generate(std::strtoull(one, nullptr, 0));
    std::printf("[          ] %s\n", p.describe().c_str());
    const std::string problems = run_program(p);
    EXPECT_EQ(problems, "") << p.describe();
    return;
  }
  double budget = 10;
  if (const char* d = std::getenv("GOFER_STRESS_DURATION"); d != nullptr && *d != '\0') {
    budget = parse_duration(d);
    ASSERT_GT(budget, 0) << "GOFER_STRESS_DURATION=" << d << ": expected e.g. 30s, 10m, 1h";
  }
  const std::uint64_t base = std::random_device{}() * 0x100000001ULL ^ std::random_device{}();
  const auto deadline = steady::now() + std::chrono::duration<double>(budget);
  long programs = 0, sends = 0;
  for (std::uint64_t i = 0; steady::now() < deadline; ++i) {
    const std::uint64_t seed = mix(base + i) >> 1;  // fits strtoull either way
    const program p = generate(seed);
    // Printed before it runs: a deadlock report or a crash ends the process (gofer exits
    // with _Exit), and the last of these lines then names the program that did it.
    std::printf("[ program  ] GOFER_SEED=%llu  %s\n", static_cast<unsigned long long>(seed),
                p.describe().c_str());
    std::fflush(stdout);
    const std::string problems = run_program(p);
    ++programs;
    sends += p.producers * p.values_per_producer;
    if (!problems.empty()) {
      ADD_FAILURE() << p.describe() << "\n"
                    << problems << "rerun: GOFER_SEED=" << seed
                    << " build/<preset>/tests/stress_random_test";
      return;
    }
  }
  std::printf("[          ] %ld random programs (%ld attempted sends) in %.0f s, all clean\n",
              programs, sends, budget);
  RecordProperty("programs", std::to_string(programs));
}

}  // namespace
}  // namespace gofer_test
