// flush1 — the log line lost on panic (book, chapter 9: "Handling goroutine logs").
//
// A goroutine logs what went wrong, then panics. The error line goes to an spdlog file
// logger, which buffers it; the panic ends the process (gofer prints the report and exits
// with status 2 at once), and the buffer with the one line that mattered dies with it.
//
// Goal: the error line is in the log file after the panic; the test passes.
//
// Question: which spdlog call writes out what is buffered, and which setting does it for
// every line of a given level? (lib/include/gofer/log.hpp, "What survives".)

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <gofer/chan.hpp>
#include <gofer/log.hpp>
#include <gofer/runtime.hpp>

const std::string kLog = "/tmp/flush1-" + std::to_string(::getpid()) + ".log";

void handle_request(std::shared_ptr<spdlog::logger> log) {
  log->error("payment {} failed: card declined", 42);
  throw std::runtime_error("unrecoverable: payment state unknown");
}

void program() {
  auto log = spdlog::basic_logger_mt("app", kLog, true);
  gofer::log::use_goroutine_flag(*log, "[%l] [%G] %v");
  log->flush_on(spdlog::level::err);  // every error line is written out at once
  gofer::run([log] {
    gofer::chan<int> done;
    gofer::go(gofer::named("handler"), [log, done] {
      handle_request(log);
      done.send(1);
    });
    done.recv();
  });
}

TEST(flush1, the_error_line_survives_the_panic) {
  std::remove(kLog.c_str());
  EXPECT_EXIT(program(), ::testing::ExitedWithCode(2), "panic: unrecoverable");
  std::ifstream in(kLog);
  std::string line;
  std::getline(in, line);
  std::remove(kLog.c_str());
  EXPECT_TRUE(line.rfind("[error] [g", 0) == 0 &&
              line.find(" handler] payment 42 failed: card declined") != std::string::npos)
      << "the line died in the buffer; the file holds: \"" << line << '"';
}
