// chapters/m1_ch10_lru/lru.hpp — a concurrent LRU cache with a TTL, sharded, and
// single-flight (Module 1, chapter 10: "Implementing caching strategies", "Using Least
// Recently Used", "Caching in memory").
//
//   lru::cache<K, V>          one gofer::mutex around a hash map + recency list
//   lru::sharded<K, V>        N caches, a key's shard chosen by its hash: N locks, less contention
//   lru::single_flight<K, V>  concurrent loads of one key run once; the others wait and share
//   lru::get_or_load(c, sf, key, load)   the cache-aside read: hit, or one load per key
//
// What a cache holds: up to `capacity` entries, each valid for `ttl` after its put. get()
// of an expired entry removes it and misses. put() beyond capacity evicts the entry used
// (got or put) longest ago.
//
//   op \ state | key absent          | key present, fresh       | key present, expired
//   get(k)     | miss, nullopt       | hit, moves to front      | expiry: removed, miss
//   put(k, v)  | inserts at front;   | replaces value, new TTL, | as "fresh"
//              | evicts the LRU entry| moves to front           |
//              | if over capacity    |                          |
//
// The clock is injected (a function returning a steady_clock time point), so tests expire
// entries by moving a fake clock, with no sleeps.
// Copy semantics: none of these is copyable or movable (they own locks); share by reference.
// Thread-safety: every member from any goroutine on any thread. The locks are gofer::mutex
// (a waiting goroutine parks, its thread runs others). No lock is held while a loader runs
// or while a goroutine waits for another's load.
// Memory ordering: single_flight's leader writes the result before closing the call's done
// channel; a waiter reads it after its recv() saw the close (close happens-before that recv).
//
// Example:
//   lru::sharded<std::string, std::string> c(1000, 16, 30s);
//   lru::single_flight<std::string, std::string> sf;
//   auto v = lru::get_or_load(c, sf, "user:7", [](const std::string& k) { return db_get(k); });
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include <gofer/chan.hpp>
#include <gofer/sync.hpp>

namespace lru {

using clock_type = std::chrono::steady_clock;
using clock_fn = std::function<clock_type::time_point()>;

struct stats {
  std::uint64_t hits = 0, misses = 0, evictions = 0, expirations = 0;
  double hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0.0; }
  stats& operator+=(const stats& o) {
    hits += o.hits, misses += o.misses, evictions += o.evictions, expirations += o.expirations;
    return *this;
  }
};

template <class K, class V, class Hash = std::hash<K>>
class cache {
 public:
  cache(std::size_t capacity, clock_type::duration ttl, clock_fn now = &clock_type::now)
      : capacity_(capacity), ttl_(ttl), now_(std::move(now)) {
    if (capacity == 0) throw std::invalid_argument("lru::cache: capacity must be > 0");
  }
  cache(const cache&) = delete;
  cache& operator=(const cache&) = delete;

  std::optional<V> get(const K& key) { return lookup(key, true); }
  // get() without counting a hit or a miss (single-flight's second look).
  std::optional<V> peek(const K& key) { return lookup(key, false); }

