// chat — a TCP chat server with direct messages, correct where the book's blocks (book,
// chapter 5: "The net package – a chat server with interfaced channels", "Handling direct
// messages", "Blocking method 2 – the select statement in a loop", "Cleaning up goroutines").
//
// One hub goroutine owns the users; each connection has a reader and a writer goroutine and
// a bounded outbox; a user who does not read is dropped instead of blocking everyone (the
// server is chat.hpp). By default the demo serves on a free loopback port and drives
// itself: bad names, three chatty users, a direct message, /users, one client that never
// reads while another floods, one that sends garbage, and /quit. Watch what each client
// received: the direct message reaches only carol, sloth is dropped, mallory is cut off
// after 1024 bytes of a 1 MiB line, and everyone else got every line once, in order.
//
// With --serve (or --addr) it only serves until Ctrl-C or SIGTERM, then shuts down
// gracefully: try it with `./gofer run chat-client --addr 127.0.0.1:9000 NAME` or `nc`.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gofer/debug_http.hpp>
#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/signal.hpp>

#include "chat.hpp"
#include "demo_flags.hpp"

using namespace std::chrono_literals;

namespace {

// ---- a test client: a connection and a goroutine that turns what it reads into lines ------
struct client {
  std::string name;
  std::shared_ptr<gofer::net::conn> c;
  gofer::chan<std::string> lines{1 << 14};  // closed at EOF or error
  std::vector<std::string> got;             // what the driver took from `lines`

