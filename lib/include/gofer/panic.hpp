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
// so the report says so instead (and shows gofer's entry frames only under
// GOFER_TRACEBACK=all).
//
// The report, in Go's shape (function names demangled, without return types; "\tfile:line"
// lines only when the program has debug information, -g):
//   panic: send on closed channel
//
//   goroutine 7 "producer" [running]:
//   produce(gofer::chan<int>, int)
//   \tproduce.cpp:12
//   main()::{lambda()#1}::operator()()
//   exit status 2
// The user's frames come first, innermost first, down to the goroutine's function. Left
// out: gofer's own frames (gofer::panic, channel internals, the goroutine entry), the
// std::invoke / std::function / std::apply machinery and Boost.Context / Boost.Fiber. When
// the compiler inlined the goroutine's lambda into gofer's entry frame or std::function's,
// that frame is shown as the lambda ("...::{lambda()#1}::operator()()") without a line.
//
// GOFER_TRACEBACK (Go's GOTRACEBACK), read when the report is printed:
//   none, 0           the message and the goroutine's header, no frames
//   single (default)  the program's own frames, as above
//   all, 1, system, 2, crash
//                     every frame, exactly as symbolized (gofer's, the C++ library's,
//                     Boost's, down to the fiber's first), then every other goroutine as
//                     dump_goroutines shows it (debug.hpp)
// Anything else means single.
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
