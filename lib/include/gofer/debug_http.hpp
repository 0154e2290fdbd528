// gofer/debug_http.hpp — a live program's goroutines and numbers over HTTP, in the shape of
// Go's net/http/pprof.
//
//   debug::mount            registers the debug handlers on any http::serve_mux
//   debug::goroutines_json  the goroutine dump (debug.hpp) as JSON
//   debug::metrics          the numbers /metrics serves, as JSON
//
// Go's `import _ "net/http/pprof"` adds /debug/pprof/ to a server's mux; gofer's equivalent
// is one call, on the program's own mux or on a separate one listening on a private port:
//
//   path (prefix "/debug/gofer/")   answers
//   GET  /debug/gofer/              an HTML index of the pages below (Go's /debug/pprof/)
//   GET  /debug/gofer/goroutines    text/plain: dump_goroutines (Go's goroutine?debug=1)
//   GET  /debug/gofer/goroutines?format=json
//                                   {"count": N, "goroutines": [{"id", "name", "state",
//                                   "blocked_seconds", "detail": [lines under the header]}]}
//   GET  /debug/gofer/metrics       JSON: goroutines, threads (GOMAXPROCS), and the process's
//                                   rss_bytes, cpu_user_seconds, cpu_system_seconds,
//                                   open_fds, uptime_seconds
//   other methods                   405 (the mux's answer); unknown pages 404
//
// Not here (yet): Go's profile and trace endpoints. CPU profiles come from perf or
// gperftools outside the program (chapters/ch05_blocks/README.md shows the route), and
// run-queue lengths, park rates and poller counters are not exported by the runtime's
// public API, so /metrics does not invent them.
//
// Exposure: like net/http/pprof, these pages show the program's internals to anyone who can
// reach them. Mount them on a listener bound to 127.0.0.1 (a separate --debug-addr), not
// on a public server's mux.
//
// Cost: each request to goroutines walks every goroutine (dump_goroutines takes each
// registry shard's lock briefly); with 100,000 goroutines that is a few megabytes of text.
// Thread-safety: the handlers run on any server goroutine, concurrently; they read only
// thread-safe runtime counters and /proc. Never blocks beyond the dump's short locks.
//
// Example:
//   gofer::http::serve_mux mux;
//   gofer::debug::mount(mux);                       // /debug/gofer/...
//   gofer::http::server dbg(mux);
//   gofer::go([&] { dbg.listen_and_serve("127.0.0.1:6060"); });
//   // curl http://127.0.0.1:6060/debug/gofer/goroutines
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gofer/debug.hpp"
#include "gofer/http.hpp"
#include "gofer/runtime.hpp"

namespace gofer::debug {

// Parses dump_goroutines' text: a header line per goroutine,
//   goroutine 7 "fetcher-3" [chan receive, 2.5s]:
// and the lines under it up to the next header (kept as "detail": the waiting function and,
// indented, its file:line). Lines before the first header are skipped.
inline nlohmann::json goroutines_json(std::string_view dump) {
  nlohmann::json list = nlohmann::json::array();
  std::istringstream in{std::string(dump)};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("goroutine ", 0) == 0) {
      nlohmann::json g;
      std::size_t at = 10, end = line.find(' ', at);
      try {
        g["id"] = std::stoull(line.substr(at, end - at));
      } catch (const std::exception&) {
        continue;
      }
      // The state is the last [...] (a state never contains brackets; a name may), the
      // name what lies between the first and the last quote before it.
      auto rb = line.rfind(']');
      auto lb = rb == std::string::npos ? rb : line.rfind('[', rb);
      std::string state = lb != std::string::npos ? line.substr(lb + 1, rb - lb - 1) : "";
      g["name"] = "";
      if (auto q = line.find('"', end); q != std::string::npos && q < lb) {
        auto q2 = line.rfind('"', lb);
        if (q2 > q) g["name"] = line.substr(q + 1, q2 - q - 1);
      }
      double blocked = 0;
      // "chan receive, 2.5s" or, from a minute on, Go's "chan receive, 3 minutes": the time
      // blocked, when the dump shows it, ends the state.
      if (auto comma = state.rfind(", "); comma != std::string::npos && !state.empty() && state.back() == 's') {
        std::string t = state.substr(comma + 2);
        try {
          blocked = std::stod(t);
          if (t.find("minute") != std::string::npos) blocked *= 60;
          state.resize(comma);
        } catch (const std::exception&) {
        }
      }
      g["state"] = state;
      g["blocked_seconds"] = blocked;
      g["detail"] = nlohmann::json::array();
      list.push_back(std::move(g));
    } else if (!list.empty() && line.find_first_not_of(" \t") != std::string::npos) {
      // The lines under a header: the function and, indented, its file:line (Go's shape).
      list.back()["detail"].push_back(line.substr(line.find_first_not_of(" \t")));
    }
  }
  return {{"count", list.size()}, {"goroutines", std::move(list)}};
}

// The numbers /metrics serves. Thread-safe; reads /proc/self.
inline nlohmann::json metrics() {
  static const auto started = std::chrono::steady_clock::now();  // first call: ~start-up
  nlohmann::json m;
  m["goroutines"] = gofer::num_goroutine();
  m["threads"] = gofer::num_threads();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  m["cpu_user_seconds"] = static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
  m["cpu_system_seconds"] = static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  m["rss_bytes"] = resident * sysconf(_SC_PAGESIZE);
  std::error_code ec;
  long fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++fds;
  m["open_fds"] = fds;
  m["uptime_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return m;
}

// Registers the pages above under prefix (which must start and end with '/'). Throws
// gofer::panic_error (the mux's) if the patterns are already registered. Thread-safe.
inline void mount(http::serve_mux& mux, std::string prefix = "/debug/gofer/") {
  (void)metrics();  // starts the uptime clock
  mux.handle("GET " + prefix + "{$}", [prefix](const http::request&, http::response_writer& w) {
    w.headers().set("Content-Type", "text/html; charset=utf-8");
    w.write("<html><head><title>" + prefix + "</title></head><body>\n<p>" + prefix +
            "</p>\n<ul>\n"
            "<li><a href=\"goroutines\">goroutines</a>: every goroutine, its name and what it waits on "
            "(<a href=\"goroutines?format=json\">JSON</a>)</li>\n"
            "<li><a href=\"metrics\">metrics</a>: goroutines, threads, memory, CPU time, descriptors "
            "(JSON)</li>\n</ul>\n</body></html>\n");
  });
  mux.handle("GET " + prefix + "goroutines", [](const http::request& r, http::response_writer& w) {
    std::ostringstream out;
    gofer::dump_goroutines(out);
    if (r.query("format") == "json") {
      w.headers().set("Content-Type", "application/json");
      w.write(goroutines_json(out.str()).dump() + "\n");  // compact: ~100 bytes a goroutine
    } else {
      w.headers().set("Content-Type", "text/plain; charset=utf-8");
      w.write(out.str());
    }
  });
  mux.handle("GET " + prefix + "metrics", [](const http::request&, http::response_writer& w) {
    w.headers().set("Content-Type", "application/json");
    w.write(metrics().dump(1) + "\n");
  });
}

}  // namespace gofer::debug
