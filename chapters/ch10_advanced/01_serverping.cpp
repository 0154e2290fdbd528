// serverping — workers that check servers and back off while a server fails (book, chapter
// 10: "Building workers").
//
// The book's ch10_1: one worker goroutine per server GETs it, reports to main on a shared
// channel, and main answers on that server's own channel whether the check counts as a
// failure; each failure adds 5 s to the server's delay (from 3 s, at most 60 s), and after
// more than 4 retries the server is "not reachable". main forwards `false` for every report
// — so the healthy servers back off too, and are declared unreachable with the broken one.
// Here both versions run on local servers (alpha and beta answer, at gamma's address nothing
// listens), with the book's constants 100 times faster, and without the book's busy
// select{default:} loops: each worker waits on a ticker, main waits on reports and a deadline.
// Watch the delays: with the book's bug all three climb; fixed, only gamma's does.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
namespace http = gofer::http;
using ms = std::chrono::milliseconds;

namespace {

// The book's constants (3 s, +5 s, 60 s, 4 retries), 100 times faster.
constexpr ms initial_delay{30}, delay_step{50}, max_delay{600};
constexpr int max_retries = 4;

struct report {
  int server = 0;
  bool ok = false;        // the GET got an answer below 500
  bool adjusted = false;  // false: a check result; true: the delay after main's verdict
  bool gave_up = false;   // the worker stopped: "Server not reachable"
  ms delay{0};            // the delay the worker uses next
};

struct server_row {
  server_row(std::string n, std::string u) : name(std::move(n)), url(std::move(u)) {}
  std::string name, url;
  int checks = 0;
  std::vector<long> delays;  // after each check
  bool gave_up = false;
};

// One worker per server: wait for its ticker, check, report, get main's verdict, adjust the
// delay (ticker.reset) — until it has failed more than max_retries times in a row or the
// run is over (ctx). Every wait is a select that includes ctx.done(): nothing spins.
void worker(int id, std::string url, gofer::send_chan<report> reports, gofer::recv_chan<bool> verdicts,
            gofer::context ctx) {
  http::client client({.max_idle_per_host = 1});
  ms delay = initial_delay;
  int failures = 0;
  gofer::ticker tk(delay);
  auto done = ctx.done();
  for (;;) {
    if (gofer::select(gofer::recv_case(tk.c()), gofer::recv_case(done)) == 1) return;
    auto [cctx, cancel] = gofer::with_timeout(ctx, 2s);  // generous: a busy machine is not a dead server
    auto res = client.get(cctx, url);
    cancel();
    report r{.server = id, .ok = res.ok() && res->status < 500};
    std::optional<bool> verdict;
    if (gofer::select(gofer::send_case(reports, r), gofer::recv_case(done)) == 1) return;
    if (gofer::select(gofer::recv_case(verdicts, verdict), gofer::recv_case(done)) == 1 || !verdict) return;
    if (*verdict) {
      failures = 0;
      delay = initial_delay;
    } else {
      ++failures;
      delay = std::min(delay + delay_step, max_delay);
    }
    r.adjusted = true;
    r.delay = delay;
    r.gave_up = failures > max_retries;
    if (gofer::select(gofer::send_case(reports, r), gofer::recv_case(done)) == 1) return;
    if (r.gave_up) return;
    tk.reset(delay);
  }
}

// main's side: start the workers, answer every check report with a verdict (the book's
// `false`, or the truth), record the delays, stop when every failing server has given up
// (or after `limit`), and cancel the rest.
std::vector<server_row> watch(std::vector<server_row> rows, bool book_bug, ms limit) {
  gofer::chan<report> reports;
  std::vector<gofer::chan<bool>> verdicts(rows.size());
  auto [ctx, cancel] = gofer::with_cancel(gofer::background());
  gofer::wait_group wg;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    wg.add(1);
    gofer::go(gofer::named{"ping " + rows[i].name}, [&, i, ctx = ctx] {
      worker(static_cast<int>(i), rows[i].url, reports, verdicts[i], ctx);
      wg.done();
    });
  }
  auto deadline = gofer::after(limit);
  std::size_t gave_up = 0;
  // The fixed version can stop once gamma gave up; the book's once everyone has.
  std::size_t expected = book_bug ? rows.size() : 1;
  while (gave_up < expected) {
    std::optional<report> r;
    if (gofer::select(gofer::recv_case(reports, r), gofer::recv_case(deadline)) == 1) break;
    server_row& row = rows[r->server];
    if (!r->adjusted) {  // a check result: answer it
      ++row.checks;
      verdicts[r->server].send(book_bug ? false : r->ok);  // the book: `false`, whatever happened
    } else {
      row.delays.push_back(static_cast<long>(r->delay.count()));
      if (r->gave_up) {
        row.gave_up = true;
        ++gave_up;
      }
    }
  }
  cancel();
  wg.wait();
  return rows;
}

