// child.hpp — runs this demo again as a child process, for the parts that are meant to die.
//
//   run_self(args)   starts /proc/self/exe with args, waits, returns its exit status and
//                    everything it wrote to stderr
//
// Chapter 5 reads gofer's panic and deadlock reports; a program that panics or deadlocks
// ends with status 2, so the demos run that part in a child (Boost.Process) and show what
// it printed, and the demo itself still finishes with status 0 and its summary line.
// The child's stdout goes to /dev/null (the reports are on stderr); its stdin is empty.
// Call it from main, outside gofer::run (it blocks the calling thread).
#pragma once

#include <string>
#include <vector>

#include <boost/process.hpp>

namespace ch05 {

struct child_result {
  int status = -1;  // the exit status; 128 + N for a child killed by signal N
  std::string err;  // what it wrote to stderr
};

inline child_result run_self(const std::vector<std::string>& args) {
  namespace bp = boost::process;
  bp::ipstream err;
  bp::child c("/proc/self/exe", bp::args(args), bp::std_out > bp::null, bp::std_err > err, bp::std_in < bp::null);
  child_result r;
  for (std::string line; std::getline(err, line);) r.err += line + "\n";
  c.wait();
  r.status = c.exit_code();
  return r;
}

}  // namespace ch05
