// lru — a concurrent LRU cache with a TTL in front of a slow "database" (Module 1, chapter
// 10: "Implementing caching strategies", "Using Least Recently Used", "Caching in memory").
// The same skewed workload runs through one cache behind one mutex, then through a sharded
// cache (one mutex per shard), at 1, 2, 4 and 8 goroutines on 2 threads: watch the hit rate
// (the cache holds a fifth of the keys) and the ops/s. Then single-flight: many goroutines
// miss one key at once, and the database is asked once instead of once each. Last, the
// same workload against a private memcached through libmemcached (the book's in-memory cache).

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"
#include "lru.hpp"
#include "mc_client.hpp"
#include "server.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

// ---- the "database": one goroutine that takes requests on a channel, and answers each
// after a delay (a goroutine per request, so slow answers overlap like a real server's) ----

struct db_request {
  int key;
  gofer::chan<std::string> reply;  // buffered 1: the answer never blocks the database
};

class database {
 public:
  explicit database(std::chrono::microseconds delay) : requests_(64) {
    gofer::go(gofer::named("database"), [reqs = requests_, delay, loads = loads_] {
      for (db_request r : reqs) {
        loads->fetch_add(1);
        gofer::go(gofer::named("db-query"), [r, delay] {
          gofer::sleep(delay);
          r.reply.send("value-" + std::to_string(r.key));
        });
      }
    });
  }
  ~database() { requests_.close(); }
  std::string load(int key) const {
    gofer::chan<std::string> reply(1);
    requests_.send(db_request{key, reply});
    return reply.recv().value();
  }
  long loads() const { return loads_->load(); }

 private:
  gofer::chan<db_request> requests_;
  std::shared_ptr<std::atomic<long>> loads_ = std::make_shared<std::atomic<long>>(0);
};

// ---- the workload: keys drawn with a skew (a few are hot, most are cold) ----------------

struct workload {
  int keys, ops;  // ops in total, split over the goroutines
};

int draw(std::mt19937& rng, int keys) {
  double u = std::uniform_real_distribution<>(0, 1)(rng);
  return static_cast<int>(keys * std::pow(u, 6));  // P(key < k) = (k/keys)^(1/6): skewed to 0
}

struct result {
  double hit_rate, ops_per_s;
};

// Runs w.ops reads over g goroutines; get(i, key) is goroutine i's read. Returns ops/s.
template <class Get>
double run_goroutines(const workload& w, int g, Get get) {
  gofer::wait_group wg;
  wg.add(g);
  auto t0 = clk::now();
  for (int i = 0; i < g; ++i) {
    gofer::go(gofer::named("client-" + std::to_string(i)), [&, i] {
      std::mt19937 rng(1000 + i);
      for (int n = 0; n < w.ops / g; ++n) get(i, draw(rng, w.keys));
      wg.done();
    });
  }
  wg.wait();
  return w.ops / std::chrono::duration<double>(clk::now() - t0).count();
}

template <class Cache>
result run_cache(Cache& c, const database& db, const workload& w, int g) {
  lru::single_flight<int, std::string> sf;
  double ops = run_goroutines(w, g, [&](int, int key) {
    lru::get_or_load(c, sf, key, [&](int k) { return db.load(k); });
  });
  return {c.stats().hit_rate(), ops};
}

// ---- memcached: the same reads, each goroutine with its own libmemcached handle (not
// thread-safe), every call through gofer::blocking (libmemcached blocks its thread):
// mc_client.hpp, shared with bench/lru_bench.cpp ------------------------------------------