void print(const std::vector<server_row>& rows) {
  for (const auto& r : rows) {
    std::string d;
    for (std::size_t i = 0; i < r.delays.size(); ++i) {
      if (i == 6) {
        d += " ...";
        break;
      }
      if (!d.empty()) d += ' ';
      d += std::to_string(r.delays[i]);
    }
    std::printf("  %-6s %2d checks, delays (ms): %-28s %s\n", r.name.c_str(), r.checks, d.c_str(),
                r.gave_up ? "Server not reachable" : "reachable");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"server-ping workers with back-off: the book's bug (healthy servers back off too) and the fix",
               "serverping"};
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int status = 0;
  gofer::run([&] {
    // Two servers that answer, and an address where nothing listens (the book's
    // "amazon.zom" typo).
    http::serve_mux mux;
    mux.handle("GET /", [](const http::request&, http::response_writer& w) { w.write("pong\n"); });
    std::vector<std::unique_ptr<http::server>> servers;
    std::vector<server_row> rows;
    gofer::wait_group served;
    for (const char* name : {"alpha", "beta"}) {
      auto ln = gofer::net::listen("127.0.0.1:0");
      rows.emplace_back(name, "http://" + ln->addr() + "/");
      servers.push_back(std::make_unique<http::server>(mux));
      served.add(1);
      gofer::go(gofer::named{std::string("server ") + name}, [s = servers.back().get(), &served, l = std::move(*ln)]() mutable {
        (void)s->serve(std::move(l));
        served.done();
      });
    }
    rows.emplace_back("gamma", "http://" + gofer::net::listen("127.0.0.1:0")->addr() + "/");
    std::printf("delays start at %ld ms, +%ld ms per failure, at most %ld ms; more than %d failures in a row: "
                "not reachable\n",
                static_cast<long>(initial_delay.count()), static_cast<long>(delay_step.count()),
                static_cast<long>(max_delay.count()), max_retries);

    std::puts("the book's main (forwards false for every report):");
    auto book = watch(rows, true, 5000ms);
    print(book);
    std::puts("fixed (forwards what the check found):");
    auto fixed = watch(rows, false, 5000ms);
    print(fixed);

    for (auto& s : servers) (void)s->shutdown(gofer::background());
    served.wait();
    auto unreachable = [](const std::vector<server_row>& v) {
      return std::count_if(v.begin(), v.end(), [](const server_row& r) { return r.gave_up; });
    };
    long nb = unreachable(book), nf = unreachable(fixed);
    bool healthy_steady = fixed[0].checks > 0 && fixed[1].checks > 0 &&
                          std::all_of(fixed[0].delays.begin(), fixed[0].delays.end(), [](long d) { return d == 30; }) &&
                          std::all_of(fixed[1].delays.begin(), fixed[1].delays.end(), [](long d) { return d == 30; });
    if (nb != 3 || nf != 1 || !fixed[2].gave_up || !healthy_steady) status = 1;
    std::printf("the book's main declared %ld of 3 servers unreachable, the fixed one %ld (the one where nothing "
                "listens), and the healthy ones kept a %ld ms delay\n",
                nb, nf, static_cast<long>(initial_delay.count()));
  });
  return status;
}
