// memcached — a distributed lock on real memcached servers (book, chapter 4: "Distributed Go",
// "Atomic consistency / mutual exclusion", "Using memcached").
// The demo starts two private memcached instances and two worker processes (itself, with
// --worker); goroutines in both processes increment one counter key. Without a lock, two
// clients read the same value and both write value+1: updates are lost (watch how many).
// With a lease (`add` of a lock key with a TTL: only one client's add succeeds) or with
// `cas` (write only if nobody wrote since my read) none are. Keys are spread over the
// instances by consistent hashing. Last, one instance is killed mid-run: everything it held
// is gone, because memcached is a cache, not a store (the book's point).
//
// The client is libmemcached (Debian: libmemcached-dev). Its calls block the calling thread
// (it waits with poll() inside and exposes no readiness hook a poller could use), so every
// call goes through gofer::blocking: the goroutine parks, its thread runs other goroutines.

#include <libmemcached-1.0/memcached.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>  // gofer::blocking

#include "demo_flags.hpp"
#include "server.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kCounter = "counter";
const std::string kLock = "lock:counter";
constexpr time_t kLeaseTtl = 5;  // seconds (memcached's TTL unit): a lease outlives a crashed holder by this much

// ---- a small RAII client: one memcached_st per goroutine (libmemcached's handle is not
// thread-safe), every network call through gofer::blocking ---------------------------------

