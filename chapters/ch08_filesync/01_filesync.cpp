// filesync — the book's "Dropbox with revision control" (chapter 8, "The concurrent
// application"), built correctly: one program with roles, run as separate processes on
// localhost. The default run forks itself into a **service** (an inotify listener, a
// debouncer that owns the metadata store — SQLite, or Redis with --store redis — a hub that
// broadcasts change events as newline-delimited JSON to TCP subscribers, and a web page) and
// a **backup** subscriber, subscribes itself as a watcher, makes a scripted set of changes
// (create, bursts of writes, a new subdirectory, rename a file and a directory, delete,
// revert, an upload through the web page) and prints what each part saw. Watch: a burst of
// five writes becomes ONE version; a rename (of a file, or of a directory: each file in it)
// stays a rename; a revert is a new version made through the service; an upload travels the
// whole chain; the backup never keeps a half-written copy.
//
// Roles (each a flag; ./gofer run filesync -- --help; --config FILE reads them from INI):
//   (default)                 the scripted run above; --serve keeps the service up instead
//   --service --dir D --data S   the listener + store + hub (+ --web ADDR: the page)
//   --backup B --dir D --connect A   the backup subscriber (resumes from B/.seq; + --web ADDR: /health)
//   --revert --connect A -f NAME -r N   asks the service to restore version N
//   --health --connect A      prints the service's health line
//
// The protocol on the service's one TCP port: the client sends one request line —
//   SUBSCRIBE <seq>      then receives every event after <seq> (from the store), then live
//   LIST                 one JSON line per file, then an empty line
//   FETCH ["name",ver]   {"ok":true,"size":N,...}\n followed by N raw bytes
//   REVERT ["name",ver]  {"ok":true,...} once the restored file is in the folder
//   HEALTH               {"pending":..,"subscribers":..,"last_event":..,"events":..}
// Names travel as JSON strings (any character but NUL), so arguments are one JSON array.

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <gmime/gmime.h>
#include <hiredis/hiredis.h>
#include <ini.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <gofer/defer.hpp>
#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/log.hpp>
#include <gofer/net.hpp>
#include <gofer/raw_fd.hpp>
#include <gofer/signal.hpp>

#include "demo_flags.hpp"
#include "filesync_web.hpp"  // the page, generated from web/ at build time
#include "server.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// ---- small helpers: time, hashing, whole-file I/O ------------------------------------------

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// SHA-256 of a byte string, in hex (OpenSSL's EVP interface, Debian libssl-dev).
std::string sha256(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::optional<std::string> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a file the safe way: a temp file beside `dest` (or in `tmpdir`), then rename.
void write_atomic(const fs::path& dest, const std::string& data, const fs::path& tmpdir) {
  fs::path tmp = tmpdir / (".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(now_ms()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  fs::create_directories(dest.parent_path());
  fs::rename(tmp, dest);
}

// The service's own lines: stdout, and the rotating log file when [logs] file is set
// (spdlog's rotating sink: log_rotate_bytes per file, log_files old ones kept).
std::shared_ptr<spdlog::logger> g_filelog;
void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::printf("service: %s\n", buf);
  std::fflush(stdout);
  if (g_filelog) g_filelog->info(buf);
}

// A line reader over a gofer::net::conn: TCP is a byte stream, so events are framed by
// '\n' and one read may hold half an event or several (the book read one JSON object per
// read, which loses the rest).
class line_reader {
 public:
  explicit line_reader(gofer::net::conn& c) : c_(c) {}
  std::optional<std::string> line() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      if (!fill()) return std::nullopt;
    }
  }
  // Whole lines already received and not yet returned.
  std::size_t buffered_lines() const { return std::size_t(std::count(buf_.begin(), buf_.end(), '\n')); }
  std::optional<std::string> bytes(std::size_t n) {
    while (buf_.size() < n)
      if (!fill()) return std::nullopt;
    std::string b = buf_.substr(0, n);
    buf_.erase(0, n);
    return b;
  }

 private:
  bool fill() {
    char tmp[4096];
    auto n = c_.read(tmp, sizeof tmp);
    if (!n.ok() || *n == 0) return false;
    buf_.append(tmp, *n);
    return true;
  }
  gofer::net::conn& c_;
  std::string buf_;
};

// One request/response exchange with the service (a fresh connection each time).
std::optional<json> ask(const std::string& addr, const std::string& request, std::string* body = nullptr) {
  auto c = gofer::net::dial(addr);
  if (!c.ok()) return std::nullopt;
  c->set_deadline(std::chrono::steady_clock::now() + 10s);
  if (!c->write(request + "\n").ok()) return std::nullopt;
  line_reader r(*c);
  auto l = r.line();
  if (!l) return std::nullopt;
  json j = json::parse(*l, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  if (body && j.value("ok", false) && j.contains("size")) {
    auto b = r.bytes(j["size"].get<std::size_t>());
    if (!b) return std::nullopt;
    *body = std::move(*b);
  }
  return j;
}

// =============================================================================================
// The service: store, listener, debouncer, hub
// =============================================================================================

// ---- the metadata store: SQLite in WAL mode, used only by its owner goroutine ---------------
// {name, hash, created, last_modified, version, revisions}: `revisions` are the kept
// versions (content included, so a revert and a late backup can get any of them); `events`
// is the log a subscriber catches up from.
struct file_meta {
  std::string name, hash;
  int64_t created = 0, last_modified = 0;
  int version = 0;
  bool deleted = false;
  std::vector<int> revisions;
};

// The small interface both stores implement. Used by one goroutine (the owner) only; each
// change is atomic (one transaction) together with its event, and events are numbered
// 1, 2, 3... (`seq`) with no gaps, so a subscriber can resume after any of them.
class meta_store {
 public:
  virtual ~meta_store() = default;
  virtual std::string describe() const = 0;  // "SQLite (WAL) /path/meta.db"
  virtual std::optional<file_meta> get(const std::string& name) = 0;
  virtual std::vector<file_meta> all() = 0;  // sorted by name
  virtual std::optional<std::string> content(const std::string& name, int version) = 0;
  // A new version of `name` with this content (keeping the last `keep` revisions' content);
  // returns the event, already logged.
  virtual json put(const std::string& name, const std::string& hash, const std::string& data) = 0;
  virtual json rename(const std::string& from, const std::string& to) = 0;
  virtual json remove(const std::string& name) = 0;
  virtual std::vector<json> events_after(int64_t seq) = 0;
  virtual int64_t last_seq() = 0;
};

class sqlite_store : public meta_store {
 public:
  explicit sqlite_store(const fs::path& db, int keep) : path_(db), keep_(keep) {
    if (sqlite3_open(db.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("sqlite open " + db.string());
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("CREATE TABLE IF NOT EXISTS files(name TEXT PRIMARY KEY, hash TEXT, created INTEGER,"
         " last_modified INTEGER, version INTEGER, deleted INTEGER)");
    exec("CREATE TABLE IF NOT EXISTS revisions(name TEXT, version INTEGER, hash TEXT, content BLOB,"
         " PRIMARY KEY(name, version))");
    exec("CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, json TEXT)");
  }
  ~sqlite_store() override { sqlite3_close(db_); }
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  std::string describe() const override { return "SQLite (WAL) " + path_.string(); }
  std::optional<file_meta> get(const std::string& name) override {
    stmt s(db_, "SELECT name, hash, created, last_modified, version, deleted FROM files WHERE name=?");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    file_meta m{s.text(0), s.text(1), s.i64(2), s.i64(3), int(s.i64(4)), s.i64(5) != 0, {}};
    stmt r(db_, "SELECT version FROM revisions WHERE name=? ORDER BY version");
    r.bind(1, name);
    while (r.step()) m.revisions.push_back(int(r.i64(0)));
    return m;
  }
  std::vector<file_meta> all() override {
    std::vector<std::string> names;
    stmt s(db_, "SELECT name FROM files ORDER BY name");
    while (s.step()) names.push_back(s.text(0));
    std::vector<file_meta> out;
    for (auto& n : names) out.push_back(*get(n));
    return out;
  }
  std::optional<std::string> content(const std::string& name, int version) override {
    stmt s(db_, "SELECT content FROM revisions WHERE name=? AND version=?");
    s.bind(1, name);
    s.bind(2, version);
    if (!s.step()) return std::nullopt;
    return s.blob(0);
  }
  json put(const std::string& name, const std::string& hash, const std::string& data) override {
    auto old = get(name);
    int64_t t = now_ms();
    int v = old ? old->version + 1 : 1;
    exec("BEGIN");
    stmt s(db_, "INSERT OR REPLACE INTO files VALUES(?,?,?,?,?,0)");
    s.bind(1, name);
    s.bind(2, hash);
    s.bind(3, old ? old->created : t);
    s.bind(4, t);
    s.bind(5, v);
    s.step();
    stmt r(db_, "INSERT OR REPLACE INTO revisions VALUES(?,?,?,?)");
    r.bind(1, name);
    r.bind(2, v);
    r.bind(3, hash);
    r.bind_blob(4, data);
    r.step();
    stmt p(db_, "DELETE FROM revisions WHERE name=? AND version<=?");
    p.bind(1, name);
    p.bind(2, v - keep_);
    p.step();
    json e = log({{"op", "version"}, {"name", name}, {"version", v}, {"hash", hash}, {"size", data.size()}});
    exec("COMMIT");
    return e;
  }
  json rename(const std::string& from, const std::string& to) override {
    exec("BEGIN");
    for (const char* sql : {"DELETE FROM files WHERE name=?2", "DELETE FROM revisions WHERE name=?2",
                            "UPDATE files SET name=?2, last_modified=?3 WHERE name=?1",
                            "UPDATE revisions SET name=?2 WHERE name=?1"}) {
      stmt s(db_, sql);
      s.bind(1, from);
      s.bind(2, to);
      s.bind(3, now_ms());
      s.step();
    }
    auto m = get(to);
    json e = log({{"op", "rename"}, {"from", from}, {"name", to}, {"version", m ? m->version : 0},
                  {"hash", m ? m->hash : ""}});
    exec("COMMIT");
    return e;
  }
  json remove(const std::string& name) override {
    exec("BEGIN");
    stmt s(db_, "UPDATE files SET deleted=1, last_modified=? WHERE name=?");
    s.bind(1, now_ms());
    s.bind(2, name);
    s.step();
    auto m = get(name);
    json e = log({{"op", "delete"}, {"name", name}, {"version", m ? m->version : 0}});
    exec("COMMIT");
    return e;
  }
  int64_t last_seq() override {
    stmt s(db_, "SELECT COALESCE(MAX(seq), 0) FROM events");
    s.step();
    return s.i64(0);
  }
  std::vector<json> events_after(int64_t seq) override {
    std::vector<json> out;
    stmt s(db_, "SELECT json FROM events WHERE seq>? ORDER BY seq");
    s.bind(1, seq);
    while (s.step()) out.push_back(json::parse(s.text(0)));
    return out;
  }

 private:
  // A prepared statement, finalized at scope exit.
  struct stmt {
    sqlite3_stmt* st = nullptr;
    stmt(sqlite3* db, const char* sql) {
      if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK)
        throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db));
    }
    ~stmt() { sqlite3_finalize(st); }
    void bind(int i, const std::string& s) { sqlite3_bind_text(st, i, s.data(), int(s.size()), SQLITE_TRANSIENT); }
    void bind(int i, int64_t v) { sqlite3_bind_int64(st, i, v); }
    void bind(int i, int v) { sqlite3_bind_int64(st, i, v); }
    void bind_blob(int i, const std::string& s) { sqlite3_bind_blob(st, i, s.data(), int(s.size()), SQLITE_TRANSIENT); }
    bool step() {
      int rc = sqlite3_step(st);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw std::runtime_error("sqlite step failed");
      return rc == SQLITE_ROW;
    }
    std::string text(int c) {
      auto* p = sqlite3_column_text(st, c);
      return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
    }
    std::string blob(int c) {
      auto* p = static_cast<const char*>(sqlite3_column_blob(st, c));
      return p ? std::string(p, sqlite3_column_bytes(st, c)) : std::string();
    }
    int64_t i64(int c) { return sqlite3_column_int64(st, c); }
  };
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error("sqlite: " + m);
    }
  }
  // Appends an event to the log and returns it with its sequence number.
  json log(json e) {
    e["time"] = now_ms();
    stmt s(db_, "INSERT INTO events(json) VALUES(?)");
    s.bind(1, e.dump());
    s.step();
    e["seq"] = sqlite3_last_insert_rowid(db_);
    stmt u(db_, "UPDATE events SET json=? WHERE seq=?");
    u.bind(1, e.dump());
    u.bind(2, int64_t(e["seq"]));
    u.step();
    return e;
  }
  fs::path path_;
  sqlite3* db_ = nullptr;
  int keep_;
};

