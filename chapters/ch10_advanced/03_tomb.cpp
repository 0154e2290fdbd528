// tomb — goroutines tracked by a tomb and killed as a group, cancelled for real (book,
// chapter 10: "Implementing more granular control over goroutines with tomb").
//
// The book's ch10_5: fetcher i waits 5·i s, then GETs a URL; a listener per URL waits on
// tomb.Dying(); after 10 s main calls Kill and the listeners print "Got kill command" and
// "Never got data for X" for the unfinished fetches. But its fetchers never look at the
// tomb: the kill stops nobody, the GETs run on. Here each fetcher's HTTP request runs under
// the tomb's context (t.context()), so kill() cancels the requests in flight, the fetchers
// return, and t.wait() comes back at once. The URLs are a local server whose answers take
// 0, 100, 3000 and 5000 ms; the kill comes at 600 ms. Watch the last lines: two fetches
// got their data, two were cancelled mid-request, and the tomb was dead within a few ms.
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/tomb.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
namespace http = gofer::http;
using clock_type = std::chrono::steady_clock;

namespace {

long ms_since(clock_type::time_point t0) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count());
}

}  // namespace

int main(int argc, char** argv) {
  int kill_ms = 600;
  CLI::App app{"a tomb: fetchers cancelled for real through the tomb's context", "tomb"};
  app.add_option("--kill-after", kill_ms, "milliseconds before main kills the tomb")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int status = 0;
  gofer::run([&] {
    // The "web": GET /page/N answers after N ms.
    http::serve_mux mux;
    mux.handle("GET /page/{ms}", [](const http::request& r, http::response_writer& w) {
      gofer::sleep(std::chrono::milliseconds(std::stoi(r.path_value("ms"))));
      w.write("<html>page " + r.path_value("ms") + "</html>\n");
    });
    auto ln = gofer::net::listen("127.0.0.1:0");
    std::string base = "http://" + ln->addr() + "/page/";
    http::server srv(mux);
    gofer::chan<int> served(1);
    gofer::go(gofer::named{"web"}, [&srv, served, l = std::move(*ln)]() mutable {
      (void)srv.serve(std::move(l));
      served.send(1);
    });

    const std::vector<int> delays{0, 100, 3000, 5000};
    const std::size_t n = delays.size();
    gofer::tomb t;
    auto t0 = clock_type::now();

    // 1. A fetcher per URL, tracked by the tomb. Its request runs under t.context(): when
    //    the tomb starts dying, the request is cancelled and get() returns Cancelled.
    //    Each fetcher hands its page (or nothing) to its listener on a channel of its own.
    //    The fetchers are started from a goroutine the tomb tracks too (Go's tomb idiom): a
    //    fast fetcher could otherwise return before the next t.go, leave the tomb with no
    //    goroutine alive, and that t.go would panic ("tomb.Go called after all goroutines
    //    terminated").
    std::vector<gofer::chan<std::string>> pages;
    std::vector<std::string> outcome(n);
    for (std::size_t i = 0; i < n; ++i) pages.emplace_back(1);
    t.go([&, t]() mutable -> absl::Status {
      for (std::size_t i = 0; i < n; ++i) {
        std::string url = base + std::to_string(delays[i]);
        t.go([t, url, page = pages[i], &out = outcome[i], t0]() -> absl::Status {
          http::client c;
          auto res = c.get(t.context(), url);
          if (!res.ok()) {
            out = "cancelled after " + std::to_string(ms_since(t0)) + " ms: " + std::string(res.status().message());
            page.close();
            return gofer::err_dying();  // "I stopped because the tomb is dying"
          }
          out = "fetched " + std::to_string(res->body.size()) + " bytes at " + std::to_string(ms_since(t0)) + " ms";
          page.send(res->body);
          return absl::OkStatus();
        });
      }
      return absl::OkStatus();
    });

    // 2. A listener per URL (the book's): the page, or the kill command — whichever comes
    //    first. Not tracked by the tomb: they only watch it.
    gofer::wait_group listeners;
    std::vector<std::string> heard(n);
    for (std::size_t i = 0; i < n; ++i) {
      listeners.add(1);
      gofer::go(gofer::named{"listener " + std::to_string(i)}, [&, i] {
        std::optional<std::string> page;
        int which = gofer::select(gofer::recv_case(pages[i], page), gofer::recv_case(t.dying()));
        if (which == 1) page = pages[i].try_recv();  // the page may have come just before the kill
        heard[i] = page ? "got data for /page/" + std::to_string(delays[i])
                        : "got kill command: never got data for /page/" + std::to_string(delays[i]);
        listeners.done();
      });
    }

    // 3. Kill the tomb after kill_ms, then wait for it to be dead: every fetcher returned.
    gofer::sleep(std::chrono::milliseconds(kill_ms));
    std::printf("main: kill at %ld ms\n", ms_since(t0));
    auto killed_at = clock_type::now();
    t.kill(absl::OkStatus());
    absl::Status why = t.wait();
    long dead_after = ms_since(killed_at);
    listeners.wait();
    for (std::size_t i = 0; i < n; ++i)
      std::printf("fetcher /page/%-4d %s\n  listener: %s\n", delays[i], outcome[i].c_str(), heard[i].c_str());
    std::printf("the tomb died %s, %ld ms after the kill\n", why.ok() ? "cleanly" : why.ToString().c_str(), dead_after);

    (void)srv.close();  // the server's handlers for the cancelled pages are still sleeping
    served.recv();
    int finished = 0;
    for (const auto& h : heard)
      if (h.rfind("got data", 0) == 0) ++finished;
    if (dead_after > 1000 || !why.ok()) status = 1;
    std::printf("%d of %zu fetches finished before the kill, the other %zu were cancelled mid-request and the tomb "
                "was dead within a second of the kill\n",
                finished, n, n - static_cast<std::size_t>(finished));
  });
  return status;
}
