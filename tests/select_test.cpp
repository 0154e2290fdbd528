// tests/select_test.cpp — gofer::select: the case × channel-state matrix of gofer/select.hpp.
//
//   recv / send × ready, not ready (default / park), closed, nil;  select() with no cases;
//   send values (a T lvalue moved only if chosen, anything else consumed either way);
//   handlers (after the locks: may use the same channel, select again, throw); the three
//   receive forms; the returned index (default included) or the handlers' common value;
//   send and receive on one channel; close waking a parked select; many cases; fairness
//   (ready cases, and parked cases on one channel); use outside gofer::run; case lifetime
//   (an lvalue handle is borrowed, an rvalue one owned) for every handle kind, const or not.
// Misuse that must not compile is in select_misuse.cpp (CTest select_misuse.*).
//
// Every behavioural test runs under 1, 2, 4 and 8 scheduler threads and checks that no
// `tracked` value outlives it. Nothing sleeps: "G is parked in select" is observed on the
// channels' waiter queues, or as G's state in the goroutine dump (test_util.hpp).
// The contended versions are in select_stress_test.cpp.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "gofer/gofer.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using gofer::panic_error;

constexpr const char* kSendOnClosed = "send on closed channel";
constexpr std::size_t kNotYet = 999;  // "select has not returned" in result slots

using tracked_ptr = std::unique_ptr<tracked>;

class select : public threads_test {
 protected:
  void SetUp() override { live_at_start_ = tracked::live.load(); }
  void TearDown() override { EXPECT_EQ(tracked::live.load(), live_at_start_) << "leaked tracked values"; }

 private:
  long live_at_start_ = 0;
};

// select over one receive case per channel of `cs` (no handlers): exercises select with a
// number of cases chosen at compile time.
template <std::size_t N, std::size_t... I>
std::size_t select_recv_all(std::array<gofer::chan<int>, N>& cs, std::index_sequence<I...>) {
  return gofer::select(gofer::recv_case(cs[I])...);
}
template <std::size_t N>
std::size_t select_recv_all(std::array<gofer::chan<int>, N>& cs) {
  return select_recv_all(cs, std::make_index_sequence<N>());
}

// ---------------------------------------------------------------------------------------
// receive: ready

TEST_P(select, recv_ready_buffered_runs_that_case_with_the_value) {
  gofer::chan<int> empty(1), full(1);
  std::size_t idx = kNotYet;
  std::optional<int> got_empty = -1, got_full;
  int empty_calls = 0;
  run_main(threads(), [&] {
    full.send(7);
    idx = gofer::select(gofer::recv_case(empty, [&](std::optional<int> v) { got_empty = v; ++empty_calls; }),
                        gofer::recv_case(full, [&](std::optional<int> v) { got_full = v; }));
  });
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(got_full, 7);
  EXPECT_EQ(empty_calls, 0) << "the handler of a case that did not fire ran";
  EXPECT_EQ(got_empty, -1);
  EXPECT_EQ(full.len(), 0u);
}

TEST_P(select, recv_ready_from_a_parked_sender_completes_that_send) {
  gofer::chan<int> c, other;
  gofer::chan<int> sent(1);
  std::size_t idx = kNotYet;
  std::optional<int> got;
  run_main(threads(), [&] {
    gofer::go([c, sent]() {
      c.send(11);
      sent.send(1);
    });
    ASSERT_TRUE(wait_parked_senders(c, 1));
    idx = gofer::select(gofer::recv_case(other), gofer::recv_case(c, got));
    EXPECT_EQ(sent.recv(), 1) << "the sender did not return after select took its value";
    EXPECT_EQ(parked_senders(c), 0u);
  });
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(got, 11);
}

// ---------------------------------------------------------------------------------------
// send: ready

TEST_P(select, send_ready_with_buffer_room_buffers_the_value) {
  gofer::chan<int> c(1), full(1);
  std::size_t idx = kNotYet;
  bool handler_ran = false;
  run_main(threads(), [&] {
    full.send(1);
    idx = gofer::select(gofer::send_case(full, 2), gofer::send_case(c, 5, [&] { handler_ran = true; }));
  });
  EXPECT_EQ(idx, 1u);
  EXPECT_TRUE(handler_ran);
  EXPECT_EQ(c.try_recv(), 5);
  EXPECT_EQ(full.try_recv(), 1);
  EXPECT_EQ(full.try_recv(), std::nullopt) << "the unchosen send case delivered its value";
}

TEST_P(select, send_ready_to_a_parked_receiver_hands_the_value_over) {
  gofer::chan<int> c, other;
  gofer::chan<std::optional<int>> got(1);
  std::size_t idx = kNotYet;
  std::optional<int> received;
  run_main(threads(), [&] {
    gofer::go([c, got]() { got.send(c.recv()); });
    ASSERT_TRUE(wait_parked_receivers(c, 1));
    idx = gofer::select(gofer::send_case(other, 1), gofer::send_case(c, 21));
    received = *got.recv();
  });
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(received, 21);
}

// ---------------------------------------------------------------------------------------
// nothing ready

TEST_P(select, nothing_ready_with_default_runs_default_and_touches_no_channel) {
  gofer::chan<int> r, s, rb(2), sb(1);
  std::size_t idx = kNotYet;
  int default_ran = 0, others_ran = 0;
  run_main(threads(), [&] {
    sb.send(1);  // full
    idx = gofer::select(gofer::recv_case(r, [&](auto) { ++others_ran; }),
                        gofer::recv_case(rb, [&](auto) { ++others_ran; }),
                        gofer::send_case(s, 2, [&] { ++others_ran; }),
                        gofer::send_case(sb, 3, [&] { ++others_ran; }),
                        gofer::default_case([&] { ++default_ran; }));
    EXPECT_EQ(parked_receivers(r), 0u) << "a select with a default must not queue waiters";
    EXPECT_EQ(parked_senders(s), 0u);
  });
  EXPECT_EQ(idx, 4u);
  EXPECT_EQ(default_ran, 1);
  EXPECT_EQ(others_ran, 0);
  EXPECT_EQ(rb.len(), 0u);
  EXPECT_EQ(sb.len(), 1u);
  EXPECT_EQ(sb.try_recv(), 1);
  EXPECT_EQ(sb.try_recv(), std::nullopt);
}

TEST_P(select, nothing_ready_without_default_parks_until_a_sender_arrives) {
  gofer::chan<int> a, b(1);
  gofer::chan<std::size_t> result(1);
  std::optional<int> got_a, got_b;
  std::optional<std::size_t> early, idx;
  run_main(threads(), [&] {
    gofer::go([&, a, b, result]() {
      result.send(gofer::select(gofer::recv_case(a, got_a), gofer::recv_case(b, got_b)));
    });
    ASSERT_TRUE(wait_parked_receivers(a, 1));
    ASSERT_TRUE(wait_parked_receivers(b, 1));
    early = result.try_recv();  // parked on both: it has not returned
    b.send(8);                  // hands the value straight to the parked select
    idx = result.recv();
    EXPECT_EQ(parked_receivers(a), 0u) << "the losing case's waiter was left queued";
    EXPECT_EQ(b.len(), 0u);
  });
  EXPECT_EQ(early, std::nullopt);
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(got_b, 8);
  EXPECT_EQ(got_a, std::nullopt);
}

TEST_P(select, nothing_ready_without_default_parks_until_a_receiver_arrives) {
  gofer::chan<int> a, b;
  gofer::chan<std::size_t> result(1);
  std::optional<std::size_t> early, idx;
  std::optional<int> got;
  run_main(threads(), [&] {
    gofer::go([a, b, result]() {
      result.send(gofer::select(gofer::send_case(a, 1), gofer::send_case(b, 2)));
    });
    ASSERT_TRUE(wait_parked_senders(a, 1));
    ASSERT_TRUE(wait_parked_senders(b, 1));
    early = result.try_recv();
    got = a.recv();
    idx = result.recv();
    EXPECT_EQ(parked_senders(b), 0u);
    EXPECT_EQ(b.try_recv(), std::nullopt) << "the unchosen send case is still offered";
  });
  EXPECT_EQ(early, std::nullopt);
  EXPECT_EQ(idx, 0u);
  EXPECT_EQ(got, 1);
}

