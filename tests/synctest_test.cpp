// tests/synctest_test.cpp — gofer::synctest: virtual time in a bubble (gofer/synctest.hpp).
//
//   synctest          the clock's start; a one-hour context deadline in real microseconds;
//                     exact timer order; a ticker loop's identical output run after run;
//                     wait(); timers and tickers stop/reset on the virtual clock; a mutex
//                     wait is not durable; deadlocks reported with the members' dump;
//                     misuse panics with Go's texts; channels and timers belong to their
//                     bubble (outside use panics; waits on outside channels are not durable);
//                     socket deadlines in a bubble expire in real time
//   (each over 1, 2, 4 and 8 scheduler threads)
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gofer/gofer.hpp"
#include "gofer/net.hpp"
#include "gofer/synctest.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using namespace std::chrono_literals;
using real_clock = std::chrono::steady_clock;

constexpr auto kStart = std::chrono::seconds(946684800);  // 2000-01-01T00:00:00Z

// Virtual time since the bubble's start.
std::chrono::nanoseconds since_start() { return gofer::now().time_since_epoch() - kStart; }

class synctest : public threads_test {};

TEST_P(synctest, the_clock_starts_at_2000_and_stands_still_while_goroutines_run) {
  run_main(threads(), [] {
    gofer::synctest::run([] {
      EXPECT_EQ(gofer::now().time_since_epoch(), kStart);
      volatile long spin = 0;
      for (long i = 0; i < 1000000; ++i) spin = spin + i;  // real time passes, virtual not
      EXPECT_EQ(since_start(), 0ns);
    });
    EXPECT_LT(gofer::now().time_since_epoch(), kStart);  // outside: the real clock again
  });
}

TEST_P(synctest, a_one_hour_timeout_expires_in_real_microseconds) {
  auto real = real_clock::duration::max();
  run_main(threads(), [&] {
    auto t0 = real_clock::now();
    gofer::synctest::run([] {
      auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 1h);
      ctx.done().recv();
      EXPECT_TRUE(absl::IsDeadlineExceeded(ctx.err()));
      EXPECT_EQ(since_start(), 1h);  // exactly: the clock jumped to the deadline
      cancel();
    });
    real = real_clock::now() - t0;
  });
  // Real time: microseconds here; the bound is wide for loaded machines and sanitizers.
  EXPECT_LT(real, 500ms) << "virtual time should not wait for real time";
}

TEST_P(synctest, timers_fire_in_deadline_order_at_their_exact_instants) {
  run_main(threads(), [] {
    gofer::synctest::run([] {
      std::vector<int> ds(40);
      std::iota(ds.begin(), ds.end(), 1);
      std::shuffle(ds.begin(), ds.end(), std::mt19937(7));
      gofer::mutex mu;
      std::vector<int> woke;
      gofer::wait_group wg;
      for (int d : ds) {
        wg.add(1);
        gofer::go([&, d] {
          gofer::sleep(std::chrono::minutes(d));
          EXPECT_EQ(since_start(), std::chrono::minutes(d));
          std::lock_guard<gofer::mutex> lk(mu);
          woke.push_back(d);
          wg.done();
        });
      }
      wg.wait();
      std::vector<int> sorted(ds);
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(woke, sorted);
    });
  });
}

// A ticker loop with a timer and a sleeper beside it: the log (virtual times) is the same
// every run, on any number of threads.
std::string ticker_program() {
  std::string log;
  gofer::synctest::run([&] {
    gofer::ticker tk(250ms);
    gofer::timer stop_at(2s);
    auto slow = gofer::after(1100ms);
    gofer::chan<int> done;
    gofer::go([done] {
      gofer::sleep(1500ms);
      done.send(1);
    });
    for (bool running = true; running;) {
      gofer::select(
          gofer::recv_case(tk.c(), [&](auto) { log += "tick " + std::to_string(since_start() / 1ms) + "\n"; }),
          gofer::recv_case(slow, [&](auto) { log += "after " + std::to_string(since_start() / 1ms) + "\n"; }),
          gofer::recv_case(done, [&](auto) { log += "sleeper " + std::to_string(since_start() / 1ms) + "\n"; }),
          gofer::recv_case(stop_at.c(), [&](auto) {
            log += "stop " + std::to_string(since_start() / 1ms) + "\n";
            running = false;
          }));
    }
    tk.stop();
  });
  return log;
}

