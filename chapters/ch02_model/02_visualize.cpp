// visualize — concurrency, drawn (book, chapter 2: "Visualizing concurrency"). A small
// pipeline (a fetcher that waits for each item, two workers that compute, main adding up)
// runs three times: serially, as goroutines on one thread, and as goroutines on two
// threads. Each run draws a timeline, one row per goroutine, on the same time scale:
// watch the waiting (~) overlap the computing (#), and then the computing overlap itself
// (when gofer's scheduler manages to: the transcript shows when it does not, and why).
//
// With --trace out.json each run also writes a trace of the scheduler (out.serial.json,
// ...) to open in https://ui.perfetto.dev or chrome://tracing. Any gofer program does this
// when run with GOFER_TRACE=file.json in its environment.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using clock_type = std::chrono::steady_clock;
using ms = std::chrono::duration<double, std::milli>;

// Goroutines write down what they did and when; the drawing happens after the run.
// Several goroutines record at once, so the list has a lock (a gofer::mutex parks the
// goroutine, not the thread, if it has to wait).
struct timeline {
  struct span {
    std::string lane;
    double from, to;  // ms since t0
    char mark;        // '~' waiting for the fetch, '#' computing
  };
  clock_type::time_point t0 = clock_type::now();
  gofer::mutex mu;
  std::vector<span> spans;         // guarded by mu
  std::vector<std::string> lanes;  // in order of first appearance; guarded by mu

  void record(const std::string& lane, clock_type::time_point from, char mark) {
    auto to = clock_type::now();
    std::lock_guard lk(mu);
    if (std::find(lanes.begin(), lanes.end(), lane) == lanes.end()) lanes.push_back(lane);
    spans.push_back({lane, ms(from - t0).count(), ms(to - t0).count(), mark});
  }

  // One row per lane, `width` columns for `scale_ms` milliseconds.
  void draw(double scale_ms, int width) const {
    for (const std::string& lane : lanes) {
      std::string row(width, ' ');
      for (const span& s : spans) {
        if (s.lane != lane) continue;
        int a = std::clamp(static_cast<int>(s.from / scale_ms * width), 0, width - 1);
        int b = std::clamp(static_cast<int>(s.to / scale_ms * width), a + 1, width);
        for (int c = a; c < b; ++c) row[c] = s.mark;
      }
      std::printf("   %-9s|%s|\n", lane.c_str(), row.c_str());
    }
  }
};

struct settings {
  int items;
  clock_type::duration fetch, work;
};

// The two kinds of step. fetch waits (a sleep parks the goroutine: its thread is free);
// compute keeps its thread busy until it is done (it never blocks, never yields).
int fetch(int i, const settings& s, timeline& tl, const std::string& lane) {
  auto t = clock_type::now();
  gofer::sleep(s.fetch);
  tl.record(lane, t, '~');
  return i;
}
int compute(int x, const settings& s, timeline& tl, const std::string& lane) {
  auto t = clock_type::now();
  while (clock_type::now() - t < s.work) {
  }
  tl.record(lane, t, '#');
  return x * x;
}

// Serial: main fetches and computes each item itself, one after another.
int run_serial(const settings& s, timeline& tl) {
  int sum = 0;
  gofer::run(
      [&] {
        for (int i = 1; i <= s.items; ++i) sum += compute(fetch(i, s, tl, "main"), s, tl, "main");
      },
      gofer::options{.threads = 1});
  return sum;
}

// The pipeline: fetcher -> items -> worker-1, worker-2 -> squares -> main.
int run_pipeline(const settings& s, timeline& tl, unsigned threads) {
  int sum = 0;
  gofer::run(
      [&] {
        gofer::chan<int> items, squares;
        gofer::go(gofer::named("fetcher"), [&, items]() {
          for (int i = 1; i <= s.items; ++i) items.send(fetch(i, s, tl, "fetcher"));
          items.close();
        });
        gofer::wait_group workers;
        for (int w = 1; w <= 2; ++w) {
          workers.add(1);
          std::string name = "worker-" + std::to_string(w);
          gofer::go(gofer::named(name), [&, items, squares, name]() {
            for (int x : items) squares.send(compute(x, s, tl, name));
            workers.done();
          });
        }
        // Close squares once both workers are done, so main's range loop can end.
        gofer::go(gofer::named("closer"), [&, squares]() {
          workers.wait();
          squares.close();
        });
        for (int sq : squares) sum += sq;
      },
      gofer::options{.threads = threads});
  return sum;
}

