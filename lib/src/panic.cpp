// lib/src/panic.cpp — panic_error's stack capture.
#include "gofer/panic.hpp"

#include <execinfo.h>

namespace gofer {

panic_error::panic_error(const std::string& what) : std::logic_error(what) { capture(); }
panic_error::panic_error(const char* what) : std::logic_error(what) { capture(); }

void panic_error::capture() noexcept {
  // glibc's backtrace() walks the frames with the unwinder; frame 0 is capture() itself.
  nframes_ = ::backtrace(frames_, 32);
}

void panic(const std::string& msg) { throw panic_error(msg); }

}  // namespace gofer