// ---------------------------------------------------------------------------------------
// nil channels

TEST_P(select, nil_cases_are_never_ready_so_default_runs) {
  gofer::chan<int> nil_r(nullptr), nil_s(nullptr);
  std::size_t idx = kNotYet;
  int others_ran = 0;
  run_main(threads(), [&] {
    idx = gofer::select(gofer::recv_case(nil_r, [&](auto) { ++others_ran; }),
                        gofer::send_case(nil_s, 1, [&] { ++others_ran; }), gofer::default_case());
  });
  EXPECT_EQ(idx, 2u);
  EXPECT_EQ(others_ran, 0);
}

TEST_P(select, nil_case_is_never_chosen_beside_a_ready_case) {
  gofer::chan<int> nil(nullptr), ready(1);
  int nil_chosen = 0, ready_chosen = 0;
  run_main(threads(), [&] {
    for (int i = 0; i < 200; ++i) {
      ready.send(i);
      std::size_t k = gofer::select(gofer::recv_case(nil), gofer::send_case(nil, 0), gofer::recv_case(ready));
      (k == 2 ? ready_chosen : nil_chosen)++;
    }
  });
  EXPECT_EQ(nil_chosen, 0);
  EXPECT_EQ(ready_chosen, 200);
}

TEST_P(select, nil_case_of_a_parked_select_never_fires) {
  gofer::chan<int> nil(nullptr), real;
  gofer::chan<std::size_t> result(1);
  std::optional<std::size_t> idx;
  run_main(threads(), [&] {
    gofer::go([nil, real, result]() {
      result.send(gofer::select(gofer::recv_case(nil), gofer::send_case(nil, 1), gofer::recv_case(real)));
    });
    ASSERT_TRUE(wait_parked_receivers(real, 1));
    real.send(3);
    idx = result.recv();
  });
  EXPECT_EQ(idx, 2u);
}

TEST_P(select, only_nil_cases_without_default_block_forever_and_are_unwound_at_exit) {
  std::atomic<int> returned{0}, unwound{0};
  std::string state;
  // allow_leaks: the goroutine blocks forever on purpose: this test is about run() unwinding it
  run_main(threads(), [&] {
    gofer::go(gofer::named{"nil-select"}, [&] {
      destroy_counter guard(unwound);
      gofer::chan<int> r(nullptr), s(nullptr);
      gofer::select(gofer::recv_case(r), gofer::send_case(s, 1));
      returned = 1;
    });
    ASSERT_TRUE(wait_state("nil-select", "select (no cases)"));
    for (int i = 0; i < 200; ++i) gofer::yield();
    state = goroutine_state("nil-select");
  }, allow_leaks);  // main returns with the goroutine blocked forever: run() must still return
  EXPECT_EQ(state, "select (no cases)");
  EXPECT_EQ(returned.load(), 0);
  EXPECT_EQ(unwound.load(), 1) << "the blocked goroutine's stack was not unwound";
}

TEST_P(select, no_cases_blocks_forever_and_is_unwound_at_exit) {
  std::atomic<int> returned{0}, unwound{0};
  std::string state;
  // allow_leaks: the goroutine blocks forever on purpose: this test is about run() unwinding it
  run_main(threads(), [&] {
    gofer::go(gofer::named{"empty-select"}, [&] {
      destroy_counter guard(unwound);
      gofer::select();
      returned = 1;
    });
    ASSERT_TRUE(wait_state("empty-select", "select (no cases)"));
    for (int i = 0; i < 200; ++i) gofer::yield();
    state = goroutine_state("empty-select");
  }, allow_leaks);
  EXPECT_EQ(state, "select (no cases)");
  EXPECT_EQ(returned.load(), 0);
  EXPECT_EQ(unwound.load(), 1);
}

TEST_P(select, parked_select_is_unwound_at_exit_and_its_waiters_unlinked) {
  gofer::chan<int> a, b(1);
  std::atomic<int> returned{0}, unwound{0};
  // allow_leaks: the goroutine blocks forever on purpose: this test is about run() unwinding it
  run_main(threads(), [&] {
    gofer::go([&, a, b]() {
      destroy_counter guard(unwound);
      gofer::select(gofer::recv_case(a), gofer::send_case(a, 1), gofer::recv_case(b));
      returned = 1;
    });
    ASSERT_TRUE(wait_parked_receivers(b, 1));
    ASSERT_TRUE(wait_parked_senders(a, 1));
  }, allow_leaks);
  EXPECT_EQ(returned.load(), 0);
  EXPECT_EQ(unwound.load(), 1);
  EXPECT_EQ(parked_receivers(a), 0u) << "an unwound select left a waiter on a live channel";
  EXPECT_EQ(parked_senders(a), 0u);
  EXPECT_EQ(parked_receivers(b), 0u);
}

// ---------------------------------------------------------------------------------------
// closed channels

TEST_P(select, closed_channel_is_ready_for_receive_and_the_handler_gets_nullopt) {
  gofer::chan<int> closed, open;
  std::size_t idx = kNotYet;
  std::optional<int> got = 5;
  int handler_calls = 0;
  run_main(threads(), [&] {
    closed.close();
    idx = gofer::select(gofer::recv_case(open),
                        gofer::recv_case(closed, [&](std::optional<int> v) { got = v; ++handler_calls; }));
  });
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(handler_calls, 1);
  EXPECT_EQ(got, std::nullopt);
}

TEST_P(select, closed_channel_index_form_stores_nullopt) {
  gofer::chan<int> closed(2);
  std::size_t idx = kNotYet;
  std::optional<int> out = 99;
  run_main(threads(), [&] {
    closed.close();
    idx = gofer::select(gofer::recv_case(closed, out));
  });
  EXPECT_EQ(idx, 0u);
  EXPECT_EQ(out, std::nullopt) << "the out parameter kept its old value";
}

TEST_P(select, closed_channel_is_chosen_over_default) {
  gofer::chan<int> closed;
  int defaults = 0, closed_chosen = 0;
  run_main(threads(), [&] {
    closed.close();
    for (int i = 0; i < 200; ++i) {
      std::size_t k = gofer::select(gofer::default_case(), gofer::recv_case(closed));
      (k == 1 ? closed_chosen : defaults)++;
    }
  });
  EXPECT_EQ(defaults, 0);
  EXPECT_EQ(closed_chosen, 200);
}

TEST_P(select, closed_buffered_channel_yields_its_values_before_nullopt) {
  gofer::chan<int> c(3);
  std::vector<std::optional<int>> got;
  run_main(threads(), [&] {
    c.send(1);
    c.send(2);
    c.close();
    for (int i = 0; i < 4; ++i) {
      gofer::select(gofer::recv_case(c, [&](std::optional<int> v) { got.push_back(v); }),
                    gofer::default_case([&] { got.push_back(-1); }));
    }
  });
  EXPECT_EQ(got, (std::vector<std::optional<int>>{1, 2, std::nullopt, std::nullopt}));
}

TEST_P(select, parked_select_is_woken_by_close_of_one_of_its_channels) {
  gofer::chan<int> a, b;
  gofer::chan<std::size_t> result(1);
  std::optional<int> got_b = 4;
  std::optional<std::size_t> early, idx;
  run_main(threads(), [&] {
    gofer::go([&, a, b, result]() {
      result.send(gofer::select(gofer::recv_case(a), gofer::recv_case(b, got_b)));
    });
    ASSERT_TRUE(wait_parked_receivers(a, 1));
    ASSERT_TRUE(wait_parked_receivers(b, 1));
    early = result.try_recv();
    b.close();
    idx = result.recv();
    EXPECT_EQ(parked_receivers(a), 0u);
  });
  EXPECT_EQ(early, std::nullopt);
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(got_b, std::nullopt);
}

