// votes — counting votes from a tweet stream through a message broker (Module 2, Go
// Programming Blueprints, chapter 5: "Building Distributed Systems and Working with Flexible
// Data": twittervotes, NSQ, counter, signal channels, gracefully starting and stopping).
//
// One process plays the book's two programs around a private nats-server (the book's NSQ):
// twittervotes reads a fake tweet stream (an in-process gofer::http endpoint that streams
// newline-delimited JSON at random intervals and drops the client now and then), with
// reconnects and a forced reconnect on a ticker, and publishes one vote per option mentioned;
// counter subscribes, counts under a mutex and flushes the counts to SQLite on a timer (the
// book's MongoDB $inc). SIGINT (or the end of the stream) runs the book's ordered shutdown
// through signal channels: reader stopped → votes closed → publisher flushed → counter
// drained → last batch stored. Watch the last lines: no vote is lost, even on Ctrl-C.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>
#include <nats/nats.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <gofer/defer.hpp>
#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/signal.hpp>

#include "demo_flags.hpp"
#include "server.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A Go `chan struct{}` (the book's signal channels): carries no data, only "it happened".
struct none {};
using signal_chan = gofer::chan<none>;

// ---- the poll's store (the book's MongoDB) -----------------------------------------------
// What the program needs from it: the poll's options, the totals, where the reader stopped
// (a fake stream can resume, Twitter's cannot), and the book's $inc — a batch of counts
// added atomically, on the last batch together with that position. Two implementations:
// SQLite (default, a file that outlives the run) and Redis (--store redis: a private
// in-memory instance, so no resume across runs). Every call runs in gofer::blocking (disk or
// network I/O in a C library); a mutex serializes them on the one connection.
const std::vector<std::string> poll_options = {"happy", "sad", "fail", "win"};

class store {
 public:
  virtual ~store() = default;
  virtual std::map<std::string, long> totals() = 0;  // by option, in name order
  virtual long position() = 0;
  virtual void add(const std::map<std::string, long>& batch, std::optional<long> pos = std::nullopt) = 0;
  std::vector<std::string> options() {
    std::vector<std::string> out;
    for (auto& [o, n] : totals()) out.push_back(o);
    return out;
  }

 protected:
  // Runs f on a helper thread, holding the connection's mutex there.
  template <class F>
  auto locked(F f) {
    return gofer::blocking([&] {
      std::lock_guard lk(mu_);
      return f();
    });
  }

 private:
  std::mutex mu_;
};

// SQLite: polls(option, votes) is the book's `results` document, stream(pos) the position.
class sqlite_store : public store {
 public:
  explicit sqlite_store(const fs::path& file) {
    if (sqlite3_open(file.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("sqlite open " + file.string());
    exec("PRAGMA journal_mode=WAL;"
         "CREATE TABLE IF NOT EXISTS polls(option TEXT PRIMARY KEY, votes INTEGER NOT NULL DEFAULT 0);"
         "CREATE TABLE IF NOT EXISTS stream(id INTEGER PRIMARY KEY CHECK (id = 1), pos INTEGER NOT NULL);"
         "INSERT OR IGNORE INTO stream VALUES (1, 0);"
         "INSERT OR IGNORE INTO polls(option) VALUES ('happy'), ('sad'), ('fail'), ('win');");
  }
  ~sqlite_store() override { sqlite3_close(db_); }
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  std::map<std::string, long> totals() override {
    return locked([&] {
      std::map<std::string, long> out;
      statement st(db_, "SELECT option, votes FROM polls ORDER BY rowid");
      while (sqlite3_step(st.s) == SQLITE_ROW)
        out[reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0))] = sqlite3_column_int64(st.s, 1);
      return out;
    });
  }
  long position() override {
    return locked([&] {
      statement st(db_, "SELECT pos FROM stream WHERE id = 1");
      return sqlite3_step(st.s) == SQLITE_ROW ? static_cast<long>(sqlite3_column_int64(st.s, 0)) : 0L;
    });
  }
  // The book's $inc: one transaction adds a batch of counts (and, on the last batch, saves
  // the stream position with it, so the two commit together).
  void add(const std::map<std::string, long>& batch, std::optional<long> pos) override {
    locked([&] {
      exec("BEGIN");
      statement st(db_, "UPDATE polls SET votes = votes + ? WHERE option = ?");
      for (auto& [option, n] : batch) {
        sqlite3_bind_int64(st.s, 1, n);
        sqlite3_bind_text(st.s, 2, option.c_str(), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st.s) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
        sqlite3_reset(st.s);
      }
      if (pos) {
        statement p(db_, "UPDATE stream SET pos = ? WHERE id = 1");
        sqlite3_bind_int64(p.s, 1, *pos);
        if (sqlite3_step(p.s) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
      }
      exec("COMMIT");
      return 0;
    });
  }

 private:
  struct statement {
    sqlite3_stmt* s = nullptr;
    statement(sqlite3* db, const char* sql) {
      if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
    }
    ~statement() { sqlite3_finalize(s); }
  };
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "sqlite error";
      sqlite3_free(err);
      throw std::runtime_error(msg);
    }
  }
  sqlite3* db_ = nullptr;
};

