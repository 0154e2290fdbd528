// filesync_test — the file-sync service end to end (label `net`): the real program's roles as
// processes, a real folder, real inotify. Creates, modifies in bursts, renames and deletes
// files, and checks the store, the version numbers, the events two subscribers received and
// the backups; kills the backup mid-run and restarts it: it catches up from the store's event
// log and nothing is lost. Directories created and filled at once, renamed, moved out, moved
// in and deleted; an overflowed inotify queue; changes made while the service was down.
// Also: revert through the CLI, a malformed request.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>

#include "server.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void write_file(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

// Polls for a condition another process makes true (there is no channel across processes).
template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    gofer::sleep(10ms);
  }
  return true;
}

// Reads whole lines from a connection (events are '\n'-framed JSON).
struct lines {
  gofer::net::conn c;
  std::string buf;
  std::optional<std::string> next() {
    for (;;) {
      if (auto nl = buf.find('\n'); nl != std::string::npos) {
        std::string l = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return l;
      }
      char tmp[4096];
      auto n = c.read(tmp, sizeof tmp);
      if (!n.ok() || *n == 0) return std::nullopt;
      buf.append(tmp, *n);
    }
  }
};

// One request; the reply's first line as JSON, and `body` bytes after it for FETCH.
json ask(const std::string& addr, const std::string& req, std::string* body = nullptr) {
  auto c = gofer::net::dial(addr);
  EXPECT_TRUE(c.ok());
  if (!c.ok()) return {};
  (void)c->write(req + "\n");
  lines r{std::move(*c), {}};
  auto l = r.next();
  if (!l) return {};
  json j = json::parse(*l);
  if (body && j.value("ok", false)) {
    std::size_t n = j["size"];
    while (r.buf.size() < n) {
      char tmp[4096];
      auto k = r.c.read(tmp, sizeof tmp);
      if (!k.ok() || *k == 0) break;
      r.buf.append(tmp, *k);
    }
    *body = r.buf;
  }
  return j;
}

std::vector<json> list(const std::string& addr) {
  auto c = gofer::net::dial(addr);
  (void)c->write("LIST\n");
  lines r{std::move(*c), {}};
  std::vector<json> out;
  while (auto l = r.next()) {
    if (l->empty()) break;
    out.push_back(json::parse(*l));
  }
  return out;
}

// A subscriber: a goroutine that forwards every event to a channel.
gofer::chan<json> subscribe(const std::string& addr) {
  gofer::chan<json> out(1024);
  auto c = gofer::net::dial(addr);
  EXPECT_TRUE(c.ok());
  (void)c->write("SUBSCRIBE 0\n");
  gofer::go(gofer::named{"subscriber"}, [out, c = std::move(*c)]() mutable {
    lines r{std::move(c), {}};
    r.next();  // {"ok":true}
    while (auto l = r.next()) out.send(json::parse(*l));
    out.close();
  });
  return out;
}

json next_event(const gofer::chan<json>& ch) {
  std::optional<json> e;
  gofer::select(gofer::recv_case(ch, e), gofer::recv_case(gofer::after(10s), [](auto) {}));
  EXPECT_TRUE(e.has_value()) << "no event within 10 s";
  return e.value_or(json{{"op", "none"}, {"name", ""}, {"version", 0}});
}

std::string brief(const json& e) {
  std::string s = std::string(e["op"]) + " " + std::string(e["name"]) + " v" + std::to_string(int(e["version"]));
  if (e.contains("from")) s += " from " + std::string(e["from"]);
  return s;
}

// One Redis command with one argument, read with hiredis directly: a string or integer
// reply as text, "?" for anything else (nil, error).
std::string redis_get(redisContext* rc, const char* fmt, const char* arg) {
  auto* r = static_cast<redisReply*>(redisCommand(rc, fmt, arg));
  std::string out = r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len)
                    : r && r->type == REDIS_REPLY_INTEGER ? std::to_string(r->integer) : "?";
  freeReplyObject(r);
  return out;
}

struct service_fixture {
  fs::path base, dir, data, bdir;
  gofer_demo::process svc;
  std::string addr, web;  // web: "http://127.0.0.1:port" with --web
  // `extra`: more flags for the service (--store redis, --config FILE, ...).
  explicit service_fixture(std::vector<std::string> extra = {}) {
    char tmpl[] = "/tmp/gofer-filesync-test-XXXXXX";
    base = ::mkdtemp(tmpl);
    dir = base / "folder";
    data = base / "store";
    bdir = base / "backup";
    fs::create_directories(dir);
    fs::create_directories(data);
    start(extra);
  }
  void start(const std::vector<std::string>& extra) {
    fs::remove(data / "addr");
    std::vector<std::string> args = {FILESYNC_BIN, "--service", "--dir", dir, "--data", data, "--addr-file",
                                     data / "addr", "--quiet-ms", "100"};
    args.insert(args.end(), extra.begin(), extra.end());
    bool with_web = std::find(extra.begin(), extra.end(), "--web") != extra.end();
    if (with_web) args.insert(args.end(), {"--web-addr-file", data / "web"});
    svc = gofer_demo::process::spawn(args, base / "service.log");
    EXPECT_TRUE(eventually([&] { return fs::exists(data / "addr"); })) << slurp(base / "service.log");
    addr = slurp(data / "addr");
    if (with_web) {
      EXPECT_TRUE(eventually([&] { return fs::exists(data / "web"); })) << slurp(base / "service.log");
      web = "http://" + slurp(data / "web");
    }
  }
  // The backup, with its /health on a port it writes to base/backup-web.
  gofer_demo::process backup() {
    fs::remove(base / "backup-web");
    return gofer_demo::process::spawn({FILESYNC_BIN, "--backup", bdir, "--dir", dir, "--connect", addr, "--web",
                                       "127.0.0.1:0", "--web-addr-file", base / "backup-web"},
                                      base / "backup.log");
  }
  // The backup's GET /health, or {} when it does not answer.
  json backup_health() {
    if (!eventually([&] { return fs::exists(base / "backup-web"); })) return {};
    gofer::http::client c;
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 10s);
    auto r = c.send(ctx, "GET", "http://" + slurp(base / "backup-web") + "/health", "", {});
    cancel();
    return r.ok() && r->status == gofer::http::status::ok ? json::parse(r->body, nullptr, false) : json{};
  }
  ~service_fixture() {
    svc.terminate();
    fs::remove_all(base);
  }
};

}  // namespace

