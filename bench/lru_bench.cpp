// bench/lru_bench.cpp — `./gofer bench lru`: Module 1 chapter 10's concurrent LRU cache
// (chapters/m1_ch10_lru/lru.hpp) at 1, 2, 4 and 8 goroutines on 2 scheduler threads: one
// mutex against sharded, both with single-flight in front of a slow "database", and the same
// reads against a private memcached through libmemcached (the chapter 4 launcher spec).
//
// Two workloads, each run `--reps` times with a fresh cache (and fresh memcached keys), and
// reported as the median and the range (min–max) over the repetitions:
//   cold  the demo's: skewed keys (a few hot, most cold), a cache holding a quarter of them,
//         a miss loads from a database goroutine that answers after `--delay-us` (the
//         misses dominate: this measures overlap of slow loads, and the hit rate);
//   warm  the locks alone: every key cached, no database, `--ops` × 250 reads.
// memcached runs the cold workload only (each goroutine its own libmemcached handle, every
// call through gofer::blocking). Output: a Markdown table on stdout, and every sample as JSON
// with --json FILE. Speed is measured here, never asserted. The memcached client is the
// demo's (chapters/m1_ch10_lru/mc_client.hpp).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"
#include "lru.hpp"
#include "mc_client.hpp"
#include "server.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

// The database: one goroutine taking requests, answering each after `delay` (a goroutine per
// answer, so slow answers overlap as a real server's do) — the demo's.
struct db_request {
  int key;
  gofer::chan<std::string> reply;
};
class database {
 public:
  explicit database(std::chrono::microseconds delay) : requests_(64) {
    gofer::go(gofer::named("database"), [reqs = requests_, delay] {
      for (db_request r : reqs)
        gofer::go(gofer::named("db-query"), [r, delay] {
          gofer::sleep(delay);
          r.reply.send("value-" + std::to_string(r.key));
        });
    });
  }
  ~database() { requests_.close(); }
  std::string load(int key) const {
    gofer::chan<std::string> reply(1);
    requests_.send(db_request{key, reply});
    return reply.recv().value();
  }

 private:
  gofer::chan<db_request> requests_;
};

int draw(std::mt19937& rng, int keys) {
  double u = std::uniform_real_distribution<>(0, 1)(rng);
  return static_cast<int>(keys * std::pow(u, 6));  // skewed to key 0
}

// `ops` reads over `g` goroutines (seeded per goroutine and repetition); returns ops/s.
double run_goroutines(int keys, int ops, int g, int rep, const std::function<void(int, int)>& get) {
  gofer::wait_group wg;
  wg.add(g);
  auto t0 = clk::now();
  for (int i = 0; i < g; ++i)
    gofer::go(gofer::named("client"), [&, i] {
      std::mt19937 rng(static_cast<unsigned>(1000 * rep + i));
      for (int n = 0; n < ops / g; ++n) get(i, draw(rng, keys));
      wg.done();
    });
  wg.wait();
  return (ops / g * g) / std::chrono::duration<double>(clk::now() - t0).count();
}

