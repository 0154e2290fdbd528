// chatroom — the WebSocket chat room (Module 2, chapter 1: "Modeling a room", "Concurrency
// programming using idiomatic Go", "Building an HTML and JavaScript chat client").
// One goroutine, the room, alone owns the set of clients: everyone else talks to it through
// its join, leave and forward channels, so the set needs no lock. Each client is two
// goroutines — a reader (socket → room) and a writer (outbox → socket) — and an outbox of
// 256 messages; the room never waits for a client: when an outbox is full it drops that
// client. Watch the client that never reads: it is dropped, and nobody else slows down.
//
// Without flags the program drives itself: 1,000 simulated clients join, ten of them talk
// (each waits for its own message to come back before sending the next), and one never
// reads, until the room has dropped it; then every client checks it got every message, in
// order. `--serve --addr 127.0.0.1:8080` keeps the room up for a browser (Ctrl-C stops it).

#include <ctemplate/template.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/signal.hpp>
#include <gofer/websocket.hpp>

#include "chat_html.hpp"  // chat.html, compiled in (chapters/CMakeLists.txt)
#include "demo_flags.hpp"
#include "trace.hpp"

namespace http = gofer::http;
namespace ws = gofer::websocket;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

constexpr std::size_t kOutbox = 256;          // the book's messageBufferSize
constexpr std::size_t kMaxMessage = 64 << 10;  // longer messages are refused (close 1009)
constexpr auto kWriteWait = 10s;               // a writer gives up on a stuck socket after this
// What the simulated senders say after their "sender-<i> #<k>" (a chat line's length).
constexpr const char* kChatter = ": hello everyone, this is a line of chat about nothing much";

// ---- the client: one WebSocket, an outbox, a reader and a writer goroutine ------------------
struct room;

struct client {
  client(ws::conn s, room& r) : socket(std::move(s)), room_(r) {}
  ws::conn socket;
  gofer::chan<std::string> send{kOutbox};  // the outbox; the room closes it to say goodbye
  room& room_;

  void read();   // socket → room.forward, until the socket fails or closes
  void write();  // outbox → socket, until the room closes the outbox
};

// ---- the room: the only goroutine that touches `clients` -----------------------------------
struct room {
  gofer::chan<std::string> forward;            // messages to send to everyone
  gofer::chan<std::shared_ptr<client>> join;   // clients joining
  gofer::chan<std::shared_ptr<client>> leave;  // clients leaving
  gofer::chan<int> stop;                       // closed: the room ends
  gofer::chan<int> done;                       // closed by run() when it has ended
  std::shared_ptr<trace::tracer> tracer = trace::off();
  int socket_buffer = 0;  // >0: each connection's send buffer (see self_run)

  // What run() counted; read after done is closed.
  struct counts {
    long joined = 0, left = 0, dropped = 0, forwarded = 0, delivered = 0;
    long first_drop_at = 0;  // forwarded messages when the first client was dropped
  } counted;

  // The room itself (Go's r.run()): one select over its channels, forever.
  void run() {
    std::unordered_map<client*, std::shared_ptr<client>> clients;
    for (bool open = true; open;) {
      open = gofer::select(
          gofer::recv_case(join, [&](std::optional<std::shared_ptr<client>> c) {
            clients.emplace(c->get(), *c);
            ++counted.joined;
            tracer->trace("New client joined");
            return true;
          }),
          // A client that was dropped already is gone from the set: its outbox was closed
          // then and must not be closed twice (the book's room would panic here).
          gofer::recv_case(leave, [&](std::optional<std::shared_ptr<client>> c) {
            if (clients.erase(c->get()) != 0) {
              (*c)->send.close();
              ++counted.left;
              tracer->trace("Client left");
            }
            return true;
          }),
          // Fan-out without waiting: try_send, and a full outbox drops its client.
          gofer::recv_case(forward, [&](std::optional<std::string> msg) {
            ++counted.forwarded;
            tracer->trace("Message received: ", *msg);
            for (auto it = clients.begin(); it != clients.end();) {
              if (it->second->send.try_send(std::string(*msg))) {
                ++counted.delivered;
                tracer->trace(" -- sent to client");
                ++it;
              } else {
                it->second->send.close();
                it = clients.erase(it);
                if (++counted.dropped == 1) counted.first_drop_at = counted.forwarded;
                tracer->trace(" -- outbox full: client dropped");
              }
            }
            return true;
          }),
          gofer::recv_case(stop, [&](std::optional<int>) { return false; }));
    }
    for (auto& [p, c] : clients) c->send.close();  // the writers say goodbye
    done.close();
  }