// Redis: the hash poll:results (option → votes) and the string stream:pos; a batch is one
// MULTI/EXEC of HINCRBYs (and the SET of the position): Redis's atomic $inc.
class redis_store : public store {
 public:
  explicit redis_store(int port) {
    ctx_ = gofer::blocking([&] { return redisConnect("127.0.0.1", port); });
    if (!ctx_ || ctx_->err) throw std::runtime_error(std::string("redis connect: ") + (ctx_ ? ctx_->errstr : "out of memory"));
    locked([&] {
      for (auto& o : poll_options) reply(redisCommand(ctx_, "HSETNX poll:results %s 0", o.c_str()));
      reply(redisCommand(ctx_, "SETNX stream:pos 0"));
      return 0;
    });
  }
  ~redis_store() override { redisFree(ctx_); }
  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;

  std::map<std::string, long> totals() override {
    return locked([&] {
      std::map<std::string, long> out;
      auto r = reply(redisCommand(ctx_, "HGETALL poll:results"));
      for (std::size_t i = 0; i + 1 < r->elements; i += 2) out[r->element[i]->str] = std::atol(r->element[i + 1]->str);
      return out;
    });
  }
  long position() override {
    return locked([&] {
      auto r = reply(redisCommand(ctx_, "GET stream:pos"));
      return r->type == REDIS_REPLY_STRING ? std::atol(r->str) : 0L;
    });
  }
  void add(const std::map<std::string, long>& batch, std::optional<long> pos) override {
    locked([&] {
      reply(redisCommand(ctx_, "MULTI"));
      for (auto& [option, n] : batch) reply(redisCommand(ctx_, "HINCRBY poll:results %s %ld", option.c_str(), n));
      if (pos) reply(redisCommand(ctx_, "SET stream:pos %ld", *pos));
      auto r = reply(redisCommand(ctx_, "EXEC"));
      if (r->type != REDIS_REPLY_ARRAY) throw std::runtime_error("redis EXEC failed");
      return 0;
    });
  }

 private:
  using reply_ptr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;
  reply_ptr reply(void* r) {
    if (!r) throw std::runtime_error(std::string("redis: ") + ctx_->errstr);
    reply_ptr p(static_cast<redisReply*>(r), &freeReplyObject);
    if (p->type == REDIS_REPLY_ERROR) throw std::runtime_error(std::string("redis: ") + p->str);
    return p;
  }
  redisContext* ctx_ = nullptr;
};

