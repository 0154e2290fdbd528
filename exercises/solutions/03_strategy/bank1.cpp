// bank1 — solution. A wait_group counts the customers' sends, and one more goroutine closes
// the channel after wait() returns: the channel is closed once, by someone who knows that no
// send can follow. (Go's idiom: the closer waits for every sender.)

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/gtest.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

struct hooks {
  std::function<void(int)> arrive = [](int) {};  // called by customer id before it sends
  std::function<void(int)> leave = [](int) {};   // called by customer id when it is done
};

// Pays out what the balance covers, in the order the withdrawals arrive; returns the final
// balance.
int run_bank(int balance, const std::vector<int>& amounts, const hooks& h) {
  const int n = static_cast<int>(amounts.size());
  gofer::chan<int> withdrawals;

  gofer::wait_group sent;
  for (int id = 0; id < n; ++id) {
    sent.add(1);
    gofer::go(gofer::named{"customer-" + std::to_string(id)}, [=, &h, &sent] {
      h.arrive(id);
      withdrawals.send(amounts[id]);
      sent.done();
      h.leave(id);
    });
  }
  gofer::go(gofer::named{"closer"}, [withdrawals, &sent] {
    sent.wait();
    withdrawals.close();
  });

  // The teller: the only goroutine that touches the balance.
  for (int amount : withdrawals) {
    if (amount <= balance) balance -= amount;
  }
  return balance;
}

// ---- the tests: no need to change anything below ----

// Customers arrive one at a time, in the given order: each waits for its turn, and leaving
// gives the turn to the next one.
hooks in_order(std::vector<int> order, std::vector<gofer::chan<int>>& turns) {
  for (std::size_t k = 0; k < order.size(); ++k) turns.emplace_back(1);
  turns[order[0]].send(1);
  hooks h;
  h.arrive = [&turns](int id) { turns[id].recv(); };
  h.leave = [order, &turns](int id) {
    for (std::size_t k = 0; k + 1 < order.size(); ++k)
      if (order[k] == id) turns[order[k + 1]].send(1);
  };
  return h;
}

// The hooks and the turn channels are declared outside the run: a customer may still be
// leaving when run_bank returns (the run waits for it to end, so they must live until then).
TEST(bank1, customers_in_number_order) {
  int balance = 0;
  std::vector<gofer::chan<int>> turns;
  hooks h;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    h = in_order({0, 1, 2}, turns);
    balance = run_bank(1000, {100, 200, 300}, h);
  }));
  EXPECT_EQ(balance, 400);
}

TEST(bank1, last_customer_comes_first) {
  int balance = 0;
  std::vector<gofer::chan<int>> turns;
  hooks h;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    h = in_order({2, 0, 1}, turns);
    balance = run_bank(1000, {100, 200, 300}, h);
  }));
  EXPECT_EQ(balance, 400);
}

TEST(bank1, a_withdrawal_the_balance_cannot_cover_is_declined) {
  int balance = 0;
  std::vector<gofer::chan<int>> turns;
  hooks h;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    h = in_order({1, 2, 0}, turns);
    balance = run_bank(250, {200, 100, 50}, h);
  }));
  EXPECT_EQ(balance, 100);  // 100 and 50 are paid; then 200 is more than the 100 left
}

TEST(bank1, many_customers_in_any_order) {
  int balance = 0;
  hooks none;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    std::vector<int> amounts(50, 10);
    balance = run_bank(1000, amounts, none);
  }, {.threads = 2}));
  EXPECT_EQ(balance, 500);
}