  // The /room handler (Go's ServeHTTP): upgrade, join, write on another goroutine, read
  // here; leave when reading ends.
  void serve(const http::request& r, http::response_writer& w) {
    auto s = ws::upgrade(r, w, {.read_limit = kMaxMessage});
    if (!s.ok()) return;  // not a WebSocket request: upgrade answered it (426, 400, ...)
    if (socket_buffer > 0) (void)s->underlying_conn().set_write_buffer(socket_buffer);
    auto c = std::make_shared<client>(std::move(*s), *this);
    // (std::as_const: send a copy of the handle — send_case(ch, lvalue) would move c away.)
  if (gofer::select(gofer::send_case(join, std::as_const(c)), gofer::recv_case(done)) != 0) return;  // room closed
    gofer::go(gofer::named{"chat-writer"}, [c] { c->write(); });
    c->read();
    gofer::select(gofer::send_case(leave, std::as_const(c)), gofer::recv_case(done));
  }
};

void client::read() {
  for (;;) {
    auto m = socket.read();
    if (!m.ok()) return;  // the peer left (close frame, EOF) or the writer closed the socket
    if (gofer::select(gofer::send_case(room_.forward, std::move(m->data)), gofer::recv_case(room_.done)) != 0) return;
  }
}

void client::write() {
  for (const std::string& msg : send) {
    socket.set_write_deadline(clk::now() + kWriteWait);
    if (!socket.write_text(msg).ok()) break;  // the peer is gone, or stuck for kWriteWait
  }
  // The outbox was closed (left, dropped, or the room ended) or writing failed: say
  // goodbye and hang up; the reader then fails and the handler returns.
  (void)socket.close(ws::close_code::going_away, "bye");
  socket.close_now();
}

// ---- the page: a template parsed once, executed per request -------------------------------
// ctemplate's Template::Expand is const and thread-safe: one parsed template serves every
// connection (the book parses lazily under sync.Once; parsing at start-up does it once too,
// and a broken template stops the program before it serves anything).
std::unique_ptr<ctemplate::Template> parse_page() {
  std::unique_ptr<ctemplate::Template> t(ctemplate::Template::StringToTemplate(
      std::string(chat_html::page.data(), chat_html::page.size()), ctemplate::DO_NOT_STRIP));
  if (!t || t->state() != ctemplate::TS_READY) throw std::runtime_error("chat.html: template parse error");
  return t;
}

void add_routes(http::serve_mux& mux, room& rm, const ctemplate::Template& page) {
  mux.handle("GET /{$}", [&page](const http::request& r, http::response_writer& w) {
    ctemplate::TemplateDictionary dict("chat");
    dict.SetValue("HOST", r.host);
    std::string out;
    page.Expand(&out, &dict);
    w.headers().set("Content-Type", "text/html; charset=utf-8");
    w.write(out);
  });
  mux.handle("/room", [&rm](const http::request& r, http::response_writer& w) { rm.serve(r, w); });
}

// ---- --serve: the room for a browser, until Ctrl-C -----------------------------------------
int serve_forever(const std::string& addr, bool quiet) {
  room rm;
  if (!quiet) rm.tracer = trace::make(std::cout);  // the book: r.tracer = trace.New(os.Stdout)
  auto page = parse_page();
  http::serve_mux mux;
  add_routes(mux, rm, *page);
  auto ln = gofer::net::listen(addr);
  if (!ln.ok()) {
    std::fprintf(stderr, "chatroom: %s\n", std::string(ln.status().message()).c_str());
    return 1;
  }
  std::printf("chat room on http://%s/ (Ctrl-C stops it)\n", ln->addr().c_str());
  std::fflush(stdout);
  gofer::chan<int> sigs(1);
  gofer::signal::notify(sigs, {SIGINT, SIGTERM});
  http::server srv(mux);
  gofer::go(gofer::named{"room"}, [&rm] { rm.run(); });
  gofer::wait_group served;
  served.add(1);
  gofer::go(gofer::named{"http"}, [&] {
    (void)srv.serve(std::move(*ln));
    served.done();
  });
  int sig = sigs.recv().value_or(0);
  gofer::signal::stop(sigs);
  // Stop in order: no new connections, then the room (its writers say goodbye to everyone).
  (void)srv.shutdown(gofer::background());
  served.wait();
  rm.stop.close();
  (void)rm.done.recv();
  std::printf("stopped on signal %d: %ld clients joined, %ld messages forwarded\n", sig, rm.counted.joined,
              rm.counted.forwarded);
  return 0;
}

