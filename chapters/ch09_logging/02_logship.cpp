// logship — log shipping: client goroutines send JSON lines over TCP to a collector that
// writes one central, rotated file (spdlog's rotating_file_sink) and a Redis stream (XADD),
// and the collector crashes and restarts in the middle of the run (book, chapter 9: the log
// server that reads from many clients).
//
// The book's log server prints byte counts and spins after EOF; this one frames lines (a read
// may hold several lines, or end mid-line), acknowledges what it has written, and survives
// its clients disconnecting. Each client keeps the lines not yet acknowledged in a bounded
// buffer; when the collector is gone it reconnects with exponential back-off, and when the
// buffer is full it drops the new line and counts it. On reconnect the collector tells the
// client the last line id it has ("resume"), so nothing is written twice; Redis gets each
// line under its line id, so it stores a line sent again only once. With --process the
// collector is a child process and the crash is a SIGKILL. Watch the last line: every line
// id is in the central file exactly once, or counted as dropped.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>

#include "demo_flags.hpp"
#include "server.hpp"

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// ---- framing: JSON lines over a byte stream ------------------------------------------------
// A read returns whatever bytes have arrived: several lines, or a line cut anywhere. The
// reader keeps the unfinished tail for the next read (the book's server printed byte counts).
class line_reader {
 public:
  explicit line_reader(gofer::net::conn& c) : c_(c) {}
  // The complete lines of the next read (waiting for more bytes while there is none);
  // nullopt at EOF or on an error. `partial` is set when the read ended mid-line.
  std::optional<std::vector<std::string>> next(bool* partial = nullptr) {
    std::vector<std::string> lines;
    while (lines.empty()) {
      char tmp[4096];
      auto n = c_.read(tmp, sizeof tmp);
      if (!n.ok()) return std::nullopt;  // EOF (an unfinished tail is discarded) or error
      buf_.append(tmp, *n);
      std::size_t start = 0;
      for (std::size_t nl; (nl = buf_.find('\n', start)) != std::string::npos; start = nl + 1)
        lines.push_back(buf_.substr(start, nl - start));
      buf_.erase(0, start);
      if (partial) *partial = !buf_.empty();
    }
    return lines;
  }
  bool has_tail() const { return !buf_.empty(); }

 private:
  gofer::net::conn& c_;
  std::string buf_;
};

// Every central file: logship.log and its rotated predecessors logship.1.log, logship.2.log...
std::vector<json> read_central(const fs::path& dir) {
  std::vector<json> out;
  if (!fs::exists(dir)) return out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().starts_with("logship.")) files.push_back(e.path());
  for (const fs::path& f : files) {
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
  }
  return out;
}
// A collector killed by SIGKILL may leave the last line half written (spdlog's FILE* buffer
// reached the disk in part): cut the file back to its last complete line before appending.
void cut_torn_line(const fs::path& f) {
  if (!fs::exists(f)) return;
  std::ifstream in(f, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty() || text.back() == '\n') return;
  std::size_t keep = text.rfind('\n');
  fs::resize_file(f, keep == std::string::npos ? 0 : keep + 1);
}
std::size_t count_central_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().starts_with("logship.");
  return n;
}

// ---- the collector ---------------------------------------------------------------------------
struct collector_stats {
  std::atomic<long> written{0}, connections{0}, multi_line_reads{0}, partial_reads{0}, tails_discarded{0};
};

class collector {
 public:
  // Listens on addr (the same port after a restart: SO_REUSEADDR), cuts a torn last line, opens the
  // central file for appending and recovers each client's last line id from it.
  collector(const std::string& addr, const fs::path& dir, int redis_port, collector_stats& stats)
      : dir_(dir), redis_port_(redis_port), stats_(stats) {
    ln_ = gofer::net::listen(addr).value();
    cut_torn_line(dir / "logship.log");
    for (const json& j : read_central(dir)) {
      long& l = last_[j.at("client").get<std::string>()];
      l = std::max(l, j.at("seq").get<long>());
    }
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>((dir / "logship.log").string(), 16 * 1024, 1000);
    file_ = std::make_shared<spdlog::logger>("central", sink);
    file_->set_pattern("%v");  // the JSON line as the client sent it
    running_.add(1);
    gofer::go(gofer::named("collector"), [this] { accept_loop(); });
  }
  std::string addr() const { return ln_.addr(); }

