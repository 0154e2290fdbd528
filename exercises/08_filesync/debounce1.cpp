// debounce1 — one change becomes one version (book, chapter 8: the file listener; editors
// save in bursts; book-notes.md, chapter 8).
//
// An editor saving a file makes a burst of events (write, write, close, rename...) within
// milliseconds. The file-sync listener must not make a version of each: it waits until the
// file has been quiet for `quiet`, then emits its name once. As shipped, debounce() forwards
// every event, so a burst of five makes five versions.
//
// Goal: debounce() emits a name once per burst, `quiet` after the burst's LAST event; a new
// burst later is a new emission; different files are independent; when `events` closes,
// names still pending are emitted at once and then `out` is closed. The tests pass.
// Tools: gofer::select with recv_case, and gofer::after(d) for the next deadline
// (select.hpp, time.hpp); the demo's owner() in chapters/ch08_filesync/01_filesync.cpp.
// Question: if one file's events keep coming every 10 ms with quiet = 50 ms, when should it
// be emitted — and what would a fixed 50 ms tick do instead?

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/select.hpp>
#include <gofer/time.hpp>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Reads file names from `events`; writes each to `out` once it has been quiet for `quiet`.
void debounce(gofer::chan<std::string> events, gofer::chan<std::string> out, std::chrono::milliseconds quiet) {
  // TODO: remember when each pending name becomes quiet; wait for the next event OR the
  // earliest deadline, whichever comes first.
  (void)quiet;
  for (std::string name : events) out.send(name);
  out.close();
}

// ---- the tests: no need to change anything below ----

struct emitted {
  std::string name;
  clock_type::duration at;  // since the start
};

// Feeds `script` (name, pause after it) into debounce and collects what comes out.
std::vector<emitted> feed(std::vector<std::pair<std::string, std::chrono::milliseconds>> script,
                          std::chrono::milliseconds quiet) {
  std::vector<emitted> got;
  gofer::run([&] {
    gofer::chan<std::string> events(64), out(64);
    gofer::go(gofer::named("debouncer"), debounce, events, out, quiet);
    auto t0 = clock_type::now();
    gofer::go(gofer::named("listener"), [&, events] {
      for (auto& [name, pause] : script) {
        events.send(name);
        gofer::sleep(pause);
      }
      events.close();
    });
    for (std::string n : out) got.push_back({n, clock_type::now() - t0});
  });
  return got;
}

std::vector<std::string> names(const std::vector<emitted>& e) {
  std::vector<std::string> out;
  for (auto& x : e) out.push_back(x.name);
  return out;
}

TEST(debounce1, a_burst_is_one_version) {
  auto got = feed({{"a.txt", 2ms}, {"a.txt", 2ms}, {"a.txt", 2ms}, {"a.txt", 2ms}, {"a.txt", 300ms}}, 50ms);
  EXPECT_EQ(names(got), std::vector<std::string>({"a.txt"}));
}

TEST(debounce1, two_bursts_apart_are_two_versions_and_files_are_independent) {
  auto got = feed({{"a.txt", 1ms}, {"a.txt", 1ms}, {"b.txt", 300ms}, {"a.txt", 1ms}, {"a.txt", 300ms}}, 50ms);
  ASSERT_EQ(got.size(), 3u);
  std::vector<std::string> first{got[0].name, got[1].name};
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, std::vector<std::string>({"a.txt", "b.txt"}));
  EXPECT_EQ(got[2].name, "a.txt");
}

TEST(debounce1, it_waits_for_quiet_after_the_last_event) {
  // Events every 20 ms for ~200 ms with quiet = 120 ms: nothing may come out before the end.
  std::vector<std::pair<std::string, std::chrono::milliseconds>> script;
  for (int i = 0; i < 10; ++i) script.push_back({"a.txt", 20ms});
  script.push_back({"a.txt", 400ms});
  auto got = feed(script, 120ms);
  ASSERT_EQ(names(got), std::vector<std::string>({"a.txt"}));
  EXPECT_GE(got[0].at, 200ms + 120ms) << "emitted before the burst ended";
}

TEST(debounce1, pending_names_are_flushed_when_the_events_end) {
  auto got = feed({{"a.txt", 0ms}}, 5000ms);
  EXPECT_EQ(names(got), std::vector<std::string>({"a.txt"}));
  if (!got.empty()) EXPECT_LT(got[0].at, 2000ms) << "a closed input should flush at once, not wait out `quiet`";
}
