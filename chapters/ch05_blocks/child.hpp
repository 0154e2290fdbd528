// child.hpp — runs this demo again as a child process, for the parts that are meant to die.
//
//   run_self(args)   starts /proc/self/exe with args through the shared launcher
//                    (chapters/common/server.hpp: gofer_demo::process), waits, and returns
//                    its exit status and everything it printed (stdout and stderr)
//
// Chapter 5 reads gofer's panic and deadlock reports; a program that panics or deadlocks
// ends with status 2, so the demos run that part in a child and show what it printed, and
// the demo itself still finishes with status 0 and its summary line. The child's output
// goes to a file in a fresh temp dir, removed afterwards; its stdin is /dev/null. Call it
// from main, outside gofer::run (it then blocks the calling thread), or from a goroutine.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "server.hpp"

namespace ch05 {

struct child_result {
  int status = -1;  // the exit status; 128 + N for a child killed by signal N
  std::string out;  // what it printed, stdout and stderr interleaved
};

inline child_result run_self(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "gofer-ch05-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw gofer_demo::server_error("mkdtemp failed for " + tmpl);
  fs::path dir = tmpl, log = dir / "output.txt";
  std::vector<std::string> argv{fs::read_symlink("/proc/self/exe").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  child_result r;
  {
    gofer_demo::process p = gofer_demo::process::spawn(argv, log);
    r.status = p.wait();
  }
  std::ifstream in(log);
  r.out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::error_code ec;
  fs::remove_all(dir, ec);
  return r;
}

}  // namespace ch05
