// gofer/panic.hpp — Go's panics as C++ exceptions.
//
//   panic_error   what a Go program would panic with ("send on closed channel", ...)
//
// Go panics on misuse of its concurrency primitives: sending on a closed channel, closing
// a channel twice, a negative WaitGroup counter. gofer throws `panic_error` at the same
// places with Go's exact text in what(), so a Go programmer recognises the message and a
// test can match it. An exception that escapes a goroutine is Go's *unrecovered panic*:
// the runtime prints `panic: <what()>` and `goroutine N [running]:` to stderr and ends the
// process with exit status 2 (see runtime.hpp).
#pragma once

#include <stdexcept>
#include <string>

namespace gofer {

// A Go panic raised by gofer itself. Derives from std::logic_error: every one of them is a
// bug in the calling program, not a condition to handle in normal operation.
class panic_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace gofer
