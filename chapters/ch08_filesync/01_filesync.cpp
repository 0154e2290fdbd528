// filesync — the book's "Dropbox with revision control" (chapter 8, "The concurrent
// application"), built correctly: one program with roles, run as separate processes on
// localhost. The default run forks itself into a **service** (an inotify listener, a
// debouncer that owns the SQLite metadata store, and a hub that broadcasts change events as
// newline-delimited JSON to TCP subscribers) and a **backup** subscriber, subscribes itself
// as a watcher, makes a scripted set of changes (create, bursts of writes, a new
// subdirectory, rename, delete, revert) and prints what each part saw. Watch: a burst of
// five writes becomes ONE version; a rename stays a rename; a revert is a new version made
// through the service; the backup never keeps a half-written copy.
//
// Roles (each a flag; ./gofer run filesync -- --help):
//   (default)                 the scripted run above; --serve keeps the service up instead
//   --service --dir D --data S   the listener + store + hub; prints its address
//   --backup B --dir D --connect A   the backup subscriber (resumes from B/.seq)
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

#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>

#include "demo_flags.hpp"
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

// SIGINT/SIGTERM as a channel (blocked in every thread, taken by sigwait in gofer::blocking).
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
gofer::chan<int> notify_stop_signals() {
  gofer::chan<int> sigs(1);
  gofer::go(gofer::named{"signals"}, [sigs] {
    sigset_t set = stop_signals();
    int sig = gofer::blocking([&set] {
      int s = 0;
      sigwait(&set, &s);
      return s;
    });
    sigs.send(sig);
  });
  return sigs;
}

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

