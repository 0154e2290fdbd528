// chat.hpp — the chapter 5 chat server (book: "The net package – a chat server with
// interfaced channels", "Handling direct messages", "Cleaning up goroutines"), shared by the
// chat demo (04_chat.cpp), the terminal client (05_chat-client.cpp) and chat_test.cpp.
//
//   chat::options      limits: line length, name length, outbox size, timeouts
//   chat::counters     what the server did (atomics, read them any time)
//   chat::server       serve(listener) until shutdown(ctx)
//   chat::line_reader  newline framing with a maximum line length, over a net::conn
//
// The design, and where it differs from the book's ch5_3_server.go:
//   - ONE hub goroutine owns the user registry (name -> outbox). Nobody else touches it:
//     readers send it events (join, leave, say) over one channel of a std::variant, so the
//     events of one connection reach the hub in the order they were sent (a /quit can never
//     overtake the line before it). The book shares a slice of users and a counter between
//     goroutines with no lock.
//   - Per connection: a reader goroutine (the connection's own) and a writer goroutine.
//     The writer alone writes to the socket; it drains a bounded outbox channel.
//   - The hub never blocks on a user: it try_send()s into the outbox, and a user whose outbox
//     is full (it does not read, or reads too slowly) is dropped — outbox closed, connection
//     closed. The book's unbuffered per-user channels let one dead client block everyone.
//   - A connection is in the registry only after its name was accepted, with its outbox
//     made: there is no window with a nil channel (the book's nil-outbox broadcast blocks
//     forever on a user who has not sent a name yet).
//
// The protocol (newline-framed; "\r\n" is accepted too):
//   client                      server answers
//   first line: NAME            "welcome NAME: N other users online (...)" — or one of
//                               "error: name is empty" / "error: name longer than 32 bytes" /
//                               "error: name may only contain letters, digits, '_', '-', '.'" /
//                               "error: name NAME is taken" / "error: no name within 10s",
//                               then the connection is closed
//   TEXT                        every OTHER user gets "NAME: TEXT"
//   @OTHER TEXT                 only OTHER gets "NAME (direct): TEXT" (exact name match; no
//                               regex ever sees user input); unknown: "error: no user OTHER"
//   /users                      "users (N): a, b, c" (sorted)
//   /quit                       "bye NAME", then the server closes the connection
//   Bad input, a bounded answer each, and everyone else keeps being served:
//   a line with control bytes   "error: line has control bytes, not sent" (stays connected;
//   (< 0x20 but tab, or 0x7f)    bytes >= 0x80 pass: UTF-8 is not validated)
//   a line over max_line bytes  "error: line longer than 1024 bytes", then closed (Go's
//   (e.g. 1 MiB, no newline)     bufio.Scanner stops at ErrTooLong the same way). The server
//                               reads at most max_line + 2 bytes of it.
//   silence before the name     "error: no name within 10s", then closed
//   a client that never reads   dropped once its outbox (256 lines) and the socket buffers
//                               are full, or when one write waits longer than write_timeout
//   connect/disconnect storms   each connection costs two goroutines until it ends; nothing
//                               is left behind (the test counts goroutines)
// Closing politely: after the last line the writer shuts down the write side (the client
// reads EOF after everything) and the reader discards what the client still sends for at
// most `linger` (so the kernel does not answer with a reset that would destroy the error
// line in flight), then closes.
//
// Threads: every goroutine here may run on any scheduler thread. Nothing parks while
// holding a lock: the only std::mutex (the set of open connections, for shutdown) is held
// for an insert, an erase or a copy.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/read_until.hpp>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>

