// shutdown1 — the ordered shutdown (Module 2, chapter 5: "Signal channels", "Gracefully
// starting and stopping").
//
// twittervotes has two goroutines joined by the `votes` channel: the reader sends a vote for
// each tweet until `stop` closes, and the publisher ranges over `votes` and publishes each.
// Each returns a signal channel that says "I stopped". shutdown() must stop them so that
// every vote the reader sent is published and nothing panics. As it ships, it crashes.
//
// Goal: the test passes: no panic, and the publisher published exactly the votes the reader
// sent.
// Question: which goroutine sends on `votes`, and who is allowed to close a channel in Go?
// What must be true of that goroutine before the close?

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/select.hpp>
#include <gofer/time.hpp>

using namespace std::chrono_literals;

struct empty {};  // Go's struct{}
using signal_chan = gofer::chan<empty>;

struct pipeline {
  signal_chan stop;                     // closed to stop the reader
  gofer::chan<std::string> votes;       // reader -> publisher
  signal_chan reader_stopped{1}, publisher_stopped{1}, loaded{1};
  long sent = 0, published = 0;         // each written by one goroutine, read after its signal
};

// The reader: a vote per "tweet" until stop closes.
void start_reader(pipeline& p) {
  gofer::go(gofer::named("reader"), [&p] {
    for (long i = 0;; ++i) {
      std::string v = i % 2 ? "happy" : "sad";
      if (gofer::select(gofer::send_case(p.votes, v), gofer::recv_case(p.stop)) == 1) break;
      ++p.sent;
    }
    p.reader_stopped.send(empty{});
  });
}

// The publisher: publishes (slowly: 1 ms each, the network) until votes closes.
void start_publisher(pipeline& p) {
  gofer::go(gofer::named("publisher"), [&p] {
    for (std::string v : p.votes) {
      if (++p.published == 20) p.loaded.send(empty{});
      gofer::sleep(1ms);
    }
    p.publisher_stopped.send(empty{});
  });
}

// Ctrl+C arrived: stop both, so that nothing is lost and nothing panics.
void shutdown(pipeline& p) {
  // TODO: the order of these four lines. (The idea here: let the publisher finish
  // what it has first, then stop the reader.)
  p.votes.close();
  p.publisher_stopped.recv();
  p.stop.close();
  p.reader_stopped.recv();
}

// ---- the test: no need to change anything below ----

TEST(shutdown1, every_vote_sent_is_published_and_nothing_panics) {
  long sent = -1, published = -2;
  gofer::run(
      [&] {
        pipeline p;
        start_publisher(p);
        start_reader(p);
        p.loaded.recv();  // under load
        shutdown(p);
        sent = p.sent;
        published = p.published;
      },
      {.threads = 2});
  EXPECT_GE(sent, 20);
  EXPECT_EQ(published, sent) << "votes sent by the reader but never published";
}