// ---- the Redis store (--store redis): the book's Couchbase stand-in -------------------------
// The same interface on a Redis server through hiredis (Debian libhiredis-dev). Keys, under
// a prefix (default "filesync:"):
//   files          sorted set of every name (score 0: ZRANGE lists them by name)
//   file:<name>    hash {hash, created, last_modified, version, deleted}
//   rev:<name>     hash version → content (the last `keep` versions)
//   events         list of event JSON; event seq n is element n-1
// Each change is one MULTI/EXEC transaction that also RPUSHes its event; the owner is the
// only writer, so the next seq is LLEN(events)+1, read before the transaction. Every command
// is a network round trip: it runs in gofer::blocking, so the owner goroutine parks and its
// thread runs others (hiredis' synchronous API blocks the calling thread).
class redis_store : public meta_store {
 public:
  redis_store(const std::string& addr, int keep, std::string prefix = "filesync:")
      : addr_(addr), keep_(keep), p_(std::move(prefix)) {
    auto colon = addr.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("redis: bad address " + addr);
    std::string host = addr.substr(0, colon);
    int port = std::stoi(addr.substr(colon + 1));
    timeval tv{5, 0};
    c_ = gofer::blocking([&] { return redisConnectWithTimeout(host.c_str(), port, tv); });
    if (!c_ || c_->err) {
      std::string why = c_ ? c_->errstr : "out of memory";
      if (c_) redisFree(c_);
      throw std::runtime_error("redis: cannot connect to " + addr + ": " + why);
    }
    redisSetTimeout(c_, tv);
    if (cmd({"PING"})->type != REDIS_REPLY_STATUS) throw std::runtime_error("redis: PING failed at " + addr);
  }
  ~redis_store() override { redisFree(c_); }
  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;

  std::string describe() const override { return "Redis " + addr_ + " (keys " + p_ + "*)"; }

  std::optional<file_meta> get(const std::string& name) override {
    auto r = cmd({"HMGET", p_ + "file:" + name, "hash", "created", "last_modified", "version", "deleted"});
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 || r->element[0]->type != REDIS_REPLY_STRING)
      return std::nullopt;
    auto str = [&](int i) { return std::string(r->element[i]->str, r->element[i]->len); };
    file_meta m{name, str(0), std::stoll(str(1)), std::stoll(str(2)), std::stoi(str(3)), str(4) == "1", {}};
    auto k = cmd({"HKEYS", p_ + "rev:" + name});
    for (size_t i = 0; i < k->elements; ++i) m.revisions.push_back(std::stoi(k->element[i]->str));
    std::sort(m.revisions.begin(), m.revisions.end());
    return m;
  }
  std::vector<file_meta> all() override {
    auto r = cmd({"ZRANGE", p_ + "files", "0", "-1"});
    std::vector<file_meta> out;
    for (size_t i = 0; i < r->elements; ++i)
      if (auto m = get(std::string(r->element[i]->str, r->element[i]->len))) out.push_back(std::move(*m));
    return out;
  }
  std::optional<std::string> content(const std::string& name, int version) override {
    auto r = cmd({"HGET", p_ + "rev:" + name, std::to_string(version)});
    if (r->type != REDIS_REPLY_STRING) return std::nullopt;
    return std::string(r->str, r->len);
  }
  json put(const std::string& name, const std::string& hash, const std::string& data) override {
    auto old = get(name);
    int64_t t = now_ms();
    int v = old ? old->version + 1 : 1;
    json e = event({{"op", "version"}, {"name", name}, {"version", v}, {"hash", hash}, {"size", data.size()}});
    std::vector<std::vector<std::string>> tx = {
        {"HSET", p_ + "file:" + name, "hash", hash, "created", std::to_string(old ? old->created : t), "last_modified",
         std::to_string(t), "version", std::to_string(v), "deleted", "0"},
        {"ZADD", p_ + "files", "0", name},
        {"HSET", p_ + "rev:" + name, std::to_string(v), data}};
    if (old)
      for (int r : old->revisions)
        if (r <= v - keep_) tx.push_back({"HDEL", p_ + "rev:" + name, std::to_string(r)});
    tx.push_back({"RPUSH", p_ + "events", e.dump()});
    exec(tx);
    return e;
  }
  json rename(const std::string& from, const std::string& to) override {
    auto m = get(from);
    json e = event({{"op", "rename"}, {"from", from}, {"name", to}, {"version", m ? m->version : 0},
                    {"hash", m ? m->hash : ""}});
    std::vector<std::vector<std::string>> tx = {{"DEL", p_ + "file:" + to, p_ + "rev:" + to}};
    if (m) {
      tx.push_back({"RENAME", p_ + "file:" + from, p_ + "file:" + to});
      if (!m->revisions.empty()) tx.push_back({"RENAME", p_ + "rev:" + from, p_ + "rev:" + to});
      tx.push_back({"HSET", p_ + "file:" + to, "last_modified", std::to_string(now_ms())});
      tx.push_back({"ZREM", p_ + "files", from});
      tx.push_back({"ZADD", p_ + "files", "0", to});
    }
    tx.push_back({"RPUSH", p_ + "events", e.dump()});
    exec(tx);
    return e;
  }
  json remove(const std::string& name) override {
    auto m = get(name);
    json e = event({{"op", "delete"}, {"name", name}, {"version", m ? m->version : 0}});
    exec({{"HSET", p_ + "file:" + name, "deleted", "1", "last_modified", std::to_string(now_ms())},
          {"RPUSH", p_ + "events", e.dump()}});
    return e;
  }
  std::vector<json> events_after(int64_t seq) override {
    auto r = cmd({"LRANGE", p_ + "events", std::to_string(seq), "-1"});
    std::vector<json> out;
    for (size_t i = 0; i < r->elements; ++i) out.push_back(json::parse(std::string(r->element[i]->str, r->element[i]->len)));
    return out;
  }
  int64_t last_seq() override { return cmd({"LLEN", p_ + "events"})->integer; }

 private:
  using reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;
  // One command (binary-safe arguments); throws on a connection error or an error reply.
  reply cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = gofer::blocking([&] {
      return static_cast<redisReply*>(redisCommandArgv(c_, int(argv.size()), argv.data(), lens.data()));
    });
    if (!r) throw std::runtime_error("redis: " + std::string(c_->errstr));
    reply out(r, freeReplyObject);
    if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error("redis: " + args[0] + ": " + std::string(r->str, r->len));
    return out;
  }
  // MULTI, the commands, EXEC — pipelined in one round trip.
  void exec(const std::vector<std::vector<std::string>>& tx) {
    gofer::blocking([&] {
      auto append = [&](const std::vector<std::string>& args) {
        std::vector<const char*> argv;
        std::vector<size_t> lens;
        for (auto& a : args) {
          argv.push_back(a.data());
          lens.push_back(a.size());
        }
        redisAppendCommandArgv(c_, int(argv.size()), argv.data(), lens.data());
      };
      append({"MULTI"});
      for (auto& c : tx) append(c);
      append({"EXEC"});
      for (size_t i = 0; i < tx.size() + 2; ++i) {
        void* r = nullptr;
        if (redisGetReply(c_, &r) != REDIS_OK) throw std::runtime_error("redis: " + std::string(c_->errstr));
        reply rr(static_cast<redisReply*>(r), freeReplyObject);
        bool last = i == tx.size() + 1;
        if (rr->type == REDIS_REPLY_ERROR || (last && rr->type != REDIS_REPLY_ARRAY))
          throw std::runtime_error("redis: transaction failed: " +
                                   (rr->type == REDIS_REPLY_ERROR ? std::string(rr->str, rr->len) : "EXEC aborted"));
        if (last)
          for (size_t k = 0; k < rr->elements; ++k)
            if (rr->element[k]->type == REDIS_REPLY_ERROR)
              throw std::runtime_error("redis: in the transaction: " + std::string(rr->element[k]->str));
      }
    });
  }
  json event(json e) {
    e["time"] = now_ms();
    e["seq"] = last_seq() + 1;
    return e;
  }
  std::string addr_;
  int keep_;
  std::string p_;
  redisContext* c_ = nullptr;
};