TEST(filesync, bursts_renames_deletes_and_a_killed_backup_that_catches_up) {
  gofer::run([] {
    service_fixture f;
    auto s1 = subscribe(f.addr), s2 = subscribe(f.addr);
    auto bak = f.backup();
    std::vector<std::string> want;

    // A create, then a burst of ten writes: one version each, not eleven.
    write_file(f.dir / "a.txt", "a0");
    want.push_back("version a.txt v1");
    EXPECT_EQ(brief(next_event(s1)), want.back());
    for (int i = 1; i <= 10; ++i) write_file(f.dir / "a.txt", "a" + std::to_string(i));
    want.push_back("version a.txt v2");
    EXPECT_EQ(brief(next_event(s1)), want.back());
    write_file(f.dir / "b.txt", "b1");
    want.push_back("version b.txt v1");
    EXPECT_EQ(brief(next_event(s1)), want.back());
    ASSERT_TRUE(eventually([&] { return fs::exists(f.bdir / "b.txt.1"); })) << slurp(f.base / "backup.log");

    // The backup crashes; changes go on without it.
    bak.kill();
    write_file(f.dir / "b.txt", "b2");
    want.push_back("version b.txt v2");
    EXPECT_EQ(brief(next_event(s1)), want.back());
    for (int i = 0; i < 5; ++i) write_file(f.dir / "a.txt", "burst " + std::to_string(i));
    want.push_back("version a.txt v3");
    EXPECT_EQ(brief(next_event(s1)), want.back());
    fs::create_directories(f.dir / "d");
    write_file(f.dir / "d" / "c.txt", "c1");
    want.push_back("version d/c.txt v1");
    EXPECT_EQ(brief(next_event(s1)), want.back());
    fs::rename(f.dir / "b.txt", f.dir / "d" / "b2.txt");
    want.push_back("rename d/b2.txt v2 from b.txt");
    EXPECT_EQ(brief(next_event(s1)), want.back());
    fs::remove(f.dir / "a.txt");
    want.push_back("delete a.txt v3");
    EXPECT_EQ(brief(next_event(s1)), want.back());

    // The second subscriber saw the same events in the same order, numbered 1..n.
    for (std::size_t i = 0; i < want.size(); ++i) {
      json e = next_event(s2);
      EXPECT_EQ(brief(e), want[i]);
      EXPECT_EQ(int(e["seq"]), int(i + 1));
    }

    // The restarted backup resumes after the last event it recorded and catches up.
    auto bak2 = f.backup();
    ASSERT_TRUE(eventually([&] { return slurp(f.bdir / ".seq") == std::to_string(want.size()); }))
        << slurp(f.base / "backup.log");
    // Its /health says so: connected, the last event handled, the copies this run saved
    // (what the killed one missed: b.txt v2, a.txt v3, d/c.txt v1; a.txt v2 it had).
    json h = f.backup_health();
    EXPECT_EQ(h.value("connected", false), true) << h;
    EXPECT_EQ(h.value("seq", 0), int(want.size())) << h;
    EXPECT_EQ(h.value("saved", 0), 3) << h << slurp(f.base / "backup.log");
    bak2.terminate();
    EXPECT_EQ(bak2.exit_status(), 0);

    // The store: metadata and every kept revision, each one backed up byte for byte.
    auto files = list(f.addr);
    ASSERT_EQ(files.size(), 3u);
    std::map<std::string, json> by;
    for (auto& j : files) by[j["name"]] = j;
    EXPECT_EQ(by["a.txt"]["version"], 3);
    EXPECT_TRUE(by["a.txt"]["deleted"].get<bool>());
    EXPECT_EQ(by["d/b2.txt"]["version"], 2);
    EXPECT_EQ(by["d/b2.txt"]["revisions"], json({1, 2}));
    EXPECT_EQ(by["d/c.txt"]["version"], 1);
    EXPECT_LE(by["d/c.txt"]["created"].get<int64_t>(), by["d/c.txt"]["last_modified"].get<int64_t>());
    int checked = 0;
    for (auto& j : files) {
      for (int v : j["revisions"]) {
        std::string body;
        json h = ask(f.addr, "FETCH " + json::array({j["name"], v}).dump(), &body);
        ASSERT_TRUE(h.value("ok", false));
        fs::path copy = f.bdir / (std::string(j["name"]) + "." + std::to_string(v));
        EXPECT_TRUE(fs::exists(copy)) << copy;
        EXPECT_EQ(slurp(copy), body) << copy;
        ++checked;
      }
    }
    EXPECT_EQ(checked, 6);  // a.txt 1-3, d/b2.txt 1-2, d/c.txt 1
    EXPECT_EQ(slurp(f.bdir / "a.txt.2"), "a10");  // the burst's last write, not a torn one
  });
}

