// c10k — the book's C10K server, complete: static pages, a template, articles from MariaDB
// (book, chapter 6: "Building our C10K web server" through "Timing out and moving on").
//
// One gofer::http::server with a serve_mux and three routes, as the book's Ch6_server.go:
// /static/{name} serves the ~80 KB pages the demo generates (http::file_server),
// /template/{name} executes an HTML template parsed ONCE at start-up (Google's ctemplate,
// values HTML-escaped), /dynamic/{id} reads one article from a private MariaDB through a
// pool of connections with prepared statements; anything else is a 404. Watch the table:
// every route keeps its latency low because nothing per request blocks a scheduler thread
// — a DB call parks its goroutine on the MariaDB socket through gofer's poller
// (Connector/C's non-blocking API; --db-mode=blocking: gofer::blocking instead), the
// template is not re-parsed.
//
// Without --serve the demo drives itself: it checks every route, the 404s, path traversal
// and a malformed request, then loads each route with --conns client goroutines and prints
// a table. The book's pitfalls are flags: --parse-per-request, --connect-per-request, and
// --racy-page (the book's shared `page` variable: a data race for the TSan preset).
// --serve (or --addr) serves until Ctrl-C/SIGTERM, for wrk (./gofer bench c10k).
#include <signal.h>
#include <sys/resource.h>

#include <mysql.h>

#include <ctemplate/template.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/raw_fd.hpp>
#include <gofer/signal.hpp>

#include "demo_flags.hpp"
#include "server.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace http = gofer::http;