// out.json -> out.serial.json
std::string trace_name(const std::string& base, const char* mode) {
  std::filesystem::path p(base);
  std::filesystem::path ext = p.has_extension() ? p.extension() : std::filesystem::path(".json");
  return (p.parent_path() / p.stem()).string() + "." + mode + ext.string();
}

int main(int argc, char** argv) {
  int items = 6, fetch_ms = 2, work_ms = 4, width = 64;
  unsigned threads = 2;
  std::string trace;
  CLI::App app{"a pipeline drawn as a timeline: serial, concurrent and parallel", "visualize"};
  app.add_option("--items", items, "items through the pipeline")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--fetch-ms", fetch_ms, "how long each fetch waits")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  app.add_option("--work-ms", work_ms, "how long each computation runs")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  app.add_option("--threads", threads, "threads for the parallel run")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--width", width, "columns of the timeline")
      ->capture_default_str()
      ->check(CLI::Range(20, 1000));
  app.add_option("--trace", trace, "also write a scheduler trace of each run, e.g. out.json");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  // The traces are written when each run ends: a directory that is not there would only
  // show up afterwards, as three "cannot write" lines. Say it now instead.
  if (std::filesystem::path dir = std::filesystem::path(trace).parent_path();
      !trace.empty() && !dir.empty() && !std::filesystem::is_directory(dir)) {
    std::fprintf(stderr, "visualize: --trace %s: no directory %s to write the traces in\n", trace.c_str(),
                 dir.c_str());
    return 2;
  }

  settings s{items, std::chrono::milliseconds(fetch_ms), std::chrono::milliseconds(work_ms)};
  struct run_result {
    run_result(const char* m, std::string t) : mode(m), title(std::move(t)) {}
    const char* mode;  // for the trace file's name
    std::string title;
    timeline tl;
    int sum = 0;
    double total = 0;
  };
  std::string par =
      "parallel: goroutines, " + std::to_string(threads) + (threads == 1 ? " thread" : " threads");
  run_result runs[3] = {{"serial", "serial: main does everything, 1 thread"},
                        {"concurrent", "concurrent: goroutines, 1 thread"},
                        {"parallel", par}};

  for (int k = 0; k < 3; ++k) {
    run_result& r = runs[k];
    // GOFER_TRACE is read when gofer::run starts: set it just for this run.
    if (!trace.empty()) setenv("GOFER_TRACE", trace_name(trace, r.mode).c_str(), 1);
    r.tl.t0 = clock_type::now();
    r.sum = k == 0 ? run_serial(s, r.tl) : run_pipeline(s, r.tl, k == 1 ? 1 : threads);
    r.total = ms(clock_type::now() - r.tl.t0).count();
    unsetenv("GOFER_TRACE");
  }

  // Draw all three on the serial run's time scale, so the rows can be compared.
  double scale = runs[0].total;
  std::printf("%d items; ~ = waiting %d ms for a fetch, # = computing %d ms; one column = %.2f ms\n", items,
              fetch_ms, work_ms, scale / width);
  for (run_result& r : runs) {
    std::printf("%s: %.1f ms\n", r.title.c_str(), r.total);
    r.tl.draw(scale, width);
  }

  if (!trace.empty()) {
    std::puts("traces written:");
    for (run_result& r : runs) std::printf("   %s\n", trace_name(trace, r.mode).c_str());
    std::puts("open one in https://ui.perfetto.dev (\"Open trace file\") or chrome://tracing (\"Load\"):");
    std::puts("one lane per scheduler thread, a slice per goroutine run, arrows for channel wake-ups");
  } else {
    std::puts("(add --trace out.json to record what the scheduler's threads did in each run)");
  }

  int want = 0;
  for (int i = 1; i <= items; ++i) want += i * i;
  if (runs[0].sum != want || runs[1].sum != want || runs[2].sum != want) {
    std::puts("FAILED: the runs disagree");
    return 1;
  }
  std::printf("all 3 runs computed the same sum of squares, %d\n", want);
  return 0;
}
