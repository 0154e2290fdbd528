// logfile1 — the silent log file (book, chapter 9: "Handling goroutine logs").
//
// Each worker goroutine writes its lines to its own log file. The book opened the files
// without write permission and never looked at what write() returned: nothing was logged,
// and nothing said so. log_lines() below has the same habit.
//
// Goal: log_lines() returns the first failure ("write: <strerror>") and stops, and returns
// "" when every line was written; both tests pass.
//
// Question: which value does write(2) return when it fails, and where is the reason kept?

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

// Writes every line (with '\n') to fd. Returns "" if all were written, else the first
// error as "write: <strerror(errno)>", without writing the lines after it.
std::string log_lines(int fd, const std::vector<std::string>& lines) {
  for (const std::string& l : lines) {
    std::string line = l + "\n";
    // TODO: a log that can fail without anyone knowing is not a log. Check every write.
    ::write(fd, line.data(), line.size());
  }
  return "";
}

// Three workers, each with its own file opened with `flags`; returns their results.
std::vector<std::string> run_workers(int flags) {
  std::vector<std::string> results;
  char dir[] = "/tmp/logfile1-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return {"mkdtemp failed"};
  gofer::run([&] {
    gofer::chan<std::string> out(3);
    for (int w = 0; w < 3; ++w) {
      std::string path = std::string(dir) + "/worker-" + std::to_string(w) + ".log";
      int fd = ::open(path.c_str(), flags | O_CREAT, 0644);
      gofer::go(gofer::named("worker-" + std::to_string(w)), [out, fd] {
        out.send(log_lines(fd, {"started", "working", "done"}));
        ::close(fd);
      });
    }
    for (int w = 0; w < 3; ++w) results.push_back(out.recv().value_or("?"));
  });
  std::system((std::string("rm -rf ") + dir).c_str());
  return results;
}

TEST(logfile1, writable_files_log_every_line) {
  for (const std::string& r : run_workers(O_WRONLY | O_APPEND)) EXPECT_EQ(r, "");
}

TEST(logfile1, a_read_only_file_is_reported_not_ignored) {
  for (const std::string& r : run_workers(O_RDONLY))
    EXPECT_EQ(r, "write: Bad file descriptor") << "a worker's log file was not writable, and it said nothing";
}
