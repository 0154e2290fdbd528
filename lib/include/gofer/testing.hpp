// gofer/testing.hpp — running gofer code inside a test: a panic, a deadlock or a leaked
// goroutine becomes a result to check, not the end of the test binary.
//
//   testing::run      gofer::run in test mode: returns a result instead of exiting
//   testing::result   how a run ended (testing::status) and the report to show
//   testing::status   ok, panicked, deadlocked or leaked
//   testing::leaks    fail (the default: Go's goleak) or allow
//
// GoogleTest glue (EXPECT_GOFER_OK / ASSERT_GOFER_OK) is in gofer/gtest.hpp, which tests
// include instead; this header needs nothing but gofer.
//
// Why: gofer::run, like a Go program, prints the report and exits the process with status 2
// on an unrecovered panic or a deadlock. Inside a test binary that ends every other test too,
// before GoogleTest prints its summary. testing::run sets options::report (runtime.hpp):
// the run stops instead — every goroutine, main included, is unwound (its destructors run)
// — and the report comes back in the result. With leaks::fail it also turns on
// options::check_leaks: goroutines still alive when main returned are a failure, with their
// dump (once main returns, it waits until they end, or until those left are parked with
// nothing that could wake them, or 2 s).
//
//   outcome \ field | state      | report                                  | leaked
//   main returned   | ok         | ""                                      | 0
//   a panic         | panicked   | "panic: <what()>\n\ngoroutine N ..."    | 0
//   a deadlock      | deadlocked | "fatal error: all goroutines are asleep | 0
//                   |            |  - deadlock!\n\ngoroutine 1 [...]..."   |
//   goroutines left | leaked     | "2 goroutines still alive when main     | 2
//   (leaks::fail)   |            |  returned ...:\n" + their dump          |
//
// A panic or deadlock wins over leaks (the run stopped: nothing is counted). Each call is
// one gofer::run, so runs do not nest and do not overlap (std::logic_error otherwise), and
// the thread-count and stack options are gofer::options's. What the test's own assertions
// observe (values computed by main_fn) is valid after run returns whatever the status; after
// a panic or deadlock, main_fn may have stopped half-way.
//
// Name the goroutines (gofer::named, runtime.hpp) in code under test: the reports name them.
//
// Careful with `using namespace gofer;` in a GoogleTest file: gofer::testing and GoogleTest's
// ::testing then clash for unqualified `testing::`. Write `::testing::` or don't import gofer.
//
// Thread-safety: run from a plain thread (a test body), like gofer::run.
//
// Example (GoogleTest, with gofer/gtest.hpp):
//   TEST(bank, pays_out) {
//     int balance = 0;
//     ASSERT_GOFER_OK(gofer::testing::run([&] { balance = run_bank(1000, {100}); }));
//     EXPECT_EQ(balance, 900);
//   }
// Without GoogleTest:
//   auto r = gofer::testing::run(f, {.threads = 2});
//   if (!r.ok()) { std::cerr << r; return 1; }
#pragma once

#include <cstddef>
#include <functional>
#include <ostream>
#include <string>
#include <utility>

#include "gofer/runtime.hpp"

namespace gofer::testing {

// What to do with goroutines still alive when main returns.
enum class leaks {
  fail,   // count them and fail with their dump (Go's goleak.VerifyNone)
  allow,  // unwind them silently, as gofer::run does (for tests that leave some on purpose)
};

enum class status { ok, panicked, deadlocked, leaked };

// How one testing::run ended. Plain data.
struct result {
  testing::status state = status::ok;
  // panicked / deadlocked: the report gofer::run would have printed (without Go's final
  // "exit status 2"); leaked: a line saying how many, then their dump; ok: "".
  std::string report;
  std::size_t leaked = 0;  // leaked: the goroutines left (main not counted)

  bool ok() const noexcept { return state == status::ok; }
};

inline const char* to_string(status s) noexcept {
  switch (s) {
    case status::ok: return "ok";
    case status::panicked: return "panicked";
    case status::deadlocked: return "deadlocked";
    case status::leaked: return "leaked goroutines";
  }
  return "unknown";
}

// "gofer run ok", or "gofer run panicked:\n" and the report.
inline std::ostream& operator<<(std::ostream& out, const result& r) {
  out << "gofer run " << to_string(r.state);
  if (!r.report.empty()) out << ":\n" << r.report;
  return out;
}

// Runs main_fn as gofer::run(main_fn, opts) does, in test mode (see the top of this file):
// never exits the process, returns how the run ended. opts.report and opts.check_leaks are
// set here (leaks::fail turns the check on). Throws std::logic_error where gofer::run does.
inline result run(std::function<void()> main_fn, options opts = {}, leaks policy = leaks::fail) {
  run_report rep;
  opts.report = &rep;
  opts.check_leaks = policy == leaks::fail;
  gofer::run(std::move(main_fn), opts);
  result r;
  switch (rep.end) {
    case run_report::ending::panicked:
      r.state = status::panicked;
      r.report = std::move(rep.fatal);
      return r;
    case run_report::ending::deadlocked:
      r.state = status::deadlocked;
      r.report = std::move(rep.fatal);
      return r;
    case run_report::ending::returned:
      break;
  }
  if (rep.leaked > 0) {
    r.state = status::leaked;
    r.leaked = rep.leaked;
    r.report = std::to_string(rep.leaked) +
               (rep.leaked == 1 ? " goroutine was" : " goroutines were") +
               " still alive when main returned (name them with gofer::named):\n" +
               rep.leak_dump;
  }
  return r;
}

}  // namespace gofer::testing