TEST(filesync, revert_through_the_cli_is_a_new_version_and_bad_requests_get_errors) {
  gofer::run([] {
    service_fixture f;
    auto s = subscribe(f.addr);
    write_file(f.dir / "r.txt", "one");
    json v1 = next_event(s);
    write_file(f.dir / "r.txt", "two");
    json v2 = next_event(s);
    ASSERT_EQ(int(v2["version"]), 2);
    auto cli = gofer_demo::process::spawn({FILESYNC_BIN, "--revert", "--connect", f.addr, "-f", "r.txt", "-r", "1"},
                                          f.base / "revert.log");
    EXPECT_EQ(cli.wait(), 0) << slurp(f.base / "revert.log");
    json v3 = next_event(s);
    EXPECT_EQ(brief(v3), "version r.txt v3");
    EXPECT_EQ(v3["hash"], v1["hash"]);
    EXPECT_EQ(slurp(f.dir / "r.txt"), "one");

    // Malformed or impossible requests get an error line; the service keeps serving.
    EXPECT_FALSE(ask(f.addr, "REVERT garbage").value("ok", true));
    EXPECT_FALSE(ask(f.addr, "REVERT [\"r.txt\", 99]").value("ok", true));
    EXPECT_FALSE(ask(f.addr, "BOGUS").value("ok", true));
    json h = ask(f.addr, "HEALTH");
    EXPECT_TRUE(h.value("ok", false));
    EXPECT_EQ(h["subscribers"], 1);
    EXPECT_EQ(h["events"], 3);

    // A dead subscriber (it hung up) is dropped once writing to it fails.
    {
      auto d = gofer::net::dial(f.addr);
      ASSERT_TRUE(d.ok());
      (void)d->write("SUBSCRIBE 0\n");
      lines r{std::move(*d), {}};
      ASSERT_TRUE(r.next().has_value());  // {"ok":true}: registered
      (void)r.c.close();
    }
    for (int i = 0; i < 3; ++i) {  // the first write to a closed peer may still succeed
      write_file(f.dir / "r.txt", "dead " + std::to_string(i));
      next_event(s);
    }
    EXPECT_TRUE(eventually([&] { return ask(f.addr, "HEALTH")["subscribers"] == 1; }))
        << "the dead subscriber is still registered";

    // A bad flag: a usage line and status 2.
    auto bad = gofer_demo::process::spawn({FILESYNC_BIN, "--revert", "--connect", f.addr}, f.base / "bad.log");
    EXPECT_EQ(bad.wait(), 2);
    EXPECT_NE(slurp(f.base / "bad.log").find("-f NAME -r N"), std::string::npos);

    // SIGTERM: the service shuts down gracefully (status 0) and closes the subscriber.
    f.svc.terminate();
    EXPECT_EQ(f.svc.exit_status(), 0) << slurp(f.base / "service.log");
    int how = gofer::select(gofer::recv_case(s, [](std::optional<json> e) { return e ? 1 : 0; }),
                            gofer::recv_case(gofer::after(10s), [](auto) { return 2; }));
    EXPECT_EQ(how, 0) << "the subscriber's connection should be closed (1: an event, 2: still open)";
  });
}