TEST_P(select, send_case_on_closed_channel_panics) {
  gofer::chan<int> closed(1), nobody;
  std::string plain, with_default, with_recv;
  int handler_calls = 0, default_calls = 0;
  run_main(threads(), [&] {
    closed.close();
    plain = panic_text([&] { gofer::select(gofer::send_case(closed, 1, [&] { ++handler_calls; })); });
    with_default = panic_text([&] {
      gofer::select(gofer::send_case(closed, 1, [&] { ++handler_calls; }),
                    gofer::default_case([&] { ++default_calls; }));
    });
    with_recv = panic_text([&] { gofer::select(gofer::recv_case(nobody), gofer::send_case(closed, 2)); });
  });
  EXPECT_EQ(plain, kSendOnClosed);
  EXPECT_EQ(with_default, kSendOnClosed) << "a send on a closed channel can proceed: default must not run";
  EXPECT_EQ(with_recv, kSendOnClosed);
  EXPECT_EQ(handler_calls, 0);
  EXPECT_EQ(default_calls, 0);
  EXPECT_EQ(closed.len(), 0u);
}

TEST_P(select, parked_send_case_panics_when_its_channel_is_closed) {
  gofer::chan<int> c, other;
  gofer::chan<std::string> result(1);
  std::optional<std::string> early, text;
  run_main(threads(), [&] {
    gofer::go([c, other, result]() {
      result.send(panic_text([&] { gofer::select(gofer::recv_case(other), gofer::send_case(c, 1)); }));
    });
    ASSERT_TRUE(wait_parked_senders(c, 1));
    ASSERT_TRUE(wait_parked_receivers(other, 1));
    early = result.try_recv();
    c.close();
    text = result.recv();
    EXPECT_EQ(parked_receivers(other), 0u);
  });
  EXPECT_EQ(early, std::nullopt);
  EXPECT_EQ(text, std::string(kSendOnClosed));
}

// ---------------------------------------------------------------------------------------
// send values: a T lvalue is moved from only if its case fires; anything else becomes a
// value owned by the case, consumed either way

TEST_P(select, unchosen_rvalue_send_value_is_consumed_and_never_delivered) {
  gofer::chan<tracked_ptr> c;
  const long base = tracked::live.load();
  long live_during = -1, live_after = -1;
  std::size_t idx = kNotYet;
  std::optional<tracked_ptr> later;
  run_main(threads(), [&] {
    idx = gofer::select(gofer::send_case(c, std::make_unique<tracked>(1)),
                        gofer::default_case([&] { live_during = tracked::live.load(); }));
    live_after = tracked::live.load();
    later = c.try_recv();
  });
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(live_during, base + 1) << "the case must own its value until select returns";
  EXPECT_EQ(live_after, base) << "the unchosen rvalue was neither delivered nor destroyed";
  EXPECT_EQ(later, std::nullopt);
}

TEST_P(select, unchosen_lvalue_send_value_is_kept) {
  gofer::chan<tracked_ptr> c;
  tracked_ptr p = std::make_unique<tracked>(3);
  tracked* const raw = p.get();
  std::size_t idx = kNotYet;
  std::optional<tracked_ptr> later;
  run_main(threads(), [&] {
    idx = gofer::select(gofer::send_case(c, p), gofer::default_case());
    later = c.try_recv();
  });
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(p.get(), raw) << "an unchosen send case moved from its lvalue (a move-only value was lost)";
  EXPECT_EQ(later, std::nullopt);
  p.reset();
}

TEST_P(select, chosen_lvalue_send_value_is_moved_and_delivered_once) {
  gofer::chan<tracked_ptr> chosen(1), other;
  tracked_ptr mine = std::make_unique<tracked>(1), theirs = std::make_unique<tracked>(2);
  tracked* const raw = mine.get();
  const long base = tracked::live.load();
  long live_after_select = -1;
  std::size_t idx = kNotYet;
  std::optional<tracked_ptr> got, again;
  run_main(threads(), [&] {
    idx = gofer::select(gofer::send_case(other, theirs), gofer::send_case(chosen, mine));
    live_after_select = tracked::live.load();
    got = chosen.try_recv();
    again = chosen.try_recv();
  });
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(live_after_select, base) << "the lvalue form copied or destroyed a value";
  EXPECT_EQ(mine, nullptr) << "the chosen lvalue was not moved from";
  ASSERT_NE(theirs, nullptr) << "the unchosen lvalue was moved from";
  EXPECT_EQ(theirs->v, 2);
  ASSERT_TRUE(got.has_value());
  ASSERT_NE(*got, nullptr);
  EXPECT_EQ(got->get(), raw) << "the chosen lvalue was not sent itself";
  EXPECT_EQ(again, std::nullopt) << "the value was delivered twice";
  theirs.reset();
  got.reset();
}

TEST_P(select, parked_select_moves_only_the_chosen_lvalue) {
  // A parked select's waiters point at the caller's lvalues: the receiver that completes
  // one case moves from that lvalue only; the withdrawn case's lvalue keeps its value.
  gofer::chan<tracked_ptr> a, b;
  gofer::chan<std::size_t> result(1);
  tracked_ptr va = std::make_unique<tracked>(1), vb = std::make_unique<tracked>(2);
  std::optional<tracked_ptr> got;
  std::optional<std::size_t> idx;
  run_main(threads(), [&] {
    gofer::go([&, a, b, result] { result.send(gofer::select(gofer::send_case(a, va), gofer::send_case(b, vb))); });
    ASSERT_TRUE(wait_parked_senders(a, 1));
    ASSERT_TRUE(wait_parked_senders(b, 1));
    got = b.recv();
    idx = result.recv();
  });
  EXPECT_EQ(idx, 1u);
  ASSERT_TRUE(got.has_value() && *got);
  EXPECT_EQ((*got)->v, 2);
  EXPECT_EQ(vb, nullptr) << "the chosen lvalue was not moved from";
  ASSERT_NE(va, nullptr) << "the withdrawn case moved from its lvalue";
  EXPECT_EQ(va->v, 1);
  va.reset();
  got.reset();
}

TEST_P(select, send_case_on_closed_channel_leaves_the_lvalue_alone) {
  gofer::chan<tracked_ptr> closed;
  tracked_ptr p = std::make_unique<tracked>(5);
  std::string text;
  run_main(threads(), [&] {
    closed.close();
    text = panic_text([&] { gofer::select(gofer::send_case(closed, p)); });
  });
  EXPECT_EQ(text, kSendOnClosed);
  ASSERT_NE(p, nullptr) << "a send that panicked moved from its value";
  p.reset();
}

TEST_P(select, chosen_send_value_is_delivered_exactly_once) {
  gofer::chan<tracked_ptr> chosen(1), other;
  const long base = tracked::live.load();
  long live_after_select = -1;
  std::size_t idx = kNotYet;
  std::optional<tracked_ptr> got, again, on_other;
  run_main(threads(), [&] {
    idx = gofer::select(gofer::send_case(other, std::make_unique<tracked>(2)),
                        gofer::send_case(chosen, std::make_unique<tracked>(1)));
    live_after_select = tracked::live.load();  // only the buffered value is alive
    got = chosen.try_recv();
    again = chosen.try_recv();
    on_other = other.try_recv();
  });
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(live_after_select, base + 1);
  ASSERT_TRUE(got.has_value());
  ASSERT_NE(*got, nullptr) << "a moved-from (empty) value was delivered";
  EXPECT_EQ((*got)->v, 1);
  EXPECT_EQ(again, std::nullopt) << "the value was delivered twice";
  EXPECT_EQ(on_other, std::nullopt);
}