// ---- the fake tweet stream ---------------------------------------------------------------------
// Tweet i is a pure function of i and the tracked options, so the run knows the right totals:
// 2 in 10 tweets mention no option, 6 mention one, 2 mention two (one vote each, as the book
// counts). GET /stream?track=a,b&since=N streams tweets N, N+1, ... as JSON lines.
std::uint64_t mix(std::uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
std::string tweet_text(long i, const std::vector<std::string>& track) {
  std::uint64_t h = mix(static_cast<std::uint64_t>(i));
  std::size_t k = h % 10, n = track.size();
  const std::string& a = track[(h >> 8) % n];
  const std::string& b = track[((h >> 8) % n + 1 + (h >> 16) % (n - 1)) % n];
  if (k < 2) return "just had lunch, tweet " + std::to_string(i);
  if (k < 8) return "feeling #" + a + " today";
  return "#" + a + " and #" + b + ", both";
}
std::vector<std::string> votes_in(const std::string& text, const std::vector<std::string>& options) {
  std::vector<std::string> out;
  for (auto& o : options)
    if (text.find("#" + o) != std::string::npos) out.push_back(o);
  return out;
}

// One client of the stream, a gofer::http handler: 200 and a body that never ends by
// itself, each tweet flushed as it is written (response_writer::flush: chunked), at random
// intervals. Now and then it drops the client, sometimes in the middle of a line: it sends
// half the line and throws gofer::http::abort_handler (Go's panic(http.ErrAbortHandler)),
// which cuts the connection without the last chunk, quietly: the client's read fails
// ("unexpected EOF") where Twitter's stream would break off. After the last tweet it writes keep-alive
// newlines (as Twitter does) until the client, `quit` or the server's close ends it.
void serve_stream(const gofer::http::request& r, gofer::http::response_writer& w, long tweets,
                  std::chrono::microseconds max_gap, int drop_every, signal_chan quit) {
  std::vector<std::string> track;
  for (std::string t = r.query("track"); !t.empty();) {
    auto comma = t.find(',');
    track.push_back(t.substr(0, comma));
    t = comma == std::string::npos ? "" : t.substr(comma + 1);
  }
  std::string since_s = r.query("since");
  long since = since_s.empty() ? 0 : std::atol(since_s.c_str());
  if (track.size() < 2 || since < 0 || since_s.find_first_not_of("0123456789") != std::string::npos)
    return gofer::http::error(w, "want /stream?track=a,b&since=N", gofer::http::status::bad_request);
  w.headers().set("Content-Type", "application/json");
  w.headers().set("Connection", "close");  // one stream per connection, as Twitter's
  if (!w.flush().ok()) return;
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<long> gap(0, max_gap.count());
  std::uniform_int_distribution<int> drop(1, drop_every);
  for (long i = since;; ++i) {
    // A random pause, or the end of the run, or the client gone.
    auto pause = i < tweets ? std::chrono::microseconds(gap(rng)) : std::chrono::microseconds(50ms);
    if (gofer::select(gofer::recv_case(gofer::after(pause)), gofer::recv_case(quit), gofer::recv_case(r.ctx.done())) != 0)
      return;
    std::string line = i < tweets ? nlohmann::json{{"id", i}, {"text", tweet_text(i, track)}}.dump() + "\r\n" : "\r\n";
    if (i < tweets && drop(rng) == 1) {  // drop the client, maybe mid-line
      (void)w.write(std::string_view(line).substr(0, line.size() / 2 * (i % 2)));
      (void)w.flush();
      throw gofer::http::abort_handler{};
    }
    if (!w.write(line) || !w.flush().ok()) return;  // the reader went away
  }
}

// The stream's HTTP server (gofer::http) on loopback; returns its address. `done` is
// signalled once every client's handler has ended after `quit` closed.
std::string start_stream(long tweets, std::chrono::microseconds max_gap, int drop_every, signal_chan quit,
                         signal_chan done) {
  auto l = gofer::net::listen("127.0.0.1:0");
  if (!l.ok()) throw std::runtime_error("stream listen: " + l.status().ToString());
  std::string addr = l->addr();
  gofer::http::serve_mux mux;
  mux.handle("GET /stream", [=](const gofer::http::request& r, gofer::http::response_writer& w) {
    serve_stream(r, w, tweets, max_gap, drop_every, quit);
  });
  auto srv = std::make_shared<gofer::http::server>(std::move(mux));
  gofer::go(gofer::named("stream"), [srv, l = std::move(*l)]() mutable { (void)srv->serve(std::move(l)); });
  gofer::go(gofer::named("stream-closer"), [srv, quit, done] {
    quit.recv();  // every handler returns on quit: a graceful shutdown waits for them
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 5s);
    (void)srv->shutdown(ctx);
    cancel();
    (void)srv->close();
    done.close();
  });
  return addr;
}

