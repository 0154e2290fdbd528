// chanchan — channels of channels: every request carries its own reply channel (book,
// chapter 5: "Creating channels of channels"; ch5_5_rsschan.go is the draft that deadlocks).
//
// A channel is a value, so it can travel on another channel. 1. The book's feed example:
// the producer sends a fresh channel per feed, then the item on it. 2. The pattern it is
// good for: a goroutine owns a bank balance (chapter 3's teller) and customers send it
// requests, each with a reply channel of its own, so every answer reaches the one who
// asked. 3. The book's draft, run in a child process with --draft: a send on a channel
// nobody has been given yet — the runtime's deadlock detector ends it. Watch the report.
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include <gofer/gofer.hpp>

#include "child.hpp"
#include "demo_flags.hpp"

namespace {

struct item {
  std::string url;
};

// ---- 2. the bank: requests with reply channels ----------------------------------------
struct deposit {
  int amount;
};
struct withdraw {
  int amount;
};
struct balance {};
struct reply {
  bool ok;
  int balance;
};
struct request {
  std::variant<deposit, withdraw, balance> op;
  gofer::chan<reply> answer;  // capacity 1: the owner never waits for the customer
};

// The owner: the only goroutine that touches `money`. It ends when requests is closed.
void bank(gofer::chan<request> requests) {
  int money = 0;
  for (request r : requests) {
    reply out{true, 0};
    if (auto* d = std::get_if<deposit>(&r.op)) money += d->amount;
    if (auto* w = std::get_if<withdraw>(&r.op)) {
      out.ok = w->amount <= money;
      if (out.ok) money -= w->amount;
    }
    out.balance = money;
    r.answer.send(out);
  }
}

// A customer's call: make a reply channel, send the request, wait for the answer.
reply ask(const gofer::chan<request>& bank, std::variant<deposit, withdraw, balance> op) {
  gofer::chan<reply> answer(1);
  bank.send(request{op, answer});
  return *answer.recv();
}

// ---- 3. the draft --------------------------------------------------------------------------
void draft() {
  gofer::run([] {
    gofer::chan<gofer::chan<item>> feeds;
    gofer::go(gofer::named{"consumer"}, [feeds] {
      for (gofer::chan<item> ch : feeds) std::printf("Got url %s\n", ch.recv()->url.c_str());
    });
    for (const char* url : {"https://www.nytimes.com/rss", "https://www.wsj.com/rss"}) {
      gofer::chan<item> items;
      items.send(item{url});  // BUG: nobody can receive from a channel nobody was given
      feeds.send(items);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  bool run_draft = false;
  int customers = 10;
  CLI::App app{"channels of channels: reply channels to an owner goroutine, and the book's deadlocking draft",
               "chanchan"};
  app.add_flag("--draft", run_draft, "run only the book's draft: it deadlocks (exit status 2)");
  app.add_option("--customers", customers, "customers of the bank")->capture_default_str()->check(CLI::Range(1, 100000));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  if (run_draft) {
    draft();
    return 0;  // not reached: the detector exits with status 2
  }

  int final_balance = -1, approved = 0, expected = 0;
  gofer::run([&] {
    // 1. The book's feeds: a channel per feed travels on feedChannel, then its item.
    std::puts("1. a channel per feed, sent over a channel of channels:");
    gofer::chan<gofer::chan<item>> feeds;
    gofer::chan<int> done;
    gofer::go(gofer::named{"consumer"}, [feeds, done] {
      for (gofer::chan<item> ch : feeds) std::printf("   Got url %s\n", ch.recv()->url.c_str());
      done.close();
    });
    for (const char* url : {"https://www.nytimes.com/rss", "https://www.wsj.com/rss"}) {
      gofer::chan<item> items(1);  // the producer's send must not wait for the consumer
      feeds.send(items);           // first the channel ...
      items.send(item{url});       // ... then the item on it
    }
    feeds.close();
    done.recv();

    // 2. The bank: every customer deposits $10 and tries to withdraw $15, concurrently;
    //    each answer comes back on that customer's own channel.
    std::printf("2. %d customers deposit $10 and withdraw $15 at an owner goroutine:\n", customers);
    gofer::chan<request> requests;
    gofer::chan<int> bank_done;
    gofer::go(gofer::named{"bank"}, [requests, bank_done] {
      bank(requests);
      bank_done.close();
    });
    gofer::chan<bool> results(static_cast<std::size_t>(customers));
    for (int c = 0; c < customers; ++c)
      gofer::go(gofer::named{"customer-" + std::to_string(c)}, [requests, results] {
        ask(requests, deposit{10});
        results.send(ask(requests, withdraw{15}).ok);
      });
    for (int c = 0; c < customers; ++c) approved += *results.recv() ? 1 : 0;
    final_balance = ask(requests, balance{}).balance;
    requests.close();
    bank_done.recv();
    expected = 10 * customers - 15 * approved;
    std::printf("   %d withdrawals approved, %d declined; balance $%d (= $%d in - $%d out)\n", approved,
                customers - approved, final_balance, 10 * customers, 15 * approved);
  });

  // 3. The draft, in a child process: it deadlocks, and the runtime says so.
  std::puts("3. the book's draft (--draft), in a child process:");
  ch05::child_result r = ch05::run_self({"--draft"});
  for (std::size_t at = 0, nl; (nl = r.out.find('\n', at)) != std::string::npos; at = nl + 1)
    std::printf("   | %s\n", r.out.substr(at, nl - at).c_str());
  bool caught = r.status == 2 && r.out.find("all goroutines are asleep - deadlock!") != std::string::npos;
  std::printf("   exit status %d\n", r.status);

  if (final_balance != expected || approved == 0 || !caught) {
    std::puts("FAILED");
    return 1;
  }
  std::printf("every reply reached its own customer (balance $%d), and the draft's deadlock was caught by the detector\n",
              final_balance);
  return 0;
}
