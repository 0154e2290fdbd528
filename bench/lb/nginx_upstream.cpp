// bench/lb/nginx_upstream.cpp — nginx as a load balancer, for bench/lb/run.sh: a private
// nginx with an `upstream` block (round robin, a keep-alive pool of 64 connections per worker)
// in front of the given back ends, started through the shared launcher
// (chapters/common/server.hpp: a free loopback port, a temp dir, a readiness probe, stopped on
// every path).
//
//   nginx-upstream --backend 127.0.0.1:9001 --backend 127.0.0.1:9002 [--workers 2]
//
// Prints "listening on 127.0.0.1:<port> (nginx, N workers)" once nginx accepts, then waits
// for SIGINT or SIGTERM and stops nginx (SIGTERM, then SIGKILL after the grace time).
//
// The launcher substitutes {port} and {dir} in arguments only, and nginx reads its upstream
// and listen directives only from a file (its -g takes no blocks), so the launched program is
// /bin/sh, which writes the configuration (an argument, already substituted) into the temp
// dir and execs nginx in the foreground. A missing nginx is reported before, naming the
// Debian package.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "server.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> backends;
  int workers = 2;
  CLI::App app{"a private nginx load balancer (upstream, round robin) for bench/lb", "nginx-upstream"};
  app.add_option("--backend", backends, "a back end host:port (repeat the flag)")->required();
  app.add_option("--workers", workers, "nginx worker processes")->capture_default_str()->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);

  if (!gofer_demo::find_binary("nginx")) {
    std::fprintf(stderr, "nginx-upstream: nginx not found: install the Debian package nginx (./gofer setup)\n");
    return 1;
  }
  std::string upstream;
  for (const auto& b : backends) upstream += "    server " + b + ";\n";
  const std::string conf =
      "worker_processes " + std::to_string(workers) + ";\n"
      "pid {dir}/nginx.pid;\n"
      "error_log stderr warn;\n"
      "worker_rlimit_nofile 65536;\n"
      "events { worker_connections 16384; }\n"
      "http {\n"
      "  access_log off;\n"
      "  upstream backends {\n" + upstream +
      "    keepalive 64;\n"
      "  }\n"
      "  server {\n"
      "    listen 127.0.0.1:{port} backlog=4096;\n"
      "    location / {\n"
      "      proxy_pass http://backends;\n"
      "      proxy_http_version 1.1;\n"
      "      proxy_set_header Connection \"\";\n"
      "    }\n"
      "  }\n"
      "}\n";

  // SIGINT/SIGTERM are taken by sigwait below; blocked before the launcher starts threads.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  gofer_demo::server_spec spec;
  spec.name = "nginx";
  spec.binary = "sh";
  spec.package = "dash";
  spec.args = {"-c",
               "printf '%s' \"$1\" > \"$2/nginx.conf\" && exec nginx -p \"$2/\" -c \"$2/nginx.conf\" -e stderr "
               "-g 'daemon off;'",
               "nginx-upstream", conf, "{dir}"};
  try {
    auto nginx = gofer_demo::server::start(spec);
    std::printf("listening on %s (nginx, %d workers)\n", nginx.addr().c_str(), workers);
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    nginx.stop();
  } catch (const gofer_demo::server_error& e) {
    std::fprintf(stderr, "nginx-upstream: %s\n", e.what());
    return 1;
  }
  return 0;
}
