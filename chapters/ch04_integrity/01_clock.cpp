// clock — the RWMutex clock (book, chapter 4: "Getting deeper with mutexes and sync").
// A clock (the time of the last change and a change counter) is read by many goroutines on
// a fast ticker and changed by one writer on a slower ticker, under a gofer::rw_mutex: the
// readers share the lock, the writer has it alone, and no reader ever sees half a change.
// Then readers hold the lock without pause: Go's RWMutex still lets the writer in, because
// once a writer waits, new readers queue behind it. glibc's std::shared_mutex prefers
// readers: there the writer starves. Watch the writer's wait in both.
//
// --wrong-lock first runs the book's draft (the writer under a *read* lock, the readers with
// no lock at all) on plain threads: a data race. See the torn reads it counts, then run it
// under ThreadSanitizer, like `go run -race`:
//   ./gofer run --preset tsan clock --wrong-lock

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <shared_mutex>
#include <thread>
#include <variant>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

struct settings {
  int readers = 8;
  int ms = 400;  // how long each part runs
  bool wrong_lock = false;
  unsigned threads = 0;
};

// The clock. `seal` lets a reader check that it saw one whole change: the writer sets it
// from the other two fields, last.
struct clock_state {
  long long now_ns = 0;  // the time of the last change, since the start
  long changes = 0;
  long long seal = 0;
};
long long seal_of(long long now_ns, long changes) { return now_ns * 31 + changes; }
bool whole(const clock_state& c) { return c.seal == seal_of(c.now_ns, c.changes); }