TEST_P(synctest, a_ticker_loop_prints_the_same_every_run) {
  std::vector<std::string> logs;
  run_main(threads(), [&] {
    for (int i = 0; i < 5; ++i) logs.push_back(ticker_program());
  });
  ASSERT_EQ(logs.size(), 5u);
  // Up to 2 s every event has its own instant, or (1500 ms) a fixed order: the tick is
  // handed to the selecting loop by the fire itself, the sleeper wakes after it.
  const std::string head =
      "tick 250\ntick 500\ntick 750\ntick 1000\nafter 1100\ntick 1250\ntick 1500\n"
      "sleeper 1500\ntick 1750\n";
  EXPECT_EQ(logs[0].substr(0, head.size()), head) << logs[0];
  for (const std::string& l : logs) EXPECT_EQ(l, logs[0]);
  EXPECT_EQ(logs[0].substr(logs[0].size() - 10), "stop 2000\n");
}

TEST_P(synctest, timer_reset_and_stop_use_the_virtual_clock) {
  run_main(threads(), [] {
    gofer::synctest::run([] {
      gofer::timer t(10s);
      gofer::sleep(4s);
      EXPECT_TRUE(t.reset(10s));  // now fires at 14 s
      t.c().recv();
      EXPECT_EQ(since_start(), 14s);
      gofer::timer never(1h);
      EXPECT_TRUE(never.stop());
      gofer::sleep(2h);  // the stopped timer does not fire meanwhile
      EXPECT_FALSE(never.c().try_recv().has_value());
      EXPECT_EQ(since_start(), 14s + 2h);
    });
  });
}

TEST_P(synctest, wait_returns_once_the_others_are_durably_blocked) {
  run_main(threads(), [] {
    gofer::synctest::run([] {
      gofer::chan<int> in;
      gofer::chan<int> out(1);
      int seen = 0;
      gofer::go([&, in, out] {
        seen = 1;
        out.send(1);                 // buffered: does not block
        if (auto v = in.recv()) seen = *v;  // durably blocked here
      });
      gofer::synctest::wait();
      EXPECT_EQ(seen, 1);
      EXPECT_EQ(out.try_recv().value_or(0), 1);
      EXPECT_EQ(since_start(), 0ns);  // wait does not move the clock
      in.send(7);
      gofer::synctest::wait();
      EXPECT_EQ(seen, 7);
    });
  });
}

// Go's rule: a goroutine waiting for a mutex is not durably blocked (the holder may be
// outside the bubble), so the bubble stays awake and its clock cannot move: a sleeping holder
// never wakes. Nothing else can run either, so gofer's deadlock detector reports it
// (instead of a hang).
TEST_P(synctest, a_mutex_wait_is_not_durable_so_a_sleeping_holder_never_wakes) {
  auto r = gofer::testing::run(
      [] {
        gofer::synctest::run([] {
          auto mu = std::make_shared<gofer::mutex>();  // shared: unwinding order is free
          mu->lock();
          gofer::go(gofer::named("locker"), [mu] {
            mu->lock();
            mu->unlock();
          });
          gofer::sleep(1s);
          mu->unlock();
        });
      },
      {.threads = threads()}, gofer::testing::leaks::allow);
  EXPECT_EQ(r.state, gofer::testing::status::deadlocked) << r;
  EXPECT_NE(r.report.find("\"locker\" [sync.Mutex.Lock"), std::string::npos) << r;
  EXPECT_NE(r.report.find("[sleep"), std::string::npos) << r;
}

TEST_P(synctest, a_blocked_bubble_panics_with_the_members_dump) {
  std::string text;
  run_main(threads(), [&] {
    text = panic_text([] {
      gofer::synctest::run([] {
        gofer::chan<int> never;
        gofer::go(gofer::named("stuck-sender"), [never] { never.send(1); });
        gofer::sleep(1h);  // time moves while the sender is blocked
        never.recv();
        never.recv();  // nobody sends any more: deadlock
      });
    });
  });
  EXPECT_EQ(text.rfind("deadlock: all goroutines in bubble are blocked\n\n", 0), 0u) << text;
  EXPECT_NE(text.find("[chan receive"), std::string::npos) << text;
  EXPECT_EQ(text.find("stuck-sender"), std::string::npos) << text;  // it had ended
}