// ---- the listener: inotify, recursive, on gofer's poller -----------------------------------
// What the listener tells the owner, in the order the kernel reported it:
//   modified     a file was closed after writing, or moved in from outside
//   deleted      a file was deleted, or moved out of the folder
//   renamed      a file moved inside the folder (MOVED_FROM + MOVED_TO with one cookie)
//   dir_renamed  a directory moved inside the folder: every file under `from` is now under `name`
//   dir_deleted  a directory was deleted or moved out: every file under `name` is gone
//   scanned      a directory was (re)listed — the folder at start and after a queue overflow,
//                a new or moved-in directory — and `files` is every file under `name`
struct change {
  enum kind_t { modified, deleted, renamed, dir_renamed, dir_deleted, scanned } kind;
  std::string name, from;
  std::vector<std::string> files;  // scanned
};

// Is `path` (relative, '/'-separated) `dir` itself or under it? ("" is the whole folder.)
bool is_under(const std::string& path, const std::string& dir) {
  return dir.empty() || path == dir || (path.size() > dir.size() && path[dir.size()] == '/' && path.rfind(dir, 0) == 0);
}

// The service's own temp files (uploads, reverts) and anything under a temp-named directory.
bool is_temp(const std::string& filename) { return filename.rfind(".tmp-", 0) == 0; }

// Runs until `stop` is set. The inotify fd is on gofer's poller (net::raw_fd): the
// goroutine parks until the kernel has events — no thread blocks in read() or poll(). A
// 100 ms read deadline wakes it to see `stop` and to expire unpaired moves.
//
// inotify watches directories, not trees, and a watch follows its directory's inode, not
// its path: `dirs` maps each watch descriptor to its directory's current path, and every
// directory event keeps it true — a rename rewrites the paths under it (the watches stay),
// a move out or a delete forgets them (IN_IGNORED also says the kernel dropped one), a new
// or moved-in directory is watched and then listed, because files written before its watch
// existed made no event (the inotify race). IN_Q_OVERFLOW means events were lost: the whole
// folder is watched and listed again, and the owner reconciles the store with the listing.
void listen_folder(const fs::path& root, gofer::chan<change> out, const std::atomic<bool>& stop) {
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) throw std::runtime_error("inotify_init1 failed");
  auto raw = gofer::net::raw_fd::adopt(fd);
  if (!raw.ok()) {
    ::close(fd);
    throw std::runtime_error("inotify on the poller: " + raw.status().ToString());
  }
  std::map<int, std::string> dirs;  // watch descriptor → directory relative to root ("" = root)
  const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_CREATE | IN_ONLYDIR |
                        IN_DONT_FOLLOW;
  auto join = [](const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; };
  // Watches `rel` and every directory under it, then lists their files into `files`.
  std::function<void(const std::string&, std::vector<std::string>&)> add = [&](const std::string& rel,
                                                                               std::vector<std::string>& files) {
    int wd = inotify_add_watch(fd, (root / rel).c_str(), mask);
    if (wd < 0) return;  // gone (or not a directory) already: a later event says so
    dirs[wd] = rel;
    std::error_code ec;
    for (fs::directory_iterator it(root / rel, ec), end; !ec && it != end; it.increment(ec)) {
      std::string fn = it->path().filename().string();
      if (is_temp(fn)) continue;
      std::string name = join(rel, fn);
      if (it->is_symlink(ec)) continue;  // not followed: a link could loop or leave the folder
      if (it->is_directory(ec)) add(name, files);
      else if (it->is_regular_file(ec)) files.push_back(name);
    }
  };
  auto scan = [&](const std::string& rel) {
    std::vector<std::string> files;
    add(rel, files);
    out.send(change{change::scanned, rel, "", std::move(files)});
  };
  // Forgets the watches on `rel` and under it (the kernel keeps watching a directory moved
  // out of the folder until told not to).
  auto forget = [&](const std::string& rel) {
    for (auto it = dirs.begin(); it != dirs.end();) {
      if (is_under(it->second, rel)) {
        inotify_rm_watch(fd, it->first);  // EINVAL if the kernel dropped it already: fine
        it = dirs.erase(it);
      } else {
        ++it;
      }
    }
  };
  scan("");
  struct pending_move {
    std::string name;
    bool dir;
    int64_t when;
  };
  std::map<uint32_t, pending_move> moved_from;  // cookie → what left, and when
  std::vector<char> storage(64 * 1024 + alignof(inotify_event));  // on the heap: goroutine stacks are small
  char* buf = storage.data();
  while (!stop.load()) {
    ssize_t n = 0;
    raw->set_read_deadline(std::chrono::steady_clock::now() + 100ms);
    absl::Status st = raw->read([&](int f) {  // Go's RawConn.Read: try, park on EAGAIN, retry
      n = ::read(f, buf, 64 * 1024);
      return !(n < 0 && errno == EAGAIN);
    });
    if (!st.ok() || n < 0) n = 0;  // the deadline: look at `stop` and the unpaired moves
    for (ssize_t off = 0; off < n;) {
      auto* ev = reinterpret_cast<inotify_event*>(buf + off);
      off += ssize_t(sizeof(inotify_event) + ev->len);
      if (ev->mask & IN_Q_OVERFLOW) {  // events were lost: watch and list everything again
        say("inotify queue overflowed: rescanning the folder");
        auto old = std::move(dirs);
        dirs.clear();
        moved_from.clear();
        scan("");
        for (auto& [wd, d] : old)
          if (!dirs.count(wd)) inotify_rm_watch(fd, wd);
        continue;
      }
      auto at = dirs.find(ev->wd);
      if (at == dirs.end()) continue;  // a watch already forgotten
      if (ev->mask & IN_IGNORED) {     // the kernel dropped the watch (its directory is gone)
        if (at->second.empty()) say("the folder itself was deleted or unmounted: nothing is watched any more");
        dirs.erase(at);
        continue;
      }
      if (ev->len == 0) continue;  // about the watched directory itself (DELETE_SELF...): its parent reports it
      std::string fn = ev->name;
      if (is_temp(fn)) continue;
      std::string name = join(at->second, fn);
      bool dir = ev->mask & IN_ISDIR;
      if (ev->mask & IN_MOVED_FROM) {
        moved_from[ev->cookie] = {name, dir, now_ms()};
      } else if (ev->mask & IN_MOVED_TO) {
        auto it = moved_from.find(ev->cookie);
        if (it == moved_from.end()) {  // moved in from outside
          if (dir) scan(name);
          else out.send(change{change::modified, name, "", {}});
          continue;
        }
        std::string from = it->second.name;
        moved_from.erase(it);
        if (!dir) {
          out.send(change{change::renamed, name, from, {}});
          continue;
        }
        // The watches moved with the directory: only their paths change.
        for (auto& [wd, d] : dirs)
          if (is_under(d, from)) d = name + d.substr(from.size());
        out.send(change{change::dir_renamed, name, from, {}});
      } else if (dir) {
        if (ev->mask & IN_CREATE) scan(name);
        else if (ev->mask & IN_DELETE) {
          forget(name);
          out.send(change{change::dir_deleted, name, "", {}});
        }
      } else if (ev->mask & IN_CLOSE_WRITE) {
        out.send(change{change::modified, name, "", {}});
      } else if (ev->mask & IN_DELETE) {
        out.send(change{change::deleted, name, "", {}});
      }
    }
    // A MOVED_FROM whose MOVED_TO never came: it left the folder.
    for (auto it = moved_from.begin(); it != moved_from.end();) {
      if (now_ms() - it->second.when > 200) {
        if (it->second.dir) {
          forget(it->second.name);
          out.send(change{change::dir_deleted, it->second.name, "", {}});
        } else {
          out.send(change{change::deleted, it->second.name, "", {}});
        }
        it = moved_from.erase(it);
      } else {
        ++it;
      }
    }
  }
  (void)raw->close();
  out.close();
}

// ---- the hub: owns the subscriber list ------------------------------------------------------
struct subscriber {
  int id;
  gofer::chan<std::string> queue;  // lines for this subscriber's writer goroutine
};
struct hub_msg {
  std::variant<std::string, subscriber, int> m;  // an event line | subscribe | unsubscribe(id)
};

std::atomic<int> g_subscribers{0};
std::atomic<long> g_dropped{0};

// A slow subscriber (its queue full) or a dead one (its writer failed) is dropped: the hub
// never waits for a subscriber, so one stuck client cannot stall the others.
void hub(gofer::chan<hub_msg> in) {
  std::map<int, gofer::chan<std::string>> subs;
  for (hub_msg msg : in) {
    if (auto* line = std::get_if<std::string>(&msg.m)) {
      for (auto it = subs.begin(); it != subs.end();) {
        if (it->second.try_send(std::string(*line))) {
          ++it;
        } else {
          it->second.close();
          g_dropped++;
          it = subs.erase(it);
        }
      }
    } else if (auto* s = std::get_if<subscriber>(&msg.m)) {
      subs.emplace(s->id, s->queue);
    } else if (auto it = subs.find(std::get<int>(msg.m)); it != subs.end()) {
      it->second.close();
      subs.erase(it);
    }
    g_subscribers = int(subs.size());
  }
  for (auto& [id, q] : subs) q.close();  // shutdown: writers flush and close their sockets
  g_subscribers = 0;
}