TEST_P(select, unchosen_send_case_of_a_parked_select_is_withdrawn) {
  // The select parks offering a value on both channels; a receiver takes one of them. The
  // other offer must vanish with the select: a receiver arriving later on that channel
  // never gets it (it waits until close and gets nullopt).
  gofer::chan<tracked_ptr> a, b;
  gofer::chan<std::size_t> result(1);
  gofer::chan<std::optional<int>> late_got(1);
  std::optional<tracked_ptr> got;
  std::optional<std::size_t> idx;
  std::optional<std::optional<int>> late;
  run_main(threads(), [&] {
    gofer::go([a, b, result]() {
      result.send(gofer::select(gofer::send_case(a, std::make_unique<tracked>(1)),
                                gofer::send_case(b, std::make_unique<tracked>(2))));
    });
    ASSERT_TRUE(wait_parked_senders(a, 1));
    ASSERT_TRUE(wait_parked_senders(b, 1));
    got = a.recv();
    idx = result.recv();
    gofer::go([b, late_got]() {
      std::optional<tracked_ptr> v = b.recv();
      late_got.send(v ? std::optional<int>((*v)->v) : std::nullopt);
    });
    ASSERT_TRUE(wait_parked_receivers(b, 1)) << "the late receiver found a value on b";
    b.close();
    late = late_got.recv();
  });
  EXPECT_EQ(idx, 0u);
  ASSERT_TRUE(got.has_value());
  ASSERT_NE(*got, nullptr);
  EXPECT_EQ((*got)->v, 1);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(*late, std::nullopt) << "the withdrawn send case delivered its value";
}

TEST_P(select, send_case_moves_a_string_lvalue_only_if_chosen_and_copies_a_const_one) {
  gofer::chan<std::string> c(2), full(1);
  std::string unchosen = "kept", chosen = "moved", copied = "copy";
  std::optional<std::string> got1, got2;
  run_main(threads(), [&] {
    full.send("x");
    gofer::select(gofer::send_case(full, unchosen), gofer::default_case());
    gofer::select(gofer::send_case(c, chosen));
    gofer::select(gofer::send_case(c, std::as_const(copied)));
    got1 = c.try_recv();
    got2 = c.try_recv();
  });
  EXPECT_EQ(unchosen, "kept");
  EXPECT_TRUE(chosen.empty()) << "the chosen lvalue was copied, not moved";
  EXPECT_EQ(copied, "copy") << "a const lvalue must be copied";
  EXPECT_EQ(got1, "moved");
  EXPECT_EQ(got2, "copy");
}

TEST_P(select, send_case_converts_a_value_of_another_type) {
  gofer::chan<std::string> c(1);
  const char* text = "converted";
  std::optional<std::string> got;
  run_main(threads(), [&] {
    gofer::select(gofer::send_case(c, text));
    got = c.try_recv();
  });
  EXPECT_EQ(got, "converted");
}

// ---------------------------------------------------------------------------------------
// handlers: run after every channel lock is released, on the selecting goroutine

TEST_P(select, handler_may_use_the_same_buffered_channel) {
  gofer::chan<int> c(1);
  std::vector<int> got;
  run_main(threads(), [&] {
    c.send(1);
    // The recv handler sends on c, the send handler receives from it: with c's lock still
    // held either would spin forever.
    gofer::select(gofer::recv_case(c, [&](std::optional<int> v) {
      got.push_back(*v);
      c.send(*v + 1);
    }));
    gofer::select(gofer::recv_case(c, [&](std::optional<int> v) { got.push_back(*v); }));
    gofer::select(gofer::send_case(c, 3, [&] { got.push_back(*c.recv()); }));
  });
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
}

TEST_P(select, handler_may_block_on_the_same_unbuffered_channel) {
  gofer::chan<int> c;
  std::vector<int> got;
  run_main(threads(), [&] {
    gofer::go([c]() {
      c.send(1);                  // taken by the select below
      c.send(*c.recv() * 10);     // the handler's send, then an answer to its receive
    });
    gofer::select(gofer::recv_case(c, [&](std::optional<int> v) {
      got.push_back(*v);
      c.send(2);                  // parks until the peer receives
      got.push_back(*c.recv());   // parks until the peer answers
    }));
  });
  EXPECT_EQ(got, (std::vector<int>{1, 20}));
}

TEST_P(select, handler_may_call_select) {
  gofer::chan<int> outer(1), inner(1), never;
  std::vector<std::size_t> indexes;
  std::optional<int> inner_got;
  run_main(threads(), [&] {
    outer.send(1);
    inner.send(2);
    indexes.push_back(gofer::select(gofer::recv_case(never), gofer::recv_case(outer, [&](auto) {
      indexes.push_back(gofer::select(gofer::recv_case(inner, inner_got), gofer::recv_case(outer)));
      // outer was drained by the enclosing case: the nested select must pick inner.
    })));
  });
  EXPECT_EQ(indexes, (std::vector<std::size_t>{0, 1}));  // inner's index first (nested returns first)
  EXPECT_EQ(inner_got, 2);
}

