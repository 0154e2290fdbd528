// tests/signal_test.cpp — gofer::signal (gofer/signal.hpp): Go's os/signal.
//
// Suite `signal_p` (1, 2, 4 and 8 scheduler threads): a signal reaches every channel
// registered for it; a full channel misses it (never blocks); stop() ends delivery and the
// last stop restores the previous disposition, as does the end of the run; a goroutine
// parked for a signal is not a deadlock; notify_context cancels its context; misuse is a
// clear error.
//
// Signals are sent to this process with kill(getpid(), ...): the kernel picks the thread,
// as it would for Ctrl-C. Ordering: "the relay has handled signal N" is observed through a
// second channel with room for every signal (the relay delivers to registrations in order,
// under one lock), never by sleeping.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "gofer/debug.hpp"
#include "gofer/signal.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using signal_p = threads_test;

void send_self(int sig) { ASSERT_EQ(::kill(::getpid(), sig), 0); }

bool handler_is_default(int sig) {
  struct sigaction cur {};
  ::sigaction(sig, nullptr, &cur);
  return cur.sa_handler == SIG_DFL;
}

TEST_P(signal_p, a_signal_reaches_every_channel_registered_for_it) {
  run_main(threads(), [] {
    gofer::chan<int> a(1), b(1);
    gofer::signal::notify(a, {SIGUSR1});
    gofer::signal::notify(b, {SIGUSR1, SIGUSR2});
    send_self(SIGUSR1);
    EXPECT_EQ(*a.recv(), SIGUSR1);
    EXPECT_EQ(*b.recv(), SIGUSR1);
    send_self(SIGUSR2);
    EXPECT_EQ(*b.recv(), SIGUSR2);
    EXPECT_FALSE(a.try_recv().has_value());  // a never asked for SIGUSR2
    gofer::signal::stop(a);
    gofer::signal::stop(b);
  });
}

TEST_P(signal_p, a_second_notify_adds_signals_to_the_same_channel) {
  run_main(threads(), [] {
    gofer::chan<int> c(2);
    gofer::signal::notify(c, {SIGUSR1});
    gofer::signal::notify(c, {SIGUSR2});
    send_self(SIGUSR2);
    EXPECT_EQ(*c.recv(), SIGUSR2);
    send_self(SIGUSR1);
    EXPECT_EQ(*c.recv(), SIGUSR1);
    gofer::signal::stop(c);
  });
}

TEST_P(signal_p, a_full_channel_misses_the_signal_and_the_relay_never_blocks) {
  run_main(threads(), [] {
    gofer::chan<int> full(1), roomy(8);
    gofer::signal::notify(full, {SIGUSR1});
    gofer::signal::notify(roomy, {SIGUSR1});
    send_self(SIGUSR1);
    EXPECT_EQ(*roomy.recv(), SIGUSR1);  // handled: `full` now holds one
    send_self(SIGUSR1);
    EXPECT_EQ(*roomy.recv(), SIGUSR1);  // handled too: `full` was full and missed it
    EXPECT_EQ(*full.recv(), SIGUSR1);
    EXPECT_FALSE(full.try_recv().has_value());
    gofer::signal::stop(full);
    gofer::signal::stop(roomy);
  });
}

TEST_P(signal_p, stop_ends_delivery_and_the_last_stop_restores_the_disposition) {
  ASSERT_TRUE(handler_is_default(SIGUSR1));
  run_main(threads(), [] {
    gofer::chan<int> stopped(1), kept(1);
    gofer::signal::notify(stopped, {SIGUSR1});
    gofer::signal::notify(kept, {SIGUSR1});
    EXPECT_FALSE(handler_is_default(SIGUSR1));
    gofer::signal::stop(stopped);
    send_self(SIGUSR1);
    EXPECT_EQ(*kept.recv(), SIGUSR1);
    EXPECT_FALSE(stopped.try_recv().has_value());
    gofer::signal::stop(kept);
    EXPECT_TRUE(handler_is_default(SIGUSR1));
    gofer::signal::stop(kept);  // unknown now: nothing
  });
}

TEST_P(signal_p, the_end_of_the_run_drops_its_registrations) {
  run_main(threads(), [] {
    gofer::chan<int> c(1);
    gofer::signal::notify(c, {SIGUSR2});  // never stopped
  });
  EXPECT_TRUE(handler_is_default(SIGUSR2));
}

// The deadlock detector stays quiet while main waits for a signal (Go's does too): a plain
// thread sends it once main is parked, and the run ends normally.
TEST_P(signal_p, waiting_for_a_signal_is_not_a_deadlock) {
  std::thread sender;
  run_main(threads(), [&] {
    gofer::chan<int> c(1);
    gofer::signal::notify(c, {SIGUSR1});
    sender = std::thread([] {
      for (;;) {
        std::ostringstream d;
        gofer::dump_goroutines(d);
        if (d.str().find("goroutine 1 [chan receive") != std::string::npos) break;
        std::this_thread::yield();
      }
      ::kill(::getpid(), SIGUSR1);
    });
    EXPECT_EQ(*c.recv(), SIGUSR1);
    gofer::signal::stop(c);
  });
  sender.join();
}

TEST_P(signal_p, notify_context_is_cancelled_by_the_signal) {
  run_main(threads(), [] {
    auto [ctx, stop] = gofer::signal::notify_context(gofer::context(), {SIGUSR2});
    EXPECT_TRUE(ctx.err().ok());
    send_self(SIGUSR2);
    ctx.done().recv();  // closed by the relay
    EXPECT_EQ(ctx.err().message(), "context canceled");
    EXPECT_FALSE(handler_is_default(SIGUSR2));  // still caught until stop, as in Go
    stop();
    EXPECT_TRUE(handler_is_default(SIGUSR2));
  });
}

TEST_P(signal_p, misuse_is_a_clear_error) {
  run_main(threads(), [] {
    gofer::chan<int> c(1);
    auto message = [&](std::initializer_list<int> sigs) -> std::string {
      try {
        gofer::signal::notify(c, sigs);
      } catch (const std::invalid_argument& e) {
        return e.what();
      }
      return "no error";
    };
    EXPECT_NE(message({}).find("no signals given"), std::string::npos);
    EXPECT_NE(message({SIGKILL}).find("SIGKILL cannot be caught"), std::string::npos);
    EXPECT_NE(message({SIGQUIT}).find("goroutine dump"), std::string::npos);
    EXPECT_NE(message({SIGSEGV}).find("synchronous fault"), std::string::npos);
    EXPECT_NE(message({0}).find("out of range"), std::string::npos);
    EXPECT_THROW(gofer::signal::notify(gofer::send_chan<int>(), {SIGUSR1}), std::invalid_argument);
    EXPECT_TRUE(handler_is_default(SIGUSR1));  // nothing was installed by the failures
  });
}

TEST(signal, outside_gofer_run_is_a_logic_error) {
  gofer::chan<int> c(1);
  EXPECT_THROW(gofer::signal::notify(c, {SIGUSR1}), std::logic_error);
}

INSTANTIATE_TEST_SUITE_P(threads, signal_p, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