  // A crash: the listener and every connection close at once, lines in flight are lost
  // (never acknowledged, so their clients still hold them).
  void crash() {
    (void)ln_.close();
    {
      std::lock_guard lk(mu_);
      for (auto& c : conns_) (void)c->close();
    }
    running_.wait();
    file_->flush();
  }

 private:
  fs::path dir_;
  int redis_port_;
  collector_stats& stats_;
  gofer::net::listener ln_;
  std::shared_ptr<spdlog::logger> file_;
  gofer::wait_group running_;
  std::mutex mu_;  // guards conns_ and last_; never held across a park
  std::set<std::shared_ptr<gofer::net::conn>> conns_;
  std::map<std::string, long> last_;
  std::map<std::string, std::shared_ptr<gofer::mutex>> client_turn_;

  void accept_loop() {
    for (;;) {
      auto c = ln_.accept();
      if (!c.ok()) break;  // closed: the crash
      auto conn = std::make_shared<gofer::net::conn>(std::move(*c));
      {
        std::lock_guard lk(mu_);
        conns_.insert(conn);
      }
      ++stats_.connections;
      running_.add(1);
      gofer::go(gofer::named("collector-conn"), [this, conn] {
        serve(*conn);
        (void)conn->close();
        {
          std::lock_guard lk(mu_);
          conns_.erase(conn);
        }
        running_.done();  // last: crash() may destroy the collector after this
      });
    }
    running_.done();
  }

  // One client: {"hello":name} → {"resume":last id}, then batches of lines, each batch
  // written to the file and to Redis, flushed, then acknowledged with {"ack":last id}.
  void serve(gofer::net::conn& c) {
    line_reader r(c);
    auto hello = r.next();
    if (!hello) return;
    json h = json::parse(hello->front(), nullptr, false);
    if (h.is_discarded() || !h.contains("hello") || !h["hello"].is_string()) {
      (void)c.write(R"({"error":"expected {\"hello\":name}"})" "\n");
      return;
    }
    std::string client = h["hello"];
    // One connection per client at a time: a client that hung up and reconnected waits here
    // until its old connection has finished its batch, so "resume" is never stale.
    std::shared_ptr<gofer::mutex> turn;
    long last;
    {
      std::lock_guard lk(mu_);
      auto& t = client_turn_[client];
      if (!t) t = std::make_shared<gofer::mutex>();
      turn = t;
    }
    std::lock_guard my_turn(*turn);  // a gofer::mutex: parks the goroutine, not the thread
    {
      std::lock_guard lk(mu_);
      last = last_[client];
    }
    if (!c.write(json{{"resume", last}}.dump() + "\n").ok()) return;

    redisContext* redis = gofer::blocking([&] { return redisConnect("127.0.0.1", redis_port_); });
    std::unique_ptr<redisContext, void (*)(redisContext*)> redis_owner(redis, redisFree);
    if (redis == nullptr || redis->err) return;
    for (;;) {
      bool partial = false;
      auto lines = r.next(&partial);
      if (!lines) {
        if (r.has_tail()) ++stats_.tails_discarded;  // a line cut by the disconnect
        return;
      }
      if (lines->size() > 1) ++stats_.multi_line_reads;
      if (partial) ++stats_.partial_reads;
      std::vector<std::pair<long, std::string>> ok;
      for (std::string& line : *lines) {
        json j = json::parse(line, nullptr, false);
        if (j.is_discarded() || j.value("client", "") != client || !j["seq"].is_number_integer()) continue;  // not ours: skipped
        ok.emplace_back(j["seq"].get<long>(), std::move(line));
      }
      if (ok.empty()) continue;
      // The second sink first: XADD each line to the client's stream logs:<client> with the
      // line id as the entry id (0-<seq>), pipelined, off the scheduler. Redis refuses an id
      // not above the stream's last one, so a line sent again after a crash is stored once.
      gofer::blocking([&] {
        std::string key = "logs:" + client;
        for (const auto& [seq, line] : ok)
          redisAppendCommand(redis, "XADD %s 0-%ld line %b", key.c_str(), seq, line.data(), line.size());
        for (std::size_t i = 0; i < ok.size(); ++i) {
          void* reply = nullptr;
          if (redisGetReply(redis, &reply) == REDIS_OK) freeReplyObject(reply);
        }
      });
      // Then the central file, flushed before the ack: an acknowledged line is never lost.
      for (const auto& [seq, line] : ok) file_->info("{}", line);
      last = ok.back().first;
      file_->flush();
      {
        std::lock_guard lk(mu_);
        last_[client] = last;
      }
      stats_.written += static_cast<long>(ok.size());
      if (!c.write(json{{"ack", last}}.dump() + "\n").ok()) return;
    }
  }

};

