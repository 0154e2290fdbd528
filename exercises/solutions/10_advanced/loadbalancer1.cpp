// loadbalancer1 — solution. The back end is chosen inside the handler, so once per request,
// from a counter shared by every call (an atomic: handlers run on many goroutines at once).

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
  return [backends, next, client](const http::request& r, http::response_writer& w) {
    std::string target = backends[next->fetch_add(1) % backends.size()];
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