TEST_P(synctest, members_left_blocked_after_f_returned_are_a_deadlock) {
  std::string text;
  std::atomic<int> unwound{0};
  run_main(threads(), [&] {
    text = panic_text([&] {
      gofer::synctest::run([&] {
        gofer::chan<int> never;
        gofer::go(gofer::named("forgotten"), [never, &unwound] {
          destroy_counter d(unwound);
          never.recv();
        });
      });
    });
  });
  EXPECT_EQ(text.rfind("deadlock: main bubble goroutine has exited but blocked goroutines remain", 0), 0u)
      << text;
  EXPECT_NE(text.find("goroutine"), std::string::npos);
  EXPECT_NE(text.find("\"forgotten\" [chan receive"), std::string::npos) << text;
  EXPECT_EQ(unwound.load(), 1) << "the blocked member is unwound before run panics";
}

TEST_P(synctest, misuse_panics_with_gos_texts) {
  run_main(threads(), [] {
    EXPECT_EQ(panic_text([] { gofer::synctest::wait(); }), "goroutine is not in a bubble");
    gofer::synctest::run([] {
      EXPECT_EQ(panic_text([] { gofer::synctest::run([] {}); }),
                "synctest.Run called from within a synctest bubble");
      gofer::chan<int> release;
      gofer::go(gofer::named("waiter"), [] { gofer::synctest::wait(); });
      gofer::go([release] { release.recv(); });
      // The waiter stays in wait() while this member runs (it is not durably blocked).
      eventually([] { return wait_state("waiter", "synctest.Wait"); });
      EXPECT_EQ(panic_text([] { gofer::synctest::wait(); }), "wait already in progress");
      release.close();
    });
  });
  EXPECT_THROW(gofer::synctest::run([] {}), std::logic_error);
}

TEST_P(synctest, a_timer_heavy_suite_runs_in_a_fraction_of_its_virtual_time) {
  auto real = real_clock::duration::max();
  std::chrono::nanoseconds virt{0};
  run_main(threads(), [&] {
    auto t0 = real_clock::now();
    gofer::synctest::run([&] {
      gofer::wait_group wg;
      for (int i = 0; i < 200; ++i) {
        wg.add(1);
        gofer::go([&wg, i] {
          for (int k = 0; k < 20; ++k) {
            if (k % 2 == 0) gofer::sleep(std::chrono::seconds(1 + i % 7));
            else gofer::after(std::chrono::milliseconds(500 + i)).recv();
          }
          wg.done();
        });
      }
      wg.wait();
      virt = since_start();
    });
    real = real_clock::now() - t0;
  });
  EXPECT_GT(virt, 1min);
  // A fraction of the virtual duration (~77 s): milliseconds here, about 1.5 s under TSan;
  // the bound is a tenth, for loaded machines.
  EXPECT_LT(real * 10, virt) << "virtual " << virt.count() << "ns took " << real.count() << "ns";
}

// Go 1.25's isolation: a channel, timer or ticker made in a bubble belongs to it; any
// operation on it from outside panics with Go's text (fatal in Go; a panic here).
TEST_P(synctest, a_bubbles_channels_and_timers_panic_when_used_from_outside) {
  run_main(threads(), [] {
    gofer::chan<int> c(1);
    gofer::chan<int> empty(1);
    std::unique_ptr<gofer::timer> tm;
    std::unique_ptr<gofer::ticker> tk;
    gofer::synctest::run([&] {
      c = gofer::chan<int>(1);
      empty = gofer::chan<int>(1);
      tm = std::make_unique<gofer::timer>(1h);
      tk = std::make_unique<gofer::ticker>(1h);
      c.send(1);  // inside: fine
      // A member's goroutine is inside too, and so is a goroutine it starts.
      gofer::chan<int> done;
      gofer::go([c, done] {
        gofer::go([c, done] { done.send(*c.recv()); });
      });
      EXPECT_EQ(done.recv(), 1);
      c.send(2);
    });
    // run's caller is outside the bubble.
    EXPECT_EQ(panic_text([&] { c.send(3); }), "send on synctest channel from outside bubble");
    EXPECT_EQ(panic_text([&] { (void)c.try_send(3); }), "send on synctest channel from outside bubble");
    EXPECT_EQ(panic_text([&] { (void)c.recv(); }), "receive on synctest channel from outside bubble");
    EXPECT_EQ(panic_text([&] { (void)empty.try_recv(); }), "receive on synctest channel from outside bubble");
    EXPECT_EQ(panic_text([&] { gofer::select(gofer::recv_case(empty), gofer::default_case()); }),
              "select on synctest channel from outside bubble");
    EXPECT_EQ(panic_text([&] { c.close(); }), "close of synctest channel from outside bubble");
    EXPECT_EQ(panic_text([&] { (void)tm->stop(); }), "stop of synctest timer from outside bubble");
    EXPECT_EQ(panic_text([&] { (void)tm->reset(1s); }), "reset of synctest timer from outside bubble");
    EXPECT_EQ(panic_text([&] { tk->stop(); }), "stop of synctest timer from outside bubble");
    EXPECT_EQ(panic_text([&] { tk->reset(1s); }), "reset of synctest timer from outside bubble");
    EXPECT_EQ(panic_text([&] { (void)tm->c().try_recv(); }), "receive on synctest channel from outside bubble");
    // Another bubble is outside too.
    gofer::synctest::run([&] {
      EXPECT_EQ(panic_text([&] { c.send(3); }), "send on synctest channel from outside bubble");
    });
    // Nothing was touched: the value sent inside is still there (read from a new bubble,
    // it is still outside: the channel belongs to the first one only). The timer and ticker
    // are destroyed outside: destructors do not check.
    EXPECT_EQ(c.len(), 1u);
    tm.reset();
    tk.reset();
  });
}