// The Redis store (--store redis) behind the same interface (label `services`: a private
// redis-server through the launcher). The data lives in Redis, not in the service: a new
// service on the same Redis sees every file and continues the version and event numbers.
TEST(filesync_redis, the_redis_store_keeps_versions_and_events_across_a_service_restart) {
  gofer::run([] {
    auto redis = gofer_demo::server::start(gofer_demo::redis_spec());
    std::vector<std::string> flags = {"--store", "redis", "--redis", redis.addr()};
    service_fixture f(flags);
    auto s = subscribe(f.addr);
    write_file(f.dir / "a.txt", "a1");
    EXPECT_EQ(brief(next_event(s)), "version a.txt v1");
    for (int i = 0; i < 5; ++i) write_file(f.dir / "a.txt", "burst " + std::to_string(i));
    EXPECT_EQ(brief(next_event(s)), "version a.txt v2");
    write_file(f.dir / "b.txt", "b1");
    EXPECT_EQ(brief(next_event(s)), "version b.txt v1");
    fs::rename(f.dir / "b.txt", f.dir / "c.txt");
    EXPECT_EQ(brief(next_event(s)), "rename c.txt v1 from b.txt");
    fs::remove(f.dir / "a.txt");
    EXPECT_EQ(brief(next_event(s)), "delete a.txt v2");

    // What Redis holds, read with hiredis directly.
    redisContext* rc = redisConnect("127.0.0.1", redis.port());
    ASSERT_TRUE(rc && !rc->err);
    auto get = [&](const char* fmt, const char* arg) { return redis_get(rc, fmt, arg); };
    EXPECT_EQ(get("HGET filesync:file:%s version", "a.txt"), "2");
    EXPECT_EQ(get("HGET filesync:file:%s deleted", "a.txt"), "1");
    EXPECT_EQ(get("HGET filesync:rev:%s 1", "c.txt"), "b1");
    EXPECT_EQ(get("EXISTS filesync:file:%s", "b.txt"), "0");
    EXPECT_EQ(get("LLEN %s", "filesync:events"), "5");
    redisFree(rc);

    // A new service (another store dir, the same Redis) continues where the first stopped.
    f.svc.terminate();
    EXPECT_EQ(f.svc.exit_status(), 0) << slurp(f.base / "service.log");
    f.start(flags);
    auto files = list(f.addr);
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0]["name"], "a.txt");
    EXPECT_EQ(files[1]["name"], "c.txt");
    EXPECT_EQ(files[1]["revisions"], json({1}));
    auto s2 = subscribe(f.addr);  // from 0: the whole log, from Redis
    for (int i = 1; i <= 5; ++i) EXPECT_EQ(int(next_event(s2)["seq"]), i);
    write_file(f.dir / "c.txt", "c2");
    json e = next_event(s2);
    EXPECT_EQ(brief(e), "version c.txt v2");
    EXPECT_EQ(int(e["seq"]), 6);
    std::string body;
    EXPECT_TRUE(ask(f.addr, "FETCH " + json::array({"c.txt", 1}).dump(), &body).value("ok", false));
    EXPECT_EQ(body, "b1");
    EXPECT_TRUE(ask(f.addr, "REVERT " + json::array({"c.txt", 1}).dump()).value("ok", false));
    EXPECT_EQ(brief(next_event(s2)), "version c.txt v3");
    EXPECT_EQ(slurp(f.dir / "c.txt"), "b1");
  });
}

// The config file (INI, inih): [revisions] count prunes old contents, lockfiles keeps a
// second service off the store directory, [logs] rotates the service's log file; a flag
// given on the command line wins over the file; an unknown key is refused.
TEST(filesync, the_config_file_sets_revisions_kept_lock_files_and_log_rotation) {
  gofer::run([] {
    char tmpl[] = "/tmp/gofer-filesync-ini-XXXXXX";
    fs::path etc = ::mkdtemp(tmpl);
    write_file(etc / "filesync.ini",
               "; filesync's settings\n[revisions]\ncount = 2\nlockfiles = true\n\n[logs]\nfile = " +
                   (etc / "logs" / "service.log").string() + "\nrotatelength = 300\nrotations = 2\n\n"
                   "[service]\nquiet_ms = 5000\n");
    service_fixture f({"--config", etc / "filesync.ini"});  // --quiet-ms 100 (the fixture's) wins over 5000
    auto s = subscribe(f.addr);
    for (int i = 1; i <= 6; ++i) {
      write_file(f.dir / "r.txt", "take " + std::to_string(i));
      EXPECT_EQ(brief(next_event(s)), "version r.txt v" + std::to_string(i));  // in 10 s: not 5 s quiet periods
    }
    auto files = list(f.addr);
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0]["revisions"], json({5, 6}));  // count = 2

    // lockfiles: a second service on the same store directory refuses to start.
    auto second = gofer_demo::process::spawn({FILESYNC_BIN, "--service", "--dir", f.dir, "--data", f.data, "--config",
                                              etc / "filesync.ini"},
                                             f.base / "second.log");
    EXPECT_EQ(second.wait(), 1);
    EXPECT_NE(slurp(f.base / "second.log").find("is in use by process " + std::to_string(f.svc.pid())),
              std::string::npos)
        << slurp(f.base / "second.log");

    // [logs]: 300-byte files, the current one and 2 rotated ones, no more.
    EXPECT_TRUE(fs::exists(etc / "logs" / "service.log"));
    EXPECT_TRUE(fs::exists(etc / "logs" / "service.1.log"));
    EXPECT_TRUE(fs::exists(etc / "logs" / "service.2.log"));
    EXPECT_FALSE(fs::exists(etc / "logs" / "service.3.log"));
    EXPECT_NE(slurp(etc / "logs" / "service.log").find("r.txt"), std::string::npos);

    // A typo in the file: status 2 and the key named.
    write_file(etc / "bad.ini", "[revisions]\ncuont = 3\n");
    auto bad = gofer_demo::process::spawn({FILESYNC_BIN, "--service", "--dir", f.dir, "--data", f.base / "other",
                                           "--config", etc / "bad.ini"},
                                          f.base / "bad.log");
    EXPECT_EQ(bad.wait(), 2);
    EXPECT_NE(slurp(f.base / "bad.log").find("unknown key 'cuont' in [revisions]"), std::string::npos)
        << slurp(f.base / "bad.log");
    f.svc.terminate();
    EXPECT_EQ(f.svc.exit_status(), 0);
    fs::remove_all(etc);
  });
}

