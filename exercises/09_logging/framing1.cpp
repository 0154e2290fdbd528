// framing1 — several JSON lines per read (book, chapter 9: "Handling goroutine logs").
//
// A log collector reads from a TCP stream. TCP has no messages, only bytes: one read may
// return two lines and the half of a third, the next read the rest. The shipped parser
// treats every chunk as exactly one JSON line.
//
// Goal: feed() parses every complete line, keeps a partial line until its '\n' arrives,
// and the test passes (5 records, in order, whatever the chunks).
//
// Question: after a read, which bytes belong to a complete line, and where must the rest
// wait?

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

class line_parser {
 public:
  // Takes the next chunk of the stream; returns the records completed by it.
  std::vector<nlohmann::json> feed(std::string_view chunk) {
    std::vector<nlohmann::json> out;
    // TODO: a chunk is not a line. Keep what is incomplete in pending_.
    out.push_back(nlohmann::json::parse(chunk, nullptr, /*allow_exceptions=*/false));
    return out;
  }

 private:
  std::string pending_;
};

TEST(framing1, lines_split_and_joined_across_reads) {
  // Five records, cut into chunks the way a network may deliver them.
  std::vector<std::string> chunks = {
      "{\"n\":1}\n{\"n\":2}\n{\"n\"",  // two lines and the start of a third
      ":3}\n",                          // the rest of it
      "{\"n\":4}\n{\"n\":5",            // one line and nearly all of another
      "}\n",
  };
  std::vector<int> got;
  gofer::run([&] {
    gofer::chan<std::string> reads(chunks.size());
    for (auto& c : chunks) reads.send(c);
    reads.close();
    gofer::chan<int> done;
    gofer::go(gofer::named("collector"), [reads, done, &got] {
      line_parser p;
      while (auto chunk = reads.recv())
        for (auto& rec : p.feed(*chunk)) got.push_back(rec.is_object() ? rec.value("n", -1) : -1);
      done.send(1);
    });
    done.recv();
  });
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3, 4, 5}));
}