  void put(const K& key, V value) {
    auto expires = now_() + ttl_;
    std::lock_guard lk(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->value = std::move(value);
      it->second->expires = expires;
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.push_front(entry{key, std::move(value), expires});
    index_.emplace(key, order_.begin());
    if (order_.size() > capacity_) {  // evict the least recently used: the back
      index_.erase(order_.back().key);
      order_.pop_back();
      ++stats_.evictions;
    }
  }

  std::size_t size() {
    std::lock_guard lk(mu_);
    return order_.size();
  }
  lru::stats stats() {
    std::lock_guard lk(mu_);
    return stats_;
  }

 private:
  struct entry {
    K key;
    V value;
    clock_type::time_point expires;
  };

  std::optional<V> lookup(const K& key, bool count) {
    auto now = now_();
    std::lock_guard lk(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) {
      if (count) ++stats_.misses;
      return std::nullopt;
    }
    if (now >= it->second->expires) {  // expired: gone, and a miss
      order_.erase(it->second);
      index_.erase(it);
      ++stats_.expirations;
      if (count) ++stats_.misses;
      return std::nullopt;
    }
    order_.splice(order_.begin(), order_, it->second);  // most recently used: the front
    if (count) ++stats_.hits;
    return it->second->value;
  }

  const std::size_t capacity_;
  const clock_type::duration ttl_;
  const clock_fn now_;
  gofer::mutex mu_;  // guards order_, index_, stats_
  std::list<entry> order_;
  std::unordered_map<K, typename std::list<entry>::iterator, Hash> index_;
  lru::stats stats_;
};

template <class K, class V, class Hash = std::hash<K>>
class sharded {
 public:
  // `capacity` is split evenly over `shards` caches (each gets at least 1).
  sharded(std::size_t capacity, std::size_t shards, clock_type::duration ttl, clock_fn now = &clock_type::now) {
    if (shards == 0) throw std::invalid_argument("lru::sharded: shards must be > 0");
    for (std::size_t i = 0; i < shards; ++i)
      shards_.push_back(std::make_unique<cache<K, V, Hash>>(std::max<std::size_t>(1, capacity / shards), ttl, now));
  }
  std::optional<V> get(const K& key) { return shard(key).get(key); }
  std::optional<V> peek(const K& key) { return shard(key).peek(key); }
  void put(const K& key, V value) { shard(key).put(key, std::move(value)); }
  std::size_t size() {
    std::size_t n = 0;
    for (auto& s : shards_) n += s->size();
    return n;
  }
  lru::stats stats() {
    lru::stats total;
    for (auto& s : shards_) total += s->stats();
    return total;
  }

 private:
  cache<K, V, Hash>& shard(const K& key) {
    // Mix the hash (std::hash of an integer is the identity) before taking the shard.
    std::uint64_t h = Hash{}(key) * 0x9E3779B97F4A7C15ull;
    return *shards_[(h >> 32) % shards_.size()];
  }
  std::vector<std::unique_ptr<cache<K, V, Hash>>> shards_;
};

template <class K, class V, class Hash = std::hash<K>>
class single_flight {
 public:
  // Runs load() unless a load of `key` is already running; then waits for that one and
  // returns its value (or rethrows its exception). `shared`, if given, tells which happened.
  template <class F>
  V run(const K& key, F&& load, bool* shared = nullptr) {
    std::unique_lock lk(mu_);
    if (auto it = calls_.find(key); it != calls_.end()) {
      auto c = it->second;
      lk.unlock();
      c->done.recv();  // returns when the leader closes done
      if (shared) *shared = true;
      if (c->error) std::rethrow_exception(c->error);
      return *c->value;
    }
    auto c = std::make_shared<call>();
    calls_.emplace(key, c);
    lk.unlock();
    try {
      c->value.emplace(load());
    } catch (...) {
      c->error = std::current_exception();
    }
    lk.lock();
    calls_.erase(key);
    lk.unlock();
    c->done.close();
    if (shared) *shared = false;
    if (c->error) std::rethrow_exception(c->error);
    return *c->value;
  }

 private:
  struct call {
    gofer::chan<int> done;  // closed when value or error is set
    std::optional<V> value;
    std::exception_ptr error;
  };
  gofer::mutex mu_;  // guards calls_
  std::unordered_map<K, std::shared_ptr<call>, Hash> calls_;
};

// The cache-aside read with single-flight: a hit returns at once; on a miss, one goroutine
// per key loads (looking into the cache once more first: a load that finished between our
// miss and our turn has already put the value) and puts; the others wait for it.
template <class Cache, class K, class V, class Hash, class F>
V get_or_load(Cache& c, single_flight<K, V, Hash>& sf, const K& key, F&& load) {
  if (auto v = c.get(key)) return *v;
  return sf.run(key, [&]() -> V {
    if (auto v = c.peek(key)) return *v;
    V v = load(key);
    c.put(key, v);
    return v;
  });
}

}  // namespace lru