// ---- the clients -------------------------------------------------------------------------------
struct client_stats {
  std::string name;
  long sent = 0, acked = 0, dropped = 0, reconnects = 0, retries = 0;
  std::vector<long> dropped_ids;
};

struct client_config {
  int lines, buffer, batch;
  std::chrono::milliseconds pace, backoff_max, give_up;
};

// One client: makes `batch` lines every `pace`, keeps the unacknowledged ones (at most
// `buffer`), sends them when connected, and reconnects with back-off when not.
// `acked_total` counts the lines acknowledged to all clients; the one that crosses
// `crash_at` tells main (the crash comes a third of the way in).
struct progress {
  std::atomic<long> acked_total{0};
  long crash_at;
  gofer::chan<int> crash_point{1};
};

void run_client(int index, const std::string& addr, const client_config& cfg, client_stats& st, progress& prog) {
  st.name = "client-" + std::to_string(index);
  std::deque<std::pair<long, std::string>> pending;
  long next = 1;
  auto produce = [&] {
    for (int i = 0; i < cfg.batch && next <= cfg.lines; ++i, ++next) {
      ++st.sent;
      if (static_cast<int>(pending.size()) >= cfg.buffer) {  // full: drop the new line, count it
        ++st.dropped;
        st.dropped_ids.push_back(next);
        continue;
      }
      json j{{"client", st.name}, {"seq", next}, {"level", "info"}, {"msg", "request " + std::to_string(next) + " served"}};
      pending.emplace_back(next, j.dump() + "\n");
    }
  };
  auto trim = [&](long upto) {
    while (!pending.empty() && pending.front().first <= upto) {
      pending.pop_front();
      ++st.acked;
      if (++prog.acked_total == prog.crash_at) (void)prog.crash_point.try_send(1);
    }
  };

  std::optional<gofer::net::conn> c;
  std::optional<line_reader> r;
  auto backoff = 2ms;
  auto down_since = std::chrono::steady_clock::now();
  long since_connect = 0;
  while (next <= cfg.lines || !pending.empty()) {
    produce();
    if (!c) {
      auto d = gofer::net::dial(addr);
      if (!d.ok()) {
        if (std::chrono::steady_clock::now() - down_since > cfg.give_up) break;  // collector gone for good
        // Back off exponentially, making lines meanwhile (the buffer fills, then drops).
        for (auto slept = 0ms; slept < backoff; slept += cfg.pace) {
          gofer::sleep(cfg.pace);
          produce();
        }
        backoff = std::min(backoff * 2, cfg.backoff_max);
        ++st.retries;
        continue;
      }
      c.emplace(std::move(*d));
      r.emplace(*c);
      auto resume = (c->write(json{{"hello", st.name}}.dump() + "\n").ok()) ? r->next() : std::nullopt;
      if (!resume) {
        r.reset();
        c.reset();
        continue;
      }
      trim(json::parse(resume->front()).value("resume", 0L));
      backoff = 2ms;
      since_connect = 0;
    }
    if (!pending.empty()) {
      // Everything unacknowledged in one buffer, sent in two writes cut mid-line.
      std::string out;
      for (auto& [seq, line] : pending) out += line;
      std::size_t cut = out.size() / 2 + 3;
      bool ok = c->write(out.data(), cut).ok();
      // client-1 sometimes disconnects with half a line sent: the collector drops the tail.
      bool hang_up = index == 1 && ++since_connect % 15 == 0;
      if (ok && !hang_up) {
        gofer::sleep(200us);  // so the collector's read usually ends mid-line
        ok = c->write(out.data() + cut, out.size() - cut).ok();
      }
      // The collector acknowledges after each of its reads, which may have held only part
      // of what was sent: wait until the ack covers the last line sent (sending again before
      // that would write the rest twice).
      long last_sent = pending.back().first, acked_upto = 0;
      while (ok && !hang_up && acked_upto < last_sent) {
        auto ack = r->next();
        if (!ack) {
          ok = false;
          break;
        }
        acked_upto = json::parse(ack->back(), nullptr, false).value("ack", 0L);
        trim(acked_upto);
      }
      if (!ok || hang_up) {  // lost the collector (or hung up): reconnect
        r.reset();
        c.reset();
        ++st.reconnects;
        down_since = std::chrono::steady_clock::now();
        continue;
      }
    }
    gofer::sleep(cfg.pace);
  }
  // Whatever is still unacknowledged when the client gives up is dropped, and counted.
  for (auto& [seq, line] : pending) {
    ++st.dropped;
    st.dropped_ids.push_back(seq);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int clients = 8;
  client_config cfg{150, 40, 2, 4ms, 64ms, 5000ms};
  int outage_ms = 250;
  CLI::App app{"log shipping: clients send JSON lines to a TCP collector (a rotated central file and a Redis stream) that crashes and restarts mid-run", "logship"};
  app.add_option("--clients", clients, "client goroutines")->capture_default_str()->check(CLI::Range(1, 200));
  app.add_option("--lines", cfg.lines, "lines per client")->capture_default_str()->check(CLI::Range(10, 100000));
  app.add_option("--buffer", cfg.buffer, "unacknowledged lines a client keeps")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--outage-ms", outage_ms, "how long the collector stays down")->capture_default_str()->check(CLI::Range(0, 10000));
  bool process = false;
  app.add_flag("--process", process, "run the collector as a child process and crash it with SIGKILL");
  // The child's side of --process (not for users: no help text).
  std::string collect_addr, collect_dir;
  int collect_redis = 0;
  app.add_option("--collect", collect_addr)->group("");
  app.add_option("--dir", collect_dir)->group("");
  app.add_option("--redis-port", collect_redis)->group("");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  if (!collect_addr.empty()) {  // the collector process: serves until it is killed
    gofer::run([&] {
      collector_stats stats;
      collector col(collect_addr, collect_dir, collect_redis, stats);
      std::printf("collector process listening on %s\n", col.addr().c_str());
      std::fflush(stdout);
      gofer::chan<int>(0).recv();  // never: SIGKILL or SIGTERM ends the process
    });
    return 0;
  }

  int status = 0;
  gofer::run([&] {
    // The second sink's datastore: a private redis-server through the shared launcher.
    auto redis = gofer_demo::server::start(gofer_demo::redis_spec());
    fs::path dir = redis.dir() / "central";
    fs::create_directories(dir);

    collector_stats stats;
    long total = static_cast<long>(clients) * cfg.lines;
    progress prog;
    prog.crash_at = total / 3;
    // The collector: in this process (a crash closes its listener and connections), or with
    // --process a child process (a crash is SIGKILL), on a port that stays the same.
    std::string addr = "127.0.0.1:" + std::to_string(gofer_demo::free_port());
    std::unique_ptr<collector> col;
    gofer_demo::process child;
    auto start_collector = [&] {
      if (!process) {
        col = std::make_unique<collector>(addr, dir, redis.port(), stats);
        return;
      }
      child = gofer_demo::process::spawn({fs::read_symlink("/proc/self/exe").string(), "--collect", addr, "--dir",
                                          dir.string(), "--redis-port", std::to_string(redis.port())},
                                         redis.dir() / "collector.out");
      for (;;) {  // ready when it accepts a connection
        if (gofer::net::dial(addr).ok()) return;
        if (!child.running()) throw std::runtime_error("the collector process exited: see " + (redis.dir() / "collector.out").string());
        gofer::sleep(5ms);
      }
    };
    auto crash_collector = [&] {
      if (process) {
        child.kill();
      } else {
        col->crash();
        col.reset();
      }
    };
    start_collector();

    // The clients: one goroutine each.
    std::vector<client_stats> st(static_cast<std::size_t>(clients));
    gofer::wait_group wg;
    wg.add(clients);
    for (int i = 0; i < clients; ++i) {
      gofer::go(gofer::named("client-" + std::to_string(i)), [&, i] {
        run_client(i, addr, cfg, st[static_cast<std::size_t>(i)], prog);
        wg.done();
      });
    }

    // A third of the way in, the collector crashes; it is restarted on the same port later.
    (void)prog.crash_point.recv();
    crash_collector();
    std::printf("collector %s after %ld lines acknowledged; down for %d ms\n", process ? "killed (SIGKILL)" : "crashed",
                prog.crash_at, outage_ms);
    gofer::sleep(std::chrono::milliseconds(outage_ms));
    start_collector();
    std::printf("collector restarted on the same port, resuming from the central file\n");
    wg.wait();
    crash_collector();  // done: stop it the same way

    // Check: every line id in the central file exactly once, or counted as dropped.
    std::map<std::string, std::map<long, int>> seen;
    for (const json& j : read_central(dir)) ++seen[j["client"].get<std::string>()][j["seq"].get<long>()];
    long in_file = 0, dropped = 0, bad = 0;
    for (const client_stats& c : st) {
      std::set<long> dropped_ids(c.dropped_ids.begin(), c.dropped_ids.end());
      long mine = 0;
      for (long id = 1; id <= cfg.lines; ++id) {
        int n = seen[c.name].count(id) ? seen[c.name][id] : 0;
        bool is_dropped = dropped_ids.count(id) > 0;
        if ((n == 1 && !is_dropped) || (n == 0 && is_dropped)) {
          mine += n;
          continue;
        }
        if (++bad <= 5)
          std::printf("FAILED: %s line %ld is in the file %d times and %s\n", c.name.c_str(), id, n,
                      is_dropped ? "was counted as dropped" : "was not counted as dropped");
      }
      std::printf("%s: sent %ld, delivered %ld, dropped %ld (%ld disconnects, %ld dials backed off)\n", c.name.c_str(),
                  c.sent, mine, c.dropped, c.reconnects, c.retries);
      in_file += mine;
      dropped += c.dropped;
    }
    long xlen = gofer::blocking([&] {
      redisContext* ctx = redisConnect("127.0.0.1", redis.port());
      long n = -1;
      if (ctx && !ctx->err) {
        n = 0;
        for (const client_stats& c : st) {
          if (auto* rep = static_cast<redisReply*>(redisCommand(ctx, "XLEN logs:%s", c.name.c_str()))) {
            if (rep->type == REDIS_REPLY_INTEGER) n += rep->integer;
            freeReplyObject(rep);
          }
        }
      }
      if (ctx) redisFree(ctx);
      return n;
    });
    if (!process)
      std::printf("collector: %ld connections, %ld reads held several lines, %ld ended mid-line, %ld cut lines discarded "
                "at a disconnect, %zu central files after rotation\n",
                stats.connections.load(), stats.multi_line_reads.load(), stats.partial_reads.load(),
                stats.tails_discarded.load(), count_central_files(dir));
    if (bad > 0 || xlen != in_file || in_file + dropped != total) {
      std::printf("FAILED: %ld lines broke the invariant, %ld in the file, %ld dropped, %ld in Redis, of %ld\n", bad,
                  in_file, dropped, xlen, total);
      status = 1;
      return;
    }
    std::printf("%ld lines from %d clients: %ld in the central file exactly once, %ld dropped and counted, %ld in "
                "Redis, none lost\n",
                total, clients, in_file, dropped, xlen);
  });
  return status;
}
