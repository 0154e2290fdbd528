// gofer/log.hpp — the current goroutine in every spdlog line (optional; needs spdlog).
//
//   goroutine_flag    an spdlog pattern flag: "g7 fetcher" (id and name), "g1" (unnamed),
//                     "-" where no goroutine is current (a plain thread, spdlog's own thread)
//   use_goroutine_flag(logger, pattern)   gives a logger a pattern with %G in it
//   tag()             the same text as a string, for messages an async logger formats later
//
// This is not a logging API: it is one spdlog formatter flag. Logging stays spdlog's
// (Debian libspdlog-dev; link the CMake target gofer::log, which adds spdlog::spdlog to
// gofer::gofer; the gofer library itself does not depend on spdlog).
//
// Where the flag is evaluated. spdlog formats a line in the sink, and a sink runs on the
// thread that writes the line:
//   logger \ where            | formatting runs in              | %G shows
//   synchronous (basic_logger)| the logging goroutine           | that goroutine
//   async (spdlog::async)     | spdlog's worker thread, later   | "-": use tag() in the text
// A goroutine may migrate between scheduler threads, so %t (the OS thread id) of two lines
// of one goroutine can differ; %G does not.
//
// Blocking. A synchronous file logger writes (and with flush_on, flushes) inside the
// logging call, under the sink's std::mutex: the scheduler thread blocks on the disk for
// that write, and other goroutines on that thread wait; the mutex is never held across a
// park (spdlog never calls gofer), so it is a short critical section, not a deadlock risk.
// An async logger only pushes the message into spdlog's queue (a mutex + condition
// variable): with async_overflow_policy::overrun_oldest the push never waits (a full queue
// drops its oldest line); with the default `block` policy a full queue blocks the scheduler
// thread until spdlog's thread makes room — the disk then stalls goroutines after all.
//
// What survives the end of the process (measured by chapters/ch09_logging/03_recover.cpp):
//   end of program \ line  | defer | sync, flushed | sync, unflushed | async, still queued
//   return from main       | runs  | kept          | kept            | kept (spdlog::shutdown())
//   std::quick_exit(n)     | no    | kept          | lost            | lost
//   escaping panic (exit 2)| runs  | kept          | lost            | lost
//   gofer::exit(n) (Go's   | no    | kept          | kept (C stdio   | lost, unless spdlog's
//     os.Exit)             |       |               | is flushed)     | thread wrote it already
//   std::exit(n) in a      | no    | kept          | lost            | lost — and the status is
//     goroutine            |       |               |                 | 2: gofer stops it with a
//                          |       |               |                 | fatal error (runtime.hpp)
// (An escaping panic unwinds the goroutine, so its defers run, then gofer prints the report
// and calls std::_Exit(2): stdout is flushed, no other stdio buffer and no spdlog queue is.
// gofer::exit flushes every C stdio buffer, and spdlog's file sinks write through one.) So:
// flush what you cannot lose (logger->flush(), flush_on(level::err)), end a goroutine's
// program with gofer::exit or by returning from main, never std::exit, and call
// spdlog::shutdown() after gofer::run returns.
//
// Thread-safety: the flag may be used by any number of loggers on any threads; tag() is
// called in the goroutine whose tag it returns.
//
// Example:
//   auto log = spdlog::basic_logger_mt("app", "app.log");
//   gofer::log::use_goroutine_flag(*log, "[%H:%M:%S.%e] [%G] %v");
//   gofer::go(gofer::named("fetcher"), [log] { log->info("fetching"); });
//   // [12:00:00.001] [g7 fetcher] fetching
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>

#include <gofer/runtime.hpp>

namespace gofer::log {

// The text %G prints for the calling goroutine: "g<id> <name>", "g<id>", or "-".
// Never blocks. May allocate.
inline std::string tag() {
  std::uint64_t id = goroutine_id();
  if (id == 0) return "-";
  std::string s = "g" + std::to_string(id);
  std::string_view name = goroutine_name();
  if (!name.empty()) {
    s += ' ';
    s += name;
  }
  return s;
}

// spdlog::custom_flag_formatter for %G. Stateless: clones are free.
class goroutine_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string t = tag();
    dest.append(t.data(), t.data() + t.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<goroutine_flag>();
  }
};

// A pattern formatter that knows %G (and every spdlog flag).
inline std::unique_ptr<spdlog::formatter> goroutine_formatter(std::string pattern) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<goroutine_flag>('G').set_pattern(std::move(pattern));
  return f;
}

// Gives every sink of `logger` the pattern (spdlog::logger::set_formatter).
// Call before the logger is shared between goroutines. May allocate.
inline void use_goroutine_flag(spdlog::logger& logger,
                               std::string pattern = "[%H:%M:%S.%e] [%l] [%G] %v") {
  logger.set_formatter(goroutine_formatter(std::move(pattern)));
}

}  // namespace gofer::log