class mc_client {
 public:
  explicit mc_client(const std::vector<int>& ports) : m_(memcached_create(nullptr), &memcached_free) {
    if (!m_) throw std::runtime_error("memcached_create failed");
    // Consistent hashing: libmemcached's ketama places each server at many points on a
    // ring and a key on the next server clockwise, so adding or losing a server moves only
    // that server's share of the keys.
    memcached_behavior_set(m_.get(), MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
    memcached_behavior_set(m_.get(), MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
    memcached_behavior_set(m_.get(), MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_behavior_set(m_.get(), MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 1000);  // ms
    memcached_behavior_set(m_.get(), MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 1000);     // ms
    for (int port : ports) memcached_server_add(m_.get(), "127.0.0.1", static_cast<in_port_t>(port));
  }

  // Which instance (its port) a key lives on. Computes the hash only: no I/O.
  int port_of(const std::string& key) {
    memcached_return_t rc;
    const memcached_instance_st* s = memcached_server_by_key(m_.get(), key.data(), key.size(), &rc);
    return s ? memcached_server_port(s) : 0;
  }

  memcached_return_t get(const std::string& key, long& value) {
    return gofer::blocking([&] {
      size_t len = 0;
      uint32_t flags = 0;
      memcached_return_t rc;
      std::unique_ptr<char, decltype(&std::free)> v(memcached_get(m_.get(), key.data(), key.size(), &len, &flags, &rc),
                                                    &std::free);
      if (rc == MEMCACHED_SUCCESS) value = std::stol(std::string(v.get(), len));
      return rc;
    });
  }

  // gets: the value and its cas token (a version number the server bumps on every write).
  memcached_return_t gets(const std::string& key, long& value, uint64_t& cas) {
    return gofer::blocking([&] {
      const char* keys[] = {key.c_str()};
      size_t lens[] = {key.size()};
      memcached_return_t rc = memcached_mget(m_.get(), keys, lens, 1);
      if (rc != MEMCACHED_SUCCESS) return rc;
      bool found = false;
      while (memcached_result_st* r = memcached_fetch_result(m_.get(), nullptr, &rc)) {
        value = std::stol(std::string(memcached_result_value(r), memcached_result_length(r)));
        cas = memcached_result_cas(r);
        found = true;
        memcached_result_free(r);
      }
      if (rc == MEMCACHED_END || rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND)
        return found ? MEMCACHED_SUCCESS : MEMCACHED_NOTFOUND;
      return rc;
    });
  }

  memcached_return_t set(const std::string& key, long value, time_t ttl = 0) {
    std::string v = std::to_string(value);
    return gofer::blocking([&] { return memcached_set(m_.get(), key.data(), key.size(), v.data(), v.size(), ttl, 0); });
  }
  // add: store only if the key does not exist (NOTSTORED otherwise) — atomic on the server.
  memcached_return_t add(const std::string& key, const std::string& v, time_t ttl) {
    return gofer::blocking([&] { return memcached_add(m_.get(), key.data(), key.size(), v.data(), v.size(), ttl, 0); });
  }
  // cas: store only if the key's cas token is still `cas` (DATA_EXISTS otherwise).
  memcached_return_t cas(const std::string& key, long value, uint64_t cas) {
    std::string v = std::to_string(value);
    return gofer::blocking(
        [&] { return memcached_cas(m_.get(), key.data(), key.size(), v.data(), v.size(), 0, 0, cas); });
  }
  memcached_return_t del(const std::string& key) {
    return gofer::blocking([&] { return memcached_delete(m_.get(), key.data(), key.size(), 0); });
  }

  std::string error(memcached_return_t rc) const { return memcached_strerror(m_.get(), rc); }

 private:
  std::unique_ptr<memcached_st, decltype(&memcached_free)> m_;  // the C handle, freed by RAII
};

// ---- the worker process: G goroutines, each incrementing the counter K times ------------

enum class mode { none, lease, cas };

struct tally {
  long increments = 0, retries = 0, errors = 0;
  std::string first_error;
};

// One increment, done the `m` way. Returns false (and records why) on a server error.
bool increment(mc_client& mc, mode m, const std::string& owner, tally& t, std::mt19937& rng) {
  memcached_return_t rc;
  auto fail = [&](memcached_return_t r) {
    ++t.errors;
    if (t.first_error.empty()) t.first_error = mc.error(r);
    return false;
  };
  switch (m) {
    case mode::none: {  // read, add one, write: another client may write in between
      long v = 0;
      if ((rc = mc.get(kCounter, v)) != MEMCACHED_SUCCESS) return fail(rc);
      if ((rc = mc.set(kCounter, v + 1)) != MEMCACHED_SUCCESS) return fail(rc);
      break;
    }
    case mode::lease: {
      // Take the lease: `add` succeeds for exactly one client while the key exists. The
      // TTL frees it if the holder dies; a holder must finish well within it (or a second
      // client gets the lease while the first still works: a lease is not a lock).
      while ((rc = mc.add(kLock, owner, kLeaseTtl)) == MEMCACHED_NOTSTORED) {
        ++t.retries;
        gofer::sleep(std::chrono::microseconds(50 + rng() % 200));  // back off, then try again
      }
      if (rc != MEMCACHED_SUCCESS) return fail(rc);
      long v = 0;
      bool ok = (rc = mc.get(kCounter, v)) == MEMCACHED_SUCCESS && (rc = mc.set(kCounter, v + 1)) == MEMCACHED_SUCCESS;
      memcached_return_t released = mc.del(kLock);  // give the lease back
      if (!ok) return fail(rc);
      if (released != MEMCACHED_SUCCESS) return fail(released);
      break;
    }
    case mode::cas: {  // optimistic: write only if nobody wrote since my read, else retry
      for (;;) {
        long v = 0;
        uint64_t token = 0;
        if ((rc = mc.gets(kCounter, v, token)) != MEMCACHED_SUCCESS) return fail(rc);
        rc = mc.cas(kCounter, v + 1, token);
        if (rc == MEMCACHED_SUCCESS) break;
        if (rc != MEMCACHED_DATA_EXISTS) return fail(rc);
        ++t.retries;
      }
      break;
    }
  }
  ++t.increments;
  return true;
}

int worker(int id, mode m, const std::vector<int>& ports, int goroutines, long increments) {
  std::vector<tally> tallies(goroutines);
  int status = gofer::run([&] {
    gofer::wait_group wg;
    wg.add(goroutines);
    for (int g = 0; g < goroutines; ++g) {
      gofer::go(gofer::named("incrementer-" + std::to_string(g)), [&, g] {
        mc_client mc(ports);
        std::mt19937 rng(id * 1000 + g);
        std::string owner = "worker" + std::to_string(id) + "/g" + std::to_string(g);
        for (long i = 0; i < increments; ++i) {
          if (!increment(mc, m, owner, tallies[g], rng)) break;  // the server went away: stop
        }
        wg.done();
      });
    }
    wg.wait();
  });
  tally sum;
  for (const tally& t : tallies) {
    sum.increments += t.increments;
    sum.retries += t.retries;
    sum.errors += t.errors;
    if (sum.first_error.empty()) sum.first_error = t.first_error;
  }
  // One line, read back by the coordinator (the format is parsed there).
  std::printf("worker %d (pid %d): %ld increments, %ld retries, %ld errors%s%s\n", id, ::getpid(), sum.increments,
              sum.retries, sum.errors, sum.errors ? ": " : "", sum.first_error.c_str());
  return status;
}

// ---- the coordinator -------------------------------------------------------------------

struct settings {
  int instances = 2, processes = 2, goroutines = 4;
  long increments = 250;
};

std::string join_ports(const std::vector<int>& ports) {
  std::string s;
  for (int p : ports) s += (s.empty() ? "" : ",") + std::to_string(p);
  return s;
}

// Runs the worker processes (this program with --worker) and waits for them; returns the
// increments they report. Their output goes to files in `dir`, echoed indented.
long run_workers(const settings& s, mode m, const std::vector<int>& ports, const fs::path& dir, long increments,
                 const std::function<void()>& meanwhile = {}) {
  static const char* names[] = {"none", "lease", "cas"};
  static int run = 0;  // one set of output files per run
  ++run;
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<gofer_demo::process> procs;
  std::vector<fs::path> outs;
  for (int w = 1; w <= s.processes; ++w) {
    outs.push_back(dir / ("run" + std::to_string(run) + "-worker" + std::to_string(w) + ".out"));
    procs.push_back(gofer_demo::process::spawn(
        {self, "--worker", std::to_string(w), "--mode", names[int(m)], "--servers", join_ports(ports), "--goroutines",
         std::to_string(s.goroutines), "--increments", std::to_string(increments)},
        outs.back()));
  }
  if (meanwhile) meanwhile();
  long total = 0;
  for (std::size_t w = 0; w < procs.size(); ++w) {
    int status = procs[w].wait();
    std::string text = gofer::blocking([&] {
      std::ifstream in(outs[w]);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    });
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      std::printf("   %s\n", line.c_str());
      long n = 0;
      if (std::sscanf(line.c_str(), "worker %*d (pid %*d): %ld increments", &n) == 1) total += n;
    }
    if (status != 0) throw std::runtime_error("worker " + std::to_string(w + 1) + " exited with status " + std::to_string(status));
  }
  return total;
}

int main(int argc, char** argv) {
  settings s;
  int worker_id = 0;
  std::string mode_name = "none", servers;
  CLI::App app{"a distributed lock on real memcached: lost updates without a lock, none with add-lease or cas",
               "memcached"};
  app.add_option("--instances", s.instances, "memcached instances to start")->capture_default_str()->check(CLI::Range(2, 4));
  app.add_option("--processes", s.processes, "worker processes")->capture_default_str()->check(CLI::Range(2, 8));
  app.add_option("--goroutines", s.goroutines, "goroutines per worker process")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--increments", s.increments, "increments per goroutine")
      ->capture_default_str()
      ->check(CLI::Range(1L, 100000L));
  auto* w = app.add_option("--worker", worker_id, "(internal) run as worker process N")->group("internal");
  app.add_option("--mode", mode_name, "(internal) the worker's way: none, lease or cas")
      ->check(CLI::IsMember({"none", "lease", "cas"}))
      ->group("internal");
  app.add_option("--servers", servers, "(internal) the instances' ports, comma-separated")->group("internal");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  // The worker role: the coordinator below starts this program again with --worker.
  if (*w) {
    std::vector<int> ports;
    std::stringstream ss(servers);
    for (std::string p; std::getline(ss, p, ',');) ports.push_back(std::stoi(p));
    mode m = mode_name == "lease" ? mode::lease : mode_name == "cas" ? mode::cas : mode::none;
    return worker(worker_id, m, ports, s.goroutines, s.increments);
  }

  const long expected = s.processes * s.goroutines * s.increments;
  long lost_unlocked = -1, lost_lease = -1, lost_cas = -1;
  std::size_t keys_lost = 0, keys_total = 0;
  bool failed = false;
  int status = gofer::run([&] {
   try {
    // Start the private instances (free loopback ports, temp dirs; stopped at scope exit,
    // on Ctrl-C and if this process dies: chapters/common/server.hpp).
    std::vector<gofer_demo::server> mcs;
    std::vector<int> ports;
    for (int i = 0; i < s.instances; ++i) {
      mcs.push_back(gofer_demo::server::start(gofer_demo::memcached_spec()));
      ports.push_back(mcs.back().port());
    }
    std::printf("started %d private memcached instances:", s.instances);
    for (auto& mc : mcs) std::printf(" %s (pid %d)", mc.addr().c_str(), mc.pid());
    std::puts("");
    fs::path dir = mcs.front().dir();  // the workers' output files live here, removed with it

    mc_client admin(ports);
    std::printf("consistent hashing (ketama) puts \"%s\" on :%d and \"%s\" on :%d\n", kCounter.c_str(),
                admin.port_of(kCounter), kLock.c_str(), admin.port_of(kLock));
    std::printf("%d processes x %d goroutines x %ld increments = %ld increments of \"%s\" per run\n", s.processes,
                s.goroutines, s.increments, expected, kCounter.c_str());

    // Each way: reset the counter, run the workers, read what the counter says.
    auto phase = [&](mode m) {
      admin.del(kLock);
      if (memcached_return_t rc = admin.set(kCounter, 0); rc != MEMCACHED_SUCCESS)
        throw std::runtime_error("set counter: " + admin.error(rc));
      long done = run_workers(s, m, ports, dir, s.increments);
      long got = -1;
      if (memcached_return_t rc = admin.get(kCounter, got); rc != MEMCACHED_SUCCESS)
        throw std::runtime_error("get counter: " + admin.error(rc));
      std::printf("   counter = %ld after %ld increments: %ld lost\n", got, done, done - got);
      return done - got;
    };

    // 1. No lock. (Should a run lose nothing — rare with these sizes — it runs again.)
    std::puts("1. no lock: get, add 1, set");
    for (int round = 1; round <= 3 && lost_unlocked <= 0; ++round) lost_unlocked = phase(mode::none);
    std::puts("   each time two clients read the same value, both wrote value+1: one increment vanished");

    // 2. A lease: add the lock key (only one add succeeds), get, set, delete the lock key.
    std::printf("2. a lease: add \"%s\" with a %ld s TTL (NOTSTORED while another holds it), get, set, delete\n",
                kLock.c_str(), static_cast<long>(kLeaseTtl));
    lost_lease = phase(mode::lease);

    // 3. cas: gets (value and cas token), cas(value+1, token): refused if anyone wrote since.
    std::puts("3. cas: gets value and token, cas(value+1, token), retry when another write came first");
    lost_cas = phase(mode::cas);

    // 4. Volatility. Store items all over the ring, run the cas workers again, and kill -9
    // the instance holding the counter in the middle of the run.
    const int items = 1000;
    std::map<int, int> per_port;
    for (int i = 0; i < items; ++i) {
      std::string key = "item:" + std::to_string(i);
      if (memcached_return_t rc = admin.set(key, i); rc != MEMCACHED_SUCCESS)
        throw std::runtime_error("set " + key + ": " + admin.error(rc));
      ++per_port[admin.port_of(key)];
    }
    std::printf("4. a crash: %d items spread by the ring:", items);
    for (auto [port, n] : per_port) std::printf(" %d on :%d", n, port);
    std::puts("");
    admin.set(kCounter, 0);
    int victim_port = admin.port_of(kCounter);
    auto victim = std::find_if(mcs.begin(), mcs.end(), [&](auto& mc) { return mc.port() == victim_port; });
    long seen = 0;
    run_workers(s, mode::cas, ports, dir, 100000, [&] {
      // Let the workers get going, then crash the counter's instance (bounded wait).
      for (auto until = std::chrono::steady_clock::now() + 10s;
           seen < expected / 4 && std::chrono::steady_clock::now() < until;) {
        gofer::sleep(5ms);
        admin.get(kCounter, seen);
      }
      victim->kill();
      std::printf("   kill -9 %s (pid %d) at counter = %ld; the workers stop at their next call to it:\n",
                  victim->addr().c_str(), victim->pid(), seen);
    });
    // What is left: every key that lived on the dead instance is gone, the rest survive.
    long counter = 0;
    memcached_return_t rc = admin.get(kCounter, counter);
    std::printf("   \"%s\": %s\n", kCounter.c_str(), rc == MEMCACHED_SUCCESS ? "still there?!" : admin.error(rc).c_str());
    std::size_t survived = 0;
    for (int i = 0; i < items; ++i) {
      long v;
      if (admin.get("item:" + std::to_string(i), v) == MEMCACHED_SUCCESS && v == i) ++survived;
    }
    keys_total = items + 1;
    keys_lost = keys_total - survived - (rc == MEMCACHED_SUCCESS ? 1 : 0);
    std::printf("   %zu of %d items survive (those on the live instance), %zu are gone with :%d\n", survived, items,
                items - survived, victim_port);
   } catch (const std::exception& e) {  // no memcached installed, a server error: say so, exit 1
    if (gofer_demo::interrupted()) gofer::sleep(std::chrono::hours(1));  // Ctrl-C: it ends us
    std::fprintf(stderr, "memcached: %s\n", e.what());
    failed = true;
   }
  });
  if (status != 0) return status;
  if (failed) return 1;
  if (lost_lease != 0 || lost_cas != 0) {
    std::printf("FAILED: updates were lost with a lock (lease %ld, cas %ld)\n", lost_lease, lost_cas);
    return 1;
  }
  std::printf(
      "without a lock %ld of %ld increments were lost, with the lease and with cas none were, and a crashed "
      "instance took %zu of %zu keys with it\n",
      lost_unlocked, expected, keys_lost, keys_total);
  return 0;
}
