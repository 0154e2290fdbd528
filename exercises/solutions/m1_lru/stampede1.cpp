// stampede1 — a cache stampede, fixed with single-flight (Module 1, chapter 10: "Implementing
// caching strategies", "Caching in memory").
//
// cached_get() is the cache-aside read: look in the cache, and on a miss load the value
// from the database and put it in the cache. As it ships, when a hot key is missing and
// many goroutines ask for it at once, every one of them misses and every one of them asks
// the database: a stampede, exactly when the database is busiest. Single-flight coalesces
// them: the first goroutine to miss a key loads it; the others that miss the same key
// meanwhile wait for that load and share its value (Go: golang.org/x/sync/singleflight).
//
// Goal: the tests pass: 50 goroutines missing one key at once cost the database 1 load,
// and 4 hot keys cost 4.
// Question: a goroutine missed the key, and before it registers its own load, the first
// load finishes and its flight is gone. What must it do so that it does not load again?

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

// ---- the database and the cache: no need to change them ----------------------------------

// The "database": load() counts the call, then waits until the test releases it (a slow
// query, for as long as the test needs the misses to overlap).
struct database {
  gofer::chan<int> release;  // closed by the test
  gofer::mutex mu;
  std::map<std::string, int> loads;  // guarded by mu
  std::string load(const std::string& key) {
    {
      std::lock_guard lk(mu);
      ++loads[key];
    }
    release.recv();
    return "value of " + key;
  }
};

// A cache (no eviction or TTL here: chapters/m1_ch10_lru/lru.hpp has them).
struct cache {
  gofer::mutex mu;
  std::map<std::string, std::string> items;  // guarded by mu
  std::optional<std::string> get(const std::string& key) {
    std::lock_guard lk(mu);
    auto it = items.find(key);
    if (it == items.end()) return std::nullopt;
    return it->second;
  }
  void put(const std::string& key, const std::string& value) {
    std::lock_guard lk(mu);
    items[key] = value;
  }
};

// ---- your part ----------------------------------------------------------------------------

// Single-flight: for each key being loaded, a call whose `done` channel is closed when
// its value is in; latecomers wait on it (close happens-before their recv returns).
struct call {
  gofer::chan<int> done;
  std::string value;
};
struct flights {
  gofer::mutex mu;
  std::map<std::string, std::shared_ptr<call>> calls;  // guarded by mu
};

std::string cached_get(cache& c, flights& f, database& db, const std::string& key) {
  if (auto v = c.get(key)) return *v;
  std::unique_lock lk(f.mu);
  if (auto it = f.calls.find(key); it != f.calls.end()) {
    auto call = it->second;
    lk.unlock();  // never wait while holding the lock
    call->done.recv();
    return call->value;
  }
  // The answer to the question: look again. A load that finished between our miss and now
  // has put the value and left the map; the cache has it.
  if (auto v = c.get(key)) return *v;
  auto me = std::make_shared<call>();
  f.calls[key] = me;
  lk.unlock();
  me->value = db.load(key);
  c.put(key, me->value);
  lk.lock();
  f.calls.erase(key);
  lk.unlock();
  me->done.close();
  return me->value;
}

// ---- the tests: no need to change anything below ----

// n goroutines ask for keys[i % keys.size()] at the same moment; the database answers once
// every goroutine has asked. Returns the database's load count per key.
std::map<std::string, int> stampede(int n, std::vector<std::string> keys) {
  std::map<std::string, int> loads;
  gofer::run(
      [&] {
        database db;
        cache c;
        flights f;
        gofer::wait_group asked, done;
        asked.add(n);
        done.add(n);
        for (int i = 0; i < n; ++i)
          gofer::go(gofer::named("reader"), [&, i] {
            const std::string& key = keys[i % keys.size()];
            asked.done();
            EXPECT_EQ(cached_get(c, f, db, key), "value of " + key);
            done.done();
          });
        asked.wait();
        db.release.close();
        done.wait();
        EXPECT_EQ(cached_get(c, f, db, keys[0]), "value of " + keys[0]);  // a hit: no load
        loads = db.loads;
      },
      {.threads = 2});
  return loads;
}

TEST(stampede1, one_hot_key_is_loaded_once) {
  auto loads = stampede(50, {"hot"});
  EXPECT_EQ(loads["hot"], 1) << "50 goroutines missed \"hot\" at once";
}

TEST(stampede1, each_of_four_hot_keys_is_loaded_once) {
  auto loads = stampede(60, {"a", "b", "c", "d"});
  ASSERT_EQ(loads.size(), 4u);
  for (auto& [key, n] : loads) EXPECT_EQ(n, 1) << "key " << key;
}