int main(int argc, char** argv) {
  CLI::App app{"lru: a concurrent LRU cache with a TTL, sharded, single-flight, against memcached"};
  workload w{1000, 10000};
  int capacity = 250, shards = 16, stampede = 100;
  long delay_us = 200;
  app.add_option("--keys", w.keys, "distinct keys in the workload")->check(CLI::Range(1, 10'000'000));
  app.add_option("--ops", w.ops, "reads per run (split over the goroutines)")->check(CLI::Range(8, 100'000'000));
  app.add_option("--capacity", capacity, "cache entries")->check(CLI::Range(1, 10'000'000));
  app.add_option("--shards", shards, "shards of the sharded cache")->check(CLI::Range(1, 1024));
  app.add_option("--delay-us", delay_us, "the database's answer time (µs)")->check(CLI::Range(0, 1'000'000));
  app.add_option("--stampede", stampede, "goroutines missing one key at once")->check(CLI::Range(2, 100'000));
  if (int rc = gofer_demo::parse_flags(app, argc, argv); rc >= 0) return rc;

  const std::vector<int> goroutines{1, 2, 4, 8};
  double mutex8 = 0, sharded8 = 0, memcached8 = 0, hot_mutex = 0, hot_sharded = 0;
  long with_sf = 0, without_sf = 0;
  int rc = gofer::run(
      [&] {
        database db{std::chrono::microseconds(delay_us)};
        std::printf("%d keys (skewed), cache of %d, TTL 10 s, database answers in %ld µs, %d reads per run, 2 threads\n",
                    w.keys, capacity, delay_us, w.ops);

        // 1. One mutex around the whole cache, then 2. the same capacity in shards. A fresh
        // cache for each run; every miss goes to the database through single-flight.
        std::printf("%-22s %-12s %9s %10s\n", "cache", "goroutines", "hit rate", "ops/s");
        for (int g : goroutines) {
          lru::cache<int, std::string> c(capacity, 10s);
          auto r = run_cache(c, db, w, g);
          std::printf("%-22s %-12d %8.1f%% %10.0f\n", "one mutex", g, 100 * r.hit_rate, r.ops_per_s);
          if (g == 8) mutex8 = r.ops_per_s;
        }
        for (int g : goroutines) {
          lru::sharded<int, std::string> c(capacity, shards, 10s);
          auto r = run_cache(c, db, w, g);
          std::printf("%-22s %-12d %8.1f%% %10.0f\n", ("sharded (" + std::to_string(shards) + ")").c_str(), g,
                      100 * r.hit_rate, r.ops_per_s);
          if (g == 8) sharded8 = r.ops_per_s;
        }

        // 2b. The locks alone: a warm cache that holds every key, no database, 8 goroutines
        // on 2 threads. Here one mutex is the bottleneck the shards remove.
        auto hot = [&](auto& c) {
          for (int k = 0; k < w.keys; ++k) c.put(k, "v");
          return run_goroutines(workload{w.keys, w.ops * 20}, 8, [&](int, int key) { (void)c.get(key); });
        };
        {
          lru::cache<int, std::string> one(w.keys, 10s);
          lru::sharded<int, std::string> many(w.keys * 2, shards, 10s);
          hot_mutex = hot(one);
          hot_sharded = hot(many);
          std::printf("warm cache, no database, 8 goroutines: one mutex %.0f ops/s, sharded %.0f ops/s\n", hot_mutex,
                      hot_sharded);
        }

        // 3. A stampede: `stampede` goroutines miss one cold key at the same moment. Without
        // single-flight each of them asks the database; with it, one asks and the rest wait.
        auto stampede_run = [&](bool single) {
          lru::cache<int, std::string> c(capacity, 10s);
          lru::single_flight<int, std::string> sf;
          long before = db.loads();
          gofer::wait_group ready, wg;
          gofer::chan<int> start;
          ready.add(stampede);
          wg.add(stampede);
          for (int i = 0; i < stampede; ++i)
            gofer::go(gofer::named("stampede"), [&] {
              ready.done();
              start.recv();  // all at once
              if (single) {
                lru::get_or_load(c, sf, -1, [&](int k) { return db.load(k); });
              } else if (!c.get(-1)) {
                c.put(-1, db.load(-1));
              }
              wg.done();
            });
          ready.wait();
          start.close();
          wg.wait();
          return db.loads() - before;
        };
        without_sf = stampede_run(false);
        with_sf = stampede_run(true);
        std::printf("stampede: %d goroutines missed one key at once: %ld database loads without single-flight, %ld with\n",
                    stampede, without_sf, with_sf);

        // 4. memcached as the cache: a private instance (the shared launcher), the same
        // workload at 8 goroutines. memcached evicts by LRU too, but by memory, not count:
        // its 16 MB hold every key, so its hit rate is the workload's ceiling.
        auto mc = gofer_demo::server::start(gofer_demo::memcached_spec());
        std::printf("memcached on 127.0.0.1:%d (pid %d)\n", mc.port(), static_cast<int>(mc.pid()));
        for (int g : {8}) {
          // One client per goroutine (a libmemcached handle is not thread-safe); keys get
          // a prefix per run, so the second run starts cold as the cache runs do.
          std::vector<std::unique_ptr<mc_client>> clients;
          for (int i = 0; i < g; ++i) clients.push_back(std::make_unique<mc_client>(mc.port()));
          std::atomic<long> hits{0};
          double ops = run_goroutines(w, g, [&, prefix = "g" + std::to_string(g) + ":"](int i, int key) {
            mc_client* cl = clients[i].get();
            std::string k = prefix + std::to_string(key);
            if (cl->get(k)) {
              hits.fetch_add(1);
            } else {
              cl->set(k, db.load(key), 10);
            }
          });
          std::printf("%-22s %-12d %8.1f%% %10.0f\n", "memcached", g, 100.0 * hits.load() / w.ops, ops);
          if (g == 8) memcached8 = ops;
        }
      },
      {.threads = 2});
  if (rc != 0) return rc;
  std::printf("single-flight turned %d concurrent misses into %ld load (without it %ld), "
              "the sharded cache served %.0f ops/s at 8 goroutines (one mutex %.0f, memcached %.0f), "
              "warm %.0f (one mutex %.0f)\n",
              stampede, with_sf, without_sf, sharded8, mutex8, memcached8, hot_sharded, hot_mutex);
  return 0;
}
