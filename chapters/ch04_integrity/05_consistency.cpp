// consistency — the chapter's consistency models, small and runnable (book, chapter 4: "Some
// common consistency models": producer-consumer, leader-follower, FIFO/PRAM, a total order).
// Each model prints what a reader can observe and checks the model's invariant:
//   producer-consumer  every item put into a bounded channel is taken exactly once; and the
//                      channel is a counting semaphore: at most `capacity` holders at once;
//   leader-follower    one leader broadcasts numbered updates; every follower applies all of
//                      them, in the leader's order, and they end in the same state;
//   FIFO / PRAM        two writers send to each reader directly: each reader sees every
//                      writer's writes in that writer's order, but readers may disagree on
//                      how the two writers interleave;
//   total order        the same writes through one sequencer goroutine: every reader sees
//                      the same sequence.
// Watch the last two: same writes, and only the sequencer makes the readers agree.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;

struct settings {
  int items = 200, capacity = 4, producers = 4, consumers = 4;
  int followers = 4, updates = 50;
  int readers = 4, writes = 20;
  unsigned threads = 0;
};

// ---- producer-consumer ------------------------------------------------------------------

// Producers send numbered items into a bounded channel, consumers take them: every item must
// arrive exactly once, whoever takes it. Returns whether it did.
bool producer_consumer(const settings& s) {
  gofer::chan<int> items(s.capacity);
  std::vector<int> got(s.items, 0);  // each consumer writes only through `mu`
  gofer::mutex mu;
  gofer::wait_group producers, consumers;
  producers.add(s.producers);
  consumers.add(s.consumers);
  for (int p = 0; p < s.producers; ++p) {
    gofer::go(gofer::named("producer"), [&, p, items] {
      for (int i = p; i < s.items; i += s.producers) items.send(i);  // waits while the buffer is full
      producers.done();
    });
  }
  for (int c = 0; c < s.consumers; ++c) {
    gofer::go(gofer::named("consumer"), [&, items] {
      for (int i : items) {
        std::lock_guard lk(mu);
        ++got[i];
      }
      consumers.done();
    });
  }
  producers.wait();
  items.close();  // one closer, after the last send
  consumers.wait();
  return std::all_of(got.begin(), got.end(), [](int n) { return n == 1; });
}

// The same bounded channel as a counting semaphore: a send takes one of `capacity` slots
// (waiting while none is free), a receive gives one back. Many workers, at most `capacity`
// of them inside at once. Returns the most that ever were.
int semaphore(const settings& s, int workers) {
  gofer::chan<std::monostate> slots(s.capacity);
  std::atomic<int> inside{0}, most{0};
  gofer::wait_group wg;
  wg.add(workers);
  for (int w = 0; w < workers; ++w) {
    gofer::go(gofer::named("worker"), [&, slots] {
      slots.send({});  // acquire
      int now = inside.fetch_add(1) + 1;
      for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
      }
      gofer::sleep(200us);  // the work
      inside.fetch_sub(1);
      (void)slots.recv();  // release
      wg.done();
    });
  }
  wg.wait();
  return most.load();
}

// ---- leader-follower ----------------------------------------------------------------------

