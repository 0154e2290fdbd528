// hello-server — one goroutine per connection, and many connections at once (book,
// chapter 6: "C10K: A Non-blocking Web Server in Go", "Building our C10K web server").
//
// The book's answer to Dan Kegel's C10K question is Go's net/http: plain blocking-style
// code, one goroutine per connection, and a runtime that parks a goroutine waiting on a
// socket instead of a thread. gofer::http::server is built the same way (a goroutine per
// connection over gofer's epoll poller), so this is the smallest server there is: every
// GET answers "hello".
//
// By default the demo drives itself: it serves on a free loopback port, starts --conns
// client goroutines that each keep one connection alive and send --requests requests on
// it, then prints what it measured (requests/s, latency percentiles, connections the
// server saw) and shuts the server down gracefully. Watch: a hundred (or, with
// --conns 10000, ten thousand) connections are served by a handful of OS threads.
//
// With --serve or an explicit --addr it only serves, until Ctrl-C or SIGTERM, for an
// outside load generator: bench/http/run.sh points wrk at it and at Go's net/http.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/signal.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
namespace http = gofer::http;

namespace {

// ---- the server ---------------------------------------------------------------------------
// What the server saw, counted by its connection-state hook and the handler. Atomics: the
// hook and the handler run on every connection's goroutine, on any thread.
struct server_counters {
  std::atomic<long> requests{0}, accepted{0}, open{0}, peak_open{0};
};

http::server make_server(server_counters& sc) {
  http::serve_mux mux;
  // "GET /" matches every path for GET (and HEAD), like Go's "/" pattern.
  mux.handle("GET /", [&sc](const http::request&, http::response_writer& w) {
    sc.requests.fetch_add(1, std::memory_order_relaxed);
    w.headers().set("Content-Type", "text/plain; charset=utf-8");
    w.write("hello\n");
  });
  http::server_options opts;  // gofer's defaults: 10 s to send a header, 120 s idle
  opts.on_conn_state = [&sc](const gofer::net::conn&, http::conn_state st) {
    if (st == http::conn_state::new_) {
      sc.accepted.fetch_add(1, std::memory_order_relaxed);
      long now = sc.open.fetch_add(1, std::memory_order_relaxed) + 1;
      long peak = sc.peak_open.load(std::memory_order_relaxed);
      while (now > peak && !sc.peak_open.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
      }
    } else if (st == http::conn_state::closed) {
      sc.open.fetch_sub(1, std::memory_order_relaxed);
    }
  };
  return http::server(mux, std::move(opts));
}

// ---- the clients (self-test mode) ---------------------------------------------------------
struct client_result {
  long ok = 0, errors = 0;
  std::string first_error;
  std::vector<double> latency_ms;  // one per successful request
};

// One client goroutine: its own http::client, so its own keep-alive connection (like one
// wrk connection), sending n requests one after another.
client_result run_client(const std::string& url, int n) {
  client_result r;
  r.latency_ms.reserve(n);
  http::client c;
  for (int i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    auto res = c.get(gofer::background(), url);
    double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
    if (res.ok() && res->status == 200 && res->body == "hello\n") {
      ++r.ok;
      r.latency_ms.push_back(ms);
    } else {
      ++r.errors;
      if (r.first_error.empty())
        r.first_error = res.ok() ? "status " + std::to_string(res->status) : res.status().ToString();
    }
  }
  return r;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// Go raises its soft limit on open files to the hard limit at start-up (Go 1.19+); a C10K
// server in C++ has to do it itself. If even the hard limit is below `need`, a process
// allowed to (root, CAP_SYS_RESOURCE) raises the hard limit too. Returns the limit in force.
rlim_t raise_fd_limit(rlim_t need) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
    rlimit more{need, need};
    if (setrlimit(RLIMIT_NOFILE, &more) == 0) return need;  // else: not allowed, go on
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
  int conns = 100, requests = 30;
  unsigned threads = 0;
  CLI::App app{"a hello-world HTTP server, one goroutine per connection (C10K)", "hello-server"};
  app.add_option("--addr", addr, "serve on this host:port until Ctrl-C (implies --serve)");
  app.add_flag("--serve", serve, "only serve (on --addr, default 127.0.0.1:8080) until Ctrl-C or SIGTERM");
  app.add_option("--conns", conns, "self-test: concurrent client goroutines, one connection each")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--requests", requests, "self-test: requests per client")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  app.add_option("--threads", threads, "scheduler threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 1024u));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  if (!addr.empty()) serve = true;
  if (serve && addr.empty()) addr = "127.0.0.1:8080";

  // 1. File descriptors: a server with 10,000 connections needs 10,000 of them (and the
  //    self-test twice that, for the clients' ends).
  const rlim_t need = serve ? 0 : static_cast<rlim_t>(2 * conns + 64);
  rlim_t fds = raise_fd_limit(need);
  if (fds != RLIM_INFINITY && need > fds) {
    std::fprintf(stderr,
                 "hello-server: %d connections need about %llu file descriptors, the limit is %llu "
                 "(raise the hard limit: ulimit -Hn, as root)\n",
                 conns, static_cast<unsigned long long>(need), static_cast<unsigned long long>(fds));
    return 1;
  }
  int status = 0;
  gofer::run(
      [&] {
        server_counters sc;
        long client_errors = 0;
        http::server srv = make_server(sc);
        auto ln = gofer::net::listen(serve ? addr : "127.0.0.1:0");
        if (!ln.ok()) {
          std::fprintf(stderr, "hello-server: %s\n", ln.status().ToString().c_str());
          status = 1;
          return;
        }
        std::string where = ln->addr();
        // The server: serve() parks in accept and starts one goroutine per connection.
        gofer::chan<absl::Status> served(1);
        gofer::go(gofer::named{"server"}, [&srv, served, l = std::move(*ln)]() mutable {
          served.send(srv.serve(std::move(l)));
        });

        if (serve) {
          // 2a. Serve until a signal (or until serve fails). Go's signal.Notify(sigs,
          //     os.Interrupt, syscall.SIGTERM): from now on Ctrl-C and SIGTERM are sent on
          //     sigs instead of ending the program. Buffered, because the relay never waits.
          gofer::chan<int> sigs(1);
          gofer::signal::notify(sigs, {SIGINT, SIGTERM});
          std::printf("listening on http://%s/ with %u scheduler thread%s (Ctrl-C or SIGTERM to stop)\n",
                      where.c_str(), gofer::num_threads(), gofer::num_threads() == 1 ? "" : "s");
          std::fflush(stdout);
          std::optional<int> sig;
          std::optional<absl::Status> failed;
          if (gofer::select(gofer::recv_case(sigs, sig), gofer::recv_case(served, failed)) == 1) {
            std::fprintf(stderr, "hello-server: %s\n", failed->ToString().c_str());
            status = 1;
            return;
          }
          std::printf("got %s: shutting down gracefully\n", *sig == SIGINT ? "SIGINT" : "SIGTERM");
        } else {
          // 2b. Self-test: `conns` client goroutines at once, each on its own connection.
          std::string url = "http://" + where + "/";
          std::printf("serving on %s with %u scheduler thread%s\n", url.c_str(), gofer::num_threads(),
                      gofer::num_threads() == 1 ? "" : "s");
          std::printf("%d client goroutines x %d requests each (one keep-alive connection per client)\n",
                      conns, requests);
          std::vector<client_result> results(conns);
          gofer::wait_group wg;
          auto t0 = clock_type::now();
          for (int i = 0; i < conns; ++i) {
            wg.add(1);
            gofer::go([&, i] {
              results[i] = run_client(url, requests);
              wg.done();
            });
          }
          wg.wait();
          double secs = std::chrono::duration<double>(clock_type::now() - t0).count();

          client_result all;
          for (client_result& r : results) {
            all.ok += r.ok;
            all.errors += r.errors;
            if (all.first_error.empty()) all.first_error = r.first_error;
            all.latency_ms.insert(all.latency_ms.end(), r.latency_ms.begin(), r.latency_ms.end());
          }
          std::printf("  requests  %ld ok, %ld errors in %.2f s: %.0f requests/s\n", all.ok, all.errors, secs,
                      static_cast<double>(all.ok) / secs);
          if (!all.first_error.empty()) std::printf("  first error: %s\n", all.first_error.c_str());
          double p50 = percentile(all.latency_ms, 0.50), p99 = percentile(all.latency_ms, 0.99);
          double mx = all.latency_ms.empty() ? 0 : *std::max_element(all.latency_ms.begin(), all.latency_ms.end());
          std::printf("  latency   p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", p50, p99, mx);
          std::printf("  server    %ld connections accepted, at most %ld open at once, %ld requests handled\n",
                      sc.accepted.load(), sc.peak_open.load(), sc.requests.load());
          client_errors = all.errors;
          if (all.errors != 0 || sc.requests.load() != all.ok) status = 1;
        }

        // 3. Graceful shutdown (Go's srv.Shutdown): stop accepting, close idle connections,
        //    let requests in flight finish; give up after 5 s.
        auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 5s);
        absl::Status down = srv.shutdown(ctx);
        cancel();
        served.recv();  // serve() has returned "server closed"
        if (!down.ok()) {
          std::fprintf(stderr, "hello-server: shutdown: %s\n", down.ToString().c_str());
          status = 1;
        }
        std::printf("served %ld requests over %ld connections with %ld errors, then shut down %s\n",
                    sc.requests.load(), sc.accepted.load(), client_errors, down.ok() ? "gracefully" : "forcibly");
      },
      {.threads = threads});
  return status;
}
