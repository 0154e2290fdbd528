// bench/c10k/blocking_server.cpp — the blocking baseline of `./gofer bench c10k`: one OS
// thread per connection, the model of the book's Apache (chapter 6, "Benchmarking against
// a blocking web server").
//
// Plain blocking sockets (Boost.Asio's synchronous tcp::socket) and std::thread: the main
// thread accepts, and every accepted connection gets its own detached std::thread that
// reads requests and writes answers with Boost.Beast's synchronous http::read / write
// (keep-alive) until the client closes. Nothing else: no pool, no poller. Each thread has
// the default stack (ulimit -s, 8 MiB of address space), and the kernel schedules them all.
//
// Routes, the same as the c10k demo's first two (chapters/ch06_c10k/02_c10k.cpp):
//   GET /static/{name}    a file from the generated static/ dir, read per request
//   GET /template/{name}  the 80 KB template, parsed once with ctemplate, executed per request
//   anything else         404
//
// Usage: c10k_blocking [--addr 127.0.0.1:8080] [--pages 3]
// Prints "listening on <addr>" once bound; SIGINT/SIGTERM end it (exit 0, connections cut).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <ctemplate/template.h>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

namespace {

std::string filler(std::size_t bytes) {  // the demo's filler text, byte for byte
  static const std::string para =
      "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
      "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam.</p>\n";
  std::string s;
  while (s.size() + para.size() <= bytes) s += para;
  return s;
}
constexpr std::size_t kPageBytes = 80 * 1024;

fs::path site;  // generated at start, removed at exit
std::unique_ptr<ctemplate::Template> tmpl;

std::string read_file(const fs::path& p, bool& ok) {
  std::ifstream in(p, std::ios::binary);
  ok = static_cast<bool>(in);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bhttp::response<bhttp::string_body> answer(const bhttp::request<bhttp::string_body>& req) {
  bhttp::response<bhttp::string_body> res{bhttp::status::ok, req.version()};
  res.keep_alive(req.keep_alive());
  std::string target(req.target());
  auto not_found = [&] {
    res.result(bhttp::status::not_found);
    res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    res.body() = "404 page not found\n";
  };
  auto name_after = [&](std::string_view prefix) -> std::string {
    if (target.compare(0, prefix.size(), prefix) != 0) return {};
    std::string name = target.substr(prefix.size());
    if (name.empty() || name.find('/') != std::string::npos || name.find("..") != std::string::npos) return {};
    return name;
  };
  if (req.method() != bhttp::verb::get) {
    not_found();
  } else if (std::string name = name_after("/static/"); !name.empty()) {
    bool ok = false;
    res.body() = read_file(site / "static" / name, ok);
    if (ok) res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    else not_found();
  } else if (std::string title = name_after("/template/"); !title.empty()) {
    ctemplate::TemplateDictionary dict("page");
    dict.SetValue("TITLE", "This is our URL: " + title);
    dict.SetValue("CONTENTS", "This is our template's contents.");
    tmpl->Expand(&res.body(), &dict);
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  } else {
    not_found();
  }
  res.prepare_payload();
  return res;
}

// One connection, on its own thread, until the client closes or sends garbage.
void serve(tcp::socket sock) {
  beast::flat_buffer buf;
  beast::error_code ec;
  for (;;) {
    bhttp::request<bhttp::string_body> req;
    bhttp::read(sock, buf, req, ec);
    if (ec) break;
    auto res = answer(req);
    bhttp::write(sock, res, ec);
    if (ec || !res.keep_alive()) break;
  }
  sock.shutdown(tcp::socket::shutdown_send, ec);
}

void on_signal(int) {
  std::error_code ec;
  fs::remove_all(site, ec);
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr = "127.0.0.1:8080";
  int pages = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--addr") && i + 1 < argc) addr = argv[++i];
    else if (!std::strcmp(argv[i], "--pages") && i + 1 < argc) pages = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: c10k_blocking [--addr host:port] [--pages N]\n");
      return 2;
    }
  }
  std::string tmp = (fs::temp_directory_path() / "gofer-c10k-blocking-XXXXXX").string();
  if (!::mkdtemp(tmp.data())) return 1;
  site = tmp;
  fs::create_directory(site / "static");
  for (int i = 0; i < pages; ++i) {
    std::ofstream(site / "static" / ("page-" + std::to_string(i) + ".html"), std::ios::binary)
        << "<!DOCTYPE html>\n<html><head><title>static page " << i << "</title></head>\n<body>\n"
        << filler(kPageBytes - 200) << "</body></html>\n";
  }
  tmpl.reset(ctemplate::Template::StringToTemplate(
      "{{%AUTOESCAPE context=\"HTML\"}}<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
      "<title>{{TITLE}}</title></head>\n<body><h1>{{TITLE}}</h1>\n<p>{{CONTENTS}}</p>\n" +
          filler(kPageBytes) + "</body></html>\n",
      ctemplate::DO_NOT_STRIP));
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  auto colon = addr.rfind(':');
  asio::io_context io;
  tcp::acceptor acceptor(io);
  tcp::endpoint ep(asio::ip::make_address(addr.substr(0, colon)),
                   static_cast<unsigned short>(std::stoi(addr.substr(colon + 1))));
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(asio::socket_base::max_listen_connections);
  std::printf("listening on %s:%u (a thread per connection)\n", acceptor.local_endpoint().address().to_string().c_str(),
              acceptor.local_endpoint().port());
  std::fflush(stdout);
  for (;;) {
    beast::error_code ec;
    tcp::socket sock(io);
    acceptor.accept(sock, ec);
    if (ec) {  // EMFILE and friends: wait a little, as Apache would
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    try {
      std::thread(serve, std::move(sock)).detach();
    } catch (const std::system_error& e) {  // no more threads: the connection is dropped
      std::fprintf(stderr, "c10k_blocking: thread: %s\n", e.what());
    }
  }
}
