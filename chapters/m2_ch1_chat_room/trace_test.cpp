// trace_test.cpp — the tracer's tests, written first as the book does (red, then green):
// make() writes what it is given as one line; off() takes calls and writes nothing; a
// tracer is usable through the interface alone. (CTest label `unit`.)
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "trace.hpp"

TEST(trace, make_writes_the_line_to_its_stream) {
  std::ostringstream buf;
  auto t = trace::make(buf);
  ASSERT_NE(t, nullptr) << "make should not return nullptr";
  t->trace("Hello trace package.");
  EXPECT_EQ(buf.str(), "Hello trace package.\n");
}

TEST(trace, make_joins_its_arguments_like_sprint) {
  std::ostringstream buf;
  auto t = trace::make(buf);
  t->trace("Message received: ", std::string("hi"), " (", 2, " bytes)");
  EXPECT_EQ(buf.str(), "Message received: hi (2 bytes)\n");
}

TEST(trace, off_accepts_calls_and_writes_nothing) {
  std::shared_ptr<trace::tracer> silent = trace::off();
  ASSERT_NE(silent, nullptr);
  silent->trace("something");  // must not crash, and there is nowhere it could write
  EXPECT_EQ(trace::off(), silent) << "off() is one shared do-nothing tracer";
}

TEST(trace, lines_from_several_threads_never_mix) {
  std::ostringstream buf;
  auto t = trace::make(buf);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([t, i] {
      for (int k = 0; k < 100; ++k) t->trace("thread ", i, " line ", k);
    });
  for (auto& th : ts) th.join();
  std::istringstream in(buf.str());
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    EXPECT_EQ(line.rfind("thread ", 0), 0u) << line;
  }
  EXPECT_EQ(n, 400);
}
