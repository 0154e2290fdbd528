// gofer/panic.hpp — Go's panics as C++ exceptions.
//
//   panic_error   what a Go program would panic with ("send on closed channel", ...)
//   panic         Go's panic(msg): throws a panic_error
//
// Go panics on misuse of its concurrency primitives: sending on a closed channel, closing
// a channel twice, a negative WaitGroup counter. gofer throws `panic_error` at the same
// places with Go's exact text in what(), so a Go programmer recognises the message and a
// test can match it. An exception that escapes a goroutine is Go's *unrecovered panic*:
// the runtime prints `panic: <what()>`, `goroutine N [running]:` and a stack trace to
// stderr and ends the process with exit status 2 (see runtime.hpp).
//
// Stack traces: a panic_error records the stack where it was constructed (the panic site),
// so the report shows where the panic happened, as Go's does. For any other exception type
// the C++ runtime has already unwound to the goroutine's entry by the time gofer sees it,
// so the report shows the goroutine's entry and says so.
//
// Copy semantics: an ordinary exception object. Thread-safety: as std::logic_error.
#pragma once

#include <stdexcept>
#include <string>

namespace gofer {

// A Go panic raised by gofer (or by gofer::panic). Derives from std::logic_error: every one
// of them is a bug in the calling program, not a condition to handle in normal operation.
class panic_error : public std::logic_error {
 public:
  // Captures the calling stack (a few microseconds: panics are not for control flow).
  explicit panic_error(const std::string& what);
  explicit panic_error(const char* what);

  // The return addresses captured at construction, innermost first.
  void* const* frames() const noexcept { return frames_; }
  int frame_count() const noexcept { return nframes_; }

 private:
  void capture() noexcept;
  void* frames_[32];
  int nframes_ = 0;
};

// Go's panic(msg): throws panic_error(msg).
[[noreturn]] void panic(const std::string& msg);

}  // namespace gofer