// ---- twittervotes: the reader ------------------------------------------------------------------
struct reader_stats {
  long connections = 0, forced = 0, dropped = 0, tweets = 0, votes = 0;
  long pos = 0;  // the next tweet id to read
};

// The stream the reader is on, so that another goroutine can end it (the book's
// closeConn): a forced reconnect, or the stop. The reader reads through a context of its
// own per connection; cancelling it ends the read at once (a streamed_response is one
// goroutine's, a context any goroutine's).
struct current_conn {
  gofer::mutex mu;
  std::function<void()> cancel;           // guarded by mu; empty between connections
  bool stopping = false, forced = false;  // guarded by mu
  void close(bool stop) {
    std::lock_guard lk(mu);
    if (stop) stopping = true; else forced = true;
    if (cancel) cancel();
  }
};

// The book's startTwitterStream: reads until `stop` closes, reconnecting when the stream drops
// it or the forced-reconnect ticker closes it; sends each vote on `votes`. Returns the signal
// channel that says "stopped" (buffer 1, as in the book). `caught_up` is signalled when
// tweet `tweets - 1` has been read (the self-running demo's end of load).
signal_chan start_reader(const std::string& addr, store& db, signal_chan stop, gofer::chan<std::string> votes,
                         std::chrono::milliseconds reconnect_every, long tweets, signal_chan caught_up,
                         reader_stats* rs) {
  signal_chan stopped(1);
  auto cur = std::make_shared<current_conn>();
  // The closer: every `reconnect_every` a forced reconnect (the book: new poll options get
  // picked up), and at `stop` the last close.
  gofer::go(gofer::named("reconnector"), [cur, stop, reconnect_every] {
    gofer::ticker t(reconnect_every);
    for (;;) {
      if (gofer::select(gofer::recv_case(t.c()), gofer::recv_case(stop)) == 1) {
        cur->close(true);
        return;
      }
      cur->close(false);
    }
  });
  gofer::go(gofer::named("reader"), [=, &db] {
    gofer::defer signal_stopped([&] { stopped.send(none{}); });
    gofer::http::client client;
    bool announced = false;
    for (;;) {
      // (Re)connect, re-reading the poll's options each time, as the book does.
      std::vector<std::string> options = db.options();
      std::string track;
      for (auto& o : options) {
        if (!track.empty()) track += ',';
        track += o;
      }
      auto [ctx, cancel] = gofer::with_cancel(gofer::background());
      {
        std::lock_guard lk(cur->mu);
        if (cur->stopping) return;
        cur->cancel = cancel;
        cur->forced = false;
      }
      auto res = client.stream(ctx, "GET", "http://" + addr + "/stream?track=" + track + "&since=" + std::to_string(rs->pos));
      if (res.ok()) ++rs->connections;
      if (res.ok() && res->status == 200) {
        // The body: JSON lines until the stream ends (gofer::http undoes the chunking). A
        // line cut by a drop has no newline and is never parsed.
        std::string pending;
        char chunk[4096];
        for (;;) {
          for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
            std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            if (line.find_first_not_of("\r ") == std::string::npos) continue;  // keep-alive
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded() || !j.contains("id") || j["id"].get<long>() != rs->pos) continue;
            for (auto& v : votes_in(j.value("text", ""), options)) {
              votes.send(v);
              ++rs->votes;
            }
            ++rs->tweets;
            ++rs->pos;
            if (rs->pos % 500 == 0) {
              std::printf("reader: %ld tweets read\n", rs->pos);
              std::fflush(stdout);
            }
            if (rs->pos == tweets && !announced) {
              announced = true;
              caught_up.close();
            }
          }
          auto n = res->read(chunk, sizeof chunk);
          if (!n.ok()) break;  // a drop (DataLoss "unexpected EOF": the cut), or our cancel
          pending.append(chunk, *n);
        }
        res->close();
      }
      cancel();
      {
        std::lock_guard lk(cur->mu);
        cur->cancel = nullptr;
        if (cur->stopping) return;
        if (res.ok()) ++(cur->forced ? rs->forced : rs->dropped);
      }
      // A short pause before reconnecting (the book waits too), unless we are stopping.
      if (gofer::select(gofer::recv_case(gofer::after(5ms)), gofer::recv_case(stop)) == 1) return;
    }
  });
  return stopped;
}