// ---- requests from TCP clients to the store's owner ----------------------------------------
struct request {
  std::string verb, name;
  int version = 0;
  int64_t seq = 0;
  gofer::chan<std::string> queue;  // SUBSCRIBE: the new subscriber's queue
  int id = 0;
  gofer::chan<std::pair<json, std::string>> reply;  // header, body
};

// ---- the owner: debounces changes and is the only user of the store -------------------------
// Editors write a file in bursts (several close-after-write events within milliseconds); a
// change becomes a version only after the file has been quiet for `quiet`, and only if its
// content (hash) changed.
std::atomic<int> g_pending{0};
std::atomic<int64_t> g_last_event{0};
std::atomic<long> g_events{0};

void owner(meta_store& db, const fs::path& root, const fs::path& tmpdir, std::chrono::milliseconds quiet,
           gofer::chan<change> changes, gofer::chan<request> requests, gofer::chan<hub_msg> hub_in) {
  std::map<std::string, std::chrono::steady_clock::time_point> pending;
  auto publish = [&](const json& e) {
    g_events++;
    g_last_event = now_ms();
    say("%s", e.dump().c_str());
    hub_in.send(hub_msg{e.dump() + "\n"});
  };
  auto settle = [&](const std::string& name) {
    auto data = gofer::blocking([&] { return slurp(root / name); });  // file I/O off the scheduler
    auto old = db.get(name);
    if (!data) {  // gone meanwhile
      if (old && !old->deleted) publish(db.remove(name));
      return;
    }
    std::string h = gofer::blocking([&] { return sha256(*data); });
    if (old && !old->deleted && old->hash == h) return;  // same content: no new version
    publish(db.put(name, h, *data));
  };
  bool changes_open = true, requests_open = true;
  while (changes_open || requests_open || !pending.empty()) {
    auto now = std::chrono::steady_clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->second <= now) {
        std::string n = it->first;
        it = pending.erase(it);
        settle(n);
      } else {
        ++it;
      }
    }
    g_pending = int(pending.size());
    auto wait = quiet;
    for (auto& [n, t] : pending) wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(t - now));
    if (!changes_open && !requests_open) {  // shutting down: settle what is pending now
      for (auto& [n, t] : pending) t = now;
      continue;
    }
    gofer::select(
        gofer::recv_case(changes_open ? changes : gofer::chan<change>(nullptr),
                         [&](std::optional<change> c) {
                           if (!c) return void(changes_open = false);
                           if (c->kind == change::modified) {
                             pending[c->name] = std::chrono::steady_clock::now() + quiet;  // (re)start its quiet period
                           } else if (c->kind == change::deleted) {
                             pending.erase(c->name);
                             auto old = db.get(c->name);
                             if (old && !old->deleted) publish(db.remove(c->name));
                           } else if (c->kind == change::renamed) {
                             pending.erase(c->from);
                             auto old = db.get(c->from);
                             if (old && !old->deleted) publish(db.rename(c->from, c->name));
                             else pending[c->name] = std::chrono::steady_clock::now() + quiet;  // unknown: a new file
                           } else if (c->kind == change::dir_renamed) {
                             // Each file under it is renamed (its history kept), in name order;
                             // one still in its quiet period keeps waiting under its new name.
                             std::map<std::string, std::chrono::steady_clock::time_point> moved;
                             for (auto it = pending.begin(); it != pending.end();) {
                               if (is_under(it->first, c->from)) {
                                 moved[c->name + it->first.substr(c->from.size())] = it->second;
                                 it = pending.erase(it);
                               } else {
                                 ++it;
                               }
                             }
                             pending.merge(moved);
                             for (auto& m : db.all())
                               if (!m.deleted && is_under(m.name, c->from))
                                 publish(db.rename(m.name, c->name + m.name.substr(c->from.size())));
                           } else {
                             // dir_deleted: every file under it is gone. scanned: every file under
                             // it that the listing lacks is gone, and each listed one is checked
                             // (a new version only if its content differs from the store's).
                             std::set<std::string> listed(c->files.begin(), c->files.end());
                             for (auto it = pending.begin(); it != pending.end();)
                               it = is_under(it->first, c->name) && !listed.count(it->first) ? pending.erase(it) : ++it;
                             for (auto& m : db.all())
                               if (!m.deleted && is_under(m.name, c->name) && !listed.count(m.name))
                                 publish(db.remove(m.name));
                             for (auto& f : listed) pending[f] = std::chrono::steady_clock::now() + quiet;
                           }
                         }),
        gofer::recv_case(requests_open ? requests : gofer::chan<request>(nullptr),
                         [&](std::optional<request> r) {
                           if (!r) return void(requests_open = false);
                           json h;
                           std::string body;
                           if (r->verb == "SUBSCRIBE") {
                             std::string backlog;
                             for (auto& e : db.events_after(r->seq)) backlog += e.dump() + "\n";
                             if (!backlog.empty()) r->queue.send(std::move(backlog));
                             hub_in.send(hub_msg{subscriber{r->id, r->queue}});
                             h = {{"ok", true}};
                           } else if (r->verb == "LIST" || r->verb == "STATE") {
                             h = json::array();
                             for (auto& m : db.all())
                               h.push_back({{"name", m.name}, {"hash", m.hash}, {"created", m.created},
                                            {"last_modified", m.last_modified}, {"version", m.version},
                                            {"deleted", m.deleted}, {"revisions", m.revisions}});
                             // STATE (the web page): the list and the last event it includes.
                             if (r->verb == "STATE") h = {{"ok", true}, {"seq", db.last_seq()}, {"files", h}};
                           } else if (r->verb == "FETCH" || r->verb == "REVERT") {
                             auto c = db.content(r->name, r->version);
                             if (!c) {
                               h = {{"ok", false}, {"error", "no version " + std::to_string(r->version) + " of " + r->name}};
                             } else if (r->verb == "FETCH") {
                               h = {{"ok", true}, {"size", c->size()}, {"hash", sha256(*c)}};
                               body = std::move(*c);
                             } else {
                               // Restored through the folder: the listener sees the file moved in
                               // and the debouncer makes it a new version, like any other change.
                               write_atomic(root / r->name, *c, tmpdir);
                               h = {{"ok", true}, {"restored", r->name}, {"from_version", r->version}};
                             }
                           } else {
                             h = {{"ok", false}, {"error", "unknown request " + r->verb}};
                           }
                           r->reply.send({h, body});
                         }),
        gofer::recv_case(gofer::after(std::max(wait, std::chrono::milliseconds(1))), [](auto) {}));
  }
  hub_in.close();
}

// ---- one TCP client of the service ---------------------------------------------------------
std::atomic<int> g_next_id{1};

json health_json() {
  return {{"ok", true},          {"pending", g_pending.load()}, {"subscribers", g_subscribers.load()},
          {"dropped", g_dropped.load()}, {"events", g_events.load()}, {"last_event", g_last_event.load()}};
}

void serve_client(gofer::net::conn c, gofer::chan<request> requests, gofer::chan<hub_msg> hub_in) {
  line_reader r(c);
  auto l = r.line();
  if (!l) return;
  std::istringstream in(*l);
  request q;
  in >> q.verb;
  q.reply = gofer::chan<std::pair<json, std::string>>(1);
  if (q.verb == "HEALTH") {
    (void)c.write(health_json().dump() + "\n");
    return;
  }
  if (q.verb == "SUBSCRIBE") {
    in >> q.seq;
    q.id = g_next_id++;
    q.queue = gofer::chan<std::string>(256);
  } else if (q.verb == "FETCH" || q.verb == "REVERT") {
    std::string rest;
    std::getline(in, rest);
    json args = json::parse(rest, nullptr, false);
    if (args.is_discarded() || args.size() != 2 || !args[0].is_string() || !args[1].is_number_integer()) {
      (void)c.write(json{{"ok", false}, {"error", "usage: " + q.verb + " [\"name\", version]"}}.dump() + "\n");
      return;
    }
    q.name = args[0];
    q.version = args[1];
  }
  try {
    requests.send(request(q));
  } catch (const gofer::panic_error&) {
    return;  // shutting down
  }
  auto [h, body] = *q.reply.recv();
  if (q.verb == "LIST") {
    std::string out;
    for (auto& f : h) out += f.dump() + "\n";
    (void)c.write(out + "\n");
    return;
  }
  if (!c.write(h.dump() + "\n" + body).ok() || q.verb != "SUBSCRIBE") return;
  // The subscriber's writer: drains its queue; a failed or slow write drops it.
  for (std::string line : q.queue) {
    c.set_write_deadline(std::chrono::steady_clock::now() + 2s);
    if (!c.write(line).ok()) {
      try {
        hub_in.try_send(hub_msg{q.id});  // dead: the hub forgets it (or drops it when full)
      } catch (const gofer::panic_error&) {  // the hub is already gone (shutdown)
      }
      break;
    }
  }
  (void)c.close();
}

// =============================================================================================
// The web interface: the file list, live change alerts, uploads, revert buttons
// =============================================================================================
// An HTTP server (gofer::http) in the service process, beside the TCP port. Its handlers
// are clients of the owner like the TCP ones: they send it requests over the same channel,
// so the store still has one user. An upload is written into the watched folder (a temp
// file in the store directory, then a rename into the folder): the listener sees it moved
// in and it travels the whole chain — debounce, store, event, backup — like a file saved
// by hand. The page (ch08_filesync/web/: HTML, CSS, JS) is compiled into the program.

// Is `name` a file name the service may write into the folder? Relative, '/'-separated,
// no empty, "." or ".." segment, no NUL or backslash, not one of the service's temp names,
// each segment at most 255 bytes.
bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 4096 || name.front() == '/') return false;
  if (name.find('\0') != std::string::npos || name.find('\\') != std::string::npos) return false;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = name.find('/', start);
    std::string seg = name.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (seg.empty() || seg == "." || seg == ".." || seg.size() > 255 || seg.rfind(".tmp-", 0) == 0) return false;
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

// One part of a multipart/form-data body: its field name, the file name it came with (if
// any), its bytes.
struct form_part {
  std::string filename, content;
  bool has_filename = false;
};

