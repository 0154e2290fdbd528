// loadbalancer — a reverse proxy that spreads requests over back ends, checks their health
// with exponential back-off, and retries a request a dying back end dropped (book, chapter
// 10: "Building a load balancer with concurrent patterns"). The balancer is
// loadbalancer.hpp; this file starts back ends, puts load through it and breaks things.
//
// By default the demo drives itself: three local back ends that answer with their own name
// (gamma is slow) and a fourth address where nothing listens, the balancer in front, and
// client goroutines sending GETs through it. A third of the way in it kills beta (its
// server closes every connection, requests in flight included); two thirds in (and after
// three failed checks) it brings beta back on the same port. Watch: the clients see no failure — the balancer retries
// what beta dropped on another back end — beta's checker backs off while it is dead and
// readmits it when it answers; delta never gets a request. Then it prints the spread.
//
// --serve --addr HOST:PORT --backend http://H:P [--backend ...] only serves, until Ctrl-C
// or SIGTERM, then shuts down gracefully; GET /-/backends shows the back ends' state.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/signal.hpp>

#include "demo_flags.hpp"
#include "loadbalancer.hpp"

using namespace std::chrono_literals;
namespace http = gofer::http;

namespace {

// ---- the back ends ------------------------------------------------------------------------
// A back end answers every GET with its name; a slow one waits first. kill() closes its
// server (listener and every connection, in-flight requests cut off), restore() serves
// again on the same address.
struct backend_server {
  std::string name, addr;
  std::chrono::milliseconds delay{0};
  std::unique_ptr<http::server> srv;
  gofer::chan<int> stopped{1};