namespace {

// How a connection waits for MariaDB (--db-mode): see "the articles" below.
enum class db_mode { nonblocking, blocking };

struct options {
  bool parse_per_request = false, connect_per_request = false, racy_page = false;
  db_mode db = db_mode::nonblocking;
  int pool = 8;
  int pages = 3;
};

// ---- the site: pages and the template, generated into a temp dir ------------------------
// The book's static/test.html (80 KB) and static/template.html; none are in its repo, so
// the demo writes them: --pages pages of about 80 KB each, and a template of the same size
// whose only variable parts are {{TITLE}} and {{CONTENTS}}.
constexpr std::size_t kPageBytes = 80 * 1024;

std::string filler(std::size_t bytes) {
  static const std::string para =
      "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
      "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam.</p>\n";
  std::string s;
  while (s.size() + para.size() <= bytes) s += para;
  return s;
}

// The template. AUTOESCAPE makes ctemplate HTML-escape every variable (Go's html/template
// escapes by context the same way); it must be the first thing in the text.
std::string template_text() {
  return "{{%AUTOESCAPE context=\"HTML\"}}<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
         "<title>{{TITLE}}</title></head>\n<body><h1>{{TITLE}}</h1>\n<p>{{CONTENTS}}</p>\n" +
         filler(kPageBytes) + "</body></html>\n";
}

struct site {
  fs::path root;    // the temp dir: static/ and template.html; a secret.txt outside static/
  fs::path statics;
  fs::path template_file;
  std::vector<std::string> page_names;  // "page-0.html", ...
  std::size_t page_size = 0;
};

site make_site(int pages) {
  std::string tmpl = (fs::temp_directory_path() / "gofer-c10k-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  site s;
  s.root = tmpl;
  s.statics = s.root / "static";
  fs::create_directory(s.statics);
  for (int i = 0; i < pages; ++i) {
    std::string name = "page-" + std::to_string(i) + ".html";
    std::string body = "<!DOCTYPE html>\n<html><head><title>static page " + std::to_string(i) +
                       "</title></head>\n<body>\n" + filler(kPageBytes - 200) + "</body></html>\n";
    std::ofstream(s.statics / name, std::ios::binary) << body;
    s.page_names.push_back(name);
    s.page_size = body.size();
  }
  s.template_file = s.root / "template.html";
  std::ofstream(s.template_file, std::ios::binary) << template_text();
  // Outside the served directory: a traversal that reached it would leak this line.
  std::ofstream(s.root / "secret.txt") << "the secret outside static/\n";
  return s;
}

// ---- the template: parsed once, executed per request ---------------------------------------
// ctemplate's Template::Expand is const and thread-safe, so one parsed template serves
// every connection goroutine at once (Go's *template.Template is used the same way).
using template_ptr = std::unique_ptr<ctemplate::Template>;

template_ptr parse_template(const std::string& text) {
  template_ptr t(ctemplate::Template::StringToTemplate(text, ctemplate::DO_NOT_STRIP));
  if (!t || t->state() != ctemplate::TS_READY) throw std::runtime_error("template: parse error");
  return t;
}

std::string execute(const ctemplate::Template& t, const std::string& title, const std::string& contents) {
  ctemplate::TemplateDictionary dict("page");
  dict.SetValue("TITLE", title);
  dict.SetValue("CONTENTS", contents);
  std::string out;
  out.reserve(kPageBytes + 1024);
  t.Expand(&out, &dict);
  return out;
}

// ---- the articles: MariaDB through a pool of connections -------------------------------
// A DB call must not block a scheduler thread (that would freeze every goroutine queued on
// it). Two ways, chosen with --db-mode:
//   nonblocking  Connector/C's non-blocking API (MYSQL_OPT_NONBLOCK): each call is
//                mysql_*_start, then, while it answers "wait for MYSQL_WAIT_READ/WRITE",
//                the goroutine parks on the connection's socket through gofer's poller
//                (net::raw_fd::borrow(mysql_get_socket(m)), wait_read/wait_write) and
//                resumes with mysql_*_cont — Go's database/sql drivers work this way.
//   blocking     the plain blocking API run through gofer::blocking: the goroutine parks
//                and a helper thread blocks in the call meanwhile.
// bench/RESULTS.md and the chapter README have the measurement behind the default.
struct article {
  std::string title, text;
};

// One connection with its prepared statement (prepared once, executed many times).
class db_conn {
 public:
  // Blocks in blocking mode (call it in gofer::blocking); parks in nonblocking mode.
  static std::unique_ptr<db_conn> open(const std::string& socket, const char* db, db_mode mode) {
    auto c = std::unique_ptr<db_conn>(new db_conn);
    c->nb_ = mode == db_mode::nonblocking;
    c->m_ = mysql_init(nullptr);
    if (!c->m_) throw std::runtime_error("mysql_init: out of memory");
    if (c->nb_) mysql_options(c->m_, MYSQL_OPT_NONBLOCK, nullptr);
    MYSQL* ok = nullptr;
    if (c->nb_) {
      c->drive([&] { return mysql_real_connect_start(&ok, c->m_, nullptr, "gofer", nullptr, db, 0, socket.c_str(), 0); },
               [&](int ev) { return mysql_real_connect_cont(&ok, c->m_, ev); });
    } else {
      ok = mysql_real_connect(c->m_, nullptr, "gofer", nullptr, db, 0, socket.c_str(), 0);
    }
    if (!ok) throw std::runtime_error(std::string("connect to MariaDB: ") + mysql_error(c->m_));
    if (db) {
      static const char q[] = "SELECT article_title, article_text FROM articles WHERE article_id = ?";
      c->st_ = mysql_stmt_init(c->m_);
      if (!c->st_) throw std::runtime_error("mysql_stmt_init: out of memory");
      int err = 0;
      if (c->nb_) {
        c->drive([&] { return mysql_stmt_prepare_start(&err, c->st_, q, sizeof q - 1); },
                 [&](int ev) { return mysql_stmt_prepare_cont(&err, c->st_, ev); });
      } else {
        err = mysql_stmt_prepare(c->st_, q, sizeof q - 1);
      }
      if (err != 0) throw std::runtime_error(std::string("prepare: ") + mysql_error(c->m_));
    }
    return c;
  }
  ~db_conn() {
    (void)raw_.close();  // unregister the socket before Connector/C closes it
    if (st_) mysql_stmt_close(st_);
    if (m_) mysql_close(m_);
  }
  void exec(const std::string& sql) {  // blocking mode only (the start-up load)
    if (mysql_real_query(m_, sql.data(), sql.size()) != 0)
      throw std::runtime_error(sql.substr(0, 40) + "...: " + mysql_error(m_));
  }
  // The prepared SELECT. Blocks (blocking mode) or parks (nonblocking). nullopt: no such
  // article.
  std::optional<article> get(int id) {
    MYSQL_BIND param{};
    param.buffer_type = MYSQL_TYPE_LONG;
    param.buffer = &id;
    char title[129], text[129];
    unsigned long title_len = 0, text_len = 0;
    MYSQL_BIND res[2]{};
    res[0].buffer_type = res[1].buffer_type = MYSQL_TYPE_STRING;
    res[0].buffer = title;
    res[0].buffer_length = sizeof title;
    res[0].length = &title_len;
    res[1].buffer = text;
    res[1].buffer_length = sizeof text;
    res[1].length = &text_len;
    auto fail = [&] { return std::runtime_error(std::string("article query: ") + mysql_stmt_error(st_)); };
    if (mysql_stmt_bind_param(st_, &param) || mysql_stmt_bind_result(st_, res)) throw fail();
    int err = 0, fetched = 0;
    if (nb_) {
      drive([&] { return mysql_stmt_execute_start(&err, st_); }, [&](int ev) { return mysql_stmt_execute_cont(&err, st_, ev); });
      if (err == 0)
        drive([&] { return mysql_stmt_store_result_start(&err, st_); },
              [&](int ev) { return mysql_stmt_store_result_cont(&err, st_, ev); });
      if (err != 0) throw fail();
      drive([&] { return mysql_stmt_fetch_start(&fetched, st_); }, [&](int ev) { return mysql_stmt_fetch_cont(&fetched, st_, ev); });
    } else {
      if (mysql_stmt_execute(st_) || mysql_stmt_store_result(st_)) throw fail();
      fetched = mysql_stmt_fetch(st_);
    }
    std::optional<article> a;
    if (fetched == 0)
      a = article{std::string(title, std::min<unsigned long>(title_len, 128)),
                  std::string(text, std::min<unsigned long>(text_len, 128))};
    mysql_stmt_free_result(st_);  // the result is stored: no I/O
    return a;
  }

 private:
  db_conn() = default;

  // Runs one non-blocking call: status = start(); while Connector/C asks to wait, park on
  // the socket until it is ready (or its timeout passes), then status = cont(events).
  template <class Start, class Cont>
  void drive(Start start, Cont cont) {
    for (int status = start(); status != 0;) status = cont(wait(status));
  }

  // Parks until what `status` asks for (MYSQL_WAIT_READ / _WRITE, with MYSQL_WAIT_TIMEOUT
  // after mysql_get_timeout_value seconds); returns the events that occurred. The socket
  // exists from the connect's first wait on; it is registered with the poller then.
  int wait(int status) {
    if (!raw_.is_open()) {
      auto r = gofer::net::raw_fd::borrow(mysql_get_socket(m_));
      if (!r.ok()) throw std::runtime_error("MariaDB socket on the poller: " + r.status().ToString());
      raw_ = std::move(*r);
    }
    gofer::time_point deadline{};
    if (status & MYSQL_WAIT_TIMEOUT)
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(mysql_get_timeout_value(m_));
    absl::Status st;
    if (status & MYSQL_WAIT_READ) {
      raw_.set_read_deadline(deadline);
      st = raw_.wait_read();  // may return early: _cont then asks again
    } else if (status & MYSQL_WAIT_WRITE) {
      raw_.set_write_deadline(deadline);
      st = raw_.wait_write();
    } else {
      gofer::sleep(std::chrono::seconds(mysql_get_timeout_value(m_)));
      return MYSQL_WAIT_TIMEOUT;
    }
    if (gofer::net::is_timeout(st)) return MYSQL_WAIT_TIMEOUT;
    if (!st.ok()) throw std::runtime_error("MariaDB socket: " + st.ToString());
    return status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
  }

  MYSQL* m_ = nullptr;
  MYSQL_STMT* st_ = nullptr;
  bool nb_ = false;
  gofer::net::raw_fd raw_;  // the socket on gofer's poller (nonblocking mode)
};

// The book's `articles` table, 10,000 rows. Article 42's title needs escaping in HTML.
void load_articles(const std::string& socket) {
  gofer::blocking([&] {
    auto c = db_conn::open(socket, nullptr, db_mode::blocking);
    c->exec("CREATE DATABASE master");
    c->exec("USE master");
    c->exec("CREATE TABLE articles (article_id INT AUTO_INCREMENT PRIMARY KEY, "
            "article_title VARCHAR(128), article_text VARCHAR(128)) ENGINE=InnoDB");
    for (int from = 1; from <= 10000; from += 1000) {
      std::string sql = "INSERT INTO articles (article_id, article_title, article_text) VALUES ";
      for (int id = from; id < from + 1000; ++id) {
        std::string title = id == 42 ? "Fish & <Chips>" : "Article " + std::to_string(id);
        sql += (id == from ? "(" : ",(") + std::to_string(id) + ",'" + title + "','The text of article " +
               std::to_string(id) + ".')";
      }
      c->exec(sql);
    }
  });
}

// The pool: a buffered channel of idle connections (Go's idiom for a free list). get()
// takes one — parking while all are busy, so at most `size` queries run at once — and
// gives it back when done.
class article_db {
  // Runs a DB call the way the mode wants: on this goroutine (it parks on the socket), or
  // on a helper thread through gofer::blocking.
  template <class F>
  auto with_db(F f) const -> decltype(f()) {
    return mode_ == db_mode::nonblocking ? f() : gofer::blocking(f);
  }

 public:
  article_db(std::string socket, int size, bool connect_per_request, db_mode mode)
      : socket_(std::move(socket)), idle_(static_cast<std::size_t>(size)), per_request_(connect_per_request), mode_(mode) {
    if (per_request_) return;
    for (int i = 0; i < size; ++i) idle_.send(with_db([&] { return db_conn::open(socket_, "master", mode_); }).release());
  }
  ~article_db() {
    idle_.close();
    for (db_conn* c : idle_) delete c;
  }

  std::optional<article> get(int id) const {
    if (per_request_) {
      // The book's pitfall: sql.Open on every request. A fresh connection (and a fresh
      // prepare) per request: a round trip to connect, authenticate, prepare, then close.
      return with_db([&] { return db_conn::open(socket_, "master", mode_)->get(id); });
    }
    std::unique_ptr<db_conn> c(*idle_.recv());  // parks while every connection is busy
    gofer::defer give_back([&] { idle_.send(c.release()); });
    return with_db([&] { return c->get(id); });
  }

 private:
  std::string socket_;
  gofer::chan<db_conn*> idle_;
  bool per_request_;
  db_mode mode_;
};

// ---- the routes -----------------------------------------------------------------------
// The book's global `page`, shared by every handler: only with --racy-page.
std::string racy_page;  // NOLINT: the bug, on purpose

struct server_counters {
  std::atomic<long> requests{0};
};

void add_routes(http::serve_mux& mux, const site& s, const options& o, const ctemplate::Template& tmpl,
                const article_db& db, server_counters& sc) {
  // /static/{name}: http.FileServer below static/ (it refuses traversal itself).
  auto files = http::strip_prefix("/static", http::file_server(s.statics.string()));
  mux.handle("GET /static/{name}", [files, &sc](const http::request& r, http::response_writer& w) {
    sc.requests.fetch_add(1, std::memory_order_relaxed);
    files(r, w);
  });

  // Writes the page built by `build`, per request — or, with --racy-page, through the
  // book's one shared `page` variable that every handler overwrites concurrently.
  auto respond = [&o](http::response_writer& w, auto build) {
    w.headers().set("Content-Type", "text/html; charset=utf-8");
    if (o.racy_page) {
      racy_page = build();  // data race: another handler may be writing it right now
      w.write(racy_page);
    } else {
      w.write(build());
    }
  };

  // /template/{name}: the template parsed at start-up, executed per request.
  mux.handle("GET /template/{name}", [&, respond](const http::request& r, http::response_writer& w) {
    sc.requests.fetch_add(1, std::memory_order_relaxed);
    std::string title = "This is our URL: " + r.path_value("name");
    respond(w, [&] {
      if (!o.parse_per_request) return execute(tmpl, title, "This is our template's contents.");
      // The book's pitfall: read and parse the template file on every request.
      std::string text = gofer::blocking([&] {
        std::ifstream in(s.template_file, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
      });
      return execute(*parse_template(text), title, "This is our template's contents.");
    });
  });

  // /dynamic/{id}: one article, rendered into the same template.
  mux.handle("GET /dynamic/{id}", [&, respond](const http::request& r, http::response_writer& w) {
    sc.requests.fetch_add(1, std::memory_order_relaxed);
    std::string idtext = r.path_value("id");
    char* end = nullptr;
    long id = std::strtol(idtext.c_str(), &end, 10);
    if (idtext.empty() || *end != '\0' || id < 1 || id > 1'000'000) return http::not_found(w);
    std::optional<article> a = db.get(static_cast<int>(id));
    if (!a) return http::not_found(w);
    respond(w, [&] { return execute(tmpl, a->title, a->text); });
  });
  // Anything else: the mux answers 404 (the book answered an empty 200).
}

// ---- the self-test: checks ---------------------------------------------------------------
struct checker {
  int passed = 0, failed = 0;
  void expect(bool ok, const std::string& what) {
    (ok ? passed : failed)++;
    std::printf("  %s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  }
};

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// A request written by hand on a raw connection (the client would refuse to send it):
// returns the server's status line.
std::string raw_exchange(const std::string& addr, const std::string& text) {
  auto c = gofer::net::dial(addr);
  if (!c.ok()) return c.status().ToString();
  c->set_deadline(clock_type::now() + 5s);
  if (auto st = c->write(text.data(), text.size()); !st.ok()) return st.status().ToString();
  std::string got;
  char buf[512];
  while (got.find("\r\n") == std::string::npos) {
    auto n = c->read(buf, sizeof buf);
    if (!n.ok()) break;
    got.append(buf, *n);
  }
  return got.substr(0, got.find("\r\n"));
}

void run_checks(checker& ck, const std::string& base, const std::string& addr, const site& s) {
  http::client c({.max_redirects = 0});
  auto get = [&](const std::string& path) { return c.get(gofer::background(), base + path); };
  auto status_is = [](const absl::StatusOr<http::response>& r, int code) { return r.ok() && r->status == code; };

  auto st = get("/static/" + s.page_names[0]);
  ck.expect(status_is(st, 200) && st->body.size() == s.page_size &&
                contains(st->headers.get("Content-Type"), "text/html"),
            "GET /static/" + s.page_names[0] + " is the " + std::to_string(s.page_size) + "-byte page, text/html");
  ck.expect(status_is(get("/static/missing.html"), 404), "GET /static/missing.html is 404");

  auto t = get("/template/gopher");
  ck.expect(status_is(t, 200) && contains(t->body, "<title>This is our URL: gopher</title>"),
            "GET /template/gopher fills the title in");
  auto tx = get("/template/%3Cscript%3Ealert(%22hi%22)%3C%5Cscript%3E");
  ck.expect(status_is(tx, 200) && !contains(tx->body, "<script>") &&
                contains(tx->body, "&lt;script&gt;alert(&quot;hi&quot;)&lt;\\script&gt;"),
            "GET /template/<script>alert(\"hi\")<\\script> is HTML-escaped" +
                (tx.ok() ? std::string() : ": " + tx.status().ToString()));

  auto d = get("/dynamic/1");
  ck.expect(status_is(d, 200) && contains(d->body, "<h1>Article 1</h1>") &&
                contains(d->body, "The text of article 1."),
            "GET /dynamic/1 is article 1 from MariaDB");
  auto d42 = get("/dynamic/42");
  ck.expect(status_is(d42, 200) && contains(d42->body, "<h1>Fish &amp; &lt;Chips&gt;</h1>"),
            "GET /dynamic/42's title \"Fish & <Chips>\" is HTML-escaped");
  ck.expect(status_is(get("/dynamic/10001"), 404), "GET /dynamic/10001 (no such article) is 404");
  ck.expect(status_is(get("/dynamic/abc"), 404), "GET /dynamic/abc is 404");

  ck.expect(status_is(get("/"), 404) && status_is(get("/elsewhere"), 404), "GET / and GET /elsewhere are 404");
  auto post = c.post(gofer::background(), base + "/template/x", "x", "text/plain");
  ck.expect(status_is(post, 405), "POST /template/x is 405 Method Not Allowed");

  // Traversal: every spelling of "../secret.txt" must be refused, never serve the secret.
  for (std::string path : {"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/..%2fsecret.txt",
                           "/static/%2e%2e%2fsecret.txt", "/static/..%5csecret.txt"}) {
    std::string line = raw_exchange(addr, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck.expect((contains(line, " 400 ") || contains(line, " 404 ")) && !contains(line, " 200 "),
              "GET " + path + " is refused: " + line);
  }
  // Malformed requests: 400, and the server keeps serving.
  std::string bad = raw_exchange(addr, "GET /static/ HTTP/1.1\r\nHost x\r\n\r\n");
  ck.expect(contains(bad, " 400 "), "a header line without a colon is 400: " + bad);
  std::string garbage = raw_exchange(addr, "\x16\x03\x01 hello?\r\n\r\n");
  ck.expect(contains(garbage, " 400 "), "bytes that are not HTTP are 400: " + garbage);
  ck.expect(status_is(get("/template/still-here"), 200), "the server still serves after them");
}

// ---- the self-test: load ---------------------------------------------------------------
struct load_result {
  long ok = 0, wrong = 0, errors = 0;
  std::string first_problem;
  std::vector<double> latency_ms;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// `conns` client goroutines, each with its own keep-alive connection, send `requests`
// requests each to paths made by `path(client, i)`; `right(path, body)` checks an answer.
template <class PathFn, class RightFn>
load_result load(const std::string& base, int conns, int requests, PathFn path, RightFn right) {
  std::vector<load_result> per(conns);
  gofer::wait_group wg;
  for (int k = 0; k < conns; ++k) {
    wg.add(1);
    gofer::go(gofer::named{"client"}, [&, k] {
      gofer::defer done([&] { wg.done(); });
      load_result& r = per[k];
      http::client c;
      for (int i = 0; i < requests; ++i) {
        std::string p = path(k, i);
        auto t0 = clock_type::now();
        auto res = c.get(gofer::background(), base + p);
        double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
        if (!res.ok() || res->status != 200) {
          ++r.errors;
          if (r.first_problem.empty())
            r.first_problem = p + ": " + (res.ok() ? "status " + std::to_string(res->status) : res.status().ToString());
        } else if (!right(p, res->body)) {
          ++r.wrong;
          if (r.first_problem.empty()) r.first_problem = p + ": answered with another request's page";
        } else {
          ++r.ok;
          r.latency_ms.push_back(ms);
        }
      }
    });
  }
  wg.wait();
  load_result all;
  for (load_result& r : per) {
    all.ok += r.ok;
    all.wrong += r.wrong;
    all.errors += r.errors;
    if (all.first_problem.empty()) all.first_problem = r.first_problem;
    all.latency_ms.insert(all.latency_ms.end(), r.latency_ms.begin(), r.latency_ms.end());
  }
  return all;
}

rlim_t raise_fd_limit(rlim_t need) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
    rlimit more{need, need};
    if (setrlimit(RLIMIT_NOFILE, &more) == 0) return need;
  }
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr;
  bool serve = false;
  int conns = 50, requests = 20;
  unsigned threads = 0;
  double read_timeout = 10, write_timeout = 10, idle_timeout = 120;
  options o;
  CLI::App app{"the book's C10K server: static pages, a template, articles from MariaDB", "c10k"};
  app.add_option("--addr", addr, "serve on this host:port until Ctrl-C (implies --serve)");
  app.add_flag("--serve", serve, "only serve (on --addr, default 127.0.0.1:8080) until Ctrl-C or SIGTERM");
  app.add_option("--conns", conns, "self-test: client goroutines per route, one connection each")
      ->capture_default_str()
      ->check(CLI::Range(1, 20000));
  app.add_option("--requests", requests, "self-test: requests per client")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--threads", threads, "scheduler threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 1024u));
  app.add_option("--read-timeout", read_timeout, "seconds a client may take to send a request (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--write-timeout", write_timeout, "seconds from a request's header to the end of its answer (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--idle-timeout", idle_timeout, "seconds a kept-alive connection may wait for its next request")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--pool", o.pool, "MariaDB connections in the pool")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--pages", o.pages, "static pages to generate (about 80 KB each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  std::string db_mode_name = "nonblocking";
  app.add_option("--db-mode", db_mode_name, "how a DB call waits: on gofer's poller (nonblocking) or on a helper thread (blocking)")
      ->check(CLI::IsMember({"nonblocking", "blocking"}))
      ->capture_default_str();
  app.add_flag("--parse-per-request", o.parse_per_request, "pitfall: read and parse the template on every request");
  app.add_flag("--connect-per-request", o.connect_per_request, "pitfall: a new MariaDB connection per request");
  app.add_flag("--racy-page", o.racy_page, "pitfall: the book's shared `page` variable (a data race: TSan)");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  o.db = db_mode_name == "blocking" ? db_mode::blocking : db_mode::nonblocking;
  if (!addr.empty()) serve = true;
  if (serve && addr.empty()) addr = "127.0.0.1:8080";

  const rlim_t need = serve ? 0 : static_cast<rlim_t>(2 * conns + 2 * o.pool + 128);
  if (rlim_t fds = raise_fd_limit(need); fds != RLIM_INFINITY && need > fds) {
    std::fprintf(stderr, "c10k: %d connections need about %llu file descriptors, the limit is %llu\n", conns,
                 static_cast<unsigned long long>(need), static_cast<unsigned long long>(fds));
    return 1;
  }
  mysql_library_init(0, nullptr, nullptr);  // once, before any thread uses Connector/C

  int status = 0;
  gofer::run(
      [&] {
        try {
          // 0. --serve: Go's signal.Notify(sigs, os.Interrupt, syscall.SIGTERM). From now on
          //    Ctrl-C and SIGTERM arrive on sigs instead of ending the program — before
          //    MariaDB starts, so a Ctrl-C during start-up still stops it on the way out.
          //    Buffered: the relay never waits for a receiver.
          gofer::chan<int> sigs(1);
          if (serve) gofer::signal::notify(sigs, {SIGINT, SIGTERM});

          // 1. The site, the template (parsed once), MariaDB with its 10,000 articles.
          site s = make_site(o.pages);
          gofer::defer cleanup([&] {
            std::error_code ec;
            fs::remove_all(s.root, ec);
          });
          template_ptr tmpl = parse_template(template_text());
          auto t0 = clock_type::now();
          auto mariadb = gofer_demo::server::start(gofer_demo::mariadb_spec());
          std::string sock = gofer_demo::mariadb_socket(mariadb.dir()).string();
          load_articles(sock);
          article_db db(sock, o.pool, o.connect_per_request, o.db);
          std::printf("MariaDB on %s: 10000 articles loaded, %s, %s, in %.1f s\n", mariadb.addr().c_str(),
                      o.connect_per_request ? "a new connection per request (--connect-per-request)"
                                            : ("a pool of " + std::to_string(o.pool) + " connections").c_str(),
                      o.db == db_mode::nonblocking ? "calls parked on gofer's poller" : "calls on helper threads",
                      std::chrono::duration<double>(clock_type::now() - t0).count());

          // 2. The server: one serve_mux, the book's timeouts (10 s) unless told otherwise.
          server_counters sc;
          http::serve_mux mux;
          add_routes(mux, s, o, *tmpl, db, sc);
          auto secs = [](double x) { return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(x)); };
          http::server_options so;
          so.read_header_timeout = secs(read_timeout);
          so.read_timeout = secs(read_timeout);
          so.write_timeout = secs(write_timeout);
          so.idle_timeout = secs(idle_timeout);
          http::server srv(mux, so);
          auto ln = gofer::net::listen(serve ? addr : "127.0.0.1:0");
          if (!ln.ok()) throw std::runtime_error(ln.status().ToString());
          std::string where = ln->addr(), base = "http://" + where;
          gofer::chan<absl::Status> served(1);
          gofer::go(gofer::named{"server"}, [&srv, served, l = std::move(*ln)]() mutable {
            served.send(srv.serve(std::move(l)));
          });
          if (o.parse_per_request) std::printf("pitfall on: the template is read and parsed on every request\n");
          if (o.racy_page) std::printf("pitfall on: every handler writes one shared page (a data race)\n");

          long failures = 0, total = 0;
          int checks = 0, checks_passed = 0;
          if (serve) {
            // 3a. Serve until a signal (or until serve fails).
            std::printf("listening on %s/ (routes /static/{name} /template/{name} /dynamic/{id}), %u thread%s; "
                        "Ctrl-C or SIGTERM to stop\n",
                        base.c_str(), gofer::num_threads(), gofer::num_threads() == 1 ? "" : "s");
            std::printf("static pages: %s/static/page-0.html ... page-%d.html\n", base.c_str(), o.pages - 1);
            std::fflush(stdout);
            std::optional<int> sig;
            std::optional<absl::Status> failed;
            if (gofer::select(gofer::recv_case(sigs, sig), gofer::recv_case(served, failed)) == 1) {
              throw std::runtime_error(failed->ToString());
            }
            std::printf("got %s: shutting down gracefully\n", *sig == SIGINT ? "SIGINT" : "SIGTERM");
          } else {
            // 3b. Self-test: every route, the 404s, traversal, malformed requests...
            std::printf("serving on %s/ with %u scheduler thread%s\nchecks:\n", base.c_str(), gofer::num_threads(),
                        gofer::num_threads() == 1 ? "" : "s");
            checker ck;
            run_checks(ck, base, where, s);
            checks = ck.passed + ck.failed;
            checks_passed = ck.passed;
            failures += ck.failed;

            // ... then load on each route: `conns` clients x `requests` requests.
            std::printf("load: %d client goroutines x %d requests per route\n", conns, requests);
            std::printf("  %-10s %8s %6s %6s %10s %9s %9s\n", "route", "ok", "wrong", "errors", "requests/s", "p50 ms",
                        "p99 ms");
            std::vector<std::string> problems;
            auto row = [&](const char* name, auto path, auto right) {
              auto t1 = clock_type::now();
              load_result r = load(base, conns, requests, path, right);
              double el = std::chrono::duration<double>(clock_type::now() - t1).count();
              double p50 = percentile(r.latency_ms, 0.5), p99 = percentile(r.latency_ms, 0.99);
              std::printf("  %-10s %8ld %6ld %6ld %10.0f %9.2f %9.2f\n", name, r.ok, r.wrong, r.errors,
                          static_cast<double>(r.ok + r.wrong) / el, p50, p99);
              total += r.ok + r.wrong + r.errors;
              failures += r.wrong + r.errors;
              if (!r.first_problem.empty()) problems.push_back(std::string(name) + ": " + r.first_problem);
            };
            const std::size_t page_size = s.page_size;
            const auto& names = s.page_names;
            row(
                "static", [&](int k, int i) { return "/static/" + names[(k + i) % names.size()]; },
                [&](const std::string&, const std::string& body) { return body.size() == page_size; });
            row(
                "template", [](int k, int i) { return "/template/client-" + std::to_string(k) + "-" + std::to_string(i); },
                [](const std::string& p, const std::string& body) {
                  return contains(body, "<title>This is our URL: " + p.substr(10) + "</title>");
                });
            row(
                "dynamic", [](int k, int i) { return "/dynamic/" + std::to_string((k * 7919 + i * 104729) % 10000 + 1); },
                [](const std::string& p, const std::string& body) {
                  std::string id = p.substr(9);
                  return id == "42" || contains(body, "<h1>Article " + id + "</h1>");
                });
            for (const std::string& p : problems) std::printf("  first problem on %s\n", p.c_str());
          }

          // 4. Graceful shutdown; MariaDB and the temp dir go on the way out (RAII, defer).
          auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 5s);
          absl::Status down = srv.shutdown(ctx);
          cancel();
          served.recv();
          if (!down.ok()) {
            std::fprintf(stderr, "c10k: shutdown: %s\n", down.ToString().c_str());
            ++failures;
          }
          if (failures != 0) status = 1;
          if (serve) {
            std::printf("served %ld requests, then shut down %s\n", sc.requests.load(), down.ok() ? "gracefully" : "forcibly");
          } else {
            std::string passed = checks_passed == checks ? "all " + std::to_string(checks)
                                                         : std::to_string(checks_passed) + " of " + std::to_string(checks);
            std::printf("%s checks passed, %ld requests on 3 routes with %ld wrong or failed, then shut down %s\n",
                        passed.c_str(), total, failures - (checks - checks_passed), down.ok() ? "gracefully" : "forcibly");
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "c10k: %s\n", e.what());
          status = 1;
        }
      },
      {.threads = threads});
  mysql_library_end();
  return status;
}