// Parses a multipart/form-data body (RFC 7578) with GMime (Debian libgmime-3.0-dev):
// the parts by field name, or nullopt and `why`. Strict where GMime is lenient: the
// Content-Type must be multipart/form-data with a boundary, the body must end with the
// closing delimiter (a cut-off upload is refused, not stored half), every part needs a
// Content-Disposition: form-data with a name, and a name may appear once.
std::optional<std::map<std::string, form_part>> parse_form_data(const std::string& content_type,
                                                                 const std::string& body, std::string* why) {
  GMimeContentType* ct = g_mime_content_type_parse(nullptr, content_type.c_str());
  std::string boundary;
  bool form = ct && g_mime_content_type_is_type(ct, "multipart", "form-data");
  if (ct) {
    if (const char* b = g_mime_content_type_get_parameter(ct, "boundary")) boundary = b;
    g_object_unref(ct);
  }
  if (!form || boundary.empty() || boundary.size() > 70) {
    *why = "expected Content-Type: multipart/form-data with a boundary";
    return std::nullopt;
  }
  // The closing delimiter, then at most a line break (RFC 2046 allows an epilogue; browsers
  // send none, and a missing delimiter means the body was cut).
  std::string close = "--" + boundary + "--";
  auto at = body.rfind(close);
  if (at == std::string::npos || body.find_first_not_of("\r\n", at + close.size()) != std::string::npos) {
    *why = "the multipart body does not end with its closing boundary";
    return std::nullopt;
  }
  // GMime parses a MIME entity: the Content-Type header line, an empty line, the body.
  std::string entity = "Content-Type: " + content_type + "\r\n\r\n" + body;
  GMimeStream* stream = g_mime_stream_mem_new_with_buffer(entity.data(), entity.size());
  GMimeParser* parser = g_mime_parser_new_with_stream(stream);
  GMimeObject* top = g_mime_parser_construct_part(parser, nullptr);
  gofer::defer free_all([&] {
    if (top) g_object_unref(top);
    g_object_unref(parser);
    g_object_unref(stream);
  });
  if (!top || !GMIME_IS_MULTIPART(top)) {
    *why = "malformed multipart body";
    return std::nullopt;
  }
  std::map<std::string, form_part> parts;
  int n = g_mime_multipart_get_count(GMIME_MULTIPART(top));
  for (int i = 0; i < n; ++i) {
    GMimeObject* part = g_mime_multipart_get_part(GMIME_MULTIPART(top), i);
    GMimeContentDisposition* d = g_mime_object_get_content_disposition(part);
    const char* field = d ? g_mime_content_disposition_get_parameter(d, "name") : nullptr;
    if (!GMIME_IS_PART(part) || !d || std::string_view(g_mime_content_disposition_get_disposition(d)) != "form-data" ||
        !field || !*field) {
      *why = "part " + std::to_string(i + 1) + " has no Content-Disposition: form-data; name=...";
      return std::nullopt;
    }
    if (parts.count(field)) {
      *why = std::string("the field ") + field + " appears twice";
      return std::nullopt;
    }
    form_part p;
    if (const char* fn = g_mime_content_disposition_get_parameter(d, "filename")) {
      p.filename = fn;
      p.has_filename = true;
    }
    if (GMimeDataWrapper* w = g_mime_part_get_content(GMIME_PART(part))) {
      GMimeStream* out = g_mime_stream_mem_new();
      g_mime_data_wrapper_write_to_stream(w, out);
      GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
      p.content.assign(reinterpret_cast<const char*>(bytes->data), bytes->len);
      g_object_unref(out);
    }
    parts.emplace(field, std::move(p));
  }
  return parts;
}

// Sends a request to the owner and waits for its answer; nullopt once the service is
// shutting down (the requests channel is closed).
std::optional<std::pair<json, std::string>> ask_owner(gofer::chan<request> requests, request q) {
  q.reply = gofer::chan<std::pair<json, std::string>>(1);
  auto reply = q.reply;
  try {
    requests.send(std::move(q));
  } catch (const gofer::panic_error&) {
    return std::nullopt;
  }
  auto r = reply.recv();
  if (!r) return std::nullopt;
  return *r;
}

// The routes. `root` is the watched folder, `tmpdir` where uploads are written before the
// rename into it (outside the folder, so the listener never sees a half-written upload).
gofer::http::serve_mux web_routes(const fs::path& root, const fs::path& tmpdir, gofer::chan<request> requests,
                                  gofer::chan<hub_msg> hub_in) {
  namespace http = gofer::http;
  http::serve_mux mux;
  auto asset = [](std::string_view body, const char* type) {
    return [body, type](const http::request&, http::response_writer& w) {
      w.headers().set("Content-Type", type);
      w.headers().set("Cache-Control", "no-cache");
      (void)w.write(body);  // buffered: sent when the handler returns
    };
  };
  mux.handle("GET /{$}", asset(filesync_web::index_html, "text/html; charset=utf-8"));
  mux.handle("GET /style.css", asset(filesync_web::style_css, "text/css; charset=utf-8"));
  mux.handle("GET /app.js", asset(filesync_web::app_js, "text/javascript; charset=utf-8"));

  // The list, and the sequence number of the last event it includes (the page subscribes
  // to the events after it).
  mux.handle("GET /api/files", [requests, root](const http::request&, http::response_writer& w) {
    request q;
    q.verb = "STATE";
    auto a = ask_owner(requests, std::move(q));
    if (!a) return http::error(w, "shutting down", http::status::service_unavailable);
    a->first["folder"] = root.string();
    http::write_json(w, http::status::ok, a->first);
  });

  // {"name": "...", "version": N} → the owner restores it (a new version, through the folder).
  mux.handle("POST /api/revert", [requests](const http::request& r, http::response_writer& w) {
    auto j = http::decode_json(r, w);
    if (!j) return;
    if (!j->is_object() || !j->contains("name") || !(*j)["name"].is_string() || !j->contains("version") ||
        !(*j)["version"].is_number_integer()) {
      return http::write_json(w, http::status::bad_request,
                              {{"ok", false}, {"error", "expected {\"name\": string, \"version\": integer}"}});
    }
    request q;
    q.verb = "REVERT";
    q.name = (*j)["name"];
    q.version = (*j)["version"];
    auto a = ask_owner(requests, std::move(q));
    if (!a) return http::error(w, "shutting down", http::status::service_unavailable);
    http::write_json(w, a->first.value("ok", false) ? http::status::ok : http::status::not_found, a->first);
  });

  // multipart/form-data: "file" (the upload) and optionally "name" (where in the folder).
  mux.handle("POST /upload", [root, tmpdir](const http::request& r, http::response_writer& w) {
    bool wants_json = r.headers.get("Accept").find("application/json") != std::string::npos;
    auto fail = [&](int code, const std::string& why) {
      http::write_json(w, code, {{"ok", false}, {"error", why}});
    };
    std::string why;
    // The body is read here, on the goroutine (request::body() parks on the connection);
    // only the parse goes to a blocking thread.
    const std::string& body = r.body();
    auto parts = gofer::blocking([&] { return parse_form_data(r.headers.get("Content-Type"), body, &why); });
    if (!parts) return fail(http::status::bad_request, why);
    auto file = parts->find("file");
    if (file == parts->end() || !file->second.has_filename) return fail(http::status::bad_request, "no file field");
    std::string name = file->second.filename;
    if (auto n = parts->find("name"); n != parts->end() && !n->second.content.empty()) name = n->second.content;
    if (!valid_name(name)) return fail(http::status::bad_request, "bad file name: " + json(name).dump());
    const std::string& data = file->second.content;
    bool ok = gofer::blocking([&] {
      std::error_code ec;
      if (fs::is_directory(root / name, ec)) return false;
      write_atomic(root / name, data, tmpdir);
      return true;
    });
    if (!ok) return fail(http::status::conflict, name + " is a directory");
    say("web: upload %s, %zu bytes, into the folder", name.c_str(), data.size());
    if (!wants_json) return http::redirect(w, r, "/", http::status::see_other);  // a plain form post
    http::write_json(w, http::status::created, {{"ok", true}, {"name", name}, {"size", data.size()}});
  });

  mux.handle("GET /health", [](const http::request&, http::response_writer& w) {
    http::write_json(w, http::status::ok, health_json());
  });

  // GET /events: Server-Sent Events (http::event_stream), one per store event — "event:
  // change", "id: <seq>", "data: <the event's JSON>" — after ?after=<seq>, or after the
  // Last-Event-ID a reconnecting EventSource sends. The handler is a subscriber like a TCP
  // one: the owner replays the events after <seq> into its queue and registers the queue
  // with the hub, which fills it (and drops it if it fills up: the stream then ends and the
  // browser reconnects from its last id). It ends when the client leaves (r.ctx, or a send
  // fails), when the hub drops it, or when the service shuts down.
  mux.handle("GET /events", [requests, hub_in](const http::request& r, http::response_writer& w) {
    std::string from = r.headers.get("Last-Event-ID");
    if (from.empty()) from = r.query("after");
    int64_t after = 0;
    if (!from.empty()) {
      auto [end, ec] = std::from_chars(from.data(), from.data() + from.size(), after);
      if (ec != std::errc() || end != from.data() + from.size() || after < 0)
        return http::error(w, "after: not a sequence number", http::status::bad_request);
    }
    request sub;
    sub.verb = "SUBSCRIBE";
    sub.seq = after;
    sub.id = g_next_id++;
    sub.queue = gofer::chan<std::string>(256);
    auto queue = sub.queue;
    int id = sub.id;
    if (!ask_owner(requests, std::move(sub))) return http::error(w, "shutting down", http::status::service_unavailable);
    gofer::defer forget([hub_in, id] {
      try {
        hub_in.try_send(hub_msg{id});  // the hub closes and forgets the queue
      } catch (const gofer::panic_error&) {  // the hub is gone (shutdown)
      }
    });
    http::event_stream es(w);
    for (;;) {
      std::optional<std::string> lines;
      int what = gofer::select(gofer::recv_case(queue, [&](std::optional<std::string> l) { lines = std::move(l); return 0; }),
                               gofer::recv_case(r.ctx.done(), [](auto) { return 1; }),
                               gofer::recv_case(gofer::after(15s), [](auto) { return 2; }));
      if (what == 1) return;  // the client left, or the server is closing
      if (what == 2) {        // a keep-alive comment: a dead client shows up as a failed write
        if (!es.comment("keep-alive").ok()) return;
        continue;
      }
      if (!lines) return;  // dropped by the hub (too slow) or shutdown
      std::string_view rest = *lines;  // one or more '\n'-terminated event lines (a backlog)
      while (!rest.empty()) {
        auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        if (line.empty()) continue;
        json e = json::parse(line, nullptr, false);
        std::string seq = e.is_object() && e.contains("seq") ? std::to_string(e["seq"].get<int64_t>()) : "";
        if (!es.send("change", line, seq).ok()) return;
      }
    }
  });
  return mux;
}