TEST_P(select, handler_exception_propagates_after_the_case_fired) {
  gofer::chan<int> c(2);
  std::string what;
  std::optional<int> left;
  run_main(threads(), [&] {
    c.send(1);
    c.send(2);
    try {
      gofer::select(gofer::recv_case(c, [](std::optional<int>) { throw std::runtime_error("from handler"); }));
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    left = c.try_recv();
    // The channel's lock is free again: the select still works.
    EXPECT_EQ(gofer::select(gofer::send_case(c, 3), gofer::default_case()), 0u);
  });
  EXPECT_EQ(what, "from handler");
  EXPECT_EQ(left, 2) << "the throwing case must have consumed exactly one value";
}

TEST_P(select, handler_runs_on_the_selecting_goroutine) {
  gofer::chan<int> c;
  std::uint64_t selector = 0, in_handler = 1;
  run_main(threads(), [&] {
    gofer::go([c]() { c.send(1); });
    selector = gofer::goroutine_id();
    gofer::select(gofer::recv_case(c, [&](auto) { in_handler = gofer::goroutine_id(); }));
  });
  EXPECT_EQ(in_handler, selector);
}

// ---------------------------------------------------------------------------------------
// forms and the returned index

TEST_P(select, receive_forms_handler_out_param_and_none) {
  gofer::chan<int> c(3);
  std::optional<int> by_handler, by_out = -1;
  std::size_t i1 = kNotYet, i2 = kNotYet, i3 = kNotYet;
  std::optional<int> left;
  run_main(threads(), [&] {
    c.send(1);
    c.send(2);
    c.send(3);
    i1 = gofer::select(gofer::recv_case(c, [&](std::optional<int> v) { by_handler = v; }));
    i2 = gofer::select(gofer::recv_case(c, by_out));
    i3 = gofer::select(gofer::recv_case(c));  // discards 3
    left = c.try_recv();
  });
  EXPECT_EQ(i1, 0u);
  EXPECT_EQ(i2, 0u);
  EXPECT_EQ(i3, 0u);
  EXPECT_EQ(by_handler, 1);
  EXPECT_EQ(by_out, 2);
  EXPECT_EQ(left, std::nullopt) << "the no-handler form did not consume its value";
}

TEST_P(select, receive_forms_work_on_recv_chan_and_move_only_values) {
  gofer::chan<tracked_ptr> c(2);
  gofer::recv_chan<tracked_ptr> r = c;
  std::optional<tracked_ptr> out;
  int by_handler = 0;
  run_main(threads(), [&] {
    c.send(std::make_unique<tracked>(4));
    c.send(std::make_unique<tracked>(5));
    gofer::select(gofer::recv_case(r, [&](std::optional<tracked_ptr> v) { by_handler = (*v)->v; }));
    gofer::select(gofer::recv_case(r, out));
  });
  EXPECT_EQ(by_handler, 4);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ((*out)->v, 5);
}

TEST_P(select, send_forms_with_and_without_handler_and_send_chan) {
  gofer::chan<int> c(2);
  gofer::send_chan<int> s = c;
  int handler_calls = 0;
  std::size_t i1 = kNotYet, i2 = kNotYet;
  run_main(threads(), [&] {
    i1 = gofer::select(gofer::send_case(s, 1));
    i2 = gofer::select(gofer::send_case(s, 2, [&] { ++handler_calls; }));
  });
  EXPECT_EQ(i1, 0u);
  EXPECT_EQ(i2, 0u);
  EXPECT_EQ(handler_calls, 1);
  EXPECT_EQ(c.try_recv(), 1);
  EXPECT_EQ(c.try_recv(), 2);
}

TEST_P(select, default_without_handler_and_with_handler) {
  gofer::chan<int> c;
  int calls = 0;
  std::size_t i1 = kNotYet, i2 = kNotYet;
  run_main(threads(), [&] {
    i1 = gofer::select(gofer::recv_case(c), gofer::default_case());
    i2 = gofer::select(gofer::recv_case(c), gofer::default_case([&] { ++calls; }));
  });
  EXPECT_EQ(i1, 1u);
  EXPECT_EQ(i2, 1u);
  EXPECT_EQ(calls, 1);
}

TEST_P(select, returns_the_argument_index_including_the_default_position) {
  gofer::chan<int> a(1), b(1);
  std::vector<std::size_t> got;
  run_main(threads(), [&] {
    // default first
    got.push_back(gofer::select(gofer::default_case(), gofer::recv_case(a), gofer::recv_case(b)));
    b.send(1);
    got.push_back(gofer::select(gofer::default_case(), gofer::recv_case(a), gofer::recv_case(b)));
    // default in the middle
    got.push_back(gofer::select(gofer::recv_case(a), gofer::default_case(), gofer::recv_case(b)));
    b.send(2);
    got.push_back(gofer::select(gofer::recv_case(a), gofer::default_case(), gofer::recv_case(b)));
    a.send(3);
    got.push_back(gofer::select(gofer::recv_case(a), gofer::default_case(), gofer::recv_case(b)));
    // default last; a send case first
    got.push_back(gofer::select(gofer::send_case(gofer::chan<int>(), 0), gofer::recv_case(a), gofer::default_case()));
  });
  EXPECT_EQ(got, (std::vector<std::size_t>{0, 2, 1, 2, 0, 2}));
}

TEST_P(select, index_counts_nil_cases_too) {
  gofer::chan<int> nil(nullptr), ready(1);
  std::size_t idx = kNotYet;
  run_main(threads(), [&] {
    ready.send(1);
    idx = gofer::select(gofer::recv_case(nil), gofer::send_case(nil, 1), gofer::default_case(),
                        gofer::recv_case(nil), gofer::recv_case(ready));
  });
  EXPECT_EQ(idx, 4u);
}

// ---------------------------------------------------------------------------------------
// one channel, several cases

TEST_P(select, send_and_recv_on_one_unbuffered_channel_pair_with_a_receiving_peer) {
  gofer::chan<int> c;
  gofer::chan<std::size_t> result(1);
  std::optional<int> out = -1, peer_got;
  std::optional<std::size_t> early, idx;
  run_main(threads(), [&] {
    gofer::go([&, c, result]() {
      result.send(gofer::select(gofer::send_case(c, 1), gofer::recv_case(c, out)));
    });
    ASSERT_TRUE(wait_parked_senders(c, 1));
    ASSERT_TRUE(wait_parked_receivers(c, 1));
    early = result.try_recv();  // a select never pairs with itself
    peer_got = c.recv();
    idx = result.recv();
    EXPECT_EQ(parked_receivers(c), 0u);
    EXPECT_EQ(parked_senders(c), 0u);
  });
  EXPECT_EQ(early, std::nullopt);
  EXPECT_EQ(idx, 0u);
  EXPECT_EQ(peer_got, 1);
  EXPECT_EQ(out, -1) << "the receive case fired too";
}

TEST_P(select, send_and_recv_on_one_unbuffered_channel_pair_with_a_sending_peer) {
  gofer::chan<int> c;
  gofer::chan<std::size_t> result(1);
  std::optional<int> out;
  std::optional<std::size_t> early, idx;
  run_main(threads(), [&] {
    gofer::go([&, c, result]() {
      result.send(gofer::select(gofer::send_case(c, 1), gofer::recv_case(c, out)));
    });
    ASSERT_TRUE(wait_parked_senders(c, 1));
    ASSERT_TRUE(wait_parked_receivers(c, 1));
    early = result.try_recv();
    c.send(9);
    idx = result.recv();
    EXPECT_EQ(parked_receivers(c), 0u);
    EXPECT_EQ(parked_senders(c), 0u);
    EXPECT_EQ(c.try_recv(), std::nullopt) << "the send case is still offered";
  });
  EXPECT_EQ(early, std::nullopt);
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(out, 9);
}

TEST_P(select, two_recv_cases_on_one_channel_take_one_value) {
  gofer::chan<int> c;
  gofer::chan<std::size_t> result(1);
  std::optional<int> a, b;
  std::optional<std::size_t> idx;
  std::size_t queued_while_parked = 0;
  run_main(threads(), [&] {
    gofer::go([&, c, result]() {
      result.send(gofer::select(gofer::recv_case(c, a), gofer::recv_case(c, b)));
    });
    ASSERT_TRUE(wait_parked_receivers(c, 2));
    queued_while_parked = parked_receivers(c);
    c.send(5);
    idx = result.recv();
    EXPECT_EQ(parked_receivers(c), 0u) << "the other waiter of the same select was left queued";
    int v = 6;
    EXPECT_FALSE(c.try_send(v)) << "nobody may still be receiving on c";
  });
  EXPECT_EQ(queued_while_parked, 2u);
  ASSERT_TRUE(idx.has_value());
  EXPECT_LT(*idx, 2u);
  EXPECT_EQ(*idx == 0 ? a : b, 5);
  EXPECT_EQ(*idx == 0 ? b : a, std::nullopt);
}

TEST_P(select, two_ready_cases_on_one_buffered_channel) {
  gofer::chan<int> c(4);
  std::vector<int> got;
  run_main(threads(), [&] {
    c.send(1);
    c.send(2);
    for (int i = 0; i < 2; ++i) {
      gofer::select(gofer::recv_case(c, [&](auto v) { got.push_back(*v); }),
                    gofer::recv_case(c, [&](auto v) { got.push_back(*v); }),
                    gofer::send_case(c, 100 + i));
    }
  });
  // Each select did exactly one operation: r receives (FIFO: 1, then 2) and 2 - r sends.
  std::vector<int> rest;
  while (auto v = c.try_recv()) rest.push_back(*v);
  EXPECT_EQ(rest.size(), 4 - 2 * got.size()) << "a select did more or less than one operation";
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], static_cast<int>(i) + 1);
}

// ---------------------------------------------------------------------------------------
// many cases

TEST_P(select, more_than_64_cases) {
  std::array<gofer::chan<int>, 70> cs;
  for (auto& c : cs) c = gofer::chan<int>(1);
  std::vector<std::size_t> ready_idx, parked_idx;
  run_main(threads(), [&] {
    cs[66].send(1);
    ready_idx.push_back(select_recv_all(cs));
    cs[3].send(1);
    ready_idx.push_back(select_recv_all(cs));
    gofer::chan<std::size_t> result(1);
    gofer::go([&cs, result]() { result.send(select_recv_all(cs)); });
    ASSERT_TRUE(wait_parked_receivers(cs[69], 1));
    ASSERT_TRUE(wait_parked_receivers(cs[0], 1));
    cs[69].send(2);
    parked_idx.push_back(*result.recv());
    for (auto& c : cs) EXPECT_EQ(parked_receivers(c), 0u);
  });
  EXPECT_EQ(ready_idx, (std::vector<std::size_t>{66, 3}));
  EXPECT_EQ(parked_idx, (std::vector<std::size_t>{69}));
}

