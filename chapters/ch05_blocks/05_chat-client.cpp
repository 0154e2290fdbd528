// chat-client — the terminal client for the chat server (book, chapter 5: "Examining our
// client", ch5_4_client.go; "Blocking method 3 – network connections and reads").
//
// Two goroutines, as in the book: one copies the server's lines to stdout, the other copies
// stdin's lines to the server. Reading the terminal is a blocking system call, so it runs
// through gofer::blocking (a helper thread) and no scheduler thread is held.
//
//   ./gofer run chat-client --addr 127.0.0.1:9000 NAME   (against `./gofer run chat --serve`)
//
// Without --addr it starts a private server with an "echo" bot that answers every line,
// and plays a short script instead of stdin, waiting for each answer: watch the welcome,
// a broadcast echoed back as a direct message, /users and /quit.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>

#include "chat.hpp"
#include "demo_flags.hpp"

using namespace std::chrono_literals;

namespace {

// The server -> stdout goroutine: prints every line, then closes `lines_done` at EOF.
void print_lines(std::shared_ptr<gofer::net::conn> c, gofer::chan<std::string> received) {
  chat::line_reader in(*c, 1 << 20);
  std::string l;
  while (in.next(l) == chat::line_reader::status::ok) received.send(l);
  received.close();
}

// The echo bot: answers "X: text" and "X (direct): text" with a direct message to X.
void echo_bot(const std::string& addr, gofer::chan<int> ready) {
  auto c = gofer::net::dial(addr).value();
  (void)c.write("echo\n");
  chat::line_reader in(c, 1 << 20);
  std::string l;
  in.next(l);  // welcome
  ready.close();
  while (in.next(l) == chat::line_reader::status::ok) {
    auto colon = l.find(": ");
    if (colon == std::string::npos || l.rfind("server:", 0) == 0) continue;
    std::string from = l.substr(0, colon), text = l.substr(colon + 2);
    bool direct = from.size() > 9 && from.ends_with(" (direct)");
    if (direct) from.resize(from.size() - 9);
    (void)c.write("@" + from + (direct ? " pong: " : " you said: ") + text + "\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr, name = "you";
  CLI::App app{"the chat server's terminal client: stdin to the server, the server to stdout", "chat-client"};
  app.add_option("--addr", addr, "the chat server's host:port (default: a private server with an echo bot)");
  app.add_option("name", name, "your name")->capture_default_str();
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  const bool scripted = addr.empty();

  int status = 0;
  gofer::run([&] {
    // 1. Without --addr: a private server on a free port, and the echo bot.
    std::unique_ptr<chat::server> srv;
    gofer::chan<absl::Status> served(1);
    if (scripted) {
      auto ln = gofer::net::listen("127.0.0.1:0").value();
      addr = ln.addr();
      srv = std::make_unique<chat::server>();
      gofer::go(gofer::named{"chat-server"}, [s = srv.get(), served, l = std::move(ln)]() mutable {
        served.send(s->serve(std::move(l)));
      });
      gofer::chan<int> ready;
      gofer::go(gofer::named{"echo-bot"}, echo_bot, addr, ready);
      ready.recv();
    }

    // 2. Connect and send the name; a goroutine turns the server's lines into a channel.
    auto c = gofer::net::dial(addr);
    if (!c.ok()) {
      std::fprintf(stderr, "chat-client: %s\n", c.status().ToString().c_str());
      status = 1;
      return;
    }
    auto conn = std::make_shared<gofer::net::conn>(std::move(*c));
    (void)conn->write(name + "\n");
    gofer::chan<std::string> received(64);
    gofer::go(gofer::named{"listen"}, print_lines, conn, received);

    if (scripted) {
      // 3a. The script: one line at a time, each answered by exactly one line.
      std::printf("< %s\n", received.recv().value_or("(closed)").c_str());  // welcome
      int sent = 0, got = 1;
      for (std::string line : {"hello, is anybody here?", "@echo ping", "/users", "/quit"}) {
        std::printf("> %s\n", line.c_str());
        (void)conn->write(line + "\n");
        ++sent;
        if (auto l = received.recv()) {
          std::printf("< %s\n", l->c_str());
          ++got;
        }
      }
      bool closed = !received.recv().has_value();  // the server closed after "bye"
      auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 5s);
      (void)srv->shutdown(ctx);
      cancel();
      served.recv();
      if (!closed || got != 5) status = 1;
      std::printf("chat-client sent %d lines and got %d back, then the server closed the connection\n", sent, got);
      return;
    }

    // 3b. Interactive: stdin -> server in one goroutine (each getline on a helper thread),
    //     server -> stdout here. At stdin's end we say /quit and wait for the server to close.
    gofer::go(gofer::named{"talk"}, [conn] {
      std::string line;
      while (gofer::blocking([&line] { return static_cast<bool>(std::getline(std::cin, line)); }))
        if (!conn->write(line + "\n").ok()) return;
      (void)conn->write("/quit\n");
    });
    while (auto l = received.recv()) {
      std::printf("%s\n", l->c_str());
      std::fflush(stdout);
    }
    std::printf("(the server closed the connection)\n");
    std::fflush(stdout);
    // Like Go's os.Exit: do not wait for the "talk" goroutine, whose helper thread may be
    // blocked reading the terminal (nothing can interrupt a read(2) on stdin).
    std::_Exit(0);
  });
  return status;
}