// What the service runs with: flags, or the [section] keys of a --config INI file (below).
struct service_config {
  fs::path dir, data;
  std::string listen = "127.0.0.1:0", addr_file;
  std::string web, web_addr_file;  // web: the HTTP address ("" = no web interface)
  std::string store = "sqlite";    // or "redis"
  std::string redis;               // a running Redis's address; "" = start a private one
  int quiet_ms = 150, keep = 10;
  bool lock = true;                // [revisions] lockfiles: one service per store directory
  std::string log_file;            // [logs] file: the service's lines, also to this rotated file
  int log_rotate_bytes = 1 << 20, log_files = 3;
  std::string config_file;         // --config: the scripted run hands it to the service it starts
};

// The lock file ([revisions] lockfiles): an exclusive flock on <dir>/<name>, holding our
// pid, for as long as the process lives (the kernel drops it when the process dies, even by
// SIGKILL, so a crash leaves no stale lock). A second process on the same directory gets
// an error naming the holder. Returns the fd, kept open.
int lock_dir(const fs::path& dir, const char* name, const char* who) {
  fs::path p = dir / name;
  int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(std::string("cannot open the lock file ") + p.string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder = slurp(p).value_or("?");
    ::close(fd);
    throw std::runtime_error(std::string(who) + ": " + dir.string() + " is in use by process " + holder +
                             " (lock file " + p.string() + ")");
  }
  std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) { /* the lock is what counts */ }
  return fd;
}

int run_service(const service_config& cfg, gofer::chan<int> sigs) {
  const fs::path& dir = cfg.dir;
  const fs::path& data = cfg.data;
  fs::create_directories(dir);
  fs::create_directories(data);
  int lock_fd = cfg.lock ? lock_dir(data, "filesync.lock", "service") : -1;
  gofer::defer unlock([lock_fd] { if (lock_fd >= 0) ::close(lock_fd); });
  if (!cfg.log_file.empty()) {
    g_filelog = spdlog::rotating_logger_mt("filesync", cfg.log_file, std::size_t(cfg.log_rotate_bytes),
                                           std::size_t(cfg.log_files));
    gofer::log::use_goroutine_flag(*g_filelog, "[%Y-%m-%d %H:%M:%S.%e] [%G] %v");
    g_filelog->flush_on(spdlog::level::info);
  }
  // The store: SQLite in the store directory, or Redis (a private redis-server started
  // through the shared launcher, stopped with the service, unless --redis names one).
  gofer_demo::server redis_server;
  std::unique_ptr<meta_store> db;
  if (cfg.store == "redis") {
    std::string addr = cfg.redis;
    if (addr.empty()) {
      redis_server = gofer_demo::server::start(gofer_demo::redis_spec());
      addr = redis_server.addr();
    }
    db = std::make_unique<redis_store>(addr, cfg.keep);
  } else {
    db = std::make_unique<sqlite_store>(data / "meta.db", cfg.keep);
  }
  auto ln = gofer::net::listen(cfg.listen);
  if (!ln.ok()) {
    std::fprintf(stderr, "service: %s\n", ln.status().ToString().c_str());
    return 1;
  }
  std::string addr = ln->addr();
  say("watching %s, store %s, subscribers on %s", dir.c_str(), db->describe().c_str(), addr.c_str());

  gofer::chan<change> changes(1024);
  gofer::chan<request> requests(64);
  gofer::chan<hub_msg> hub_in(1024);

  // The web interface, on its own port.
  std::optional<gofer::http::server> web;
  if (!cfg.web.empty()) {
    auto wln = gofer::net::listen(cfg.web);
    if (!wln.ok()) {
      std::fprintf(stderr, "service: web: %s\n", wln.status().ToString().c_str());
      return 1;
    }
    std::string waddr = wln->addr();
    web.emplace(web_routes(dir, data, requests, hub_in));
    gofer::go(gofer::named{"web"}, [&web, wln = std::move(*wln)]() mutable { (void)web->serve(std::move(wln)); });
    say("web page on http://%s/", waddr.c_str());
    if (!cfg.web_addr_file.empty()) write_atomic(cfg.web_addr_file, waddr, fs::path(cfg.web_addr_file).parent_path());
  }
  if (!cfg.addr_file.empty()) write_atomic(cfg.addr_file, addr, fs::path(cfg.addr_file).parent_path());

  std::atomic<bool> stop{false};
  gofer::wait_group wg;
  wg.add(3);
  gofer::go(gofer::named{"listener"}, [&] { listen_folder(dir, changes, stop); wg.done(); });
  gofer::go(gofer::named{"owner"}, [&] {
    owner(*db, dir, data, std::chrono::milliseconds(cfg.quiet_ms), changes, requests, hub_in);
    wg.done();
  });
  gofer::go(gofer::named{"hub"}, [&] { hub(hub_in); wg.done(); });
  auto [ctx, cancel] = gofer::with_cancel(gofer::background());
  gofer::go(gofer::named{"acceptor"}, [&, ctx = ctx] {
    for (;;) {
      auto c = ln->accept(ctx);
      if (!c.ok()) break;
      gofer::go(gofer::named{"client"}, serve_client, std::move(*c), requests, hub_in);
    }
  });
  int sig = *sigs.recv();
  say("got %s, shutting down: settle pending changes, close subscribers", sig == SIGINT ? "SIGINT" : "SIGTERM");
  cancel();
  (void)ln->close();
  if (web) (void)web->close();  // event streams end; their handlers see their queues close
  stop = true;      // the listener stops, closes `changes`
  requests.close();  // the owner settles what is pending, closes the hub's input
  wg.wait();
  say("stopped gracefully after %ld events", g_events.load());
  return 0;
}

// =============================================================================================
// The backup: a subscriber that keeps backup/<name>.<version>
// =============================================================================================
// It copies the file from the folder and keeps the copy only if its hash is the event's: a
// file still being written (or already changed again) hashes differently, and then the
// version's content comes from the store (FETCH). It records the last event it handled in
// backup/.seq, so a restarted backup catches up from the store's event log.
//
// With `web` (--web ADDR) it answers GET /health too: {"connected", "seq" (the last event
// handled), "saved", "last_event" (ms), "pending" (events received, not yet handled)}.
int run_backup(const fs::path& bdir, const fs::path& dir, const std::string& addr, gofer::chan<int> sigs,
               const std::string& web = "", const std::string& web_addr_file = "") {
  fs::create_directories(bdir);
  int lock_fd = lock_dir(bdir, ".lock", "backup");  // one backup per directory
  gofer::defer unlock([lock_fd] { ::close(lock_fd); });
  int64_t seq = 0;
  if (auto s = slurp(bdir / ".seq")) seq = std::stoll(*s);
  auto c = gofer::net::dial(addr);
  if (!c.ok()) {
    std::fprintf(stderr, "backup: cannot reach the service at %s: %s\n", addr.c_str(), c.status().ToString().c_str());
    return 1;
  }
  std::printf("backup: into %s, resuming after event %lld\n", bdir.c_str(), static_cast<long long>(seq));
  // What /health reports: written by this goroutine, read by the handler's.
  std::atomic<bool> h_connected{true};
  std::atomic<int64_t> h_seq{seq}, h_last_event{0};
  std::atomic<long> h_saved{0};
  std::atomic<int> h_pending{0};
  std::optional<gofer::http::server> hsrv;
  gofer::chan<int> hdone(1);
  if (!web.empty()) {
    auto wln = gofer::net::listen(web);
    if (!wln.ok()) {
      std::fprintf(stderr, "backup: health: %s\n", wln.status().ToString().c_str());
      return 1;
    }
    gofer::http::serve_mux mux;
    mux.handle("GET /health", [&](const gofer::http::request&, gofer::http::response_writer& w) {
      gofer::http::write_json(w, gofer::http::status::ok,
                              {{"ok", true}, {"connected", h_connected.load()}, {"seq", h_seq.load()},
                               {"saved", h_saved.load()}, {"last_event", h_last_event.load()},
                               {"pending", h_pending.load()}});
    });
    hsrv.emplace(std::move(mux));
    std::string waddr = wln->addr();
    gofer::go(gofer::named{"backup-health"}, [&hsrv, hdone, wln = std::move(*wln)]() mutable {
      (void)hsrv->serve(std::move(wln));
      hdone.send(1);
    });
    std::printf("backup: health on http://%s/health\n", waddr.c_str());
    if (!web_addr_file.empty()) write_atomic(web_addr_file, waddr, fs::path(web_addr_file).parent_path());
  }
  gofer::defer stop_health([&] {  // graceful: no handler is left reading the counters
    if (!hsrv) return;
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 2s);
    (void)hsrv->shutdown(ctx);
    cancel();
    (void)hsrv->close();
    hdone.recv();
  });
  std::fflush(stdout);
  gofer::go(gofer::named{"backup-stop"}, [sigs, &c] {
    if (sigs.recv()) (void)c->close();  // unblocks the reader below
  });
  (void)c->write("SUBSCRIBE " + std::to_string(seq) + "\n");
  line_reader r(*c);
  auto hello = r.line();
  long saved = 0;
  auto save = [&](const std::string& name, int v, const std::string& hash) {
    fs::path dest = bdir / (name + "." + std::to_string(v));
    if (fs::exists(dest)) return;
    auto copy = gofer::blocking([&] { return slurp(dir / name); });
    const char* how = "copied";
    if (!copy || sha256(*copy) != hash) {  // half-written or changed again: ask the store
      std::string body;
      auto h = ask(addr, "FETCH " + json::array({name, v}).dump(), &body);
      if (!h || !h->value("ok", false) || sha256(body) != hash) return;  // pruned or renamed: a later event covers it
      copy = body;
      how = "fetched from the store (the folder had other content)";
    }
    gofer::blocking([&] { write_atomic(dest, *copy, bdir); });
    ++saved;
    h_saved = saved;
    std::printf("backup: saved %s.%d, %s\n", name.c_str(), v, how);
  };
  while (hello) {
    auto l = r.line();
    if (!l) break;
    json e = json::parse(*l, nullptr, false);
    if (e.is_discarded()) continue;
    std::string op = e["op"], name = e["name"];
    if (op == "version") {
      save(name, e["version"], e["hash"]);
    } else if (op == "rename") {  // keep the history under the new name
      std::string from = e["from"];
      for (int v = 1; v <= int(e["version"]); ++v) {
        fs::path o = bdir / (from + "." + std::to_string(v)), n = bdir / (name + "." + std::to_string(v));
        if (fs::exists(o) && !fs::exists(n)) {
          fs::create_directories(n.parent_path());
          fs::rename(o, n);
        } else if (!fs::exists(n)) {
          // Missed under the old name (this backup was down, and the store renamed the
          // history meanwhile): fetch it under the new one.
          std::string body;
          auto h = ask(addr, "FETCH " + json::array({name, v}).dump(), &body);
          if (h && h->value("ok", false) && sha256(body) == h->value("hash", "")) {
            gofer::blocking([&] { write_atomic(n, body, bdir); });
            ++saved;
            h_saved = saved;
            std::printf("backup: saved %s.%d, fetched from the store (missed before the rename)\n", name.c_str(), v);
          }
        }
      }
      std::printf("backup: %s renamed to %s, backups moved\n", from.c_str(), name.c_str());
    } else if (op == "delete") {
      std::printf("backup: %s deleted in the folder, its backups stay\n", name.c_str());
    }
    seq = e["seq"];
    h_seq = seq;  // before .seq: whoever sees the file sees /health agree
    h_last_event = now_ms();
    h_pending = int(r.buffered_lines());
    write_atomic(bdir / ".seq", std::to_string(seq), bdir);
    std::fflush(stdout);
  }
  h_connected = false;
  std::printf("backup: stopped after event %lld, %ld copies saved\n", static_cast<long long>(seq), saved);
  return 0;
}