  void say(const std::string& text) const { (void)c->write(text + "\n"); }
  // The next line, or "" once the server closed the connection (2 s at most).
  std::string next() {
    std::string out;
    gofer::select(gofer::recv_case(lines, [&](std::optional<std::string> l) { out = l.value_or(""); }),
                  gofer::recv_case(gofer::after(2s), [&](auto) { out = "(nothing within 2 s)"; }));
    if (!out.empty()) got.push_back(out);
    return out;
  }
};

// Connects and sends the first line; with `reads`, a goroutine reads lines into cl.lines.
std::unique_ptr<client> connect(const std::string& addr, const std::string& name, bool reads = true) {
  auto cl = std::make_unique<client>();
  cl->name = name;
  cl->c = std::make_shared<gofer::net::conn>(gofer::net::dial(addr).value());
  if (reads) {
    gofer::go(gofer::named{"client " + name}, [c = cl->c, lines = cl->lines] {
      chat::line_reader in(*c, 1 << 20);
      std::string l;
      while (in.next(l) == chat::line_reader::status::ok) lines.send(l);
      lines.close();
    });
  }
  return cl;
}

// Go raises RLIMIT_NOFILE's soft limit to the hard limit at start-up; a C++ server does it.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// ---- the self-driving tour ------------------------------------------------------------------
int tour(const std::string& addr, chat::server& srv, int flood) {
  int bad = 0;
  auto check = [&bad](bool ok, const char* what) {
    if (!ok) {
      std::printf("  !! %s\n", what);
      ++bad;
    }
  };

  // 1. Names the server refuses: an error line each, then the connection is closed.
  std::printf("1. names the server refuses:\n");
  const std::vector<std::pair<std::string, std::string>> bad_names = {
      {"empty", ""}, {"a space", "two words"}, {"40 bytes", std::string(40, 'x')}, {"a control byte", "bell\a"}};
  for (auto& [why, name] : bad_names) {
    auto cl = connect(addr, why);
    cl->say(name);
    std::printf("   %-15s -> %s\n", why.c_str(), cl->next().c_str());
    check(cl->next().empty(), "the connection should be closed after a refused name");
  }
  {
    auto silent = connect(addr, "silent");
    std::printf("   %-15s -> %s\n", "says nothing", silent->next().c_str());
  }

  // 2. Users join; a second "alice" is refused.
  std::printf("2. users join:\n");
  auto alice = connect(addr, "alice"), bob = connect(addr, "bob"), carol = connect(addr, "carol");
  for (auto* cl : {alice.get(), bob.get(), carol.get()}) {
    cl->say(cl->name);
    std::printf("   %-6s <- %s\n", cl->name.c_str(), cl->next().c_str());
  }
  {
    auto again = connect(addr, "alice-again");
    again->say("alice");
    std::printf("   alice again <- %s\n", again->next().c_str());
  }
  // sloth never reads a byte; mallory will send garbage.
  auto sloth = connect(addr, "sloth", /*reads=*/false);
  sloth->say("sloth");
  auto mallory = connect(addr, "mallory");
  mallory->say("mallory");
  mallory->next();  // welcome

  // 3. A broadcast, a direct message and /users.
  std::printf("3. alice says hello, bob whispers to carol, carol asks who is here:\n");
  alice->say("hello everyone");
  std::printf("   bob     <- %s\n", bob->next().c_str());
  std::printf("   carol   <- %s\n", carol->next().c_str());
  std::printf("   mallory <- %s\n", mallory->next().c_str());
  bob->say("@carol psst, lunch at noon?");
  bob->say("@dave are you there?");
  std::printf("   carol   <- %s\n", carol->next().c_str());
  std::printf("   bob     <- %s\n", bob->next().c_str());
  carol->say("/users");
  std::printf("   carol   <- %s\n", carol->next().c_str());

  // 4. mallory sends binary bytes (refused, stays), then 1 MiB without a newline (cut off).
  std::printf("4. mallory sends garbage:\n");
  mallory->say(std::string("\x00\x01\xfe\xff\x1b[31mred", 12));
  std::printf("   mallory <- %s\n", mallory->next().c_str());
  (void)mallory->c->write(std::string(1 << 20, 'A'));
  std::printf("   mallory <- %s\n", mallory->next().c_str());
  check(mallory->next().empty(), "mallory should be disconnected");

  // 5. bob floods: sloth's outbox and socket buffers fill and the hub drops sloth; alice and
  //    carol read on and get every line, in order. bob sends in rounds of 100 lines and
  //    waits until both have them, like people who read what they answer: a sender faster
  //    than its readers would get THEM dropped too (the server has no per-sender rate limit).
  std::printf("5. bob sends %d lines of 1000 bytes, 100 at a time; sloth never reads:\n", flood);
  std::map<std::string, int> in_order;
  for (int sent = 0; sent < flood;) {
    int round_end = std::min(flood, sent + 100);
    for (int i = sent + 1; i <= round_end; ++i) {
      std::string text = "flood " + std::to_string(i) + " ";
      text.resize(1000, '.');
      bob->say(text);
    }
    for (auto* cl : {alice.get(), carol.get()})
      for (int i = sent + 1; i <= round_end; ++i)
        if (cl->next().rfind("bob: flood " + std::to_string(i) + " ", 0) == 0) ++in_order[cl->name];
    sent = round_end;
  }
  for (auto* cl : {alice.get(), carol.get()}) {
    std::printf("   %-6s <- %d of %d flood lines, in order\n", cl->name.c_str(), in_order[cl->name], flood);
    check(in_order[cl->name] == flood, "every flood line, once, in order");
  }
  // Every flood line has passed the hub, so the drop (if any) has happened.
  std::string sloth_got;
  std::vector<char> buf(64 * 1024);
  long sloth_bytes = 0;
  absl::Status end;
  sloth->c->set_read_deadline(gofer::time_point::clock::now() + 10s);  // not dropped: fail, not hang
  for (;;) {
    auto n = sloth->c->read(buf.data(), buf.size());
    if (!n.ok()) {
      end = n.status();
      break;
    }
    sloth_bytes += static_cast<long>(*n);
  }
  std::printf("   sloth  <- %ld bytes (then %s): dropped by the hub\n", sloth_bytes,
              gofer::net::is_eof(end) ? "EOF" : gofer::net::is_timeout(end) ? "nothing more for 10 s" : "connection reset");
  check(srv.stats().dropped.load() == 1, "sloth should have been dropped");

  // 6. alice leaves with /quit.
  std::printf("6. alice quits:\n");
  alice->say("/quit");
  std::printf("   alice   <- %s\n", alice->next().c_str());
  check(alice->next().empty(), "alice's connection should be closed");
  carol->say("/users");
  std::printf("   carol   <- %s\n", carol->next().c_str());

  // 7. The server shuts down: bob and carol get a last line, then EOF.
  auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 5s);
  absl::Status down = srv.shutdown(ctx);
  cancel();
  std::printf("7. shutdown (%s):\n", down.ok() ? "graceful" : down.ToString().c_str());
  for (auto* cl : {bob.get(), carol.get()}) {
    std::printf("   %-6s <- %s\n", cl->name.c_str(), cl->next().c_str());
    check(cl->next().empty(), "EOF after the last line");
  }
  const chat::counters& s = srv.stats();
  std::printf("server: %ld connections, %ld joined, %ld refused, %ld broadcasts, %ld direct, %ld lines "
              "delivered, %ld dropped, %ld control-byte lines, %ld over-long\n",
              s.accepted.load(), s.joined.load(), s.rejected.load(), s.messages.load(), s.directs.load(),
              s.delivered.load(), s.dropped.load(), s.bad_lines.load(), s.too_long.load());
  check(down.ok(), "graceful shutdown");
  check(s.closed.load() == s.accepted.load(), "every connection ended");
  if (bad == 0)
    std::printf("chat: %ld users joined and %ld were refused, the slow reader was dropped and the garbage "
                "cut off, everyone else got every line once and in order, then a graceful shutdown\n",
                s.joined.load(), s.rejected.load());
  return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr, debug_addr;
  bool serve = false;
  unsigned threads = 0;
  int flood = 10000;
  chat::options opt;
  long name_timeout_ms = 0;
  CLI::App app{"a TCP chat server: a hub goroutine, bounded outboxes, direct messages", "chat"};
  app.add_option("--addr", addr, "serve on this host:port until Ctrl-C (implies --serve)");
  app.add_option("--debug-addr", debug_addr,
                 "also serve gofer's debug pages (/debug/gofer/: goroutines, metrics) on this host:port");
  app.add_flag("--serve", serve, "only serve (on --addr, default 127.0.0.1:9000) until Ctrl-C or SIGTERM");
  app.add_option("--flood", flood, "self-test: lines bob sends while sloth does not read")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--max-line", opt.max_line, "longest line in bytes")->capture_default_str()->check(CLI::Range(16, 1 << 20));
  app.add_option("--outbox", opt.outbox, "lines queued per user before it is dropped")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--name-timeout-ms", name_timeout_ms, "time to send a name (default: 10000 serving, 300 self-test)")
      ->check(CLI::Range(1L, 3600000L));
  app.add_option("--threads", threads, "scheduler threads (0: one per core)")->capture_default_str()->check(CLI::Range(0u, 1024u));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  if (!addr.empty()) serve = true;
  if (serve && addr.empty()) addr = "127.0.0.1:9000";
  opt.name_timeout = std::chrono::milliseconds(name_timeout_ms != 0 ? name_timeout_ms : serve ? 10000 : 300);

