// profile — finding where the goroutines go in a live program (book, chapter 5: "Pprof –
// yet another awesome tool"; ch5_6_pprof.go and net/http/pprof on the chat server).
//
// Go's `import _ "net/http/pprof"` puts /debug/pprof/ on a server; gofer's equivalent is
// gofer::debug::mount (<gofer/debug_http.hpp>): /debug/gofer/ with the goroutine dump (text
// and JSON) and the process's numbers. This demo runs the chat server with its debug pages
// on a second, private port, lets 20 users join, then commits the book's leak — --leak
// goroutines that each send one string on an unbuffered channel, of which main takes one
// — and asks the debug pages what they see: the leaked goroutines, grouped by what they
// wait on. Then it fixes the leak and asks again. For CPU profiles (perf, gperftools) see
// this chapter's README.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gofer/debug_http.hpp>
#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>

#include "chat.hpp"
#include "demo_flags.hpp"

using namespace std::chrono_literals;
namespace http = gofer::http;

namespace {

// GET url as JSON; an empty object (and a message) on any failure.
nlohmann::json get_json(http::client& c, const std::string& url) {
  auto res = c.get(gofer::background(), url);
  if (!res.ok() || res->status != 200) {
    std::printf("   GET %s failed: %s\n", url.c_str(), res.ok() ? std::to_string(res->status).c_str() : res.status().ToString().c_str());
    return nlohmann::json::object();
  }
  auto j = res->json();
  return j.ok() ? *j : nlohmann::json::object();
}

// The states of the goroutines the JSON dump lists, most common first.
std::vector<std::pair<long, std::string>> states(const nlohmann::json& dump) {
  std::map<std::string, long> by_state;
  for (auto& g : dump.value("goroutines", nlohmann::json::array())) {
    std::string what = g.value("state", "");
    if (!g.value("name", "").empty()) {
      std::string name = g["name"];
      name = name.substr(0, name.find(' '));  // "chat-writer user3" -> "chat-writer"
      while (!name.empty() && (std::isdigit(static_cast<unsigned char>(name.back())) || name.back() == '-')) name.pop_back();
      what += "  (" + name + ")";
    }
    ++by_state[what];
  }
  std::vector<std::pair<long, std::string>> v;
  for (auto& [s, n] : by_state) v.emplace_back(n, s);
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int users = 20, leak = 10000;
  CLI::App app{"the chat server with gofer's debug pages (net/http/pprof's shape): finding a goroutine leak live",
               "profile"};
  app.add_option("--users", users, "chat users that join")->capture_default_str()->check(CLI::Range(1, 5000));
  app.add_option("--leak", leak, "goroutines the book's leak leaves behind")->capture_default_str()->check(CLI::Range(2, 1000000));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  long leaked_seen = -1, after_fix = -1, text_lines = 0;
  bool index_ok = false;
  gofer::run([&] {
    // 1. The chat server, and its debug pages on a second listener (127.0.0.1 only).
    chat::server srv;
    auto ln = gofer::net::listen("127.0.0.1:0").value();
    std::string chat_addr = ln.addr();
    gofer::chan<absl::Status> served(1);
    gofer::go(gofer::named{"chat-accept"}, [&srv, served, l = std::move(ln)]() mutable { served.send(srv.serve(std::move(l))); });
    http::serve_mux mux;
    gofer::debug::mount(mux);
    http::server dbg(mux);
    auto dln = gofer::net::listen("127.0.0.1:0").value();
    std::string base = "http://" + dln.addr() + "/debug/gofer/";
    gofer::chan<absl::Status> dbg_served(1);
    gofer::go(gofer::named{"debug-http"}, [&dbg, dbg_served, l = std::move(dln)]() mutable {
      dbg_served.send(dbg.serve(std::move(l)));
    });
    std::printf("1. the chat server, with its debug pages at %s\n", base.c_str());

    // 2. Users join and stay (each costs a reader and a writer goroutine on the server).
    std::vector<std::unique_ptr<gofer::net::conn>> clients;
    for (int i = 0; i < users; ++i) {
      clients.push_back(std::make_unique<gofer::net::conn>(gofer::net::dial(chat_addr).value()));
      (void)clients.back()->write("user" + std::to_string(i) + "\n");
      char buf[512];
      (void)clients.back()->read(buf, sizeof buf);  // the welcome: joined
    }
    http::client_options copts;
    copts.max_response_bytes = std::uint64_t{256} << 20;  // a dump of 100,000+ goroutines is big
    http::client c(copts);
    auto index = c.get(gofer::background(), base);
    index_ok = index.ok() && index->status == 200 && index->body.find("goroutines") != std::string::npos;
    std::printf("2. %d users joined; GET %s lists: goroutines, goroutines?format=json, metrics\n", users, base.c_str());
    auto m = get_json(c, base + "metrics");
    std::printf("   metrics: %d goroutines on %d threads, %.1f MiB resident, %d open descriptors\n",
                m.value("goroutines", 0), m.value("threads", 0), m.value("rss_bytes", 0L) / 1048576.0, m.value("open_fds", 0));

    // 3. The book's leak: `leak` senders on an unbuffered channel, main takes one string.
    gofer::chan<std::string> strings;
    for (int i = 0; i < leak; ++i)
      gofer::go(gofer::named{"leaker"}, [strings, i] { strings.send(std::string(300, static_cast<char>('a' + i % 26))); });
    strings.recv();
    // Ask until every leaker has reached its send (until then the dump shows it runnable).
    nlohmann::json dump;
    auto count_leakers = [&] {
      leaked_seen = 0;
      for (auto& [n, s] : states(dump))
        if (s.rfind("chan send  (leaker)", 0) == 0) leaked_seen = n;
    };
    for (int tries = 0; tries < 200; ++tries) {
      dump = get_json(c, base + "goroutines?format=json");
      count_leakers();
      if (leaked_seen == leak - 1) break;
      gofer::sleep(10ms);
    }
    m = get_json(c, base + "metrics");
    std::printf("3. after the book's leak (%d senders, one string taken): %d goroutines, %.1f MiB resident\n", leak,
                m.value("goroutines", 0), m.value("rss_bytes", 0L) / 1048576.0);
    std::printf("   goroutines?format=json, grouped by state (and name):\n");
    for (auto& [n, s] : states(dump)) std::printf("   %7ld  %s\n", n, s.c_str());
    auto text = c.get(gofer::background(), base + "goroutines");
    if (text.ok())
      for (char ch : text->body) text_lines += ch == '\n';
    std::printf("   (the text page: %ld lines, one per goroutine, as Go's goroutine?debug=1)\n", text_lines);

    // 4. The fix, here: receive what they are stuck sending (in the book's program, a
    //    buffer for every result, or a context they watch). Ask again.
    for (int i = 1; i < leak; ++i) strings.recv();
    for (int tries = 0; tries < 2000 && gofer::num_goroutine() > static_cast<std::size_t>(m.value("goroutines", 0) - leak + 1); ++tries)
      gofer::sleep(1ms);
    dump = get_json(c, base + "goroutines?format=json");
    after_fix = 0;
    for (auto& [n, s] : states(dump))
      if (s.find("(leaker") != std::string::npos) after_fix += n;
    m = get_json(c, base + "metrics");
    std::printf("4. after the fix: %d goroutines, %ld leakers left\n", m.value("goroutines", 0), after_fix);

    // 5. Shut both servers down.
    for (auto& cl : clients) (void)cl->close();
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 5s);
    (void)srv.shutdown(ctx);
    (void)dbg.shutdown(ctx);
    cancel();
    served.recv();
    dbg_served.recv();
  });
  if (!index_ok || leaked_seen != leak - 1 || after_fix != 0) {
    std::printf("FAILED: index %s, %ld leakers seen (want %d), %ld after the fix\n", index_ok ? "ok" : "missing", leaked_seen,
                leak - 1, after_fix);
    return 1;
  }
  std::printf("the debug pages showed %ld leaked goroutines parked in chan send, and none after the fix\n", leaked_seen);
  return 0;
}
