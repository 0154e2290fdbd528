// logserver1 — the log server that spins after EOF (book, chapter 9: "Handling goroutine
// logs").
//
// collect() is the book's log server loop: read from the connection, count the bytes,
// repeat. When the client hangs up, every read fails at once with EOF, and the loop goes
// on reading, without ever parking: a goroutine spinning on one thread. (A cap on the
// number of reads keeps this exercise from spinning forever.)
//
// Goal: collect() returns all the bytes the client sent, having called read() exactly once
// after the data (the call that reports EOF); the test passes.
//
// Question: what does conn::read return once the peer has closed, and what should a loop
// do with a result that is not ok()?

#include <string>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/net.hpp>
#include <gofer/runtime.hpp>

struct collected {
  std::string data;
  int reads = 0;  // calls to read(), the failing ones included
};

collected collect(gofer::net::conn& c) {
  collected out;
  char buf[64];
  for (int cap = 0; cap < 100000; ++cap) {
    auto n = c.read(buf, sizeof buf);
    ++out.reads;
    // TODO: the book counted the bytes and carried on, whatever read() said.
    if (n.ok()) out.data.append(buf, *n);
  }
  return out;
}

TEST(logserver1, the_server_stops_reading_at_eof) {
  collected got;
  int data_reads = 0;
  gofer::run([&] {
    auto ln = gofer::net::listen("127.0.0.1:0").value();
    gofer::chan<int> done;
    gofer::go(gofer::named("log-server"), [&ln, &got, done] {
      auto c = ln.accept().value();
      got = collect(c);
      done.send(1);
    });
    auto c = gofer::net::dial(ln.addr()).value();
    std::string line = "{\"msg\":\"hello\"}\n";
    ASSERT_TRUE(c.write_all(line.data(), line.size()).ok());
    data_reads = 1;  // one short line: the server reads it in one call
    c.close();
    done.recv();
  });
  EXPECT_EQ(got.data, "{\"msg\":\"hello\"}\n");
  EXPECT_EQ(got.reads, data_reads + 1) << "read() was called " << got.reads
                                       << " times: the loop went on after EOF";
}