// ---------------------------------------------------------------------------------------
// fairness: among ready cases one is chosen uniformly at random

// Selects `kRounds` times over N always-ready buffered channels (refilling the one taken);
// returns how often each case was chosen.
template <std::size_t N>
std::array<int, N> count_choices(int rounds) {
  std::array<gofer::chan<int>, N> cs;
  for (auto& c : cs) {
    c = gofer::chan<int>(1);
    c.send(0);
  }
  std::array<int, N> counts{};
  for (int i = 0; i < rounds; ++i) {
    std::size_t k = select_recv_all(cs);
    ++counts[k];
    cs[k].send(0);
  }
  return counts;
}

template <std::size_t N>
void expect_fair(const std::array<int, N>& counts, int rounds) {
  const double expect = static_cast<double>(rounds) / N;  // ±20%: > 10 standard deviations
  for (std::size_t i = 0; i < N; ++i) {
    EXPECT_GE(counts[i], 0.8 * expect) << "case " << i << " of " << N << " starved";
    EXPECT_LE(counts[i], 1.2 * expect) << "case " << i << " of " << N << " favoured";
  }
}

TEST_P(select, fairness_two_ready_cases) {
  constexpr int kRounds = 10000;
  std::array<int, 2> counts{};
  run_main(threads(), [&] { counts = count_choices<2>(kRounds); });
  expect_fair(counts, kRounds);  // each within 40%..60%
}

TEST_P(select, fairness_three_ready_cases) {
  constexpr int kRounds = 10000;
  std::array<int, 3> counts{};
  run_main(threads(), [&] { counts = count_choices<3>(kRounds); });
  expect_fair(counts, kRounds);
}

TEST_P(select, fairness_four_ready_cases) {
  constexpr int kRounds = 10000;
  std::array<int, 4> counts{};
  run_main(threads(), [&] { counts = count_choices<4>(kRounds); });
  expect_fair(counts, kRounds);
}

TEST_P(select, fairness_closed_channels_and_send_cases) {
  constexpr int kRounds = 10000;
  gofer::chan<int> closed, room(1);
  std::array<int, 2> counts{};
  run_main(threads(), [&] {
    closed.close();
    for (int i = 0; i < kRounds; ++i) {
      std::size_t k = gofer::select(gofer::recv_case(closed), gofer::send_case(room, i));
      ++counts[k];
      (void)room.try_recv();  // room again
    }
  });
  expect_fair(counts, kRounds);
}

TEST_P(select, fairness_ignores_argument_order_with_default) {
  // A ready case is always preferred to default, and ready cases stay uniform wherever
  // the default sits.
  constexpr int kRounds = 10000;
  gofer::chan<int> a, b;
  std::array<int, 3> counts{};
  run_main(threads(), [&] {
    a.close();
    b.close();
    for (int i = 0; i < kRounds; ++i) {
      ++counts[gofer::select(gofer::recv_case(a), gofer::default_case(), gofer::recv_case(b))];
    }
  });
  EXPECT_EQ(counts[1], 0);
  expect_fair(std::array<int, 2>{counts[0], counts[2]}, kRounds);
}

// Fairness of a *parked* select among cases on one channel: its waiters are queued in
// random order (Go queues them in lock order, after the random poll order), so a peer
// that arrives after the select parked takes either case. Queuing in argument order made
// the first case win every time (issue 13).

TEST_P(select, parked_send_cases_on_one_channel_are_chosen_at_random) {
  constexpr int kRounds = 200;
  gofer::chan<int> c;
  gofer::chan<std::size_t> result;
  std::array<int, 2> counts{};
  int mismatches = 0;
  run_main(threads(), [&] {
    gofer::go([c, result] {
      for (int i = 0; i < kRounds; ++i) result.send(gofer::select(gofer::send_case(c, 0), gofer::send_case(c, 1)));
    });
    for (int i = 0; i < kRounds; ++i) {
      // Both waiters are queued under one lock: 2 means the select has parked.
      ASSERT_TRUE(wait_parked_senders(c, 2));
      std::optional<int> v = c.recv();
      std::optional<std::size_t> idx = result.recv();  // select returned: its loser is unlinked
      ASSERT_TRUE(v.has_value() && idx.has_value());
      if (static_cast<std::size_t>(*v) != *idx) ++mismatches;
      ++counts[static_cast<std::size_t>(*v)];
    }
  });
  EXPECT_EQ(mismatches, 0) << "select returned another case than the one whose value was received";
  // Binomial(200, 1/2): below 15 is > 12 standard deviations away.
  EXPECT_GE(counts[0], 15) << "the first send case was starved";
  EXPECT_GE(counts[1], 15) << "the second send case was starved";
}

TEST_P(select, parked_recv_cases_on_one_channel_are_chosen_at_random) {
  constexpr int kRounds = 200;
  gofer::chan<int> c;
  gofer::chan<std::size_t> result;
  std::array<int, 2> counts{};
  std::array<std::optional<int>, 2> got;
  int wrong_values = 0;
  run_main(threads(), [&] {
    gofer::go([c, result, &got] {
      for (int i = 0; i < kRounds; ++i) result.send(gofer::select(gofer::recv_case(c, got[0]), gofer::recv_case(c, got[1])));
    });
    for (int i = 0; i < kRounds; ++i) {
      ASSERT_TRUE(wait_parked_receivers(c, 2));
      c.send(i);
      std::optional<std::size_t> idx = result.recv();
      ASSERT_TRUE(idx.has_value() && *idx < 2);
      if (got[*idx] != i) ++wrong_values;
      ++counts[*idx];
    }
  });
  EXPECT_EQ(wrong_values, 0) << "the chosen case did not get the value sent";
  EXPECT_GE(counts[0], 15) << "the first receive case was starved";
  EXPECT_GE(counts[1], 15) << "the second receive case was starved";
}

// ---------------------------------------------------------------------------------------
// the loop idiom: disable a finished channel by setting it to nil

TEST_P(select, loop_until_both_channels_closed_by_setting_them_nil) {
  gofer::chan<int> a(4), b;
  long sum = 0;
  int closes_seen = 0, iterations = 0;
  run_main(threads(), [&] {
    gofer::go([a]() {
      for (int i = 1; i <= 50; ++i) a.send(i);
      a.close();
    });
    gofer::go([b]() {
      for (int i = 1; i <= 50; ++i) b.send(1000 * i);
      b.close();
    });
    gofer::chan<int> ra = a, rb = b;
    while (ra || rb) {
      ++iterations;
      gofer::select(gofer::recv_case(ra, [&](std::optional<int> v) {
                      if (v) sum += *v; else { ++closes_seen; ra = nullptr; }
                    }),
                    gofer::recv_case(rb, [&](std::optional<int> v) {
                      if (v) sum += *v; else { ++closes_seen; rb = nullptr; }
                    }));
    }
  });
  EXPECT_EQ(sum, 50 * 51 / 2 + 1000L * 50 * 51 / 2);
  EXPECT_EQ(closes_seen, 2) << "a nil case fired (a close was seen twice)";
  EXPECT_EQ(iterations, 102);
}

// ---------------------------------------------------------------------------------------
// select returns the handlers' value when every case has a handler returning one type R

// No handlers, or handlers returning void: the index. Handlers all returning R: R.
using idx_t = decltype(gofer::select(gofer::recv_case(std::declval<gofer::chan<int>&>()),
                                     gofer::send_case(std::declval<gofer::chan<int>&>(), 1, [] {}),
                                     gofer::default_case([] {})));
static_assert(std::is_same_v<idx_t, std::size_t>);
using bool_t = decltype(gofer::select(
    gofer::recv_case(std::declval<gofer::chan<int>&>(), [](std::optional<int>) { return true; }),
    gofer::send_case(std::declval<gofer::chan<int>&>(), 1, [] { return false; }),
    gofer::default_case([] { return true; })));