// The web page's handlers on bad input: 4xx with a reason, nothing written into the folder,
// and the service goes on serving (the browser test, web_test.py, drives the good paths).
TEST(filesync, the_web_page_refuses_bad_uploads_and_bad_reverts) {
  gofer::run([] {
    namespace http = gofer::http;
    service_fixture f({"--web", "127.0.0.1:0"});
    http::client c;
    auto ctx = gofer::background();
    auto form = [](const std::string& boundary, const std::string& parts) {
      return parts + "--" + boundary + "--\r\n";
    };
    auto part = [](const std::string& boundary, const std::string& disposition, const std::string& body) {
      return "--" + boundary + "\r\nContent-Disposition: " + disposition + "\r\n\r\n" + body + "\r\n";
    };
    auto upload = [&](const std::string& content_type, const std::string& body) {
      auto r = c.send(ctx, "POST", f.web + "/upload", body, {{"Content-Type", content_type}, {"Accept", "application/json"}});
      EXPECT_TRUE(r.ok()) << r.status();
      return r.ok() ? std::pair{r->status, r->body} : std::pair{0, std::string()};
    };
    const std::string mp = "multipart/form-data; boundary=B";
    struct bad_case {
      const char* what;
      std::string content_type, body, why;
    } cases[] = {
        {"not multipart", "text/plain", "hello", "multipart/form-data"},
        {"no boundary", "multipart/form-data", "--B--\r\n", "multipart/form-data"},
        {"cut off", mp, part("B", "form-data; name=\"file\"; filename=\"a.txt\"", "x"), "closing boundary"},
        {"no file field", mp, form("B", part("B", "form-data; name=\"other\"", "x")), "no file field"},
        {"a part without a name", mp, form("B", part("B", "form-data; filename=\"a.txt\"", "x")), "name=..."},
        {"a field twice", mp,
         form("B", part("B", "form-data; name=\"file\"; filename=\"a\"", "x") +
                       part("B", "form-data; name=\"file\"; filename=\"b\"", "y")),
         "appears twice"},
        {"a path out of the folder", mp,
         form("B", part("B", "form-data; name=\"file\"; filename=\"a.txt\"", "x") +
                       part("B", "form-data; name=\"name\"", "../escape.txt")),
         "bad file name"},
        {"an absolute path", mp,
         form("B", part("B", "form-data; name=\"file\"; filename=\"/etc/passwd\"", "x")), "bad file name"},
        {"a temp name", mp, form("B", part("B", "form-data; name=\"file\"; filename=\".tmp-1\"", "x")),
         "bad file name"},
    };
    for (auto& k : cases) {
      auto [code, body] = upload(k.content_type, k.body);
      EXPECT_EQ(code, 400) << k.what << ": " << body;
      EXPECT_NE(body.find(k.why), std::string::npos) << k.what << ": " << body;
    }
    EXPECT_TRUE(fs::is_empty(f.dir)) << "a refused upload reached the folder";
    EXPECT_FALSE(fs::exists(f.base / "escape.txt"));

    // An upload onto a directory's name: 409.
    fs::create_directories(f.dir / "d");
    auto [code, body] = upload(mp, form("B", part("B", "form-data; name=\"file\"; filename=\"d\"", "x")));
    EXPECT_EQ(code, 409) << body;

    // Reverts: bad JSON, wrong shape, no such version.
    auto revert = [&](const std::string& body) {
      auto r = c.post(ctx, f.web + "/api/revert", body, "application/json");
      return r.ok() ? r->status : 0;
    };
    EXPECT_EQ(revert("{"), 400);
    EXPECT_EQ(revert("{\"name\": 3, \"version\": 1}"), 400);
    EXPECT_EQ(revert("{\"name\": \"nope.txt\", \"version\": 1}"), 404);

    // Still serving: a good upload, then the list has it.
    auto s = subscribe(f.addr);
    auto [ok_code, ok_body] = upload(mp, form("B", part("B", "form-data; name=\"file\"; filename=\"good.txt\"", "fine")));
    EXPECT_EQ(ok_code, 201) << ok_body;
    EXPECT_EQ(brief(next_event(s)), "version good.txt v1");
    EXPECT_EQ(slurp(f.dir / "good.txt"), "fine");
    auto files = c.get(ctx, f.web + "/api/files");
    ASSERT_TRUE(files.ok());
    json j = json::parse(files->body);
    EXPECT_EQ(j["seq"], 1);
    ASSERT_EQ(j["files"].size(), 1u);
    EXPECT_EQ(j["files"][0]["name"], "good.txt");
  });
}