  raise_fd_limit();
  int status = 0;
  gofer::run(
      [&] {
        auto ln = gofer::net::listen(serve ? addr : "127.0.0.1:0");
        if (!ln.ok()) {
          std::fprintf(stderr, "chat: %s\n", ln.status().ToString().c_str());
          status = 1;
          return;
        }
        std::string where = ln->addr();
        chat::server srv(opt);
        // --debug-addr: the debug pages (Go's net/http/pprof) on their own listener, so they
        // are never exposed on the chat port. Stopped when the chat server stops.
        gofer::http::serve_mux debug_mux;
        gofer::debug::mount(debug_mux);
        gofer::http::server debug_srv(debug_mux);
        gofer::chan<absl::Status> debug_served(1);
        if (!debug_addr.empty()) {
          auto dln = gofer::net::listen(debug_addr);
          if (!dln.ok()) {
            std::fprintf(stderr, "chat: --debug-addr: %s\n", dln.status().ToString().c_str());
            status = 1;
            return;
          }
          std::printf("debug pages on http://%s/debug/gofer/\n", dln->addr().c_str());
          gofer::go(gofer::named{"debug-http"}, [&debug_srv, debug_served, l = std::move(*dln)]() mutable {
            debug_served.send(debug_srv.serve(std::move(l)));
          });
        }
        auto stop_debug = [&] {
          if (debug_addr.empty()) return;
          auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 2s);
          (void)debug_srv.shutdown(ctx);
          cancel();
          debug_served.recv();
        };
        gofer::chan<absl::Status> served(1);
        gofer::go(gofer::named{"chat-accept"}, [&srv, served, l = std::move(*ln)]() mutable {
          served.send(srv.serve(std::move(l)));
        });
        if (!serve) {
          std::printf("chat server on %s (max line %zu bytes, outbox %zu lines)\n", where.c_str(), opt.max_line,
                      opt.outbox);
          status = tour(where, srv, flood);
          served.recv();
          stop_debug();
          return;
        }
        // Serving: Go's signal.Notify(sigs, os.Interrupt, syscall.SIGTERM) — Ctrl-C and
        // SIGTERM arrive on sigs (buffered: the relay never waits) instead of ending the
        // program, and the select below waits for a signal or for serve() to fail.
        gofer::chan<int> sigs(1);
        gofer::signal::notify(sigs, {SIGINT, SIGTERM});
        std::printf("chat server on %s (Ctrl-C or SIGTERM to stop); connect with\n"
                    "  ./gofer run chat-client --addr %s NAME\n",
                    where.c_str(), where.c_str());
        std::fflush(stdout);
        std::optional<int> sig;
        std::optional<absl::Status> failed;
        if (gofer::select(gofer::recv_case(sigs, sig), gofer::recv_case(served, failed)) == 1) {
          std::fprintf(stderr, "chat: %s\n", failed->ToString().c_str());
          stop_debug();
          status = 1;
          return;
        }
        std::printf("got %s: shutting down gracefully\n", *sig == SIGINT ? "SIGINT" : "SIGTERM");
        auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 5s);
        absl::Status down = srv.shutdown(ctx);
        cancel();
        served.recv();
        stop_debug();
        const chat::counters& s = srv.stats();
        std::printf("served %ld connections (%ld users, %ld broadcasts, %ld dropped), then shut down %s\n",
                    s.accepted.load(), s.joined.load(), s.messages.load(), s.dropped.load(),
                    down.ok() ? "gracefully" : "forcibly");
      },
      {.threads = threads});
  return status;
}
