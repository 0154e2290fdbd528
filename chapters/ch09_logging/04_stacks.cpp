// stacks — stack traces of goroutines (book, chapter 9: "Catching stack traces with
// concurrent code", "Using the runtime package for granular stack traces"). A goroutine is
// a fiber with a stack of its own, so Boost.Stacktrace called inside one captures exactly
// that goroutine's calls, down to gofer's goroutine entry: Go's runtime.Stack(buf, false).
// The book collects the traces by appending to a shared slice from every goroutine (a data
// race); here one collector goroutine owns the list and the others send. runtime.Caller's
// file:line is std::source_location. Watch each trace end in its own worker's functions.

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <source_location>
#include <string>
#include <vector>

#define BOOST_STACKTRACE_USE_BACKTRACE
#include <boost/stacktrace/stacktrace.hpp>

#include <gofer/debug.hpp>
#include <gofer/gofer.hpp>
#include <gofer/log.hpp>
#include <gofer/synctest.hpp>

#include "demo_flags.hpp"

// The current goroutine's stack as function names, innermost first, up to gofer's entry
// (below it is only the runtime's trampoline). gofer has no runtime.Stack of its own yet.
std::vector<std::string> current_stack() {
  std::vector<std::string> names;
  for (const auto& f : boost::stacktrace::stacktrace()) {
    std::string n = f.name();
    if (n.empty() || n.find(".cold") != std::string::npos) continue;
    names.push_back(n);
    if (n.find("gofer::detail::goroutine_main") != std::string::npos) break;
  }
  return names;
}

struct trace {
  std::string goroutine;            // gofer::log::tag(): "g7 crawler-2"
  std::vector<std::string> frames;  // innermost first
};

// Two levels of the worker's own calls; noinline keeps them as frames of their own.
[[gnu::noinline]] trace parse_links(int page) {
  trace t{gofer::log::tag(), current_stack()};
  asm volatile("" ::"r"(page) : "memory");  // no tail call: this frame stays on the stack
  return t;
}
[[gnu::noinline]] trace fetch_page(int page) {
  trace t = parse_links(page);
  asm volatile("" ::: "memory");
  return t;
}

// runtime.Caller(0): where this call is, known at compile time.
std::string caller(std::source_location loc = std::source_location::current()) {
  std::string file = loc.file_name();
  return file.substr(file.find_last_of('/') + 1) + ":" + std::to_string(loc.line());
}

bool has(const std::vector<std::string>& frames, const char* fn) {
  return std::any_of(frames.begin(), frames.end(), [&](auto& f) { return f.find(fn) != std::string::npos; });
}

int main(int argc, char** argv) {
  int workers = 4;
  unsigned threads = 2;
  CLI::App app{"stack traces of goroutines, collected without a data race", "stacks"};
  app.add_option("--workers", workers, "crawler goroutines")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--threads", threads, "scheduler threads")->capture_default_str()->check(CLI::Range(1, 64));
  if (int rc = gofer_demo::parse_flags(app, argc, argv); rc >= 0) return rc;

  std::vector<trace> traces;
  std::string here;
  int rc = gofer::run([&] {
    // A synctest bubble (gofer/synctest.hpp) around the goroutines, for its wait(): it returns
    // once every other goroutine of the bubble is parked durably, the workers on the gate.
    gofer::synctest::run([&] {
      // The collector owns `traces`; the workers only send (the book appended to a shared
      // slice from every goroutine at once).
      gofer::chan<trace> sent;
      gofer::chan<int> collected;
      gofer::go(gofer::named("collector"), [sent, collected, &traces] {
        while (auto t = sent.recv()) traces.push_back(std::move(*t));
        collected.send(static_cast<int>(traces.size()));
      });

      // Every goroutine's state: the workers park on a gate, and the dump shows each (gofer's
      // dump lists ids, names and what they wait for, not the parked goroutines' stacks).
      gofer::chan<int> gate;
      gofer::wait_group wg;
      for (int w = 0; w < workers; ++w) {
        wg.add(1);
        gofer::go(gofer::named("crawler-" + std::to_string(w)), [w, gate, sent, &wg] {
          gate.recv();
          sent.send(fetch_page(w));
          wg.done();
        });
      }
      gofer::synctest::wait();  // every worker and the collector is parked now
      std::puts("1. every goroutine, parked (gofer::dump_goroutines):");
      std::fflush(stdout);
      gofer::dump_goroutines(std::cout);
      gate.close();
      wg.wait();
      sent.close();
      collected.recv();
      here = caller();
    });
  }, {.threads = threads});

  std::sort(traces.begin(), traces.end(), [](auto& a, auto& b) { return a.goroutine < b.goroutine; });
  std::printf("2. each goroutine's own stack (innermost first), %zu traces:\n", traces.size());
  int own = 0;
  for (auto& t : traces) {
    bool ok = has(t.frames, "parse_links") && has(t.frames, "fetch_page") && has(t.frames, "goroutine_main");
    own += ok;
    std::printf("   %s:", t.goroutine.c_str());
    for (auto& f : t.frames) {
      std::string s = f.substr(0, f.find('('));
      std::printf(" %s", s.c_str());
      if (&f != &t.frames.back()) std::printf(" <-");
    }
    std::printf("\n");
  }
  std::printf("3. runtime.Caller(0) is std::source_location: %s\n", here.c_str());
  if (rc != 0 || own != workers) {
    std::printf("unexpected: %d of %d traces showed their own worker's calls\n", own, workers);
    return 1;
  }
  std::printf("all %d goroutines' stacks ran from fetch_page to goroutine_main, collected by one owner goroutine\n",
              own);
  return 0;
}