// GET /events: Server-Sent Events from the store's event log — every change pushed as
// "event: change", "id: <seq>", "data: <json>"; ?after=<seq> and Last-Event-ID resume after
// an event (no gap, no duplicate); a bad sequence number is a 400; SIGTERM ends the open
// stream and the service still stops gracefully. Read over a raw HTTP/1.0 connection, so
// the stream is the body as sent (no chunked framing), line by line.
TEST(filesync, the_event_stream_pushes_changes_and_resumes_after_an_event) {
  gofer::run([] {
    service_fixture f({"--web", "127.0.0.1:0"});
    std::string host = f.web.substr(std::string("http://").size());
    auto open = [&](const std::string& target, const std::string& extra = "") {
      auto c = gofer::net::dial(host);
      EXPECT_TRUE(c.ok());
      (void)c->write("GET " + target + " HTTP/1.0\r\n" + extra + "\r\n");
      lines r{std::move(*c), {}};
      auto status = r.next().value_or("");
      while (auto l = r.next()) {  // the header, up to the empty line
        if (*l == "\r") break;
      }
      return std::pair{status, std::move(r)};
    };
    // The next event on a stream: its id and its data as JSON.
    auto next = [](lines& r) -> std::pair<std::string, json> {
      std::string id, event;
      while (auto l = r.next()) {
        if (l->empty()) {
          if (event == "change") break;
          continue;  // a comment's end
        }
        if (l->rfind("id: ", 0) == 0) id = l->substr(4);
        if (l->rfind("event: ", 0) == 0) event = l->substr(7);
        if (l->rfind("data: ", 0) == 0) return {id, json::parse(l->substr(6))};
      }
      return {"", json{{"op", "none"}, {"name", ""}, {"version", 0}}};
    };
    auto s = subscribe(f.addr);
    write_file(f.dir / "a.txt", "1");
    next_event(s);
    auto [status, st] = open("/events?after=0");
    EXPECT_NE(status.find(" 200 "), std::string::npos) << status;
    auto [id1, e1] = next(st);  // from the log
    EXPECT_EQ(id1, "1");
    EXPECT_EQ(brief(e1), "version a.txt v1");
    write_file(f.dir / "a.txt", "2");
    auto [id2, e2] = next(st);  // live
    EXPECT_EQ(id2, "2");
    EXPECT_EQ(brief(e2), "version a.txt v2");

    // A reconnecting EventSource sends the last id it saw: the stream resumes after it.
    write_file(f.dir / "b.txt", "b");
    auto [status2, resumed] = open("/events", "Last-Event-ID: 2\r\n");
    auto [id3, e3] = next(resumed);
    EXPECT_EQ(id3, "3");
    EXPECT_EQ(brief(e3), "version b.txt v1");

    auto [bad, ignored] = open("/events?after=x");
    EXPECT_NE(bad.find(" 400 "), std::string::npos) << bad;

    // SIGTERM with two streams open: they end, and the service stops gracefully.
    f.svc.terminate();
    EXPECT_EQ(f.svc.exit_status(), 0) << slurp(f.base / "service.log");
    auto [id4, e4] = next(st);  // what was sent before the end
    EXPECT_EQ(brief(e4), "version b.txt v1");
    int more = 0;
    while (st.next() && more < 10) ++more;
    EXPECT_LE(more, 1) << "the stream went on after the service stopped";
  });
}

