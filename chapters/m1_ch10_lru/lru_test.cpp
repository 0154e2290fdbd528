// Tests of chapters/m1_ch10_lru/lru.hpp: LRU order, TTL expiry on an injected clock (no
// sleeps), sharding, and single-flight: N concurrent misses of one key load it exactly once.

#include "lru.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

using namespace std::chrono_literals;

namespace {

// A clock the test moves by hand.
struct fake_clock {
  lru::clock_type::time_point t{};
  lru::clock_fn fn() {
    return [this] { return t; };
  }
};

TEST(lru, evicts_the_least_recently_used) {
  gofer::run([] {
    lru::cache<int, std::string> c(2, 1h);
    c.put(1, "one");
    c.put(2, "two");
    ASSERT_EQ(c.get(1), "one");  // 1 is now the most recent: 2 goes next
    c.put(3, "three");
    EXPECT_EQ(c.get(2), std::nullopt);
    EXPECT_EQ(c.get(1), "one");
    EXPECT_EQ(c.get(3), "three");
    EXPECT_EQ(c.size(), 2u);
    auto s = c.stats();
    EXPECT_EQ(s.evictions, 1u);
    EXPECT_EQ(s.hits, 3u);
    EXPECT_EQ(s.misses, 1u);
  });
}

TEST(lru, ttl_expires_on_the_injected_clock) {
  gofer::run([] {
    fake_clock clk;
    lru::cache<std::string, int> c(10, 10s, clk.fn());
    c.put("a", 1);
    clk.t += 9s;
    c.put("b", 2);
    EXPECT_EQ(c.get("a"), 1);  // 9 s old: fresh
    clk.t += 1s;               // a is 10 s old: expired exactly at its TTL
    EXPECT_EQ(c.get("a"), std::nullopt);
    EXPECT_EQ(c.get("b"), 2);  // 1 s old
    c.put("b", 3);             // a put renews the TTL
    clk.t += 9s;
    EXPECT_EQ(c.get("b"), 3);
    clk.t += 1s;
    EXPECT_EQ(c.get("b"), std::nullopt);
    EXPECT_EQ(c.size(), 0u);
    EXPECT_EQ(c.stats().expirations, 2u);
  });
}

TEST(lru, sharded_keeps_every_key_in_one_shard) {
  gofer::run([] {
    fake_clock clk;
    lru::sharded<int, int> c(800, 8, 5s, clk.fn());
    for (int k = 0; k < 400; ++k) c.put(k, k * 2);
    int found = 0;
    for (int k = 0; k < 400; ++k)
      if (auto v = c.get(k)) {
        EXPECT_EQ(*v, k * 2);
        ++found;
      }
    EXPECT_GT(found, 300);  // shards are uneven: a few may have evicted
    clk.t += 5s;
    for (int k = 0; k < 400; ++k) EXPECT_EQ(c.get(k), std::nullopt);
  });
}

// N goroutines miss the same keys at the same time; the "database" must be asked once per
// key. Each load parks on a channel until every goroutine has asked, so the misses really
// overlap; whenever a late goroutine arrives (while the flight is open, or after it put the
// value), it must not load again. No sleep orders anything.
TEST(lru, single_flight_loads_each_key_exactly_once) {
  constexpr int kGoroutines = 64, kKeys = 4;
  std::map<int, int> loads;
  gofer::run(
      [&] {
        lru::sharded<int, int> c(100, 4, 1h);
        lru::single_flight<int, int> sf;
        gofer::mutex mu;
        gofer::chan<int> release;  // closed once every goroutine has asked
        gofer::wait_group asked, done;
        asked.add(kGoroutines);
        done.add(kGoroutines);
        for (int g = 0; g < kGoroutines; ++g) {
          gofer::go(gofer::named("reader"), [&, g] {
            int key = g % kKeys;
            asked.done();
            int v = lru::get_or_load(c, sf, key, [&](int k) {
              {
                std::lock_guard lk(mu);
                ++loads[k];
              }
              release.recv();  // hold the flight open until everyone has asked
              return k * 10;
            });
            EXPECT_EQ(v, key * 10);
            done.done();
          });
        }
        asked.wait();
        release.close();
        done.wait();
      },
      {.threads = 2});
  ASSERT_EQ(loads.size(), std::size_t(kKeys));
  for (auto [key, n] : loads) EXPECT_EQ(n, 1) << "key " << key << " was loaded " << n << " times";
}

// The same through get_or_load, with the race get-miss → load finished → sf.run: the second
// look into the cache inside the flight keeps it at one load per key.
TEST(lru, get_or_load_loads_once_per_key_under_concurrent_misses) {
  constexpr int kGoroutines = 32, kRounds = 50;
  std::atomic<int> loads{0};
  gofer::run(
      [&] {
        lru::cache<int, int> c(1000, 1h);
        lru::single_flight<int, int> sf;
        gofer::wait_group wg;
        wg.add(kGoroutines);
        for (int g = 0; g < kGoroutines; ++g)
          gofer::go(gofer::named("reader"), [&] {
            for (int k = 0; k < kRounds; ++k) {
              int v = lru::get_or_load(c, sf, k, [&](int key) {
                loads.fetch_add(1);
                gofer::yield();
                return key + 1;
              });
              EXPECT_EQ(v, k + 1);
            }
            wg.done();
          });
        wg.wait();
      },
      {.threads = 2});
  EXPECT_EQ(loads.load(), kRounds);
}

TEST(lru, single_flight_shares_the_error) {
  int errors = 0;
  gofer::run([&] {
    lru::single_flight<int, int> sf;
    gofer::chan<int> release;
    gofer::wait_group wg;
    gofer::mutex mu;
    wg.add(4);
    for (int g = 0; g < 4; ++g)
      gofer::go([&] {
        try {
          sf.run(1, [&]() -> int { release.recv(); throw std::runtime_error("db down"); });
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "db down");
          std::lock_guard lk(mu);
          ++errors;
        }
        wg.done();
      });
    for (int i = 0; i < 50; ++i) gofer::yield();
    release.close();
    wg.wait();
  });
  EXPECT_EQ(errors, 4);
}

}  // namespace
