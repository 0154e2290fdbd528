// gofer/debug.hpp — looking inside a running program, like Go's goroutine dumps.
//
//   dump_goroutines   writes every goroutine: id, name, state, wait reason, time blocked
//
// The same dump is printed on SIGQUIT (Ctrl-\ in a terminal) during gofer::run, as Go does:
// "SIGQUIT: quit", the dump, exit status 2. And by the deadlock detector (runtime.hpp).
//
// Format, one line per goroutine (Go's header line, plus the name if it has one):
//   goroutine 1 [chan receive, 2.5s]:
//   goroutine 7 "fetcher-3" [select]:
//   goroutine 9 [runnable]:
// States: "running" (the caller), "runnable" (ready or running on another thread), or the
// wait reason of a parked goroutine (Go's texts: "chan receive", "chan send",
// "chan receive (nil chan)", "select", "select (no cases)", "sleep", "sync.Mutex.Lock",
// "sync.WaitGroup.Wait", ...). The time blocked is shown from one second on (Go shows it
// from one minute on).
//
// Thread-safety: callable from any goroutine or thread during a run (it takes each registry
// shard's lock briefly); outside a run it writes nothing. Never blocks a goroutine.
#pragma once

#include <ostream>

namespace gofer {

void dump_goroutines(std::ostream& out);

}  // namespace gofer