// Directories inside the folder: inotify watches each directory (not the tree), and a watch
// follows the directory's inode, not its path. A directory created and filled at once (files
// written before its watch existed), a directory renamed (each file under it renamed, history
// kept), moved out (its files deleted), moved back in (scanned, watched again), deleted; then
// the service restarted after changes made while it was down (the start-up scan reconciles
// the store with the folder). Checks both subscribers' events, the store and the backups.
TEST(filesync, directory_creates_renames_moves_and_deletes_are_followed) {
  gofer::run([] {
    service_fixture f;
    auto s1 = subscribe(f.addr), s2 = subscribe(f.addr);
    auto bak = f.backup();
    std::vector<std::string> seen;  // every event s1 received, in order
    // The next `n` events as a sorted list (their order is the debouncer's, not the test's).
    auto next_set = [&](std::size_t n) {
      std::vector<std::string> got;
      for (std::size_t i = 0; i < n; ++i) got.push_back(brief(next_event(s1)));
      seen.insert(seen.end(), got.begin(), got.end());
      std::sort(got.begin(), got.end());
      return got;
    };
    auto next = [&] { return next_set(1).front(); };
    fs::path n = f.dir / "n";

    // Created and filled at once, three levels deep: whatever was written before a watch
    // existed is found by listing the directory after watching it. Each file once, v1.
    fs::create_directories(n / "a" / "b");
    for (int i = 1; i <= 5; ++i) write_file(n / "a" / "b" / ("f" + std::to_string(i)), "f" + std::to_string(i));
    write_file(n / "a" / "g.txt", "g1");
    write_file(n / "top.txt", "top");
    EXPECT_EQ(next_set(7), (std::vector<std::string>{"version n/a/b/f1 v1", "version n/a/b/f2 v1", "version n/a/b/f3 v1",
                                                     "version n/a/b/f4 v1", "version n/a/b/f5 v1", "version n/a/g.txt v1",
                                                     "version n/top.txt v1"}));
    for (int i = 0; i < 5; ++i) write_file(n / "a" / "b" / "f1", "f1 take " + std::to_string(i));
    EXPECT_EQ(next(), "version n/a/b/f1 v2");
    ASSERT_TRUE(eventually([&] { return fs::exists(f.bdir / "n/a/b/f1.2"); })) << slurp(f.base / "backup.log");

    // Renamed: one rename event per file under it, in name order, versions kept.
    fs::rename(n / "a", n / "c");
    for (const char* want : {"rename n/c/b/f1 v2 from n/a/b/f1", "rename n/c/b/f2 v1 from n/a/b/f2",
                             "rename n/c/b/f3 v1 from n/a/b/f3", "rename n/c/b/f4 v1 from n/a/b/f4",
                             "rename n/c/b/f5 v1 from n/a/b/f5", "rename n/c/g.txt v1 from n/a/g.txt"})
      EXPECT_EQ(next(), want);
    // Its watches followed it: a change and a new subdirectory under the new name.
    write_file(n / "c" / "b" / "f2", "f2 again");
    EXPECT_EQ(next(), "version n/c/b/f2 v2");
    fs::create_directories(n / "c" / "b" / "new");
    write_file(n / "c" / "b" / "new" / "h.txt", "h1");
    EXPECT_EQ(next(), "version n/c/b/new/h.txt v1");

    // Moved out of the folder (a MOVED_FROM without its MOVED_TO): its files are deleted and
    // its watches forgotten. Changed out there, it is a new directory when it comes back.
    fs::path outside = f.base / "outside";
    fs::create_directories(outside);
    fs::rename(n / "c" / "b", outside / "b");
    EXPECT_EQ(next_set(6), (std::vector<std::string>{"delete n/c/b/f1 v2", "delete n/c/b/f2 v2", "delete n/c/b/f3 v1",
                                                     "delete n/c/b/f4 v1", "delete n/c/b/f5 v1",
                                                     "delete n/c/b/new/h.txt v1"}));
    write_file(outside / "b" / "f3", "written outside");

    // Moved in from outside (a MOVED_TO without a MOVED_FROM): listed and watched, new files.
    fs::rename(outside / "b", n / "in");
    EXPECT_EQ(next_set(6), (std::vector<std::string>{"version n/in/f1 v1", "version n/in/f2 v1", "version n/in/f3 v1",
                                                     "version n/in/f4 v1", "version n/in/f5 v1",
                                                     "version n/in/new/h.txt v1"}));
    write_file(n / "in" / "new" / "h2.txt", "h2");
    EXPECT_EQ(next(), "version n/in/new/h2.txt v1");

    // Deleted, with everything in it; a directory of the same name made again is watched anew.
    fs::remove_all(n / "c");
    EXPECT_EQ(next(), "delete n/c/g.txt v1");
    fs::remove_all(n / "in" / "new");
    EXPECT_EQ(next_set(2), (std::vector<std::string>{"delete n/in/new/h.txt v1", "delete n/in/new/h2.txt v1"}));
    fs::create_directories(n / "c");
    write_file(n / "c" / "g.txt", "g again");
    EXPECT_EQ(next(), "version n/c/g.txt v2");  // the same name: its record (deleted) continues

    // The second subscriber saw the same events in the same order, numbered 1..n.
    for (std::size_t i = 0; i < seen.size(); ++i) {
      json e = next_event(s2);
      EXPECT_EQ(brief(e), seen[i]);
      EXPECT_EQ(int(e["seq"]), int(i + 1));
    }

    // The store: renamed rows kept their versions and revisions; no row under the old names.
    ASSERT_TRUE(eventually([&] { return slurp(f.bdir / ".seq") == std::to_string(seen.size()); }))
        << slurp(f.base / "backup.log");
    auto files = list(f.addr);
    std::map<std::string, json> by;
    for (auto& j : files) by[j["name"]] = j;
    for (auto& [name, j] : by) EXPECT_NE(name.rfind("n/a/", 0), 0u) << name << " is still under n/a";
    EXPECT_EQ(by["n/c/b/f1"]["version"], 2);
    EXPECT_EQ(by["n/c/b/f1"]["revisions"], json({1, 2}));
    EXPECT_TRUE(by["n/c/b/f1"]["deleted"].get<bool>());
    EXPECT_FALSE(by["n/in/f3"]["deleted"].get<bool>());
    EXPECT_EQ(by["n/c/g.txt"]["version"], 2);
    EXPECT_FALSE(by["n/c/g.txt"]["deleted"].get<bool>());
    EXPECT_EQ(files.size(), 15u);  // n/c: 6 (renamed), 1 (new/h.txt); n/in: 7; n/top.txt
    // Every kept revision is backed up byte for byte under the file's current name (the
    // renamed files' backups moved with them); nothing is left under n/a.
    int checked = 0;
    for (auto& j : files)
      for (int v : j["revisions"]) {
        std::string body;
        ASSERT_TRUE(ask(f.addr, "FETCH " + json::array({j["name"], v}).dump(), &body).value("ok", false));
        fs::path copy = f.bdir / (std::string(j["name"]) + "." + std::to_string(v));
        EXPECT_EQ(slurp(copy), body) << copy;
        ++checked;
      }
    EXPECT_EQ(checked, 18);  // n/c/b/f1 and f2, n/c/g.txt: 2 each; the other 12 files: 1
    EXPECT_FALSE(fs::exists(f.bdir / "n/a/b/f1.1"));
    EXPECT_EQ(slurp(f.bdir / "n/c/b/f1.2"), "f1 take 4");
    bak.terminate();

    // Changes while the service is down: a directory renamed (seen at start-up as its files
    // gone and new ones found: no cookie pairs them any more) and a file deleted. The
    // start-up scan reconciles the store with the folder; unchanged files make no version.
    f.svc.terminate();
    EXPECT_EQ(f.svc.exit_status(), 0) << slurp(f.base / "service.log");
    fs::rename(n / "in", n / "in2");
    fs::remove(n / "top.txt");
    f.start({});
    auto s3 = subscribe(f.addr);
    for (std::size_t i = 0; i < seen.size(); ++i) next_event(s3);  // the log so far
    std::vector<std::string> got;
    for (int i = 0; i < 11; ++i) got.push_back(brief(next_event(s3)));
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"delete n/in/f1 v1", "delete n/in/f2 v1", "delete n/in/f3 v1",
                                             "delete n/in/f4 v1", "delete n/in/f5 v1", "delete n/top.txt v1",
                                             "version n/in2/f1 v1", "version n/in2/f2 v1", "version n/in2/f3 v1",
                                             "version n/in2/f4 v1", "version n/in2/f5 v1"}));
    // Nothing more: n/c/g.txt was unchanged. A write shows the next event is the next change.
    write_file(n / "c" / "g.txt", "g three");
    EXPECT_EQ(brief(next_event(s3)), "version n/c/g.txt v3");
  });
}