// Go's rule: a member blocked on a channel made outside its bubble is not durably blocked
// (an outsider may wake it), so the bubble's clock waits for it. Here main sleeps one
// virtual hour while a member waits for a value an outside goroutine sends after real
// milliseconds: the hour cannot pass before the value arrived.
TEST_P(synctest, a_wait_on_a_channel_made_outside_is_not_durable) {
  run_main(threads(), [] {
    gofer::chan<int> outside;  // made by run's caller: not the bubble's
    gofer::go(gofer::named("outsider"), [outside] {
      gofer::sleep(20ms);  // real time: the bubble must not idle meanwhile
      outside.send(7);
    });
    gofer::synctest::run([outside] {
      auto got = std::make_shared<std::atomic<int>>(0);
      gofer::go(gofer::named("member"), [outside, got] { got->store(*outside.recv()); });
      eventually([] { return wait_state("member", "chan receive"); });  // not "(durable)"
      gofer::sleep(1h);
      EXPECT_EQ(got->load(), 7) << "the clock jumped while a member waited on an outside channel";
      EXPECT_EQ(since_start(), 1h);
    });
  });
}

// In-bubble channel waits show Go 1.25's "(durable)" reasons in dumps.
TEST_P(synctest, waits_on_the_bubbles_channels_are_durable_in_the_dump) {
  run_main(threads(), [] {
    gofer::synctest::run([] {
      gofer::chan<int> a, b, c;
      gofer::go(gofer::named("receiver"), [a] { a.recv(); });
      gofer::go(gofer::named("sender"), [b] { b.send(1); });
      gofer::go(gofer::named("selector"), [a, c] { gofer::select(gofer::recv_case(a), gofer::recv_case(c)); });
      gofer::synctest::wait();
      EXPECT_TRUE(wait_state("receiver", "chan receive (durable)"));
      EXPECT_TRUE(wait_state("sender", "chan send (durable)"));
      EXPECT_TRUE(wait_state("selector", "select (durable)"));
      a.close();  // the receiver and the selector return
      b.recv();   // the sender's value
    });
  });
}

// Network I/O is not durable, and a socket deadline expires in real time: set inside a
// bubble, it is read on the bubble's clock (gofer::now() + 50ms), as Go's SetDeadline
// (time.Until on the caller's clock), and then waited for in real time; the bubble's clock
// stands still meanwhile (the reader is not durably blocked).
TEST_P(synctest, a_socket_deadline_set_in_a_bubble_expires_after_real_time) {
  run_main(threads(), [] {
    auto ln = gofer::net::listen("127.0.0.1:0").value();
    gofer::synctest::run([&] {
      auto c = gofer::net::dial(ln.addr()).value();
      auto peer = ln.accept().value();  // kept open and silent
      c.set_read_deadline(gofer::now() + 50ms);
      const auto t0 = real_clock::now();
      char buf[8];
      auto r = c.read(buf, sizeof buf);
      const auto took = real_clock::now() - t0;
      ASSERT_FALSE(r.ok());
      EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
      EXPECT_GE(took, 45ms);
      EXPECT_LT(took, 30s);
      EXPECT_EQ(since_start(), 0ns) << "the bubble's clock moved during network I/O";
    });
  });
}

INSTANTIATE_TEST_SUITE_P(, synctest, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