static_assert(std::is_same_v<bool_t, bool>);
using string_t = decltype(gofer::select(
    gofer::recv_case(std::declval<gofer::recv_chan<int>>(), [](auto v) { return std::to_string(*v); })));
static_assert(std::is_same_v<string_t, std::string>);

TEST_P(select, returns_the_chosen_handlers_value) {
  gofer::chan<int> a(1), b(1), nothing;
  std::vector<int> got;
  run_main(threads(), [&] {
    auto pick = [&] {
      return gofer::select(gofer::recv_case(a, [](std::optional<int> v) { return 100 + *v; }),
                           gofer::recv_case(b, [](std::optional<int> v) { return 200 + *v; }),
                           gofer::send_case(nothing, 0, [] { return 300; }),
                           gofer::default_case([] { return -1; }));
    };
    got.push_back(pick());  // nothing ready: default's value
    b.send(7);
    got.push_back(pick());
    a.send(8);
    got.push_back(pick());
  });
  EXPECT_EQ(got, (std::vector<int>{-1, 207, 108}));
}

TEST_P(select, send_handlers_value_is_returned) {
  gofer::chan<int> room(1), full(1);
  std::optional<std::string> r;
  run_main(threads(), [&] {
    full.send(0);
    r = gofer::select(gofer::send_case(full, 1, [] { return std::string("full"); }),
                      gofer::send_case(room, 2, [] { return std::string("room"); }));
  });
  EXPECT_EQ(r, "room");
  EXPECT_EQ(room.try_recv(), 2);
}

TEST_P(select, loop_exits_from_a_handler_through_the_returned_value) {
  // The idiom of select.hpp's top comment: every handler says "keep going".
  gofer::chan<int> in(2);
  gofer::chan<std::monostate> done;  // never closed here
  std::vector<int> seen;
  int selects = 0;
  run_main(threads(), [&] {
    gofer::go([in] {
      for (int i = 1; i <= 5; ++i) in.send(i);
      in.close();
    });
    for (;;) {
      ++selects;
      bool more = gofer::select(gofer::recv_case(in, [&](std::optional<int> v) {
                                  if (!v) return false;
                                  seen.push_back(*v);
                                  return true;
                                }),
                                gofer::recv_case(done, [](auto) { return false; }));
      if (!more) break;
    }
  });
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(selects, 6);
}

TEST_P(select, parked_select_returns_the_woken_cases_value) {
  gofer::chan<int> a, b;
  gofer::chan<int> result(1);
  std::optional<int> r;
  run_main(threads(), [&] {
    gofer::go([a, b, result] {
      result.send(gofer::select(gofer::recv_case(a, [](auto v) { return *v * 10; }),
                                gofer::recv_case(b, [](auto v) { return *v * 100; })));
    });
    ASSERT_TRUE(wait_parked_receivers(a, 1));
    ASSERT_TRUE(wait_parked_receivers(b, 1));
    b.send(3);
    r = result.recv();
  });
  EXPECT_EQ(r, 300);
}

TEST_P(select, returned_value_may_be_move_only_and_not_default_constructible) {
  struct no_default {
    explicit no_default(int x) : v(x) {}
    int v;
  };
  gofer::chan<tracked_ptr> c(1);
  tracked_ptr got;
  int nd = 0;
  run_main(threads(), [&] {
    c.send(std::make_unique<tracked>(6));
    got = gofer::select(gofer::recv_case(c, [](std::optional<tracked_ptr> v) { return std::move(*v); }),
                        gofer::default_case([] { return tracked_ptr(); }));
    nd = gofer::select(gofer::recv_case(c, [](auto) { return no_default(1); }),
                       gofer::default_case([] { return no_default(2); })).v;
  });
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->v, 6);
  EXPECT_EQ(nd, 2);
  got.reset();
}

// ---------------------------------------------------------------------------------------
// case lifetime: an lvalue handle is borrowed, an rvalue handle is owned by the case
// (select.hpp, "Lifetime"). Under ASan a wrong guess is a use-after-free.

TEST_P(select, case_from_an_rvalue_handle_owns_the_channel) {
  std::optional<int> got;
  bool was_nil_after_move = false;
  std::size_t idx = kNotYet;
  run_main(threads(), [&] {
    gofer::chan<int> c(1);
    c.send(5);
    // The case takes the only handle: the channel must stay alive through the select.
    auto k = gofer::recv_case(std::move(c), got);
    was_nil_after_move = c == nullptr;
    idx = gofer::select(std::move(k), gofer::default_case());
  });
  EXPECT_TRUE(was_nil_after_move) << "the rvalue handle was not taken by the case";
  EXPECT_EQ(idx, 0u);
  EXPECT_EQ(got, 5);
}

TEST_P(select, parked_case_from_an_rvalue_handle_keeps_the_channel_alive) {
  // The select parks on a case that owns its handle (the local was moved from); the
  // sender gets the channel through another channel.
  std::optional<tracked_ptr> got;
  run_main(threads(), [&] {
    gofer::chan<gofer::send_chan<tracked_ptr>> hand_over(1);
    gofer::go([hand_over]() {
      gofer::send_chan<tracked_ptr> out = *hand_over.recv();
      out.send(std::make_unique<tracked>(9));
    });
    gofer::chan<tracked_ptr> c;
    hand_over.send(c);
    gofer::select(gofer::recv_case(std::move(c), got));
  });
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(*got);
  EXPECT_EQ((*got)->v, 9);
  got.reset();
}

TEST_P(select, send_case_from_an_rvalue_handle_owns_the_channel) {
  std::optional<int> got;
  run_main(threads(), [&] {
    gofer::chan<int> c(1);
    gofer::recv_chan<int> r = c;
    gofer::select(gofer::send_case(gofer::send_chan<int>(std::move(c)), 3));
    got = r.try_recv();
  });
  EXPECT_EQ(got, 3);
}

TEST_P(select, case_from_an_lvalue_handle_borrows_and_leaves_it_usable) {
  std::optional<int> got, after;
  run_main(threads(), [&] {
    gofer::chan<int> c(2);
    c.send(1);
    c.send(2);
    gofer::select(gofer::recv_case(c, got));
    EXPECT_TRUE(c) << "a borrowed handle was moved from";
    after = c.try_recv();
  });
  EXPECT_EQ(got, 1);
  EXPECT_EQ(after, 2);
}

