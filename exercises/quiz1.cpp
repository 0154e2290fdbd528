// quiz1 — chapters 1 to 3 together: a crawler with a deadline.
//
// Write crawl(): fetch every URL at the same time, one goroutine each, and collect the pages.
//   - The result has one page per URL, in the order of `urls` (not the order they finish).
//   - A fetch that has not answered within `limit`, counted from the start of the crawl, is
//     reported with timed_out = true and an empty body; crawl returns without waiting for it.
//   - No goroutine may be left blocked forever because crawl stopped listening. (The tests
//     check it: a goroutine still alive when a test's main returns fails the test, and the
//     report shows what it waits for. Name your goroutines with gofer::named.)
// Use only what chapters 1 to 3 taught: go, channels, select, after, wait_group, mutex.
// The tests at the bottom use fake fetch functions, no network.
//
// Goal: the tests pass.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/gtest.hpp>
#include <gofer/runtime.hpp>
#include <gofer/select.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>
#include <gofer/time.hpp>

struct page {
  std::string url;
  std::string body;
  bool timed_out = false;
};

using fetch_fn = std::function<std::string(const std::string& url)>;

std::vector<page> crawl(const std::vector<std::string>& urls, fetch_fn fetch,
                        std::chrono::milliseconds limit) {
  // TODO: your crawler here (and then delete the throw).
  (void)urls, (void)fetch, (void)limit;
  throw std::logic_error("crawl() is not written yet");
}

// ---- the tests: no need to change anything below ----

using namespace std::chrono_literals;

// Every test runs through gofer::testing::run: a panic, a deadlock, or a goroutine still
// alive when the test's main returns (blocked forever, say) fails the test with the report.

TEST(quiz1, one_page_per_url_in_order) {
  std::vector<page> pages;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    pages = crawl({"a", "b", "c"}, [](const std::string& u) { return "body of " + u; }, 5s);
  }));
  ASSERT_EQ(pages.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(pages[i].url, std::string(1, static_cast<char>('a' + i)));
    EXPECT_EQ(pages[i].body, "body of " + pages[i].url);
    EXPECT_FALSE(pages[i].timed_out);
  }
}

TEST(quiz1, fetches_run_at_the_same_time) {
  // Each fetch answers only once all four have started: one at a time can never finish.
  std::vector<page> pages;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    auto started = std::make_shared<gofer::wait_group>();
    started->add(4);
    pages = crawl({"1", "2", "3", "4"},
                  [started](const std::string& u) {
                    started->done();
                    started->wait();
                    return u + u;
                  },
                  5s);
  }, {.threads = 2}));
  ASSERT_EQ(pages.size(), 4u);
  for (const page& p : pages) {
    EXPECT_FALSE(p.timed_out) << p.url;
    EXPECT_EQ(p.body, p.url + p.url);
  }
}

// The stuck fetch answers only once crawl has returned: crawl must not wait for it, and
// its late answer must not leave it blocked forever (the leak check sees that).
TEST(quiz1, a_fetch_past_the_limit_is_reported_and_not_waited_for) {
  std::vector<page> pages;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    gofer::chan<int> release;  // closed after crawl returned
    pages = crawl({"fast", "stuck", "quick"},
                  [release](const std::string& u) {
                    if (u == "stuck") release.recv();
                    return "ok " + u;
                  },
                  100ms);
    release.close();  // the stuck fetch answers now, too late
  }));
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].body, "ok fast");
  EXPECT_FALSE(pages[0].timed_out);
  EXPECT_EQ(pages[1].url, "stuck");
  EXPECT_TRUE(pages[1].timed_out);
  EXPECT_EQ(pages[1].body, "");
  EXPECT_EQ(pages[2].body, "ok quick");
  EXPECT_FALSE(pages[2].timed_out);
}

TEST(quiz1, no_urls_no_pages) {
  std::vector<page> pages{page{}};
  ASSERT_GOFER_OK(gofer::testing::run(
      [&] { pages = crawl({}, [](const std::string&) { return std::string(); }, 1s); }));
  EXPECT_TRUE(pages.empty());
}