namespace chat {

using namespace std::chrono_literals;

struct options {
  std::size_t max_line = 1024;  // bytes in one line, without the newline
  std::size_t max_name = 32;    // bytes in a name
  std::size_t outbox = 256;     // lines queued for one user before the user is dropped
  std::chrono::nanoseconds name_timeout = 10s;   // to send the first line
  std::chrono::nanoseconds write_timeout = 10s;  // for one write to one user
  std::chrono::nanoseconds linger = 1s;          // reading what a closing client still sends
};

// What the server did. Atomics: readers, writers and the hub update them on any thread.
struct counters {
  std::atomic<long> accepted{0};   // connections
  std::atomic<long> joined{0};     // names accepted
  std::atomic<long> rejected{0};   // names refused (empty, long, bad bytes, taken, silence)
  std::atomic<long> messages{0};   // broadcast lines received
  std::atomic<long> directs{0};    // direct messages delivered
  std::atomic<long> delivered{0};  // lines put into outboxes (broadcast copies, directs, replies)
  std::atomic<long> dropped{0};    // users dropped for not reading
  std::atomic<long> bad_lines{0};  // lines refused for control bytes
  std::atomic<long> too_long{0};   // connections closed for an over-long line
  std::atomic<long> closed{0};     // connections fully ended
};

// ---- newline framing ----------------------------------------------------------------------
// line_reader: Go's bufio.Scanner over a conn, with Boost.Asio's read_until doing the
// buffering (conn models SyncReadStream). next() returns one line without its "\n" (and
// "\r"), or an error: too_long when max_line bytes pass without a newline, else the read's
// error (EOF, timeout, closed, reset). Parks in read. One goroutine at a time.
class line_reader {
 public:
  enum class status { ok, too_long, eof, error };

  line_reader(gofer::net::conn& c, std::size_t max_line) : c_(&c), max_(max_line) {}

  status next(std::string& line) {
    boost::system::error_code ec;
    std::size_t n = boost::asio::read_until(*c_, boost::asio::dynamic_buffer(buf_, max_ + 2), '\n', ec);
    if (ec == boost::asio::error::not_found) return status::too_long;
    if (ec) return ec == boost::asio::error::eof ? status::eof : status::error;
    line.assign(buf_, 0, n - 1);
    buf_.erase(0, n);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line.size() > max_ ? status::too_long : status::ok;
  }

 private:
  gofer::net::conn* c_;
  std::size_t max_;
  std::string buf_;
};

// Names are 1..max_name bytes of letters, digits, '_', '-', '.': printable, no spaces (so
// "@name text" parses), nothing a terminal would interpret. Returns "" or the error line.
inline std::string check_name(std::string_view name, std::size_t max_name) {
  if (name.empty()) return "error: name is empty";
  if (name.size() > max_name) return "error: name longer than " + std::to_string(max_name) + " bytes";
  for (unsigned char ch : name)
    if (!(std::isalnum(ch) || ch == '_' || ch == '-' || ch == '.'))
      return "error: name may only contain letters, digits, '_', '-', '.'";
  return "";
}

inline bool has_control_bytes(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char ch) { return (ch < 0x20 && ch != '\t') || ch == 0x7f; });
}

