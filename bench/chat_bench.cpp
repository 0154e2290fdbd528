// chat_bench — fan-out through chapter 5's chat server (chapters/ch05_blocks/chat.hpp):
// messages/s delivered and the delivery latency, at 10 and 1,000 connected users.
//
// BM_chat_fanout/users:N: a private server on 127.0.0.1:0, N reading clients, one sender.
// One iteration = one round of 50 broadcast lines, each stamped with the send time; the
// round ends when every reader has all 50 (the sender then starts the next, as a chat
// user who reads before answering — an unpaced burst would fill the outboxes and get the
// readers dropped, by design). Counters:
//   deliveries/s   lines written to and read by clients, per second of real time
//   p50_us, p99_us delivery latency: sender's write to a reader's parse (µs), all lines
//   users          N
// Real time is measured (UseRealTime): the work is spread over every scheduler thread.
// 10,000 users need 20,000+ descriptors in one process (server and clients): past this
// machine's limit, so they are measured in two processes instead (chapters/ch05_blocks/README.md).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>

#include "chat.hpp"

namespace {

using steady = std::chrono::steady_clock;
constexpr int kRound = 50;

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

void BM_chat_fanout(benchmark::State& state) {
  raise_fd_limit();
  const int users = static_cast<int>(state.range(0));
  long deliveries = 0;
  std::vector<double> latency_us;
  bool failed = false;
  gofer::run([&] {
    chat::server srv;
    auto ln = gofer::net::listen("127.0.0.1:0").value();
    std::string addr = ln.addr();
    gofer::chan<absl::Status> served(1);
    gofer::go([&srv, served, l = std::move(ln)]() mutable { served.send(srv.serve(std::move(l))); });

    // Readers: each parses "sender: <ns>" lines, records the latency, and reports the end
    // of every round on `round_done`.
    gofer::chan<int> round_done(static_cast<std::size_t>(users));
    std::vector<std::vector<double>> lat(static_cast<std::size_t>(users));
    std::vector<std::shared_ptr<gofer::net::conn>> conns;
    gofer::wait_group joined, readers;
    for (int i = 0; i < users; ++i) {
      auto c = std::make_shared<gofer::net::conn>(gofer::net::dial(addr).value());
      conns.push_back(c);
      joined.add(1);
      readers.add(1);
      gofer::go([c, i, &lat, &joined, &readers, round_done] {
        chat::line_reader in(*c, 4096);
        (void)c->write("r" + std::to_string(i) + "\n");
        std::string l;
        in.next(l);  // welcome
        joined.done();
        int in_round = 0;
        while (in.next(l) == chat::line_reader::status::ok) {
          if (l.rfind("sender: ", 0) != 0) continue;
          auto sent = steady::time_point(steady::duration(std::stoll(l.substr(8))));
          lat[static_cast<std::size_t>(i)].push_back(std::chrono::duration<double, std::micro>(steady::now() - sent).count());
          if (++in_round == kRound) {
            in_round = 0;
            round_done.send(1);
          }
        }
        readers.done();
      });
    }
    joined.wait();
    auto sender = gofer::net::dial(addr).value();
    (void)sender.write("sender\n");
    chat::line_reader sin(sender, 4096);
    std::string welcome;
    sin.next(welcome);

    std::string batch;
    for (auto _ : state) {
      batch.clear();
      for (int k = 0; k < kRound; ++k)
        batch += std::to_string(steady::now().time_since_epoch().count()) + "\n";
      if (!sender.write(batch).ok()) failed = true;
      for (int u = 0; u < users; ++u) round_done.recv();
      deliveries += static_cast<long>(kRound) * users;
    }
    if (srv.stats().dropped.load() != 0) failed = true;
    (void)sender.close();
    for (auto& c : conns) (void)c->close();
    readers.wait();
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), std::chrono::seconds(5));
    (void)srv.shutdown(ctx);
    cancel();
    served.recv();
    for (auto& v : lat) latency_us.insert(latency_us.end(), v.begin(), v.end());
  });
  if (failed) state.SkipWithError("a write failed or a reader was dropped");
  state.counters["users"] = users;
  state.counters["deliveries/s"] = benchmark::Counter(static_cast<double>(deliveries), benchmark::Counter::kIsRate);
  state.counters["p50_us"] = percentile(latency_us, 0.50);
  state.counters["p99_us"] = percentile(latency_us, 0.99);
}

}  // namespace

BENCHMARK(BM_chat_fanout)->ArgName("users")->Arg(10)->Arg(1000)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