TEST_P(select, handler_may_drop_the_last_handle_of_the_borrowed_channel) {
  // The handler destroys the channel its case borrowed: select must be done with every
  // channel before any handler runs.
  int calls = 0;
  std::optional<int> seen;
  run_main(threads(), [&] {
    auto c = std::make_unique<gofer::chan<int>>(1);
    c->send(4);
    gofer::chan<int> other(1);
    gofer::select(gofer::recv_case(*c, [&](std::optional<int> v) {
                    seen = v;
                    ++calls;
                    c.reset();  // the last handle: the channel is freed here
                  }),
                  gofer::recv_case(other));
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, 4);
}

TEST_P(select, parked_select_on_borrowed_handles_wakes_and_unlinks_every_waiter) {
  // Pass 2/3 on borrowed channels: park on three, be woken through one, no waiter left.
  std::size_t idx = kNotYet;
  std::array<gofer::chan<int>, 3> cs;
  run_main(threads(), [&] {
    gofer::chan<std::size_t> result(1);
    gofer::go([&cs, result]() { result.send(select_recv_all(cs)); });
    for (auto& c : cs) ASSERT_TRUE(wait_parked_receivers(c, 1));
    cs[1].send(8);
    idx = *result.recv();
    for (auto& c : cs) EXPECT_EQ(parked_receivers(c), 0u);
  });
  EXPECT_EQ(idx, 1u);
}

INSTANTIATE_TEST_SUITE_P(, select, ::testing::ValuesIn(kThreadCounts), threads_name);

// ---------------------------------------------------------------------------------------
// case builders: chan<T> / recv_chan<T> / send_chan<T>, const or not, lvalue or rvalue
// (run outside gofer::run: every select here finds its case ready)

template <class H>
constexpr bool builds_recv_cases = requires(std::optional<int>& out) {
  gofer::recv_case(std::declval<H>());
  gofer::recv_case(std::declval<H>(), out);
  gofer::recv_case(std::declval<H>(), [](std::optional<int>) {});
  gofer::recv_case(std::declval<H>(), [](auto) { return true; });
};
template <class H>
constexpr bool builds_send_cases = requires(int& lv, const int& clv, long other) {
  gofer::send_case(std::declval<H>(), 1);
  gofer::send_case(std::declval<H>(), lv);
  gofer::send_case(std::declval<H>(), clv);
  gofer::send_case(std::declval<H>(), other);
  gofer::send_case(std::declval<H>(), 1, [] {});
  gofer::send_case(std::declval<H>(), lv, [] { return 0; });
};
template <class H>
constexpr bool recv_only = builds_recv_cases<H> && !builds_send_cases<H>;
template <class H>
constexpr bool send_only = builds_send_cases<H> && !builds_recv_cases<H>;
template <class H>
constexpr bool both = builds_recv_cases<H> && builds_send_cases<H>;

using gofer::chan, gofer::recv_chan, gofer::send_chan;
static_assert(both<chan<int>&> && both<const chan<int>&> && both<chan<int>&&> && both<const chan<int>&&>);
static_assert(recv_only<recv_chan<int>&> && recv_only<const recv_chan<int>&> && recv_only<recv_chan<int>&&> &&
              recv_only<const recv_chan<int>&&>);
static_assert(send_only<send_chan<int>&> && send_only<const send_chan<int>&> && send_only<send_chan<int>&&> &&
              send_only<const send_chan<int>&&>);
// Not a channel, a value of the wrong type, an out-parameter of the wrong type, a const
// move-only lvalue (it can be neither moved nor copied).
template <class H, class V>
constexpr bool can_send = requires { gofer::send_case(std::declval<H>(), std::declval<V>()); };
template <class H, class Out>
constexpr bool can_recv_into = requires { gofer::recv_case(std::declval<H>(), std::declval<Out>()); };
static_assert(!builds_recv_cases<int&> && !builds_send_cases<std::optional<int>&>);
static_assert(!can_send<chan<int>&, std::string>);
static_assert(!can_recv_into<chan<int>&, std::optional<long>&>);
static_assert(can_send<chan<tracked_ptr>&, tracked_ptr&> && can_send<chan<tracked_ptr>&, tracked_ptr>);
static_assert(!can_send<chan<tracked_ptr>&, const tracked_ptr&>);

TEST(select_outside_run, case_builders_borrow_lvalue_handles_and_own_rvalue_ones) {
  chan<int> c(64);
  recv_chan<int> r = c;
  send_chan<int> s = c;
  const chan<int>& cc = c;
  const recv_chan<int>& cr = r;
  const send_chan<int>& cs = s;
  auto* const impl = gofer::detail::chan_access::get(c);
  int lv = 0;
  int sent = 0, received = 0;
  // Each case is checked (borrowed: no handle kept; owned: a handle kept), then run.
  auto borrowed = [&](auto&& k) {
    EXPECT_EQ(k.c, impl);
    EXPECT_TRUE(k.keep == nullptr) << "a case from an lvalue handle took a reference";
    return gofer::select(std::move(k), gofer::default_case()) == 0;
  };
  auto owned = [&](auto&& k) {
    EXPECT_EQ(k.c, impl);
    EXPECT_TRUE(k.keep == c) << "a case from an rvalue handle does not own it";
    return gofer::select(std::move(k), gofer::default_case()) == 0;
  };
  sent += borrowed(gofer::send_case(c, 1));
  sent += borrowed(gofer::send_case(cc, lv));
  sent += borrowed(gofer::send_case(s, 1, [] {}));
  sent += borrowed(gofer::send_case(cs, lv, [] {}));
  sent += owned(gofer::send_case(chan<int>(c), 1));
  sent += owned(gofer::send_case(std::move(cc), lv));  // const&&: copied into the case
  sent += owned(gofer::send_case(send_chan<int>(s), 1));
  sent += owned(gofer::send_case(std::move(cs), lv));
  EXPECT_EQ(c.len(), 8u);
  std::optional<int> out;
  received += borrowed(gofer::recv_case(c));
  received += borrowed(gofer::recv_case(cc, out));
  received += borrowed(gofer::recv_case(r, [](auto) {}));
  received += borrowed(gofer::recv_case(cr));
  received += owned(gofer::recv_case(chan<int>(c), out));
  received += owned(gofer::recv_case(std::move(cc)));
  received += owned(gofer::recv_case(recv_chan<int>(r), [](auto) {}));
  received += owned(gofer::recv_case(std::move(cr), out));
  EXPECT_EQ(sent, 8);
  EXPECT_EQ(received, 8);
  EXPECT_EQ(c.len(), 0u);
  EXPECT_TRUE(c && r && s) << "a const rvalue handle was moved from";
}

TEST(select_outside_run, case_builders_take_a_moved_handle) {
  chan<int> c(1);
  recv_chan<int> r = c;
  send_chan<int> s = c;
  auto k1 = gofer::send_case(std::move(s), 1);
  auto k2 = gofer::recv_case(std::move(r));
  EXPECT_TRUE(s == nullptr && r == nullptr) << "an rvalue handle was copied, not moved";
  EXPECT_EQ(gofer::select(std::move(k1)), 0u);
  EXPECT_EQ(gofer::select(std::move(k2)), 0u);
}

// ---------------------------------------------------------------------------------------
// outside gofer::run: a select that would park throws std::logic_error; the rest works

TEST(select_outside_run, select_that_would_park_throws_logic_error) {
  gofer::chan<int> c, full(1);
  full.send(1);
  EXPECT_THROW(gofer::select(gofer::recv_case(c)), std::logic_error);
  EXPECT_THROW(gofer::select(gofer::recv_case(c), gofer::send_case(full, 2)), std::logic_error);
  EXPECT_EQ(parked_receivers(c), 0u) << "the failed select left a waiter behind";
  EXPECT_EQ(parked_senders(full), 0u);
  EXPECT_EQ(full.try_recv(), 1);
  EXPECT_EQ(full.try_recv(), std::nullopt) << "the failed select sent its value";
}

TEST(select_outside_run, empty_and_all_nil_select_throw_logic_error) {
  gofer::chan<int> nil(nullptr);
  EXPECT_THROW(gofer::select(), std::logic_error);
  EXPECT_THROW(gofer::select(gofer::recv_case(nil)), std::logic_error);
}

TEST(select_outside_run, ready_cases_default_and_closed_work) {
  gofer::chan<int> c(1), closed;
  closed.close();
  std::optional<int> out;
  EXPECT_EQ(gofer::select(gofer::send_case(c, 4)), 0u);
  EXPECT_EQ(gofer::select(gofer::recv_case(c, out)), 0u);
  EXPECT_EQ(out, 4);
  EXPECT_EQ(gofer::select(gofer::recv_case(c), gofer::default_case()), 1u);
  out = 1;
  EXPECT_EQ(gofer::select(gofer::recv_case(closed, out)), 0u);
  EXPECT_EQ(out, std::nullopt);
  EXPECT_EQ(panic_text([&] { gofer::select(gofer::send_case(closed, 1)); }), kSendOnClosed);
  gofer::chan<int> nil(nullptr);
  EXPECT_EQ(gofer::select(gofer::recv_case(nil), gofer::default_case()), 1u);
}

}  // namespace
}  // namespace gofer_test