// ---- NATS (libnats, as in chapter 7's pubsub) -------------------------------------------------
struct nats_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
void check(natsStatus s, const char* what) {
  if (s != NATS_OK)
    throw nats_failure(std::string(what) + ": " + natsStatus_GetText(s) + " (" + nats_GetLastError(nullptr) + ")");
}
struct conn_deleter {
  void operator()(natsConnection* c) const { gofer::blocking([c] { natsConnection_Destroy(c); }); }
};
struct sub_deleter {
  void operator()(natsSubscription* s) const { natsSubscription_Destroy(s); }
};
using nats_conn = std::unique_ptr<natsConnection, conn_deleter>;
using nats_sub = std::unique_ptr<natsSubscription, sub_deleter>;
nats_conn connect(const std::string& url) {
  natsConnection* nc = nullptr;
  check(gofer::blocking([&] { return natsConnection_ConnectTo(&nc, url.c_str()); }), "connect");
  return nats_conn(nc);
}

// The book's publishVotes: every vote on `votes` goes to the "votes" subject until `votes`
// is closed; then a flush (a PING/PONG round trip: the server has them all) and "stopped".
signal_chan start_publisher(const std::string& url, gofer::chan<std::string> votes, long* published) {
  signal_chan stopped(1);
  auto nc = std::make_shared<nats_conn>(connect(url));
  gofer::go(gofer::named("publisher"), [=] {
    for (std::string v : votes) {
      check(natsConnection_PublishString(nc->get(), "votes", v.c_str()), "publish");  // buffered: no wait
      ++*published;
    }
    check(gofer::blocking([&] { return natsConnection_FlushTimeout(nc->get(), 5000); }), "flush");
    stopped.send(none{});
  });
  return stopped;
}

// ---- counter -------------------------------------------------------------------------------------
// The book's counter: the NATS handler adds to a map under a mutex (it runs on a libnats
// thread, not a goroutine: it never waits on a gofer channel); a goroutine swaps the map out
// on a ticker and adds the batch to the store.
struct counter {
  std::mutex mu;
  std::map<std::string, long> counts;  // guarded by mu: counted, not yet stored
  std::atomic<long> received{0};
  long batches = 0, stored = 0;         // the flusher's

  static void on_vote(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* c = static_cast<counter*>(closure);
    std::string option(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
    std::lock_guard lk(c->mu);
    ++c->counts[option];
    c->received.fetch_add(1, std::memory_order_relaxed);
  }
  std::map<std::string, long> take() {
    std::lock_guard lk(mu);
    return std::exchange(counts, {});
  }
  void flush(store& db, std::optional<long> pos = std::nullopt) {
    auto batch = take();  // the lock is released before the store is touched
    if (batch.empty() && !pos) return;
    db.add(batch, pos);
    ++batches;
    for (auto& [o, n] : batch) stored += n;
  }
};

// The updater: flushes every `every` until `stop` closes, then flushes the last batch together
// with the reader's final position (`final_pos`, sent once the votes are all in), and signals.
signal_chan start_flusher(counter& cnt, store& db, std::chrono::milliseconds every, gofer::chan<long> final_pos) {
  signal_chan stopped(1);
  gofer::go(gofer::named("flusher"), [=, &cnt, &db] {
    gofer::ticker t(every);
    for (;;) {
      std::optional<long> pos;
      if (gofer::select(gofer::recv_case(t.c()), gofer::recv_case(final_pos, pos)) == 1) {
        cnt.flush(db, pos.value_or(0));  // the last batch: never skipped
        break;
      }
      cnt.flush(db);
    }
    stopped.send(none{});
  });
  return stopped;
}

}  // namespace