// =============================================================================================
// The scripted run: starts the parts, makes changes, shows what each part saw
// =============================================================================================

// Waits (polling a file another process writes, with a deadline) for `p` to exist.
bool wait_for_file(const fs::path& p, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!fs::exists(p)) {
    if (std::chrono::steady_clock::now() > end) return false;
    gofer::sleep(10ms);
  }
  return true;
}

void write_file(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

int run_demo(bool serve, const service_config& cfg, gofer::chan<int> sigs) {
  char tmpl[] = "/tmp/gofer-filesync-XXXXXX";
  fs::path base = ::mkdtemp(tmpl);
  fs::path dir = base / "folder", data = base / "store", bdir = base / "backup";
  fs::create_directories(dir);
  fs::create_directories(data);
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::printf("folder %s\n", dir.c_str());
  std::vector<std::string> svc_args = {self,         "--service",  "--dir",  dir,   "--data",
                                       data,         "--addr-file", data / "addr", "--quiet-ms", std::to_string(cfg.quiet_ms),
                                       "--store",    cfg.store,    "--keep", std::to_string(cfg.keep)};
  if (!cfg.redis.empty()) svc_args.insert(svc_args.end(), {"--redis", cfg.redis});
  if (!cfg.config_file.empty()) svc_args.insert(svc_args.end(), {"--config", fs::absolute(cfg.config_file)});
  svc_args.insert(svc_args.end(), {"--web", serve && !cfg.web.empty() ? cfg.web : "127.0.0.1:0", "--web-addr-file", data / "web"});
  auto svc = gofer_demo::process::spawn(svc_args, base / "service.log");
  if (!wait_for_file(data / "addr")) {
    std::fprintf(stderr, "filesync: the service did not start; its log:\n%s", slurp(base / "service.log").value_or("").c_str());
    return 1;
  }
  std::string addr = *slurp(data / "addr");
  auto bak = gofer_demo::process::spawn({self, "--backup", bdir, "--dir", dir, "--connect", addr, "--web", "127.0.0.1:0",
                                         "--web-addr-file", base / "backup-web"},
                                        base / "backup.log");
  std::printf("service on %s, backup into %s\n", addr.c_str(), bdir.c_str());

  // The watcher: this process subscribes too and prints every event it receives.
  auto sub = gofer::net::dial(addr);
  if (!sub.ok()) throw std::runtime_error("cannot subscribe: " + sub.status().ToString());
  (void)sub->write("SUBSCRIBE 0\n");
  gofer::chan<json> events(256);
  gofer::go(gofer::named{"watcher"}, [&sub, events] {
    line_reader r(*sub);
    r.line();  // {"ok":true}
    while (auto l = r.line()) events.send(json::parse(*l));
    events.close();
  });
  auto expect = [&](const char* what) -> json {
    std::optional<json> e;
    gofer::select(gofer::recv_case(events, e), gofer::recv_case(gofer::after(10s), [](auto) {}));
    if (!e) throw std::runtime_error(std::string("no event for: ") + what);
    json ev = *e;
    std::printf("  watcher saw #%lld %-7s %s%s v%d\n", static_cast<long long>(ev["seq"]), std::string(ev["op"]).c_str(),
                ev.contains("from") ? (std::string(ev["from"]) + " -> ").c_str() : "", std::string(ev["name"]).c_str(),
                int(ev["version"]));
    return ev;
  };

  if (serve) {
    std::string web = wait_for_file(data / "web") ? *slurp(data / "web") : "?";
    std::printf("serving: the web page is http://%s/\ndrop files into %s; revert with\n  %s --revert --connect %s -f NAME -r N\n"
                "(Ctrl-C to stop)\n", web.c_str(), dir.c_str(), self.c_str(), addr.c_str());
    std::fflush(stdout);
    gofer::go(gofer::named{"printer"}, [&] {
      try {
        for (;;) expect("serve");
      } catch (...) {
      }
    });
    int sig = *sigs.recv();
    std::printf("got %s: stopping the backup and the service (SIGTERM: both shut down gracefully)\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
    bak.terminate();
    svc.terminate();
    fs::remove_all(base);
    return svc.exit_status() == 0 && bak.exit_status() == 0 ? 0 : 1;
  }

  int versions = 0, bursts = 0;
  std::printf("1. create notes.txt\n");
  write_file(dir / "notes.txt", "first draft\n");
  json v1 = expect("create");
  versions++;
  std::printf("2. five quick writes to notes.txt (an editor saving)\n");
  for (int i = 1; i <= 5; ++i) write_file(dir / "notes.txt", "draft " + std::to_string(i) + "\n");
  json v2 = expect("burst");
  versions++;
  bursts += 5;
  std::printf("3. a new subdirectory with a file\n");
  fs::create_directories(dir / "sub");
  write_file(dir / "sub" / "todo.txt", "buy milk\n");
  expect("subdir");
  versions++;
  std::printf("4. rename notes.txt to ideas.txt\n");
  fs::rename(dir / "notes.txt", dir / "ideas.txt");
  json rn = expect("rename");
  std::printf("5. rename the directory sub to done (each file in it is renamed, its versions kept)\n");
  fs::rename(dir / "sub", dir / "done");
  json drn = expect("directory rename");
  std::printf("6. delete done/todo.txt\n");
  fs::remove(dir / "done" / "todo.txt");
  expect("delete");
  std::printf("7. revert ideas.txt to version 1 (through the service: a new version)\n");
  auto rv = ask(addr, "REVERT " + json::array({"ideas.txt", 1}).dump());
  if (!rv || !rv->value("ok", false)) throw std::runtime_error("revert failed: " + (rv ? rv->dump() : "no answer"));
  json v3 = expect("revert");
  versions++;
  bool renamed = rn["op"] == "rename" && drn["op"] == "rename" && drn["from"] == "sub/todo.txt" && drn["name"] == "done/todo.txt";
  bool reverted = v3["hash"] == v1["hash"] && int(v3["version"]) == 3 && v2["version"] == 2;
  std::printf("   ideas.txt v3 has v1's hash: %s; on disk: %s", reverted ? "yes" : "NO",
              slurp(dir / "ideas.txt").value_or("?").c_str());

  std::printf("8. upload report.txt through the web page (the form's multipart POST)\n");
  std::string web = wait_for_file(data / "web") ? *slurp(data / "web") : "";
  {
    // The body a browser's form sends (RFC 7578), built here by hand for the demo; the
    // service parses it with GMime.
    std::string boundary = "gofer-" + std::to_string(now_ms());
    std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.txt\"\r\n"
                       "Content-Type: text/plain\r\n\r\nquarterly numbers\n\r\n--" + boundary + "--\r\n";
    gofer::http::client http;
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 10s);
    auto res = http.send(ctx, "POST", "http://" + web + "/upload", body,
                         {{"Content-Type", "multipart/form-data; boundary=" + boundary}, {"Accept", "application/json"}});
    cancel();
    if (!res.ok() || res->status != gofer::http::status::created)
      throw std::runtime_error("upload failed: " + (res.ok() ? res->body : res.status().ToString()));
    std::printf("   the page answered %d %s", res->status, res->body.c_str());
  }
  json up = expect("upload");
  versions++;
  bool uploaded = up["name"] == "report.txt" && int(up["version"]) == 1 && slurp(dir / "report.txt") == "quarterly numbers\n";

  // The backup catches up asynchronously: wait for its last copy.
  bool backed = wait_for_file(bdir / "ideas.txt.3") && wait_for_file(bdir / "done/todo.txt.1") &&
                wait_for_file(bdir / "report.txt.1");
  int copies = 0, good = 0;
  auto list = [&] {
    auto c = gofer::net::dial(addr);
    (void)c->write("LIST\n");
    line_reader r(*c);
    std::vector<json> out;
    while (auto l = r.line()) {
      if (l->empty()) break;
      out.push_back(json::parse(*l));
    }
    return out;
  }();
  std::printf("the store:\n");
  for (auto& f : list) {
    std::printf("  %-13s v%d %s revisions %s hash %.12s\n", std::string(f["name"]).c_str(), int(f["version"]),
                f["deleted"].get<bool>() ? "(deleted)" : "         ", f["revisions"].dump().c_str(), std::string(f["hash"]).c_str());
    for (int v : f["revisions"]) {
      copies++;
      std::string body;
      auto h = ask(addr, "FETCH " + json::array({f["name"], v}).dump(), &body);
      auto b = slurp(bdir / (std::string(f["name"]) + "." + std::to_string(v)));
      if (h && b && *b == body) good++;
    }
  }
  auto health = ask(addr, "HEALTH");
  std::printf("service health: %s\n", health ? health->dump().c_str() : "?");
  // The backup's own /health (HTTP): the last event it handled (asked again until it has
  // handled the service's last one: it catches up on its own time), the copies it saved.
  bool backup_healthy = false;
  std::string backup_health = "no answer";
  auto until = std::chrono::steady_clock::now() + 10s;
  while (!backup_healthy && health && wait_for_file(base / "backup-web") && std::chrono::steady_clock::now() < until) {
    gofer::http::client http;
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 10s);
    auto res = http.send(ctx, "GET", "http://" + *slurp(base / "backup-web") + "/health", "", {});
    cancel();
    json bh = res.ok() ? json::parse(res->body, nullptr, false) : json();
    backup_health = res.ok() ? res->body : res.status().ToString();
    backup_healthy = bh.is_object() && bh.value("connected", false) &&
                     bh.value("seq", int64_t(-1)) == health->value("events", int64_t(-2));
    if (!backup_healthy) gofer::sleep(20ms);
  }
  std::printf("backup health: %s\n", backup_health.c_str());

  // Stop both parts with SIGTERM (graceful), then show what they printed.
  bak.terminate();
  svc.terminate();
  bool graceful = svc.exit_status() == 0 && bak.exit_status() == 0;
  for (auto [name, log] : {std::pair{"service", "service.log"}, std::pair{"backup", "backup.log"}}) {
    std::printf("--- what the %s printed ---\n%s", name, slurp(base / log).value_or("").c_str());
  }
  fs::remove_all(base);
  if (!renamed || !reverted || !uploaded || !backed || good != copies || !backup_healthy || !graceful) {
    std::printf("FAILED: renamed=%d reverted=%d uploaded=%d backed=%d backups %d/%d backup health=%d graceful=%d\n",
                renamed, reverted, uploaded, backed, good, copies, backup_healthy, graceful);
    return 1;
  }
  std::printf("%d writes made %d versions (a burst of %d made one), a file's and a directory's rename stayed renames, the revert became "
              "v3, the web upload became a version, the backup holds all %d kept revisions, both processes stopped "
              "gracefully\n",
              bursts + 4, versions, 5, copies);
  return 0;
}

