// lib/src/detail/eh_swap.hpp — a goroutine's C++ exception state across a switch (not
// installed).
//
//   eh_swap   moves the thread's "exceptions being handled" into the goroutine for one switch
//
// Used by every switch a goroutine makes: park (park.cpp), yield and preemption
// (runtime.cpp).
#pragma once

#include <cxxabi.h>

namespace gofer::detail {

// The C++ runtime keeps "exceptions being handled" per *thread* (__cxa_get_globals). A
// goroutine that parks inside a catch block may resume on another thread, so park() moves
// that state into the goroutine while it is parked and back onto whichever thread resumes
// it. __cxa_get_globals is declared __attribute__((const)); the noinline wrapper with an
// asm barrier stops the compiler from reusing one thread's answer on another thread
// (boostorg/context #323).
struct eh_globals {
  void* caught;
  unsigned int uncaught;
};

[[gnu::noinline]] inline eh_globals* eh_here() noexcept {
  asm volatile("" ::: "memory");
  return reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
}

// Moves the thread's exception-handling state into a goroutine across one switch.
class eh_swap {
 public:
  eh_swap() noexcept {
    eh_globals* eh = eh_here();
    saved_ = *eh;
    *eh = eh_globals{nullptr, 0};
  }
  ~eh_swap() { *eh_here() = saved_; }  // possibly another thread's
  eh_swap(const eh_swap&) = delete;
  eh_swap& operator=(const eh_swap&) = delete;

 private:
  eh_globals saved_;
};

}  // namespace gofer::detail
