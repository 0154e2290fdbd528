// loadbalancer1 — spot the bug: the book's load balancer sends everything to one back end
// (book, chapter 10: "Building a load balancer with concurrent patterns").
//
// Three back ends (alpha, beta, gamma) answer with their own name. make_balancer() returns
// the handler of a tiny reverse proxy that should spread the requests over them, round
// robin: alpha, beta, gamma, alpha, ... main sends 9 requests through it, one after another.
// As shipped, one back end gets all nine, as in the book — whose text says the back end is
// chosen "for every request".
//
// Goal: the program prints
//   alpha answered 3 of 9
//   beta answered 3 of 9
//   gamma answered 3 of 9
//
// Question: when does the line that picks the back end run — and how many times?

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>

namespace http = gofer::http;

// The balancer: forwards each request to a back end and copies its answer back.
http::handler make_balancer(std::vector<std::string> backends) {
  auto next = std::make_shared<std::atomic<std::size_t>>(0);
  auto client = std::make_shared<http::client>();
  // TODO: the book's setProxy, run once when the handler is made. Which back end does
  // every request go to?
  std::string target = backends[next->fetch_add(1) % backends.size()];
  return [target, backends, next, client](const http::request& r, http::response_writer& w) {
    auto res = client->get(r.ctx, target + r.target);
    if (!res.ok()) {
      http::error(w, "bad gateway", http::status::bad_gateway);
      return;
    }
    w.write_header(res->status);
    w.write(res->body);
  };
}

int main() {
  return gofer::run([] {
    // Three back ends on free ports, each answering with its name.
    std::vector<std::unique_ptr<http::server>> servers;
    std::vector<std::string> urls;
    for (std::string name : {"alpha", "beta", "gamma"}) {
      auto ln = gofer::net::listen("127.0.0.1:0");
      urls.push_back("http://" + ln->addr());
      servers.push_back(std::make_unique<http::server>(
          [name](const http::request&, http::response_writer& w) { w.write(name); }));
      gofer::go([s = servers.back().get(), l = std::move(*ln)]() mutable { (void)s->serve(std::move(l)); });
    }
    // The balancer in front of them.
    auto ln = gofer::net::listen("127.0.0.1:0");
    std::string front = "http://" + ln->addr() + "/";
    http::server balancer(make_balancer(urls));
    gofer::go([&balancer, l = std::move(*ln)]() mutable { (void)balancer.serve(std::move(l)); });

    // Nine requests, one after another; count who answered.
    http::client c;
    std::map<std::string, int> answered;
    for (int i = 0; i < 9; ++i) {
      auto res = c.get(gofer::background(), front);
      answered[res.ok() ? res->body : "error"]++;
    }
    for (const auto& [name, n] : answered) std::printf("%s answered %d of 9\n", name.c_str(), n);
    (void)balancer.close();
    for (auto& s : servers) (void)s->close();
  });
}