// ---- the self-run: simulated clients --------------------------------------------------------

// Watches the room through its tracer (the room calls it on its own goroutine only): counts
// joins and goodbyes, and signals when all have joined, when one was dropped, when all are gone.
class watcher final : public trace::tracer {
 public:
  explicit watcher(long clients) : clients_(clients) {}
  gofer::chan<int> all_joined, one_dropped, all_gone;  // closed when it happens

 private:
  void write_line(std::string_view line) override {
    if (line == "New client joined" && ++joined_ == clients_) all_joined.close();
    if (line == " -- outbox full: client dropped" && ++dropped_ == 1) one_dropped.close();
    if ((line == "Client left" || line == " -- outbox full: client dropped") && ++gone_ == clients_) all_gone.close();
  }
  bool enabled() const noexcept override { return true; }
  long clients_, joined_ = 0, dropped_ = 0, gone_ = 0;
};

// One simulated reading client: counts each sender's messages, which must come in order
// ("sender-3 #0", "sender-3 #1", ...), until every sender said "bye".
struct tally {
  long received = 0;
  bool in_order = true;
};

tally read_all(ws::conn& c, int senders, const std::function<void(const std::string&)>& on_message) {
  tally t;
  std::vector<long> next(static_cast<std::size_t>(senders), 0);
  int byes = 0;
  while (byes < senders) {
    auto m = c.read();
    if (!m.ok()) {
      t.in_order = false;
      break;
    }
    ++t.received;
    if (on_message) on_message(m->data);
    // "sender-<i> #<k>" or "sender-<i> bye"
    auto sp = m->data.find(' ');
    int i = std::stoi(m->data.substr(7, sp - 7));
    if (m->data.compare(sp + 1, 3, "bye") == 0) {
      ++byes;
      continue;
    }
    long k = std::stol(m->data.substr(sp + 2));  // stops at the ':' of the chatter
    if (k != next[static_cast<std::size_t>(i)]) t.in_order = false;
    next[static_cast<std::size_t>(i)] = k + 1;
  }
  return t;
}