// ---- the config file: INI, read by inih (Debian libinih-dev) --------------------------------
// The book's gcfg example ([revisions] count, lockfiles; [logs] rotatelength) plus where
// things are. Each key stands for a flag; a flag given on the command line wins. An unknown
// section or key is an error (a typo must not be silently ignored).
//   [service]   folder, data, listen, web, quiet_ms
//   [store]     kind (sqlite | redis), redis (address; empty: a private redis-server)
//   [revisions] count (versions kept per file), lockfiles (true: one service per store dir)
//   [logs]      file, rotatelength (bytes per file), rotations (old files kept)
const std::map<std::string, std::string> config_keys = {
    {"service.folder", "--dir"},      {"service.data", "--data"},       {"service.listen", "--listen"},
    {"service.web", "--web"},         {"service.quiet_ms", "--quiet-ms"}, {"store.kind", "--store"},
    {"store.redis", "--redis"},       {"revisions.count", "--keep"},    {"revisions.lockfiles", "--lock"},
    {"logs.file", "--log-file"},      {"logs.rotatelength", "--log-rotate-bytes"}, {"logs.rotations", "--log-files"},
};

// Applies the file's values to the options not given on the command line. Returns "" or
// what is wrong.
std::string apply_config(CLI::App& app, const std::string& path) {
  struct ctx_t {
    std::vector<std::pair<std::string, std::string>> values;  // "section.key", value
  } ctx;
  int rc = ini_parse(path.c_str(), [](void* user, const char* section, const char* key, const char* value) -> int {
    static_cast<ctx_t*>(user)->values.emplace_back(std::string(section) + "." + key, value);
    return 1;
  }, &ctx);
  if (rc < 0) return "cannot read the config file " + path;
  if (rc > 0) return path + ":" + std::to_string(rc) + ": not INI";
  for (auto& [key, value] : ctx.values) {
    auto it = config_keys.find(key);
    if (it == config_keys.end()) {
      auto dot = key.find('.');
      return path + ": unknown key '" + key.substr(dot + 1) + "' in [" + key.substr(0, dot) + "]";
    }
    CLI::Option* opt = app.get_option(it->second);
    if (opt->count() > 0) continue;  // the command line wins
    try {
      opt->add_result(value);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return path + ": [" + key.substr(0, key.find('.')) + "] " + key.substr(key.find('.') + 1) + " = " + value +
             ": " + e.what();
    }
  }
  return "";
}

int main(int argc, char** argv) {
  CLI::App app{"filesync: a versioned file-sync service (book chapter 8)", "filesync"};
  bool service = false, serve = false, revert = false, health = false;
  std::string backup, connect, name;
  int version = 0;
  service_config cfg;
  app.add_flag("--serve", serve, "keep the service up (with its backup and web page) until Ctrl-C");
  app.add_option("--config", cfg.config_file, "an INI file with the settings below ([service] [store] [revisions] [logs])")
      ->check(CLI::ExistingFile);
  app.add_option("--quiet-ms", cfg.quiet_ms, "debounce: a file must be quiet this long to become a version")
      ->check(CLI::Range(1, 10000));
  app.add_option("--store", cfg.store, "the metadata store: sqlite or redis")->check(CLI::IsMember({"sqlite", "redis"}));
  app.add_option("--redis", cfg.redis, "--store redis: a running Redis (default: a private redis-server)");
  app.add_flag("--service", service, "run as the service (listener, store, hub)")->group("roles");
  app.add_option("--backup", backup, "run as the backup subscriber, into this directory")->group("roles");
  app.add_flag("--revert", revert, "ask the service to restore -f NAME to version -r N")->group("roles");
  app.add_flag("--health", health, "print the service's health line")->group("roles");
  app.add_option("--dir", cfg.dir, "the watched folder")->group("roles");
  app.add_option("--data", cfg.data, "the service's store directory")->group("roles");
  app.add_option("--listen", cfg.listen, "the service's address")->group("roles");
  app.add_option("--addr-file", cfg.addr_file, "the service writes its address here")->group("roles");
  app.add_option("--web", cfg.web, "the service's web page (the backup's /health) on this address (127.0.0.1:0)")
      ->group("roles");
  app.add_option("--web-addr-file", cfg.web_addr_file, "the service (backup) writes the web address here")->group("roles");
  app.add_option("--connect", connect, "the service's address (backup, revert, health)")->group("roles");
  app.add_option("--keep", cfg.keep, "revisions kept per file")->check(CLI::Range(1, 1000))->group("roles");
  app.add_option("--lock", cfg.lock, "true: a lock file keeps a second service off the store dir")->group("roles");
  app.add_option("--log-file", cfg.log_file, "the service's lines also go to this rotated file")->group("roles");
  app.add_option("--log-rotate-bytes", cfg.log_rotate_bytes, "rotate the log file at this size")
      ->check(CLI::Range(100, 1 << 30))->group("roles");
  app.add_option("--log-files", cfg.log_files, "rotated log files kept")->check(CLI::Range(1, 100))->group("roles");
  app.add_option("-f", name, "revert: the file")->group("roles");
  app.add_option("-r", version, "revert: the version")->check(CLI::Range(1, 1 << 30))->group("roles");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  auto usage = [&](const std::string& why) {
    std::fprintf(stderr, "filesync: %s\n%s", why.c_str(), app.help().c_str());
    return 2;
  };
  if (!cfg.config_file.empty())
    if (std::string why = apply_config(app, cfg.config_file); !why.empty()) return usage(why);
  if (service && (cfg.dir.empty() || cfg.data.empty())) return usage("--service needs --dir and --data");
  if (!backup.empty() && (cfg.dir.empty() || connect.empty())) return usage("--backup needs --dir and --connect");
  if ((revert || health) && connect.empty()) return usage("--revert and --health need --connect");
  if (revert && (name.empty() || version == 0)) return usage("--revert needs -f NAME -r N");

  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  g_mime_init();  // once, before any thread uses GMime (the upload parser)
  int status = 0;
  gofer::run([&] {
    // SIGINT/SIGTERM on a channel (gofer::signal, Go's signal.Notify) for the roles that
    // stop gracefully — before the launcher starts anything, so the signal comes here and
    // this program stops its children in order (the launcher's own handler stands back).
    gofer::chan<int> sigs(1);
    if (service || !backup.empty() || serve) gofer::signal::notify(sigs, {SIGINT, SIGTERM});
    try {
      if (service) {
        status = run_service(cfg, sigs);
      } else if (!backup.empty()) {
        status = run_backup(backup, cfg.dir, connect, sigs, cfg.web, cfg.web_addr_file);
      } else if (revert || health) {
        auto r = revert ? ask(connect, "REVERT " + json::array({name, version}).dump()) : ask(connect, "HEALTH");
        std::printf("%s\n", r ? r->dump().c_str() : "no answer from the service");
        status = r && r->value("ok", false) ? 0 : 1;
      } else {
        status = run_demo(serve, cfg, sigs);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "filesync: %s\n", e.what());
      status = 1;
    }
  });
  spdlog::shutdown();
  return status;
}