class store {
 public:
  explicit store(const fs::path& db, int keep) : keep_(keep) {
    if (sqlite3_open(db.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("sqlite open " + db.string());
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("CREATE TABLE IF NOT EXISTS files(name TEXT PRIMARY KEY, hash TEXT, created INTEGER,"
         " last_modified INTEGER, version INTEGER, deleted INTEGER)");
    exec("CREATE TABLE IF NOT EXISTS revisions(name TEXT, version INTEGER, hash TEXT, content BLOB,"
         " PRIMARY KEY(name, version))");
    exec("CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, json TEXT)");
  }
  ~store() { sqlite3_close(db_); }
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  std::optional<file_meta> get(const std::string& name) {
    stmt s(db_, "SELECT name, hash, created, last_modified, version, deleted FROM files WHERE name=?");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    file_meta m{s.text(0), s.text(1), s.i64(2), s.i64(3), int(s.i64(4)), s.i64(5) != 0, {}};
    stmt r(db_, "SELECT version FROM revisions WHERE name=? ORDER BY version");
    r.bind(1, name);
    while (r.step()) m.revisions.push_back(int(r.i64(0)));
    return m;
  }
  std::vector<file_meta> all() {
    std::vector<std::string> names;
    stmt s(db_, "SELECT name FROM files ORDER BY name");
    while (s.step()) names.push_back(s.text(0));
    std::vector<file_meta> out;
    for (auto& n : names) out.push_back(*get(n));
    return out;
  }
  std::optional<std::string> content(const std::string& name, int version) {
    stmt s(db_, "SELECT content FROM revisions WHERE name=? AND version=?");
    s.bind(1, name);
    s.bind(2, version);
    if (!s.step()) return std::nullopt;
    return s.blob(0);
  }
  // A new version of `name` with this content; returns the event (already logged).
  json put(const std::string& name, const std::string& hash, const std::string& data) {
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
  json rename(const std::string& from, const std::string& to) {
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
  json remove(const std::string& name) {
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
  std::vector<json> events_after(int64_t seq) {
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
  sqlite3* db_ = nullptr;
  int keep_;
};

// ---- the listener: inotify, recursive, read through gofer::blocking ------------------------
// What the listener tells the debouncer: a file changed (closed after writing, moved in),
// was deleted (or moved out), or was renamed inside the folder (MOVED_FROM + MOVED_TO with
// one cookie).
struct change {
  enum kind_t { modified, deleted, renamed } kind;
  std::string name, from;
};

// Runs until `stop` is set. The inotify fd is read in gofer::blocking with a poll() timeout:
// gofer::net's poller has no wait for a foreign fd, so a blocking call on a gofer thread
// would freeze every goroutine on it; blocking() parks this goroutine instead, and the
// timeout lets it see `stop`.
void listen_folder(const fs::path& root, gofer::chan<change> out, const std::atomic<bool>& stop) {
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) throw std::runtime_error("inotify_init1 failed");
  std::map<int, std::string> dirs;  // watch descriptor → directory relative to root ("" = root)
  const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_CREATE | IN_ONLYDIR;
  std::function<void(const std::string&)> watch = [&](const std::string& rel) {
    int wd = inotify_add_watch(fd, (root / rel).c_str(), mask & ~IN_ONLYDIR);
    if (wd < 0) return;
    dirs[wd] = rel;
    // Files written before the watch existed (a new subdirectory fills up at once).
    for (auto& e : fs::directory_iterator(root / rel)) {
      std::string name = (fs::path(rel) / e.path().filename()).lexically_normal().string();
      if (e.is_directory()) watch(name);
      else if (e.is_regular_file()) out.send(change{change::modified, name, ""});
    }
  };
  watch("");
  std::map<uint32_t, std::pair<std::string, int64_t>> moved_from;  // cookie → (name, when)
  std::vector<char> storage(64 * 1024 + alignof(inotify_event));  // on the heap: goroutine stacks are small
  char* buf = storage.data();
  while (!stop.load()) {
    ssize_t n = gofer::blocking([&] {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) return ssize_t(0);
      return ::read(fd, buf, 64 * 1024);
    });
    for (ssize_t off = 0; off < n;) {
      auto* ev = reinterpret_cast<inotify_event*>(buf + off);
      off += ssize_t(sizeof(inotify_event) + ev->len);
      if (!dirs.count(ev->wd) || ev->len == 0) continue;
      std::string name = (fs::path(dirs[ev->wd]) / ev->name).lexically_normal().string();
      if (name.rfind(".tmp-", 0) == 0 || fs::path(name).filename().string().rfind(".tmp-", 0) == 0) continue;
      if (ev->mask & IN_ISDIR) {
        if (ev->mask & (IN_CREATE | IN_MOVED_TO)) watch(name);  // new subdirectory: watch it too
        continue;
      }
      if (ev->mask & IN_CLOSE_WRITE) out.send(change{change::modified, name, ""});
      else if (ev->mask & IN_DELETE) out.send(change{change::deleted, name, ""});
      else if (ev->mask & IN_MOVED_FROM) moved_from[ev->cookie] = {name, now_ms()};
      else if (ev->mask & IN_MOVED_TO) {
        if (auto it = moved_from.find(ev->cookie); it != moved_from.end()) {
          out.send(change{change::renamed, name, it->second.first});
          moved_from.erase(it);
        } else {
          out.send(change{change::modified, name, ""});  // moved in from outside
        }
      }
    }
    // A MOVED_FROM whose MOVED_TO never came: the file left the folder.
    for (auto it = moved_from.begin(); it != moved_from.end();) {
      if (now_ms() - it->second.second > 200) {
        out.send(change{change::deleted, it->second.first, ""});
        it = moved_from.erase(it);
      } else {
        ++it;
      }
    }
  }
  ::close(fd);
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

void owner(store& db, const fs::path& root, const fs::path& tmpdir, std::chrono::milliseconds quiet,
           gofer::chan<change> changes, gofer::chan<request> requests, gofer::chan<hub_msg> hub_in) {
  std::map<std::string, std::chrono::steady_clock::time_point> pending;
  auto publish = [&](const json& e) {
    g_events++;
    g_last_event = now_ms();
    std::printf("service: %s\n", e.dump().c_str());
    std::fflush(stdout);
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
                           } else {
                             pending.erase(c->from);
                             auto old = db.get(c->from);
                             if (old && !old->deleted) publish(db.rename(c->from, c->name));
                             else pending[c->name] = std::chrono::steady_clock::now() + quiet;  // unknown: a new file
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
                           } else if (r->verb == "LIST") {
                             h = json::array();
                             for (auto& m : db.all())
                               h.push_back({{"name", m.name}, {"hash", m.hash}, {"created", m.created},
                                            {"last_modified", m.last_modified}, {"version", m.version},
                                            {"deleted", m.deleted}, {"revisions", m.revisions}});
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

void serve_client(gofer::net::conn c, gofer::chan<request> requests, gofer::chan<hub_msg> hub_in) {
  line_reader r(c);
  auto l = r.line();
  if (!l) return;
  std::istringstream in(*l);
  request q;
  in >> q.verb;
  q.reply = gofer::chan<std::pair<json, std::string>>(1);
  if (q.verb == "HEALTH") {
    json h = {{"ok", true},          {"pending", g_pending.load()}, {"subscribers", g_subscribers.load()},
              {"dropped", g_dropped.load()}, {"events", g_events.load()}, {"last_event", g_last_event.load()}};
    (void)c.write(h.dump() + "\n");
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

int run_service(const fs::path& dir, const fs::path& data, const std::string& listen_addr,
                const fs::path& addr_file, int quiet_ms, int keep) {
  fs::create_directories(dir);
  fs::create_directories(data);
  store db(data / "meta.db", keep);
  auto ln = gofer::net::listen(listen_addr);
  if (!ln.ok()) {
    std::fprintf(stderr, "service: %s\n", ln.status().ToString().c_str());
    return 1;
  }
  std::string addr = ln->addr();
  std::printf("service: watching %s, store %s (SQLite, WAL), subscribers on %s\n", dir.c_str(),
              (data / "meta.db").c_str(), addr.c_str());
  std::fflush(stdout);
  if (!addr_file.empty()) write_atomic(addr_file, addr, addr_file.parent_path());

  gofer::chan<change> changes(1024);
  gofer::chan<request> requests(64);
  gofer::chan<hub_msg> hub_in(1024);
  std::atomic<bool> stop{false};
  gofer::wait_group wg;
  wg.add(3);
  gofer::go(gofer::named{"listener"}, [&] { listen_folder(dir, changes, stop); wg.done(); });
  gofer::go(gofer::named{"owner"}, [&] { owner(db, dir, data, std::chrono::milliseconds(quiet_ms), changes, requests, hub_in); wg.done(); });
  gofer::go(gofer::named{"hub"}, [&] { hub(hub_in); wg.done(); });
  auto [ctx, cancel] = gofer::with_cancel(gofer::background());
  gofer::go(gofer::named{"acceptor"}, [&, ctx = ctx] {
    for (;;) {
      auto c = ln->accept(ctx);
      if (!c.ok()) break;
      gofer::go(gofer::named{"client"}, serve_client, std::move(*c), requests, hub_in);
    }
  });
  int sig = *notify_stop_signals().recv();
  std::printf("service: got %s, shutting down: settle pending changes, close subscribers\n",
              sig == SIGINT ? "SIGINT" : "SIGTERM");
  cancel();
  (void)ln->close();
  stop = true;      // the listener stops, closes `changes`
  requests.close();  // the owner settles what is pending, closes the hub's input
  wg.wait();
  std::printf("service: stopped gracefully after %ld events\n", g_events.load());
  return 0;
}

// =============================================================================================
// The backup: a subscriber that keeps backup/<name>.<version>
// =============================================================================================
// It copies the file from the folder and keeps the copy only if its hash is the event's: a
// file still being written (or already changed again) hashes differently, and then the
// version's content comes from the store (FETCH). It records the last event it handled in
// backup/.seq, so a restarted backup catches up from the store's event log.
int run_backup(const fs::path& bdir, const fs::path& dir, const std::string& addr) {
  fs::create_directories(bdir);
  int64_t seq = 0;
  if (auto s = slurp(bdir / ".seq")) seq = std::stoll(*s);
  auto c = gofer::net::dial(addr);
  if (!c.ok()) {
    std::fprintf(stderr, "backup: cannot reach the service at %s: %s\n", addr.c_str(), c.status().ToString().c_str());
    return 1;
  }
  std::printf("backup: into %s, resuming after event %lld\n", bdir.c_str(), static_cast<long long>(seq));
  std::fflush(stdout);
  auto sigs = notify_stop_signals();
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
            std::printf("backup: saved %s.%d, fetched from the store (missed before the rename)\n", name.c_str(), v);
          }
        }
      }
      std::printf("backup: %s renamed to %s, backups moved\n", from.c_str(), name.c_str());
    } else if (op == "delete") {
      std::printf("backup: %s deleted in the folder, its backups stay\n", name.c_str());
    }
    seq = e["seq"];
    write_atomic(bdir / ".seq", std::to_string(seq), bdir);
    std::fflush(stdout);
  }
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

int run_demo(bool serve, int quiet_ms) {
  char tmpl[] = "/tmp/gofer-filesync-XXXXXX";
  fs::path base = ::mkdtemp(tmpl);
  fs::path dir = base / "folder", data = base / "store", bdir = base / "backup";
  fs::create_directories(dir);
  fs::create_directories(data);
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::printf("folder %s\n", dir.c_str());
  auto svc = gofer_demo::process::spawn({self, "--service", "--dir", dir, "--data", data, "--addr-file",
                                         data / "addr", "--quiet-ms", std::to_string(quiet_ms)},
                                        base / "service.log");
  if (!wait_for_file(data / "addr")) {
    std::fprintf(stderr, "filesync: the service did not start; its log:\n%s", slurp(base / "service.log").value_or("").c_str());
    return 1;
  }
  std::string addr = *slurp(data / "addr");
  auto bak = gofer_demo::process::spawn({self, "--backup", bdir, "--dir", dir, "--connect", addr}, base / "backup.log");
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
    std::printf("serving: drop files into %s; revert with\n  %s --revert --connect %s -f NAME -r N\n"
                "(Ctrl-C to stop)\n", dir.c_str(), self.c_str(), addr.c_str());
    std::fflush(stdout);
    gofer::go(gofer::named{"printer"}, [&] {
      try {
        for (;;) expect("serve");
      } catch (...) {
      }
    });
    int sig = *notify_stop_signals().recv();
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
  std::printf("5. delete sub/todo.txt\n");
  fs::remove(dir / "sub" / "todo.txt");
  expect("delete");
  std::printf("6. revert ideas.txt to version 1 (through the service: a new version)\n");
  auto rv = ask(addr, "REVERT " + json::array({"ideas.txt", 1}).dump());
  if (!rv || !rv->value("ok", false)) throw std::runtime_error("revert failed: " + (rv ? rv->dump() : "no answer"));
  json v3 = expect("revert");
  versions++;
  bool reverted = v3["hash"] == v1["hash"] && int(v3["version"]) == 3 && rn["op"] == "rename" && v2["version"] == 2;
  std::printf("   ideas.txt v3 has v1's hash: %s; on disk: %s", reverted ? "yes" : "NO",
              slurp(dir / "ideas.txt").value_or("?").c_str());

  // The backup catches up asynchronously: wait for its last copy.
  bool backed = wait_for_file(bdir / "ideas.txt.3") && wait_for_file(bdir / "sub/todo.txt.1");
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

  // Stop both parts with SIGTERM (graceful), then show what they printed.
  bak.terminate();
  svc.terminate();
  bool graceful = svc.exit_status() == 0 && bak.exit_status() == 0;
  for (auto [name, log] : {std::pair{"service", "service.log"}, std::pair{"backup", "backup.log"}}) {
    std::printf("--- what the %s printed ---\n%s", name, slurp(base / log).value_or("").c_str());
  }
  fs::remove_all(base);
  if (!reverted || !backed || good != copies || !graceful) {
    std::printf("FAILED: reverted=%d backed=%d backups %d/%d graceful=%d\n", reverted, backed, good, copies, graceful);
    return 1;
  }
  std::printf("%d writes made %d versions (a burst of %d made one), a rename stayed a rename, the revert became "
              "v3, the backup holds all %d kept revisions, both processes stopped gracefully\n",
              bursts + 3, versions, 5, copies);
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"filesync: a versioned file-sync service (book chapter 8)", "filesync"};
  bool service = false, serve = false, revert = false, health = false;
  std::string dir, data, backup, connect, addr_file, listen = "127.0.0.1:0", name;
  int quiet_ms = 150, keep = 10, version = 0;
  app.add_flag("--serve", serve, "keep the service up (with its backup) until Ctrl-C");
  app.add_option("--quiet-ms", quiet_ms, "debounce: a file must be quiet this long to become a version")
      ->check(CLI::Range(1, 10000));
  app.add_flag("--service", service, "run as the service (listener, store, hub)")->group("roles");
  app.add_option("--backup", backup, "run as the backup subscriber, into this directory")->group("roles");
  app.add_flag("--revert", revert, "ask the service to restore -f NAME to version -r N")->group("roles");
  app.add_flag("--health", health, "print the service's health line")->group("roles");
  app.add_option("--dir", dir, "the watched folder")->group("roles");
  app.add_option("--data", data, "the service's store directory")->group("roles");
  app.add_option("--listen", listen, "the service's address")->group("roles");
  app.add_option("--addr-file", addr_file, "the service writes its address here")->group("roles");
  app.add_option("--connect", connect, "the service's address (backup, revert, health)")->group("roles");
  app.add_option("--keep", keep, "revisions kept per file")->check(CLI::Range(1, 1000))->group("roles");
  app.add_option("-f", name, "revert: the file")->group("roles");
  app.add_option("-r", version, "revert: the version")->check(CLI::Range(1, 1 << 30))->group("roles");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  auto usage = [&](const char* why) {
    std::fprintf(stderr, "filesync: %s\n%s", why, app.help().c_str());
    return 2;
  };
  if (service && (dir.empty() || data.empty())) return usage("--service needs --dir and --data");
  if (!backup.empty() && (dir.empty() || connect.empty())) return usage("--backup needs --dir and --connect");
  if ((revert || health) && connect.empty()) return usage("--revert and --health need --connect");
  if (revert && (name.empty() || version == 0)) return usage("--revert needs -f NAME -r N");

  // SIGINT/SIGTERM are blocked in every thread and taken by sigwait (notify_stop_signals).
  sigset_t set = stop_signals();
  if (service || !backup.empty() || serve) pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int status = 0;
  gofer::run([&] {
    try {
      if (service) {
        status = run_service(dir, data, listen, addr_file, quiet_ms, keep);
      } else if (!backup.empty()) {
        status = run_backup(backup, dir, connect);
      } else if (revert || health) {
        auto r = revert ? ask(connect, "REVERT " + json::array({name, version}).dump()) : ask(connect, "HEALTH");
        std::printf("%s\n", r ? r->dump().c_str() : "no answer from the service");
        status = r && r->value("ok", false) ? 0 : 1;
      } else {
        status = run_demo(serve, quiet_ms);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "filesync: %s\n", e.what());
      status = 1;
    }
  });
  return status;
}