double ms_of(clk::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// 0. (--wrong-lock) The book's draft, on plain threads so that ThreadSanitizer sees them:
// the writer takes a *read* lock, which excludes nobody but other writers; the readers take
// no lock at all. A reader can see the new counter with the old time (a torn read). This is
// a data race: undefined behaviour in C++, shown only when asked; TSan reports it.
void wrong_lock(const settings& s) {
  clock_state c;                 // shared, guarded by nothing real: the bug
  std::shared_mutex mu;          // the writer's "lock"
  std::atomic<bool> stop{false};
  std::vector<long> torn(s.readers, 0), reads(s.readers, 0);
  auto start = clk::now();
  std::thread writer([&] {
    while (!stop.load()) {
      std::shared_lock lk(mu);  // a read lock around a write: the wrong kind
      c.changes = c.changes + 1;
      c.now_ns = (clk::now() - start).count();
      c.seal = seal_of(c.now_ns, c.changes);
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < s.readers; ++r) {
    readers.emplace_back([&, r] {
      while (!stop.load()) {
        clock_state seen = c;  // no lock: the race TSan reports
        ++reads[r];
        if (!whole(seen)) ++torn[r];
        std::this_thread::yield();
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(s.ms));
  stop = true;
  writer.join();
  for (auto& t : readers) t.join();
  long all = 0, bad = 0;
  for (int r = 0; r < s.readers; ++r) all += reads[r], bad += torn[r];
  std::printf("   wrong : %ld reads, %ld torn (half of a change seen)%s\n", all, bad,
              bad ? "" : " — none this run; the race is still there: ./gofer run --preset tsan clock --wrong-lock");
}

// 1. The book's clock, made right: readers on a 1 ms ticker take the read lock, the writer
// on a 20 ms ticker takes the write lock. Returns the number of torn reads (0).
long clock_under_rw_mutex(const settings& s) {
  clock_state c;
  gofer::rw_mutex mu;  // guards c
  gofer::chan<std::monostate> stop;  // closed when the part is over
  gofer::wait_group wg;
  std::vector<long> reads(s.readers, 0), torn(s.readers, 0);
  clk::duration writer_wait_max{}, writer_wait_sum{};
  long writes = 0;
  auto start = clk::now();

  wg.add(s.readers + 1);
  for (int r = 0; r < s.readers; ++r) {
    gofer::go(gofer::named("reader-" + std::to_string(r)), [&, r] {
      gofer::ticker t(1ms);
      for (bool more = true; more;) {
        gofer::select(gofer::recv_case(t.c(), [&](auto) {
                        std::shared_lock lk(mu);  // many readers at once
                        ++reads[r];
                        if (!whole(c)) ++torn[r];
                      }),
                      gofer::recv_case(stop, [&](auto) { more = false; }));
      }
      wg.done();
    });
  }
  gofer::go(gofer::named("writer"), [&] {
    gofer::ticker t(20ms);
    for (bool more = true; more;) {
      gofer::select(gofer::recv_case(t.c(), [&](auto) {
                      auto asked = clk::now();
                      std::unique_lock lk(mu);  // alone: no reader inside
                      auto waited = clk::now() - asked;
                      writer_wait_max = std::max(writer_wait_max, waited);
                      writer_wait_sum += waited;
                      ++writes;
                      c.changes = c.changes + 1;
                      c.now_ns = (clk::now() - start).count();
                      c.seal = seal_of(c.now_ns, c.changes);
                    }),
                    gofer::recv_case(stop, [&](auto) { more = false; }));
    }
    wg.done();
  });
  gofer::sleep(std::chrono::milliseconds(s.ms));
  stop.close();
  wg.wait();
  long all = 0, bad = 0;
  for (int r = 0; r < s.readers; ++r) all += reads[r], bad += torn[r];
  double secs = std::chrono::duration<double>(clk::now() - start).count();
  std::printf("   %d readers: %ld reads (%.0f/s), %ld torn; 1 writer: %ld changes, waited %.3f ms on average, %.3f ms at most\n",
              s.readers, all, all / secs, bad, writes, writes ? ms_of(writer_wait_sum) / writes : 0.0,
              ms_of(writer_wait_max));
  return bad;
}

// 2. Readers that never let go: each holds the read lock for `hold`, releases it and takes
// it again at once, staggered so that some reader always holds it. The writer asks for the
// lock every 10 ms. The same program runs on gofer::rw_mutex (goroutines) and on
// std::shared_mutex (threads); it returns the writer's longest wait and how often it got in.
struct starvation {
  clk::duration max_wait{};
  int got_in = 0, asked = 0;
};
constexpr auto kHold = 2ms;

template <class Mutex, class Spawn, class Sleep>
starvation hammer(const settings& s, Mutex& mu, Spawn spawn, Sleep sleep_for) {
  starvation out;
  auto end = clk::now() + std::chrono::milliseconds(s.ms);
  for (int r = 0; r < s.readers; ++r) {
    spawn([&, r] {
      sleep_for(kHold * r / s.readers);  // stagger: the holds overlap
      while (clk::now() < end) {  // they stop by themselves at `end`
        std::shared_lock lk(mu);
        sleep_for(kHold);  // a slow read (formatting, sending) with the lock held
      }
    });
  }
  // The writer (the calling goroutine or thread).
  while (clk::now() < end) {
    sleep_for(10ms);
    auto asked = clk::now();
    ++out.asked;
    {
      std::unique_lock lk(mu);
      if (clk::now() < end) ++out.got_in;  // in while the readers were still at it
      out.max_wait = std::max(out.max_wait, clk::now() - asked);
    }
  }
  return out;
}

starvation hammer_gofer(const settings& s) {
  gofer::rw_mutex mu;
  gofer::wait_group wg;
  wg.add(s.readers);
  auto r = hammer(
      s, mu,
      [&](auto fn) {
        gofer::go(gofer::named("slow-reader"), [fn, &wg]() mutable {
          fn();
          wg.done();
        });
      },
      [](clk::duration d) { gofer::sleep(d); });
  wg.wait();
  return r;
}

starvation hammer_std(const settings& s) {
  std::shared_mutex mu;
  std::vector<std::thread> ts;
  auto r = hammer(
      s, mu, [&](auto fn) { ts.emplace_back(fn); }, [](clk::duration d) { std::this_thread::sleep_for(d); });
  for (auto& t : ts) t.join();
  return r;
}

void print_starvation(const char* what, const starvation& r) {
  std::printf("   %-51s the writer got in %2d of %2d times, waited %7.3f ms at most\n", what, r.got_in, r.asked,
              ms_of(r.max_wait));
}

int main(int argc, char** argv) {
  settings s;
  CLI::App app{"the RWMutex clock: many readers, one writer, and whether readers starve the writer", "clock"};
  app.add_option("--readers", s.readers, "reader goroutines")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--ms", s.ms, "how long each part runs, in ms")->capture_default_str()->check(CLI::Range(50, 60000));
  app.add_flag("--wrong-lock", s.wrong_lock,
               "first run the book's draft (a read lock around the write, readers unlocked) on plain threads: "
               "a data race, see ./gofer run --preset tsan clock --wrong-lock");
  app.add_option("--threads", s.threads, "OS threads (0: one per core)")->capture_default_str()->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  if (s.wrong_lock) {
    std::puts("0. the book's draft: the writer under a read lock, readers without a lock (plain threads):");
    wrong_lock(s);
  }
  long torn = -1;
  starvation g;
  int status = gofer::run(
      [&] {
        std::puts("1. readers on a 1 ms ticker share the read lock; a writer on a 20 ms ticker takes the write lock:");
        torn = clock_under_rw_mutex(s);
        std::printf("2. readers hold the read lock nonstop (%lld ms each, overlapping); a writer asks every 10 ms:\n",
                    static_cast<long long>(kHold.count()));
        g = hammer_gofer(s);
        print_starvation("gofer::rw_mutex (Go's rules, goroutines):", g);
      },
      gofer::options{.threads = s.threads});
  if (status != 0) return status;
  starvation st = hammer_std(s);
  print_starvation("std::shared_mutex (glibc: readers first, threads):", st);
  if (st.got_in < st.asked)
    std::puts("   std::shared_mutex let new readers pass the waiting writer: it starved until the readers stopped");

  if (torn != 0 || g.got_in == 0 || g.max_wait > std::chrono::milliseconds(s.ms) / 2) {
    std::puts("FAILED: a torn read under the lock, or the writer starved under gofer::rw_mutex");
    return 1;
  }
  std::printf("no torn reads, and with readers holding the lock nonstop the writer still got in %d times, waiting at most %.1f ms\n",
              g.got_in, ms_of(g.max_wait));
  return 0;
}