int main(int argc, char** argv) {
  long tweets = 1500;
  int flush_ms = 100, reconnect_ms = 300, drop_every = 150, gap_us = 2000;
  std::string db_file, store_kind = "sqlite";
  bool serve = false;
  CLI::App app{"count votes from a fake tweet stream through a private NATS server into SQLite", "votes"};
  app.add_option("--tweets", tweets, "tweets in the stream (a known number of votes)")
      ->capture_default_str()->check(CLI::Range(1L, 1000000L));
  app.add_option("--db", db_file, "the SQLite store: kept, and resumed by the next run (default: a temp file)");
  app.add_option("--store", store_kind, "where the counts go: sqlite, or redis (a private redis-server, for this run only)")
      ->capture_default_str()->check(CLI::IsMember({"sqlite", "redis"}));
  app.add_option("--flush-ms", flush_ms, "counter's flush interval (the book: 1 s)")
      ->capture_default_str()->check(CLI::Range(1, 60000));
  app.add_option("--reconnect-ms", reconnect_ms, "forced reconnect interval (the book: 1 min)")
      ->capture_default_str()->check(CLI::Range(10, 3600000));
  app.add_option("--drop-every", drop_every, "the stream drops a connection once in this many tweets, on average")
      ->capture_default_str()->check(CLI::Range(2, 1000000));
  app.add_option("--gap-us", gap_us, "the longest random pause between two tweets")
      ->capture_default_str()->check(CLI::Range(0, 1000000));
  app.add_flag("--serve", serve, "keep running (and print the stream's address) until Ctrl-C");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  if (store_kind == "redis" && !db_file.empty()) {
    std::fprintf(stderr, "votes: --db is the SQLite file; --store redis counts into a private Redis for this run only\n");
    return 2;
  }

  bool temp_db = db_file.empty() && store_kind == "sqlite";
  if (temp_db) db_file = (fs::temp_directory_path() / ("votes-" + std::to_string(::getpid()) + ".db")).string();
  int status = 0;
  gofer::run([&] {
    gofer::defer remove_temp([&] {
      if (temp_db)
        for (const char* ext : {"", "-wal", "-shm"}) fs::remove(db_file + ext);
    });
    // Go's signal.Notify: SIGINT/SIGTERM arrive on `interrupt` (buffered: the relay never
    // waits). Before the first server starts, so that the launcher leaves these signals to us.
    gofer::chan<int> interrupt(1);
    gofer::signal::notify(interrupt, {SIGINT, SIGTERM});
    try {
      // 1. The environment: a private nats-server, the store, the fake stream.
      auto nats = gofer_demo::server::start(gofer_demo::nats_spec());
      std::string url = "nats://" + nats.addr();
      gofer_demo::server redis;
      std::unique_ptr<store> db_owner;
      if (store_kind == "redis") {
        redis = gofer_demo::server::start(gofer_demo::redis_spec());
        db_owner = std::make_unique<redis_store>(redis.port());
      } else {
        db_owner = std::make_unique<sqlite_store>(db_file);
      }
      store& db = *db_owner;
      long start_pos = db.position();
      auto before = db.totals();
      signal_chan stream_quit, stream_done;
      std::string addr = start_stream(tweets, std::chrono::microseconds(gap_us), drop_every, stream_quit, stream_done);
      std::printf("nats-server%s and a stream of %ld tweets (random gaps up to %d us, a drop in ~%d) on loopback\n",
                  store_kind == "redis" ? ", redis-server" : "", tweets, gap_us, drop_every);
      std::printf("poll options:");
      for (auto& o : db.options()) std::printf(" %s", o.c_str());
      std::printf("%s\n", start_pos ? (", resuming at tweet " + std::to_string(start_pos)).c_str() : "");
      std::fflush(stdout);

      // 2. counter: subscribe first, so that no vote is published before anyone listens.
      counter cnt;
      nats_conn cc = connect(url);
      natsSubscription* raw = nullptr;
      check(natsConnection_Subscribe(&raw, cc.get(), "votes", &counter::on_vote, &cnt), "subscribe");
      nats_sub sub(raw);
      check(gofer::blocking([&] { return natsConnection_FlushTimeout(cc.get(), 5000); }), "flush");
      gofer::chan<long> final_pos;
      signal_chan flusher_stopped = start_flusher(cnt, db, std::chrono::milliseconds(flush_ms), final_pos);

      // 3. twittervotes: the reader and the publisher, joined by the votes channel.
      reader_stats rs;
      rs.pos = start_pos;
      long published = 0;
      signal_chan stop, caught_up;
      if (start_pos >= tweets) caught_up.close();
      gofer::chan<std::string> votes(64);
      signal_chan publisher_stopped = start_publisher(url, votes, &published);
      signal_chan reader_stopped = start_reader(addr, db, stop, votes, std::chrono::milliseconds(reconnect_ms), tweets,
                                                caught_up, &rs);

      // 4. Run until Ctrl-C, or until the whole stream was read (the self-running demo).
      std::optional<int> sig;
      // With --serve, only Ctrl-C ends it (the end-of-stream case is a nil channel, as in Go):
      // the stream stays up for curl and friends.
      if (serve) {
        std::printf("stream on http://%s/stream?track=fail,happy,sad,win&since=0 (curl -N it); Ctrl-C to stop\n",
                    addr.c_str());
        std::fflush(stdout);
      }
      bool interrupted =
          gofer::select(gofer::recv_case(interrupt, sig), gofer::recv_case(serve ? signal_chan(nullptr) : caught_up)) == 0;  // nil: never
      if (interrupted) {  // (a second Ctrl-C now waits in the buffer, unread: the shutdown runs to its end)
        std::printf("got %s: shutting down gracefully\n", *sig == SIGINT ? "SIGINT" : "SIGTERM");
        std::fflush(stdout);
      }

      // 5. The ordered shutdown, one signal channel at a time.
      stop.close();
      reader_stopped.recv();     // the reader sends no more votes...
      votes.close();             // ...so the votes channel can close,
      publisher_stopped.recv();  // the publisher has published and flushed them all,
      check(natsSubscription_Drain(sub.get()), "drain");  // the counter takes what the server has,
      check(gofer::blocking([&] { return natsSubscription_WaitForDrainCompletion(sub.get(), 5000); }), "drain wait");
      final_pos.send(rs.pos);    // the last batch goes to the store with the position,
      flusher_stopped.recv();
      stream_quit.close();       // and the stream closes.
      stream_done.recv();
      std::printf("shutdown: reader stopped, votes closed, %ld published and flushed, %ld received by the counter, "
                  "last batch stored\n", published, cnt.received.load());

      // 6. What the store says against what the tweets [0, pos) hold.
      auto options = db.options();
      std::map<std::string, long> expect;
      for (long i = 0; i < rs.pos; ++i)
        for (auto& v : votes_in(tweet_text(i, options), options)) ++expect[v];
      auto totals = db.totals();
      long total = 0, expected = 0, wrong = 0;
      for (auto& o : options) {
        std::printf("  %-6s %5ld  (expected %ld)\n", o.c_str(), totals[o], expect[o]);
        total += totals[o];
        expected += expect[o];
        wrong += std::labs(totals[o] - expect[o]);
      }
      long this_run = 0;
      for (auto& o : options) this_run += totals[o] - before[o];
      if (interrupted && store_kind == "sqlite" && !temp_db)
        std::printf("interrupted at tweet %ld of %ld: the next run with --db %s resumes there\n", rs.pos, tweets,
                    db_file.c_str());
      else if (interrupted)
        std::printf("interrupted at tweet %ld of %ld (this run's store goes with it: --db FILE keeps one)\n", rs.pos,
                    tweets);
      std::printf("votes: %ld tweets read over %ld connections (%ld dropped by the stream, %ld forced), %ld votes "
                  "published, %ld stored in %ld batches, store holds %ld of %ld expected for tweets 0-%ld, %ld lost\n",
                  rs.tweets, rs.connections, rs.dropped, rs.forced, published, this_run, cnt.batches, total, expected,
                  rs.pos - 1, wrong);
      if (wrong != 0 || published != rs.votes || cnt.stored != published) status = 1;
    } catch (const std::exception& e) {  // server_error (no nats-server), nats_failure, sqlite
      std::fprintf(stderr, "votes: %s\n", e.what());
      status = 1;
    }
  });
  nats_CloseAndWait(5000);
  return status;
}