// The leader sends update k (k = 1..n) to every follower's own channel, in order; a follower
// applies what it receives to its state (here: a running hash) and records the order.
bool leader_follower(const settings& s, std::string& state) {
  std::vector<gofer::chan<int>> inbox;
  for (int f = 0; f < s.followers; ++f) inbox.emplace_back(8);
  std::vector<std::vector<int>> applied(s.followers);
  std::vector<unsigned long> hash(s.followers, 1469598103934665603ul);
  gofer::wait_group wg;
  wg.add(s.followers);
  for (int f = 0; f < s.followers; ++f) {
    gofer::go(gofer::named("follower-" + std::to_string(f)), [&, f] {
      for (int k : inbox[f]) {
        applied[f].push_back(k);
        hash[f] = (hash[f] ^ static_cast<unsigned long>(k)) * 1099511628211ul;
      }
      wg.done();
    });
  }
  gofer::go(gofer::named("leader"), [&] {
    for (int k = 1; k <= s.updates; ++k)
      for (auto& ch : inbox) ch.send(k);
    for (auto& ch : inbox) ch.close();
  });
  wg.wait();
  bool ok = true;
  for (int f = 0; f < s.followers; ++f) {
    std::vector<int> want(s.updates);
    for (int k = 0; k < s.updates; ++k) want[k] = k + 1;
    ok = ok && applied[f] == want && hash[f] == hash[0];
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016lx", hash[0]);
  state = buf;
  return ok;
}

// ---- FIFO/PRAM vs a total order -----------------------------------------------------------

// Writers "A" and "B" each make writes A1, A2, ... and B1, B2, .... Returns what each reader
// saw, in order.
using history = std::vector<std::string>;

// PRAM: each writer sends each write to every reader's channel itself, with its own small
// delays: every channel keeps one writer's order, nothing orders A's writes against B's.
std::vector<history> pram(const settings& s, unsigned seed) {
  std::vector<gofer::chan<std::string>> to_reader;
  for (int r = 0; r < s.readers; ++r) to_reader.emplace_back(2 * s.writes);
  std::vector<history> seen(s.readers);
  gofer::wait_group writers, readers;
  writers.add(2);
  readers.add(s.readers);
  for (int r = 0; r < s.readers; ++r) {
    gofer::go(gofer::named("reader-" + std::to_string(r)), [&, r] {
      for (std::string w : to_reader[r]) seen[r].push_back(w);
      readers.done();
    });
  }
  for (char writer : {'A', 'B'}) {
    gofer::go(gofer::named(std::string("writer-") + writer), [&, writer] {
      std::mt19937 rng(seed + writer);
      for (int i = 1; i <= s.writes; ++i) {
        std::string w = writer + std::to_string(i);
        // One write goes to the readers one by one (a network sends it to each replica);
        // the writer may be delayed between any two of them.
        for (auto& ch : to_reader) {
          ch.send(w);
          if (rng() % 3 == 0) gofer::sleep(std::chrono::microseconds(rng() % 200));
        }
      }
      writers.done();
    });
  }
  writers.wait();
  for (auto& ch : to_reader) ch.close();
  readers.wait();
  return seen;
}

// A total order: the writers send to one sequencer goroutine, which forwards every write to
// every reader in the one order it received them.
std::vector<history> sequenced(const settings& s, unsigned seed) {
  gofer::chan<std::string> sequencer(8);
  std::vector<gofer::chan<std::string>> to_reader;
  for (int r = 0; r < s.readers; ++r) to_reader.emplace_back(2 * s.writes);
  std::vector<history> seen(s.readers);
  gofer::wait_group writers, readers;
  writers.add(2);
  readers.add(s.readers);
  for (int r = 0; r < s.readers; ++r) {
    gofer::go(gofer::named("reader-" + std::to_string(r)), [&, r] {
      for (std::string w : to_reader[r]) seen[r].push_back(w);
      readers.done();
    });
  }
  gofer::go(gofer::named("sequencer"), [&] {
    for (std::string w : sequencer)
      for (auto& ch : to_reader) ch.send(w);
    for (auto& ch : to_reader) ch.close();
  });
  for (char writer : {'A', 'B'}) {
    gofer::go(gofer::named(std::string("writer-") + writer), [&, writer] {
      std::mt19937 rng(seed + writer);
      for (int i = 1; i <= s.writes; ++i) {
        sequencer.send(writer + std::to_string(i));
        if (rng() % 3 == 0) gofer::sleep(std::chrono::microseconds(rng() % 200));
      }
      writers.done();
    });
  }
  writers.wait();
  sequencer.close();
  readers.wait();
  return seen;
}

// PRAM's invariant: in every history, each writer's writes appear in order, all of them.
bool each_writer_in_order(const std::vector<history>& hs, int writes) {
  for (const history& h : hs) {
    std::map<char, int> last;
    for (const std::string& w : h) {
      int n = std::stoi(w.substr(1));
      if (n != last[w[0]] + 1) return false;
      last[w[0]] = n;
    }
    if (last['A'] != writes || last['B'] != writes) return false;
  }
  return true;
}

std::string head(const history& h, std::size_t n = 10) {
  std::string out;
  for (std::size_t i = 0; i < std::min(n, h.size()); ++i) out += h[i] + " ";
  return out + "...";
}

int main(int argc, char** argv) {
  settings s;
  unsigned seed = 1;
  CLI::App app{"consistency models made runnable: producer-consumer, leader-follower, PRAM vs a total order",
               "consistency"};
  app.add_option("--readers", s.readers, "readers (replicas) in the PRAM and total-order runs")
      ->capture_default_str()
      ->check(CLI::Range(2, 64));
  app.add_option("--writes", s.writes, "writes per writer")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--capacity", s.capacity, "the bounded channel's capacity")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--seed", seed, "seed for the writers' delays")->capture_default_str();
  app.add_option("--threads", s.threads, "OS threads (0: one per core)")->capture_default_str()->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  bool pc_ok = false, lf_ok = false, pram_ok = false, total_ok = false;
  int most = 0;
  std::size_t pram_orders = 0;
  int status = gofer::run(
      [&] {
        std::printf("1. producer-consumer: %d producers, %d consumers, a channel of capacity %d between them\n",
                    s.producers, s.consumers, s.capacity);
        bool each_once = producer_consumer(s);
        std::printf("   %d items, each received exactly once: %s\n", s.items, each_once ? "yes" : "NO");
        most = semaphore(s, 32);
        std::printf("   the channel as a semaphore: 32 workers, at most %d inside at once (capacity %d)\n", most,
                    s.capacity);
        pc_ok = each_once && most >= 1 && most <= s.capacity;

        std::printf("2. leader-follower: a leader broadcasts %d numbered updates to %d followers\n", s.updates,
                    s.followers);
        std::string state;
        lf_ok = leader_follower(s, state);
        std::printf("   every follower applied 1..%d in order and ended in state %s: %s\n", s.updates, state.c_str(),
                    lf_ok ? "yes" : "NO");

        std::printf("3. FIFO/PRAM: writers A and B send %d writes each to %d readers directly\n", s.writes, s.readers);
        std::vector<history> p = pram(s, seed);
        for (int r = 0; r < s.readers; ++r) std::printf("   reader %d saw %s\n", r, head(p[r]).c_str());
        pram_ok = each_writer_in_order(p, s.writes);
        pram_orders = std::set<history>(p.begin(), p.end()).size();
        std::printf("   each writer's order kept for every reader: %s; %zu different interleavings among %d readers\n",
                    pram_ok ? "yes" : "NO", pram_orders, s.readers);

        std::puts("4. a total order: the same writes through one sequencer goroutine");
        std::vector<history> t = sequenced(s, seed);
        for (int r = 0; r < s.readers; ++r) std::printf("   reader %d saw %s\n", r, head(t[r]).c_str());
        std::size_t orders = std::set<history>(t.begin(), t.end()).size();
        total_ok = each_writer_in_order(t, s.writes) && orders == 1;
        std::printf("   every reader saw the same sequence: %s\n", orders == 1 ? "yes" : "NO");
      },
      gofer::options{.threads = s.threads});
  if (status != 0) return status;
  if (!pc_ok || !lf_ok || !pram_ok || !total_ok) {
    std::puts("FAILED: an invariant did not hold");
    return 1;
  }
  std::printf(
      "the semaphore let at most %d in at once, %d followers applied all %d updates in order, PRAM kept each "
      "writer's order (%zu different interleavings), the sequencer gave one total order\n",
      most, s.followers, s.updates, pram_orders);
  return 0;
}