struct sample {
  double ops_per_s, hit_rate;
};
struct cell {
  std::string impl, workload;
  int goroutines;
  std::vector<sample> samples;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
std::string si(double x) {
  char b[32];
  if (x >= 1e6) std::snprintf(b, sizeof b, "%.2f M", x / 1e6);
  else if (x >= 1e3) std::snprintf(b, sizeof b, "%.1f k", x / 1e3);
  else std::snprintf(b, sizeof b, "%.0f", x);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  int keys = 1000, ops = 4000, capacity = 250, shards = 16, reps = 5, threads = 2;
  long delay_us = 200;
  bool no_memcached = false;
  std::string json_file;
  CLI::App app{"the concurrent LRU cache (one mutex, sharded, single-flight) against memcached", "lru_bench"};
  app.add_option("--keys", keys, "distinct keys")->capture_default_str()->check(CLI::Range(1, 10'000'000));
  app.add_option("--ops", ops, "reads per cold run (warm runs: x 250)")->capture_default_str()->check(CLI::Range(8, 100'000'000));
  app.add_option("--capacity", capacity, "entries of the cold cache")->capture_default_str()->check(CLI::Range(1, 10'000'000));
  app.add_option("--shards", shards, "shards of the sharded cache")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--delay-us", delay_us, "the database's answer time")->capture_default_str()->check(CLI::Range(0, 1'000'000));
  app.add_option("--reps", reps, "repetitions per cell (median and range)")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--threads", threads, "gofer scheduler threads")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_flag("--no-memcached", no_memcached, "leave memcached out (no server needed)");
  app.add_option("--json", json_file, "write every sample to this file");
  if (int rc = gofer_demo::parse_flags(app, argc, argv); rc >= 0) return rc;

  const std::vector<int> goroutines{1, 2, 4, 8};
  std::vector<cell> cells;
  int status = gofer::run(
      [&] {
        database db{std::chrono::microseconds(delay_us)};
        std::unique_ptr<gofer_demo::server> mc;
        if (!no_memcached) mc = std::make_unique<gofer_demo::server>(gofer_demo::server::start(gofer_demo::memcached_spec()));
        for (int g : goroutines) {
          cell mutex_cold{"one mutex", "cold", g, {}}, sharded_cold{"sharded (" + std::to_string(shards) + ")", "cold", g, {}};
          cell mutex_warm{"one mutex", "warm", g, {}}, sharded_warm{"sharded (" + std::to_string(shards) + ")", "warm", g, {}};
          cell memc{"memcached", "cold", g, {}};
          for (int rep = 0; rep < reps; ++rep) {
            // Cold: single-flight in front of the database, a fresh cache each time.
            auto cold = [&](auto& c) {
              lru::single_flight<int, std::string> sf;
              double o = run_goroutines(keys, ops, g, rep, [&](int, int key) {
                lru::get_or_load(c, sf, key, [&](int k) { return db.load(k); });
              });
              return sample{o, c.stats().hit_rate()};
            };
            auto warm = [&](auto& c) {
              for (int k = 0; k < keys; ++k) c.put(k, "v");
              double o = run_goroutines(keys, ops * 250, g, rep, [&](int, int key) { (void)c.get(key); });
              return sample{o, c.stats().hit_rate()};
            };
            { lru::cache<int, std::string> c(capacity, 60s); mutex_cold.samples.push_back(cold(c)); }
            { lru::sharded<int, std::string> c(capacity, shards, 60s); sharded_cold.samples.push_back(cold(c)); }
            { lru::cache<int, std::string> c(keys, 60s); mutex_warm.samples.push_back(warm(c)); }
            { lru::sharded<int, std::string> c(keys * 2, shards, 60s); sharded_warm.samples.push_back(warm(c)); }
            if (mc) {
              std::vector<std::unique_ptr<mc_client>> clients;
              for (int i = 0; i < g; ++i) clients.push_back(std::make_unique<mc_client>(mc->port()));
              std::atomic<long> hits{0};
              std::string prefix = "g" + std::to_string(g) + "r" + std::to_string(rep) + ":";  // cold each time
              double o = run_goroutines(keys, ops, g, rep, [&](int i, int key) {
                std::string k = prefix + std::to_string(key);
                if (clients[static_cast<std::size_t>(i)]->get(k)) hits.fetch_add(1);
                else clients[static_cast<std::size_t>(i)]->set(k, db.load(key), 60);
              });
              memc.samples.push_back({o, double(hits.load()) / double(ops / g * g)});
            }
          }
          for (cell* c : {&mutex_cold, &sharded_cold, &memc, &mutex_warm, &sharded_warm})
            if (!c->samples.empty()) cells.push_back(std::move(*c));
        }
      },
      {.threads = threads});
  if (status != 0) return status;

  // Cold first, then warm; one mutex, sharded, memcached; by goroutines.
  auto rank = [](const cell& c) {
    int impl = c.impl == "one mutex" ? 0 : c.impl == "memcached" ? 2 : 1;
    return std::tuple(c.workload == "warm", impl, c.goroutines);
  };
  std::stable_sort(cells.begin(), cells.end(), [&](const cell& a, const cell& b) { return rank(a) < rank(b); });
  std::printf("%d keys (skewed), cold cache %d entries, database %ld us, %d reads per cold run (warm: %d), "
              "%d scheduler threads, %d repetitions: median (min-max)\n\n",
              keys, capacity, delay_us, ops, ops * 250, threads, reps);
  std::printf("| workload | cache | goroutines | ops/s median | ops/s range | hit rate |\n");
  std::printf("|---|---|---:|---:|---:|---:|\n");
  nlohmann::json out = nlohmann::json::array();
  for (auto& c : cells) {
    std::vector<double> o, h;
    for (auto& s : c.samples) {
      o.push_back(s.ops_per_s);
      h.push_back(s.hit_rate);
      out.push_back({{"workload", c.workload}, {"impl", c.impl}, {"goroutines", c.goroutines},
                     {"threads", threads}, {"ops_per_s", s.ops_per_s}, {"hit_rate", s.hit_rate}});
    }
    std::printf("| %s | %s | %d | %s | %s – %s | %.1f%% |\n", c.workload.c_str(), c.impl.c_str(), c.goroutines,
                si(median(o)).c_str(), si(*std::min_element(o.begin(), o.end())).c_str(),
                si(*std::max_element(o.begin(), o.end())).c_str(), 100 * median(h));
  }
  if (!json_file.empty()) std::ofstream(json_file) << out.dump(1) << "\n";
  return 0;
}
