// gofer/gtest.hpp — GoogleTest assertions for gofer::testing::run (gofer/testing.hpp).
//
//   EXPECT_GOFER_OK(result)   a non-fatal failure unless the run ended ok
//   ASSERT_GOFER_OK(result)   the same, and the test stops (use it when what follows
//                             checks values the run computed)
//
// Header-only and the only part of gofer that needs GoogleTest: the library itself does
// not link it. Include it from test files only (they link GTest::gtest already).
//
// The failure message is the whole report: "gofer run panicked:" and the panic with its
// goroutine and stack, "gofer run deadlocked:" and what every goroutine waits for, or
// "gofer run leaked goroutines:" with how many and their dump. The process goes on, so the
// other tests run and GoogleTest prints its summary.
//
// Example:
//   #include <gofer/gtest.hpp>
//   TEST(crawler, stops_at_the_deadline) {
//     std::vector<page> pages;
//     ASSERT_GOFER_OK(gofer::testing::run([&] { pages = crawl(urls, fetch, 100ms); }));
//     EXPECT_EQ(pages.size(), 3u);
//   }
// Leaving goroutines behind on purpose (say what for):
//   EXPECT_GOFER_OK(gofer::testing::run(f, {.threads = 2}, gofer::testing::leaks::allow));
#pragma once

#include <sstream>

#include <gtest/gtest.h>

#include "gofer/testing.hpp"

namespace gofer::testing {

// A GoogleTest predicate-formatter (EXPECT_PRED_FORMAT1): success when r.ok(), else the
// report as the failure message.
inline ::testing::AssertionResult gofer_run_ok(const char* /*expr*/, const result& r) {
  if (r.ok()) return ::testing::AssertionSuccess();
  std::ostringstream msg;
  msg << r;
  return ::testing::AssertionFailure() << msg.str();
}

}  // namespace gofer::testing

#define EXPECT_GOFER_OK(result) EXPECT_PRED_FORMAT1(::gofer::testing::gofer_run_ok, result)
#define ASSERT_GOFER_OK(result) ASSERT_PRED_FORMAT1(::gofer::testing::gofer_run_ok, result)
