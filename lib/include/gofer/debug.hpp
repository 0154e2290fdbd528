// gofer/debug.hpp — looking inside a running program, like Go's goroutine dumps.
//
//   dump_goroutines   writes every goroutine: id, name, state, time blocked, where it waits
//
// The same dump is printed on SIGQUIT (Ctrl-\ in a terminal) during gofer::run, as Go does:
// "SIGQUIT: quit", the dump, exit status 2. And by the deadlock detector (runtime.hpp), and
// after a panic's own trace when GOFER_TRACEBACK=all (panic.hpp).
//
// Format: the goroutines sorted by id, separated by blank lines, each in the shape of Go's
// traceback — a header (Go's, plus the name if it has one), and for a parked goroutine the
// function and file:line of the call that parked it:
//   goroutine 1 [chan receive, 2.5s]:
//   main(int, char**)::<lambda()>
//   	fetch.cpp:42
//
//   goroutine 7 "fetcher-3" [select]:
//   fetch(int)
//   	fetch.cpp:17
//
//   goroutine 9 [runnable]:
// States: "running" (the caller), "runnable" (ready or running on another thread), or the
// wait reason of a parked goroutine (Go's texts: "chan receive", "chan send",
// "chan receive (nil chan)", "select", "select (no cases)", "sleep", "sync.Mutex.Lock",
// "sync.WaitGroup.Wait", "IO wait", ...). The time blocked is shown from one second on as
// "2.5s", from one minute on in Go's words, "3 minutes" (Go shows it from one minute on).
//
// Where it waits: every blocking operation (chan/send_chan/recv_chan send, recv and
// range-for, select, sleep, wait_group::wait, mutex/rw_mutex locks, cond::wait, once::call,
// tomb/errgroup/worker_pool wait, future::get, net reads, writes and accepts) takes a
// defaulted `gofer::source_location where = gofer::source_location::current()` (one pointer
// to the compiler's static record: gofer/detail/source_location.hpp) and records it
// when it parks (a pointer store). The function line is GCC's name of the calling function
// without its return type ("main()::<lambda()>" is a lambda in main); the file is the last
// component of the path the compiler was given (stable across build directories and
// ccache), the line is the call's. Go prints the whole stack; gofer prints this one frame,
// the user's call. What it cannot see:
//   - the running goroutine and runnable ones have no frame (their stacks are live);
//   - std::lock_guard / std::unique_lock / std::scoped_lock call lock() from inside the
//     standard library, so the frame is the library's (std::lock_guard<_Mutex>::lock_guard
//     at std_mutex.h:229): see sync.hpp for the explicit form that records your line;
//   - a goroutine waiting in gofer::blocking shows [IO wait] with no frame.
//
// Thread-safety: callable from any goroutine or thread during a run (it takes each registry
// shard's lock briefly and copies what it prints); outside a run it writes nothing. Never
// blocks a goroutine. Each goroutine's fields are read atomically; a goroutine that wakes
// while the dump runs may show its previous wait.
//
// Panics: an unrecovered panic's report (panic.hpp) shows the panicking goroutine's stack,
// innermost first, with only the program's own frames; GOFER_TRACEBACK (Go's GOTRACEBACK)
// chooses: none (no frames), single (the default), all (every frame — gofer's, the C++
// library's, Boost's — and then this dump of every other goroutine).
#pragma once

#include <ostream>

namespace gofer {

// Writes the dump described above to out. Sorted by goroutine id.
void dump_goroutines(std::ostream& out);

}  // namespace gofer