int self_run(int clients, int senders, int socket_buffer) {
  room rm;
  auto watch = std::make_shared<watcher>(clients);
  rm.tracer = watch;
  // Small socket buffers, so the client that never reads fills its TCP buffers after a few
  // dozen messages and then its outbox (with Linux's defaults it would take ~40,000).
  rm.socket_buffer = socket_buffer;
  auto page = parse_page();
  http::serve_mux mux;
  add_routes(mux, rm, *page);
  auto ln = gofer::net::listen("127.0.0.1:0").value();
  const std::string host = ln.addr();
  const std::string url = "ws://" + host + "/room";
  http::server srv(mux);
  gofer::go(gofer::named{"room"}, [&rm] { rm.run(); });
  gofer::wait_group served;
  served.add(1);
  gofer::go(gofer::named{"http"}, [&] {
    (void)srv.serve(std::move(ln));
    served.done();
  });

  // The page is served (a smoke check; the browser test looks at it for real).
  {
    http::client hc;
    auto res = hc.get(gofer::background(), "http://" + host + "/");
    bool ok = res.ok() && res->status == 200 && res->body.find("new WebSocket(\"ws://") != std::string::npos;
    std::printf("GET / -> %s\n", ok ? "the chat page" : "NOT the chat page");
    if (!ok) return 1;
  }

  // 1. Everyone joins: clients-1 readers and one that never reads (tiny receive buffer).
  const auto t0 = clk::now();
  std::vector<ws::conn> conns(static_cast<std::size_t>(clients));
  {
    gofer::wait_group dialing;
    std::atomic<int> failed{0};
    for (int i = 0; i < clients; ++i) {
      dialing.add(1);
      gofer::go(gofer::named{"dial"}, [&, i] {
        auto c = ws::dial(gofer::background(), url);
        if (c.ok()) conns[static_cast<std::size_t>(i)] = std::move(*c);
        else ++failed;
        dialing.done();
      });
    }
    dialing.wait();
    if (failed > 0) {
      std::printf("%d clients could not connect\n", failed.load());
      return 1;
    }
  }
  ws::conn& silent = conns.back();  // the one that never reads
  (void)silent.underlying_conn().set_read_buffer(socket_buffer);
  (void)watch->all_joined.recv();
  std::printf("%d clients joined (one of them never reads)\n", clients);

  // 2. The readers read; senders 0..senders-1 also talk, each waiting for its own message
  //    to come back before the next, until the room has dropped the silent client.
  std::vector<tally> tallies(static_cast<std::size_t>(clients - 1));
  std::vector<long> sent(static_cast<std::size_t>(senders), 0);
  gofer::wait_group everyone;
  for (int i = 0; i < clients - 1; ++i) {
    everyone.add(1);
    const bool talks = i < senders;
    gofer::go(gofer::named{talks ? "sender" : "reader"}, [&, i, talks] {
      ws::conn& c = conns[static_cast<std::size_t>(i)];
      gofer::chan<int> echoed(1);
      if (talks) {
        gofer::go(gofer::named{"talk"}, [&, i, echoed] {
          const std::string me = "sender-" + std::to_string(i);
          for (long k = 0;; ++k) {
            if (gofer::select(gofer::recv_case(watch->one_dropped), gofer::default_case()) == 0) break;
            (void)c.write_text(me + " #" + std::to_string(k) + kChatter);
            (void)echoed.recv();
            sent[static_cast<std::size_t>(i)] = k + 1;
          }
          (void)c.write_text(me + " bye");
        });
      }
      const std::string mine = "sender-" + std::to_string(i) + " #";
      tallies[static_cast<std::size_t>(i)] = read_all(c, senders, [&](const std::string& m) {
        if (talks && m.compare(0, mine.size(), mine) == 0) echoed.send(1);
      });
      // 3. Done: leave politely; the room's writer answers the close.
      (void)c.close(ws::close_code::normal, "done");
      while (c.read().ok()) {
      }
      everyone.done();
    });
  }
  everyone.wait();
  silent.close_now();  // the silent client hangs up too (its server side was dropped long ago)
  (void)watch->all_gone.recv();
  const double secs = std::chrono::duration<double>(clk::now() - t0).count();

  // 4. Stop: the room, then the server.
  rm.stop.close();
  (void)rm.done.recv();
  (void)srv.shutdown(gofer::background());
  served.wait();

  long total = senders;  // the byes
  for (long n : sent) total += n;
  int complete = 0;
  for (auto& t : tallies)
    if (t.in_order && t.received == total) ++complete;
  const auto& k = rm.counted;
  std::printf("room: %ld joined, %ld left, %ld dropped; %ld messages forwarded, %ld deliveries (%.0f/s)\n",
              k.joined, k.left, k.dropped, k.forwarded, k.delivered, static_cast<double>(k.delivered) / secs);
  std::printf("the silent client was dropped at message %ld: %zu waited in its outbox, the rest in TCP buffers\n",
              k.first_drop_at, kOutbox);
  const bool ok = complete == clients - 1 && k.dropped == 1 && k.left == clients - 1;
  std::printf("%d of %d reading clients received all %ld messages in order, the one that never read was "
              "dropped when its outbox of %zu was full\n",
              complete, clients - 1, total, kOutbox);
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  CLI::App app{"chatroom — the WebSocket chat room: one goroutine owns the clients (Module 2, ch. 1)", "chatroom"};
  bool serve = false, quiet = false;
  std::string addr = "127.0.0.1:8080";
  int clients = 1000, senders = 10, sockbuf = 2048;
  app.add_flag("--serve", serve, "keep the room up for browsers until Ctrl-C");
  app.add_option("--addr", addr, "the address to serve on (with --serve)");
  app.add_flag("--quiet", quiet, "with --serve: no trace lines");
  app.add_option("--clients", clients, "simulated clients, one of which never reads")->check(CLI::Range(2, 5000));
  app.add_option("--senders", senders, "how many of them talk")->check(CLI::Range(1, 100));
  app.add_option("--sockbuf", sockbuf, "socket buffer bytes in the self-run (small: the silent client fills up sooner)")
      ->check(CLI::Range(1024, 1 << 22));
  if (int rc = gofer_demo::parse_flags(app, argc, argv); rc >= 0) return rc;
  if (senders >= clients) {
    std::fprintf(stderr, "chatroom: --senders must be below --clients\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line by line, also into a pipe or a file
  int rc = 0;
  gofer::run([&] { rc = serve ? serve_forever(addr, quiet) : self_run(clients, senders, sockbuf); });
  return rc;
}