  absl::Status serve_on(std::string_view where) {
    auto ln = gofer::net::listen(where);
    if (!ln.ok()) return ln.status();
    addr = ln->addr();
    http::serve_mux mux;
    mux.handle("GET /", [n = name, d = delay](const http::request&, http::response_writer& w) {
      if (d > 0ms) gofer::sleep(d);
      w.write(n + "\n");
    });
    srv = std::make_unique<http::server>(mux);
    gofer::go(gofer::named{"backend " + name}, [s = srv.get(), st = stopped, l = std::move(*ln)]() mutable {
      (void)s->serve(std::move(l));
      st.send(1);
    });
    return absl::OkStatus();
  }
  void kill() {
    (void)srv->close();
    stopped.recv();
  }
  absl::Status restore() { return serve_on(addr); }
};

std::string ms(std::chrono::nanoseconds d) {
  auto m = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return m % 1000 == 0 ? std::to_string(m / 1000) + " s" : std::to_string(m) + " ms";
}

// Serves the balancer on ln until a signal, then shuts down gracefully.
int serve_forever(lb::balancer& bal, gofer::net::listener ln) {
  // Go's signal.Notify(sigs, os.Interrupt, syscall.SIGTERM): Ctrl-C and SIGTERM arrive on
  // sigs (buffered: the relay never waits) instead of ending the program.
  gofer::chan<int> sigs(1);
  gofer::signal::notify(sigs, {SIGINT, SIGTERM});
  http::server srv(bal.handler(), {.read_header_timeout = 10s, .read_timeout = 30s, .write_timeout = 60s});
  std::printf("load balancer on http://%s/ (admin: /-/backends), Ctrl-C or SIGTERM to stop\n", ln.addr().c_str());
  std::fflush(stdout);
  gofer::chan<absl::Status> served(1);
  gofer::go(gofer::named{"balancer"}, [&srv, served, l = std::move(ln)]() mutable { served.send(srv.serve(std::move(l))); });
  std::optional<int> sig;
  std::optional<absl::Status> failed;
  if (gofer::select(gofer::recv_case(sigs, sig), gofer::recv_case(served, failed)) == 1) {
    std::fprintf(stderr, "loadbalancer: %s\n", failed->ToString().c_str());
    bal.stop();
    return 1;
  }
  std::printf("got %s: shutting down gracefully\n", *sig == SIGINT ? "SIGINT" : "SIGTERM");
  auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 10s);
  absl::Status down = srv.shutdown(ctx);
  cancel();
  served.recv();
  bal.stop();
  std::printf("balancer %s\n", down.ok() ? "shut down gracefully" : "stopped forcibly");
  return down.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  bool serve = false;
  std::string addr, policy_name = "round-robin";
  std::vector<std::string> backend_urls;
  double check_s = 5, backoff_max_s = 60;
  int clients = 16, requests = 900;
  unsigned threads = 0;
  CLI::App app{"a load balancer: round robin or least connections, health checks with back-off, retries",
               "loadbalancer"};
  app.add_flag("--serve", serve, "only serve (needs --backend) until Ctrl-C or SIGTERM");
  app.add_option("--addr", addr, "--serve: listen on host:port (default 127.0.0.1:8080)");
  app.add_option("--backend", backend_urls, "--serve: a back end, http://host:port (repeat the flag)");
  app.add_option("--policy", policy_name, "round-robin or least-connections")
      ->capture_default_str()
      ->check(CLI::IsMember({"round-robin", "least-connections"}));
  auto* check_flag = app.add_option("--check-interval", check_s, "seconds between health checks (the book's 5)")
                         ->capture_default_str()
                         ->check(CLI::Range(0.01, 3600.0));
  auto* backoff_flag = app.add_option("--backoff-max", backoff_max_s, "longest back-off, seconds (the book's 60)")
                           ->capture_default_str()
                           ->check(CLI::Range(0.01, 86400.0));
  app.add_option("--clients", clients, "self-test: client goroutines")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--requests", requests, "self-test: requests in all (at least)")
      ->capture_default_str()
      ->check(CLI::Range(30, 10000000));
  app.add_option("--threads", threads, "scheduler threads (0: one per core)")->capture_default_str()->check(CLI::Range(0u, 1024u));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  if (!addr.empty()) serve = true;
  if (serve && backend_urls.empty()) {
    std::fprintf(stderr, "loadbalancer: --serve needs at least one --backend http://host:port\n");
    return 2;
  }
  if (!serve && !backend_urls.empty()) {
    std::fprintf(stderr, "loadbalancer: --backend needs --serve (the self-test starts its own back ends)\n");
    return 2;
  }
  if (backoff_max_s < check_s) {
    std::fprintf(stderr, "loadbalancer: --backoff-max must be at least --check-interval\n");
    return 2;
  }
  lb::options opts;
  opts.pick = policy_name == "round-robin" ? lb::policy::round_robin : lb::policy::least_connections;
  opts.check_interval = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(check_s));
  opts.backoff_max = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(backoff_max_s));
  // The self-test runs for a second or two: unless told otherwise it runs the book's
  // clock 25 times faster (checks every 200 ms, back-off up to 2.4 s).
  if (!serve && check_flag->count() == 0 && backoff_flag->count() == 0) {
    opts.check_interval /= 25;
    opts.backoff_max /= 25;
  }
  opts.check_timeout = 2s;  // a busy machine is not a dead back end
  if (serve && addr.empty()) addr = "127.0.0.1:8080";

  int status = 0;
  gofer::run(
      [&] {
        if (serve) {
          auto bal = lb::balancer::make(backend_urls, opts);
          if (!bal.ok()) {
            std::fprintf(stderr, "loadbalancer: %s\n", std::string(bal.status().message()).c_str());
            status = 2;
            return;
          }
          auto ln = gofer::net::listen(addr);
          if (!ln.ok()) {
            std::fprintf(stderr, "loadbalancer: %s\n", ln.status().ToString().c_str());
            status = 1;
            return;
          }
          (*bal)->start();
          for (const auto& b : (*bal)->backends())
            std::printf("back end %s: %s\n", b->url.c_str(), b->up.load() ? "up" : "down");
          status = serve_forever(**bal, std::move(*ln));
          return;
        }

        // 1. The back ends: alpha and beta answer at once, gamma after 20 ms; at delta's
        //    address nothing listens (a port that was free a moment ago).
        std::vector<std::unique_ptr<backend_server>> servers;
        for (auto [name, delay] : std::initializer_list<std::pair<const char*, int>>{{"alpha", 0}, {"beta", 0}, {"gamma", 20}}) {
          auto s = std::make_unique<backend_server>();
          s->name = name;
          s->delay = std::chrono::milliseconds(delay);
          if (auto st = s->serve_on("127.0.0.1:0"); !st.ok()) {
            std::fprintf(stderr, "loadbalancer: %s\n", st.ToString().c_str());
            status = 1;
            return;
          }
          servers.push_back(std::move(s));
        }
        std::string delta_addr = gofer::net::listen("127.0.0.1:0")->addr();  // closed again at once
        std::map<std::string, std::string> name_of;  // host:port -> name
        std::vector<std::string> urls;
        for (auto& s : servers) {
          name_of[s->addr] = s->name;
          urls.push_back("http://" + s->addr);
        }
        name_of[delta_addr] = "delta";
        urls.push_back("http://" + delta_addr);
        std::printf("back ends: alpha, beta, gamma (slow: 20 ms per answer), delta (nothing listens)\n");

        // 2. The balancer: its first health checks run before it takes requests.
        auto made = lb::balancer::make(urls, opts);
        lb::balancer& bal = **made;
        bal.start();
        auto state_line = [&] {
          std::string line;
          for (const auto& b : bal.backends())
            line += (line.empty() ? "" : ", ") + name_of[b->name] + " " + (b->up.load() ? "up" : "down");
          return line;
        };
        std::printf("policy %s, health checks every %s, back-off doubling up to %s\n", policy_name.c_str(),
                    ms(opts.check_interval).c_str(), ms(opts.backoff_max).c_str());
        std::printf("first checks: %s\n", state_line().c_str());
        auto ln = gofer::net::listen("127.0.0.1:0");
        std::string url = "http://" + ln->addr() + "/";
        http::server front(bal.handler());
        gofer::chan<int> front_done(1);
        gofer::go(gofer::named{"balancer"}, [&front, front_done, l = std::move(*ln)]() mutable {
          (void)front.serve(std::move(l));
          front_done.send(1);
        });

        // 3. The clients: each its own http::client (one keep-alive connection to the
        //    balancer), sending GETs until told to stop. They count who answered.
        std::atomic<long> done_requests{0};
        std::atomic<bool> stop{false};
        struct tally {
          std::map<std::string, long> by_backend;
          long failures = 0;
          std::string first_failure;
        };
        std::vector<tally> tallies(clients);
        gofer::wait_group wg;
        for (int i = 0; i < clients; ++i) {
          wg.add(1);
          gofer::go(gofer::named{"client " + std::to_string(i)}, [&, i] {
            http::client c;
            while (!stop.load()) {
              auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 10s);
              auto res = c.get(ctx, url);
              cancel();
              if (res.ok() && res->status == 200 && !res->body.empty()) {
                tallies[i].by_backend[res->body.substr(0, res->body.size() - 1)]++;
              } else {
                tallies[i].failures++;
                if (tallies[i].first_failure.empty())
                  tallies[i].first_failure = res.ok() ? std::to_string(res->status) + " " + res->body : res.status().ToString();
              }
              done_requests.fetch_add(1);
            }
            wg.done();
          });
        }

        // 4. The director: watches the request count on a ticker and kills beta a third of
        //    the way in, restores it at two thirds, and lets the load run until the
        //    balancer has readmitted beta and another third has been served.
        backend_server& beta = *servers[1];
        const lb::balancer::backend& beta_state = *bal.backends()[1];
        gofer::ticker tk(2ms);
        auto wait_for = [&](auto cond) {
          while (!cond()) tk.c().recv();
        };
        wait_for([&] { return done_requests.load() >= requests / 3; });
        beta.kill();
        std::printf("after %ld requests: killed beta (its server closed every connection)\n", done_requests.load());
        wait_for([&] { return !beta_state.up.load(); });
        std::printf("  the balancer took beta out: %s\n", state_line().c_str());
        // (and at least three failed checks, so the back-off has doubled twice)
        wait_for([&] { return done_requests.load() >= 2 * requests / 3 && beta_state.failures.load() >= 3; });
        long checks_before = beta_state.checks.load();
        std::printf("after %ld requests: beta is still down after %d failed checks, next check in %lld ms\n",
                    done_requests.load(), beta_state.failures.load(), static_cast<long long>(beta_state.backoff_ms.load()));
        if (auto st = beta.restore(); !st.ok()) {
          std::fprintf(stderr, "loadbalancer: restore beta: %s\n", st.ToString().c_str());
          status = 1;
        }
        std::printf("  restored beta on the same port\n");
        auto restored_at = std::chrono::steady_clock::now();
        wait_for([&] { return beta_state.up.load(); });
        auto took = std::chrono::steady_clock::now() - restored_at;
        std::printf("  beta readmitted by its checker %s later (%ld checks while it was down)\n", ms(took).c_str(),
                    beta_state.checks.load() - checks_before);
        long at_readmission = done_requests.load();
        wait_for([&] { return done_requests.load() >= at_readmission + requests / 3; });
        stop.store(true);
        wg.wait();
        tk.stop();

        // 5. What the clients saw, and what the balancer says on its admin page.
        tally all;
        for (auto& t : tallies) {
          for (auto& [k, v] : t.by_backend) all.by_backend[k] += v;
          all.failures += t.failures;
          if (all.first_failure.empty()) all.first_failure = t.first_failure;
        }
        long total = done_requests.load();
        std::printf("spread over the back ends (answers the clients got):\n");
        for (const char* n : {"alpha", "beta", "gamma", "delta"})
          std::printf("  %-6s %6ld  %4.1f%%\n", n, all.by_backend[n], 100.0 * static_cast<double>(all.by_backend[n]) / static_cast<double>(total));
        std::printf("balancer: %ld retried on another back end, %ld answered 502, %ld answered 503\n", bal.retries(),
                    bal.bad_gateways(), bal.unavailables());
        http::client admin;
        auto page = admin.get(gofer::background(), url + "-/backends");
        auto report = page.ok() ? page->json() : page.status();
        if (report.ok()) {
          std::printf("GET /-/backends:\n");
          for (const auto& b : *report)
            std::printf("  %s\n", b.dump().c_str());
        }
        std::printf("clients: %ld requests, %ld failures%s%s\n", total, all.failures,
                    all.first_failure.empty() ? "" : ", first: ", all.first_failure.c_str());

        // 6. Shut everything down: the front server gracefully, the checkers, the back ends.
        (void)front.shutdown(gofer::background());
        front_done.recv();
        bal.stop();
        for (auto& s : servers) s->kill();
        bool readmitted = beta_state.up.load();
        if (all.failures != 0 || all.by_backend["delta"] != 0 || !readmitted) status = 1;
        std::printf("%ld requests spread over %zu back ends with %ld client failures: beta killed mid-run, its "
                    "requests retried, then readmitted\n",
                    total, bal.backends().size(), all.failures);
      },
      {.threads = threads});
  return status;
}
