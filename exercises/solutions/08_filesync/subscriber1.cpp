// subscriber1 — a subscriber that reads every event, however TCP cuts the stream (book,
// chapter 8: the listener's clients; book-notes.md, chapter 8).
//
// The service sends change events as newline-delimited JSON: one object per line. The
// book's client read once and unmarshalled what it got, as if one read were one message.
// TCP is a byte stream: one read may hold three events, or half of one. As shipped,
// read_events() parses the first line of each read and drops the rest (and breaks on half
// an event).
//
// Goal: read_events() returns every event the server sent, in order, whole, and the tests
// pass. Keep the bytes a read gave you that do not end a line yet.
// Question: what must happen to the bytes after the last '\n' of a read — and what if the
// connection ends in the middle of a line?

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gofer/chan.hpp>
#include <gofer/net.hpp>
#include <gofer/runtime.hpp>

using json = nlohmann::json;
using namespace std::chrono_literals;

// Reads events from `c` until the server closes the connection.
std::vector<json> read_events(gofer::net::conn& c) {
  std::vector<json> events;
  char buf[4096];
  std::string pending;
  for (;;) {
    auto n = c.read(buf, sizeof buf);
    if (!n.ok() || *n == 0) break;
    pending.append(buf, *n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      json e = json::parse(pending.substr(start, nl - start), nullptr, false);
      if (!e.is_discarded()) events.push_back(e);
    }
    pending.erase(0, start);  // the start of a line whose end has not come yet
  }
  // Anything left is an event cut off by the end of the connection: not an event.
  return events;
}

// ---- the tests: no need to change anything below ----

// A server that writes `pieces` as separate writes (a pause between them, so they arrive
// as separate reads), then closes; returns what read_events() got.
std::vector<json> receive(std::vector<std::string> pieces) {
  std::vector<json> got;
  gofer::run([&] {
    auto ln = gofer::net::listen("127.0.0.1:0");
    ASSERT_TRUE(ln.ok());
    std::string addr = ln->addr();
    gofer::go(gofer::named("service"), [&] {
      auto c = ln->accept();
      if (!c.ok()) return;
      for (auto& p : pieces) {
        (void)c->write(p);
        gofer::sleep(20ms);
      }
      (void)c->close();
    });
    auto c = gofer::net::dial(addr);
    ASSERT_TRUE(c.ok());
    got = read_events(*c);
  });
  return got;
}

std::string ev(int seq) { return json{{"seq", seq}, {"op", "version"}, {"name", "f" + std::to_string(seq)}}.dump() + "\n"; }

std::vector<int> seqs(const std::vector<json>& es) {
  std::vector<int> out;
  for (auto& e : es) out.push_back(e.value("seq", -1));
  return out;
}

TEST(subscriber1, one_event_per_write) {
  EXPECT_EQ(seqs(receive({ev(1), ev(2)})), std::vector<int>({1, 2}));
}

TEST(subscriber1, three_events_in_one_write) {
  EXPECT_EQ(seqs(receive({ev(1) + ev(2) + ev(3), ev(4)})), std::vector<int>({1, 2, 3, 4}));
}

TEST(subscriber1, an_event_split_across_writes) {
  std::string two = ev(2);
  EXPECT_EQ(seqs(receive({ev(1) + two.substr(0, 10), two.substr(10, 5), two.substr(15) + ev(3)})),
            std::vector<int>({1, 2, 3}));
}

TEST(subscriber1, a_big_burst) {
  std::string all;
  std::vector<int> want;
  for (int i = 1; i <= 500; ++i) {
    all += ev(i);
    want.push_back(i);
  }
  EXPECT_EQ(seqs(receive({all})), want);
}