// ---- the server -----------------------------------------------------------------------------
class server {
 public:
  explicit server(options o = {}) : core_(std::make_shared<core>(std::move(o))) {}
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Starts the hub, then accepts connections until shutdown() (one goroutine per
  // connection, which starts its writer once the name is accepted). Returns OK after
  // shutdown, or accept's error. Parks. Call once.
  absl::Status serve(gofer::net::listener ln) {
    auto k = core_;
    {
      std::lock_guard lk(k->mu);
      if (k->stopping) return absl::FailedPreconditionError("chat: server closed");
      k->ln = std::make_shared<gofer::net::listener>(std::move(ln));
    }
    gofer::go(gofer::named{"chat-hub"}, [k] { hub(k); });
    auto ln_ptr = k->ln;
    for (;;) {
      auto c = ln_ptr->accept();
      if (!c.ok()) {
        if (gofer::net::is_closed(c.status())) return absl::OkStatus();
        return c.status();
      }
      k->stats.accepted.fetch_add(1, std::memory_order_relaxed);
      auto cp = std::make_shared<gofer::net::conn>(std::move(*c));
      {
        std::lock_guard lk(k->mu);
        k->conns.insert(cp);
      }
      k->live.add(1);
      gofer::go(gofer::named{"chat-conn"}, [k, cp] { serve_conn(k, cp); });
    }
  }

  // Graceful shutdown: stop accepting; every user gets "server: shutting down" after what
  // is already queued for it, then EOF; connections still silent get `linger` to finish.
  // When ctx ends first, the remaining connections are closed hard. Returns when every
  // connection goroutine and the hub have ended: OK, or ctx's error if it had to force.
  absl::Status shutdown(const gofer::context& ctx) {
    auto k = core_;
    std::shared_ptr<gofer::net::listener> ln;
    {
      std::lock_guard lk(k->mu);
      k->stopping = true;
      ln = k->ln;
    }
    if (!ln) return absl::OkStatus();  // never served
    (void)ln->close();
    k->events.send(stop_ev{});
    // Connections still waiting for a name (or a silent reader) stop within `linger`.
    for (auto& c : k->snapshot()) c->set_read_deadline(gofer::time_point::clock::now() + k->opt.linger);
    gofer::chan<int> all_done;
    gofer::go(gofer::named{"chat-shutdown-wait"}, [k, all_done] {
      k->live.wait();
      all_done.close();
    });
    absl::Status st = absl::OkStatus();
    if (gofer::select(gofer::recv_case(all_done), gofer::recv_case(ctx.done())) == 1) {
      st = ctx.err();
      for (auto& c : k->snapshot()) (void)c->close();
      all_done.recv();
    }
    k->quit.close();
    k->hub_done.recv();
    return st;
  }

  const counters& stats() const { return core_->stats; }
  // Users in the registry, as the hub last counted them.
  long users() const { return core_->users.load(std::memory_order_relaxed); }

 private:
  using line = std::shared_ptr<const std::string>;  // one copy of a broadcast line, shared

  // The hub's events: one channel, so one connection's events stay in order.
  struct join_ev {
    std::string name;
    std::uint64_t session;
    gofer::chan<line> outbox;
    std::shared_ptr<gofer::net::conn> c;
    gofer::chan<std::string> reply;  // "" = welcome, else the error line
  };
  struct say_ev {
    std::uint64_t session;
    std::string text;
  };
  struct leave_ev {
    std::uint64_t session;
    std::string last_words;  // a last line for the user ("bye NAME", an error) or ""
  };
  struct stop_ev {};
  using event = std::variant<join_ev, say_ev, leave_ev, stop_ev>;

  struct core {
    explicit core(options o) : opt(std::move(o)) {}
    const options opt;
    counters stats;
    gofer::chan<event> events{1024};  // readers -> hub; bounded: a busy hub slows readers
    gofer::chan<int> quit;            // closed by shutdown() once every connection ended
    gofer::chan<int> hub_done;        // closed by the hub when it returns
    gofer::wait_group live;           // connection goroutines not yet ended
    std::atomic<std::uint64_t> next_session{1};
    std::atomic<long> users{0};
    // Guards ln, stopping and conns; held only to copy or change them, never across a park.
    std::mutex mu;
    std::shared_ptr<gofer::net::listener> ln;
    bool stopping = false;
    std::set<std::shared_ptr<gofer::net::conn>> conns;

    std::vector<std::shared_ptr<gofer::net::conn>> snapshot() {
      std::lock_guard lk(mu);
      return {conns.begin(), conns.end()};
    }
  };

  static line make_line(std::string s) {
    s += '\n';
    return std::make_shared<const std::string>(std::move(s));
  }

  // ---- the hub: the only goroutine that sees the registry ----------------------------------
  struct user {
    std::uint64_t session;
    gofer::chan<line> outbox;
    std::shared_ptr<gofer::net::conn> c;
  };

  static void hub(std::shared_ptr<core> k) {
    std::map<std::string, user, std::less<>> by_name;  // sorted: /users lists in order
    std::unordered_map<std::uint64_t, std::string> by_session;
    bool stopping = false;
    counters& st = k->stats;

    auto remove = [&](const std::string& name) {
      auto it = by_name.find(name);
      it->second.outbox.close();  // the writer drains what is queued, then ends
      by_session.erase(it->second.session);
      by_name.erase(it);
      k->users.store(static_cast<long>(by_name.size()), std::memory_order_relaxed);
    };
    // Never blocks: a full outbox means the user does not keep up, and it is dropped.
    std::vector<std::string> to_drop;
    auto deliver = [&](user& u, const line& l) {
      line copy = l;
      if (u.outbox.try_send(copy)) {
        st.delivered.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      (void)u.c->close();  // wakes its writer (stuck in write) and its reader
      st.dropped.fetch_add(1, std::memory_order_relaxed);
      for (auto& [name, v] : by_name)
        if (v.session == u.session) to_drop.push_back(name);
    };
    auto flush_drops = [&] {
      for (auto& name : to_drop)
        if (by_name.count(name)) remove(name);
      to_drop.clear();
    };

    auto on = [&](event& ev) {
      std::visit(
          [&](auto& e) {
            using E = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<E, join_ev>) {
              if (stopping) {
                e.reply.send("error: server shutting down");
              } else if (by_name.count(e.name)) {
                e.reply.send("error: name " + e.name + " is taken");
              } else {
                std::size_t others = by_name.size();
                user& u = by_name.emplace(e.name, user{e.session, e.outbox, e.c}).first->second;
                by_session.emplace(e.session, e.name);
                k->users.store(static_cast<long>(by_name.size()), std::memory_order_relaxed);
                deliver(u, make_line("welcome " + e.name + ": " + std::to_string(others) +
                                     " other users online (/users lists them, @name text is a direct "
                                     "message, /quit leaves)"));
                e.reply.send("");  // capacity 1: never blocks
              }
            } else if constexpr (std::is_same_v<E, say_ev>) {
              auto who = by_session.find(e.session);
              if (who == by_session.end()) return;  // dropped meanwhile
              const std::string& from = who->second;
              user& me = by_name.at(from);
              if (has_control_bytes(e.text)) {
                st.bad_lines.fetch_add(1, std::memory_order_relaxed);
                deliver(me, make_line("error: line has control bytes, not sent"));
              } else if (e.text == "/users") {
                std::string list = "users (" + std::to_string(by_name.size()) + "):";
                const char* sep = " ";
                for (auto& [name, u] : by_name) {
                  list += sep;
                  list += name;
                  sep = ", ";
                }
                deliver(me, make_line(std::move(list)));
              } else if (e.text.size() > 1 && e.text[0] == '@') {
                // "@name text": the name ends at the first space; exact match.
                std::string_view rest(e.text);
                rest.remove_prefix(1);
                auto sp = rest.find(' ');
                std::string_view to = rest.substr(0, sp), text = sp == rest.npos ? "" : rest.substr(sp + 1);
                auto target = by_name.find(to);
                if (target == by_name.end()) {
                  deliver(me, make_line("error: no user " + std::string(to)));
                } else {
                  st.directs.fetch_add(1, std::memory_order_relaxed);
                  deliver(target->second, make_line(from + " (direct): " + std::string(text)));
                }
              } else {
                st.messages.fetch_add(1, std::memory_order_relaxed);
                line l = make_line(from + ": " + e.text);
                for (auto& [name, u] : by_name)
                  if (u.session != e.session) deliver(u, l);
              }
              flush_drops();
            } else if constexpr (std::is_same_v<E, leave_ev>) {
              auto who = by_session.find(e.session);
              if (who == by_session.end()) return;  // dropped, or shut down, already
              std::string name = who->second;
              if (!e.last_words.empty()) {
                line l = make_line(e.last_words);
                (void)by_name.at(name).outbox.try_send(l);  // full: it goes without them
              }
              remove(name);
            } else {  // stop_ev: everyone gets a last line after what is queued, then EOF
              stopping = true;
              while (!by_name.empty()) {
                line l = make_line("server: shutting down");
                (void)by_name.begin()->second.outbox.try_send(l);
                remove(by_name.begin()->first);
              }
            }
          },
          ev);
    };

    for (;;) {
      std::optional<event> ev;
      if (gofer::select(gofer::recv_case(k->events, ev), gofer::recv_case(k->quit)) == 1) break;
      if (ev) on(*ev);
    }
    k->hub_done.close();
  }

  // Sends an event to the hub (it runs until every connection ended, so this returns).
  static void tell_hub(core& k, event ev) { k.events.send(std::move(ev)); }

  // ---- one connection: the reader (this goroutine) and, once named, a writer -------------
  static void serve_conn(std::shared_ptr<core> k, std::shared_ptr<gofer::net::conn> c) {
    const options& o = k->opt;
    line_reader in(*c, o.max_line);
    std::string text;
    std::string refusal;

    // 1. The name: the first line, within name_timeout.
    c->set_read_deadline(gofer::time_point::clock::now() + o.name_timeout);
    switch (in.next(text)) {
      case line_reader::status::ok:
        refusal = check_name(text, o.max_name);
        break;
      case line_reader::status::too_long:
        refusal = "error: name longer than " + std::to_string(o.max_name) + " bytes";
        break;
      case line_reader::status::eof:
        refusal = "-";  // gone before saying anything: nothing to answer
        break;
      case line_reader::status::error:
        refusal = "error: no name within " + seconds(o.name_timeout);
        break;
    }
    c->set_read_deadline({});
    std::uint64_t session = k->next_session.fetch_add(1, std::memory_order_relaxed);
    gofer::chan<line> outbox(o.outbox);
    if (refusal.empty()) {
      gofer::chan<std::string> reply(1);
      tell_hub(*k, join_ev{text, session, outbox, c, reply});
      refusal = reply.recv().value_or("error: server shutting down");
    }
    if (!refusal.empty()) {
      k->stats.rejected.fetch_add(1, std::memory_order_relaxed);
      if (refusal != "-") {
        c->set_write_deadline(gofer::time_point::clock::now() + o.write_timeout);
        (void)c->write(refusal + "\n");
      }
      finish(*k, c, in);
      return;
    }
    k->stats.joined.fetch_add(1, std::memory_order_relaxed);
    const std::string name = text;

    // 2. The writer: the only goroutine that writes to this socket from now on.
    gofer::chan<int> writer_done;
    gofer::go(gofer::named{"chat-writer " + name}, [k, c, outbox, writer_done] {
      write_loop(*k, *c, outbox);
      writer_done.close();
    });

    // 3. Read lines until the client leaves, breaks the framing or goes away.
    std::string last_words;
    for (;;) {
      auto s = in.next(text);
      if (s == line_reader::status::ok) {
        if (text == "/quit") {
          last_words = "bye " + name;
          break;
        }
        tell_hub(*k, say_ev{session, std::move(text)});
        continue;
      }
      if (s == line_reader::status::too_long) {
        k->stats.too_long.fetch_add(1, std::memory_order_relaxed);
        last_words = "error: line longer than " + std::to_string(o.max_line) + " bytes";
      }
      break;  // EOF, error, or dropped by the hub (closed)
    }
    tell_hub(*k, leave_ev{session, std::move(last_words)});
    writer_done.recv();
    finish(*k, c, in);
  }

  // The writer: one line at a time from the outbox, batching what is already queued into
  // one write (a burst of broadcasts costs one syscall, not one per line). Ends when the
  // hub closes the outbox (then the client gets EOF after the last line) or a write fails.
  static void write_loop(core& k, gofer::net::conn& c, gofer::chan<line> outbox) {
    std::string batch;
    while (auto first = outbox.recv()) {
      batch.assign(**first);
      while (batch.size() < 64 * 1024) {
        auto more = outbox.try_recv();
        if (!more.has_value()) break;
        batch += **more;
      }
      c.set_write_deadline(gofer::time_point::clock::now() + k.opt.write_timeout);
      if (!c.write(batch).ok()) {
        (void)c.close();  // the reader wakes with an error and tells the hub
        return;
      }
    }
    (void)c.close_write();
    // The reader may still be parked in read: it stops within linger.
    c.set_read_deadline(gofer::time_point::clock::now() + k.opt.linger);
  }

  // Lingering close: discard what the client still sends (at most 4 MiB, for at most
  // linger) so the kernel does not reset the connection under the last line, then close.
  static void finish(core& k, const std::shared_ptr<gofer::net::conn>& c, line_reader&) {
    (void)c->close_write();
    c->set_read_deadline(gofer::time_point::clock::now() + k.opt.linger);
    std::vector<char> sink(16 * 1024);  // not on the goroutine's 64 KiB stack
    for (std::size_t total = 0; total < 4u << 20;) {
      auto n = c->read(sink.data(), sink.size());
      if (!n.ok()) break;
      total += *n;
    }
    (void)c->close();
    {
      std::lock_guard lk(k.mu);
      k.conns.erase(c);
    }
    k.stats.closed.fetch_add(1, std::memory_order_relaxed);
    k.live.done();
  }

  static std::string seconds(std::chrono::nanoseconds d) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
  }

  std::shared_ptr<core> core_;
};

}  // namespace chat