// IN_Q_OVERFLOW: the kernel queues at most max_queued_events (16384 by default), then drops
// events and queues one overflow event. The service is stopped (SIGSTOP) while 20000
// close-after-write events fill its queue; a directory renamed, a file deleted, one created
// and one changed after that make no events at all. Continued, the listener sees the
// overflow, watches and lists the folder again, and the owner reconciles the store with the
// listing: what is gone is deleted, what is new or changed becomes a version, the rest
// (q.txt, opened 10000 times but never changed) makes nothing.
TEST(filesync, an_overflowed_inotify_queue_is_followed_by_a_rescan) {
  gofer::run([] {
    service_fixture f;
    auto s = subscribe(f.addr);
    fs::create_directories(f.dir / "d");
    write_file(f.dir / "d" / "z.txt", "z");
    EXPECT_EQ(brief(next_event(s)), "version d/z.txt v1");
    for (const char* n : {"p.txt", "q.txt", "x.txt"}) {
      write_file(f.dir / n, n);
      EXPECT_EQ(brief(next_event(s)), std::string("version ") + n + " v1");
    }

    ASSERT_EQ(::kill(f.svc.pid(), SIGSTOP), 0);
    // Opened for writing and closed: IN_CLOSE_WRITE each time (not truncated: ext4 flushes a
    // file rewritten after a truncate, which would make this slow). Alternating names:
    // inotify merges an event identical to the one queued just before it.
    for (int i = 0; i < 10000; ++i)
      for (const char* n : {"p.txt", "q.txt"}) {
        int fd = ::open((f.dir / n).c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ::close(fd);
      }
    fs::rename(f.dir / "d", f.dir / "e");
    fs::remove(f.dir / "x.txt");
    write_file(f.dir / "r.txt", "r");
    write_file(f.dir / "p.txt", "p2");
    ASSERT_EQ(::kill(f.svc.pid(), SIGCONT), 0);

    std::vector<std::string> got;
    for (int i = 0; i < 5; ++i) got.push_back(brief(next_event(s)));
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"delete d/z.txt v1", "delete x.txt v1", "version e/z.txt v1",
                                             "version p.txt v2", "version r.txt v1"}));
    EXPECT_NE(slurp(f.base / "service.log").find("inotify queue overflowed"), std::string::npos)
        << slurp(f.base / "service.log");
    // The watches are right again: a change in the renamed directory, under its new name,
    // is the very next event (q.txt made none).
    write_file(f.dir / "e" / "z.txt", "z2");
    EXPECT_EQ(brief(next_event(s)), "version e/z.txt v2");
  });
}

// A directory renamed on the Redis store: the same per-file renames through the same
// interface; the keys move (file:, rev:), the old ones are gone, the contents kept.
TEST(filesync_redis, a_renamed_directory_moves_each_file_s_keys) {
  gofer::run([] {
    auto redis = gofer_demo::server::start(gofer_demo::redis_spec());
    service_fixture f({"--store", "redis", "--redis", redis.addr()});
    auto s = subscribe(f.addr);
    fs::create_directories(f.dir / "d" / "sub");
    write_file(f.dir / "d" / "x.txt", "x1");
    write_file(f.dir / "d" / "sub" / "y.txt", "y1");
    std::vector<std::string> got = {brief(next_event(s)), brief(next_event(s))};
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"version d/sub/y.txt v1", "version d/x.txt v1"}));
    write_file(f.dir / "d" / "x.txt", "x2");
    EXPECT_EQ(brief(next_event(s)), "version d/x.txt v2");
    fs::rename(f.dir / "d", f.dir / "e");
    EXPECT_EQ(brief(next_event(s)), "rename e/sub/y.txt v1 from d/sub/y.txt");
    EXPECT_EQ(brief(next_event(s)), "rename e/x.txt v2 from d/x.txt");

    redisContext* rc = redisConnect("127.0.0.1", redis.port());
    ASSERT_TRUE(rc && !rc->err);
    auto get = [&](const char* fmt, const char* arg) { return redis_get(rc, fmt, arg); };
    EXPECT_EQ(get("HGET filesync:rev:%s 1", "e/x.txt"), "x1");
    EXPECT_EQ(get("HGET filesync:rev:%s 2", "e/x.txt"), "x2");
    EXPECT_EQ(get("HGET filesync:file:%s version", "e/sub/y.txt"), "1");
    EXPECT_EQ(get("EXISTS filesync:file:%s", "d/x.txt"), "0");
    EXPECT_EQ(get("EXISTS filesync:rev:%s", "d/sub/y.txt"), "0");
    EXPECT_EQ(get("ZSCORE filesync:files %s", "d/x.txt"), "?");  // not a member any more
    redisFree(rc);
    auto files = list(f.addr);
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0]["name"], "e/sub/y.txt");
    EXPECT_EQ(files[1]["name"], "e/x.txt");
  });
}
