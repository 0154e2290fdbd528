// workerlogs — a log per worker goroutine vs one shared log, and the silent log file (book,
// chapter 9: "Handling goroutine logs"). Part 1: the book's workers write to a file opened
// without write permission and ignore the result: nothing is logged and nobody notices;
// checking every write, and spdlog's error handler, make the failure loud. Part 2: five
// workers each with their own spdlog logger and file vs one shared logger, in lines/s at
// 1 and 2 scheduler threads. Every line carries its goroutine (%G from <gofer/log.hpp>).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <gofer/gofer.hpp>
#include <gofer/log.hpp>

#include "demo_flags.hpp"

namespace fs = std::filesystem;
constexpr int kWorkers = 5;

std::size_t count_lines(const fs::path& p) {
  std::ifstream in(p);
  std::size_t n = 0;
  for (std::string l; std::getline(in, l);) ++n;
  return n;
}

// Part 1: the book's worker: the file was opened read-only, and write()'s result is ignored.
void silent_worker(int fd, int lines) {
  for (int i = 0; i < lines; ++i) {
    std::string line = "worker line " + std::to_string(i) + "\n";
    (void)::write(fd, line.data(), line.size());  // the bug: -1 (EBADF) goes unseen
  }
}

// The same worker, checking every write: the first failure stops it with a message.
std::string checked_worker(int fd, int lines) {
  for (int i = 0; i < lines; ++i) {
    std::string line = "worker line " + std::to_string(i) + "\n";
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return gofer::log::tag() + ": write failed: " + std::strerror(errno);
  }
  return "";
}

// Part 2: five workers log `lines` lines each, each to its own logger and file (own=true)
// or all to one shared logger. Returns lines per second; checks the files' line counts.
double log_run(const fs::path& dir, bool own, unsigned threads, int lines, bool& counts_ok) {
  std::vector<std::shared_ptr<spdlog::logger>> loggers;
  for (int w = 0; w < (own ? kWorkers : 1); ++w) {
    auto name = (own ? "worker-" + std::to_string(w) : std::string("shared")) + "-t" + std::to_string(threads);
    auto l = spdlog::basic_logger_mt(name, (dir / (name + ".log")).string(), true);
    gofer::log::use_goroutine_flag(*l, "[%H:%M:%S.%f] [%G] %v");
    loggers.push_back(l);
  }
  auto t0 = std::chrono::steady_clock::now();
  gofer::run([&] {
    gofer::wait_group wg;
    for (int w = 0; w < kWorkers; ++w) {
      wg.add(1);
      auto log = loggers[own ? w : 0];
      gofer::go(gofer::named("worker-" + std::to_string(w)), [&wg, log, lines] {
        for (int i = 0; i < lines; ++i) {
          log->info("line {}", i);
          if (i % 64 == 0) gofer::yield();  // let the others in, as a real worker's I/O would
        }
        wg.done();
      });
    }
    wg.wait();
  }, {.threads = threads});
  for (auto& l : loggers) l->flush();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::size_t total = 0;
  for (auto& l : loggers) {
    std::size_t n = count_lines(dir / (l->name() + ".log"));
    counts_ok = counts_ok && n == static_cast<std::size_t>(own ? lines : lines * kWorkers);
    total += n;
    spdlog::drop(l->name());
  }
  return static_cast<double>(total) / secs;
}

int main(int argc, char** argv) {
  int lines = 20000;
  CLI::App app{"a log per worker vs one shared log, and the silent log file", "workerlogs"};
  app.add_option("--lines", lines, "lines per worker in part 2")->capture_default_str()->check(CLI::Range(1, 10000000));
  if (int rc = gofer_demo::parse_flags(app, argc, argv); rc >= 0) return rc;

  fs::path dir = fs::temp_directory_path() / ("gofer-workerlogs-" + std::to_string(::getpid()));
  fs::create_directories(dir);

  // Part 1a: the book's way. Five workers, one read-only file each, every write ignored.
  std::puts("1. five workers log to files opened read-only (the book's bug)");
  std::vector<int> fds;
  for (int w = 0; w < kWorkers; ++w)
    fds.push_back(::open((dir / ("silent-" + std::to_string(w) + ".log")).c_str(), O_RDONLY | O_CREAT, 0644));
  std::vector<std::string> errors;
  gofer::run([&] {
    gofer::wait_group wg;
    for (int w = 0; w < kWorkers; ++w) {
      wg.add(1);
      gofer::go(gofer::named("silent-" + std::to_string(w)), [&wg, fd = fds[w]] {
        silent_worker(fd, 10);
        wg.done();
      });
    }
    wg.wait();
    std::size_t in_files = 0;
    for (int w = 0; w < kWorkers; ++w) in_files += count_lines(dir / ("silent-" + std::to_string(w) + ".log"));
    std::printf("   ignored writes: %zu of %d lines reached the files, and no error was seen\n", in_files,
                kWorkers * 10);

    // Part 1b: the same files, every write checked: each worker reports the failure.
    gofer::chan<std::string> errs(kWorkers);
    for (int w = 0; w < kWorkers; ++w)
      gofer::go(gofer::named("checked-" + std::to_string(w)), [errs, fd = fds[w]] { errs.send(checked_worker(fd, 10)); });
    for (int w = 0; w < kWorkers; ++w)
      if (auto e = errs.recv(); e && !e->empty()) errors.push_back(*e);
    std::sort(errors.begin(), errors.end());
    for (auto& e : errors) std::printf("   checked: %s\n", e.c_str());
  }, {.threads = 2});
  for (int fd : fds) ::close(fd);

  // Part 1c: spdlog checks every write and flush for you and calls the logger's error
  // handler (by default a "[*** LOG ERROR ***]" line on stderr). /dev/full fails every
  // flush with ENOSPC, even for root, for whom a read-only file would still be writable.
  int spdlog_errors = 0;
  std::string spdlog_error;
  {
    auto full = spdlog::basic_logger_mt("full", "/dev/full");
    full->flush_on(spdlog::level::info);
    full->set_error_handler([&](const std::string& msg) { ++spdlog_errors, spdlog_error = msg; });
    gofer::run([&] {
      gofer::chan<int> done;
      gofer::go(gofer::named("disk-full"), [full, done] {
        for (int i = 0; i < 3; ++i) full->info("line {}", i);
        done.send(1);
      });
      done.recv();
    }, {.threads = 1});
    spdlog::drop("full");
  }
  std::printf("   spdlog's error handler saw %d errors: %s\n", spdlog_errors, spdlog_error.c_str());

  // Part 2: the cost of a logger per worker vs one shared logger.
  std::printf("2. %d workers x %d lines, own logger+file vs one shared logger\n", kWorkers, lines);
  bool counts_ok = true;
  for (unsigned threads : {1u, 2u}) {
    double own = log_run(dir, true, threads, lines, counts_ok);
    double shared = log_run(dir, false, threads, lines, counts_ok);
    std::printf("   %u thread%s: own %.0f lines/s, shared %.0f lines/s\n", threads, threads == 1 ? " " : "s", own,
                shared);
  }
  fs::remove_all(dir);

  if (errors.size() != kWorkers || spdlog_errors == 0 || !counts_ok) {
    std::printf("unexpected: %zu checked errors, %d spdlog errors, counts ok %d\n", errors.size(), spdlog_errors,
                counts_ok);
    return 1;
  }
  std::printf("the silent file failed %d of %d checked workers loudly, and both ways logged all %d lines\n",
              static_cast<int>(errors.size()), kWorkers, kWorkers * lines);
  return 0;
}
