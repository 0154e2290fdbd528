// lib/src/detail/sigpipe.hpp — SIGPIPE during a run (not installed; signal.cpp implements it).
//
// sendfile(2) has no MSG_NOSIGNAL: a peer that is gone raises SIGPIPE on the calling thread,
// whose default disposition kills the process. Instead of guarding every call with the signal
// mask (3 syscalls per call), gofer::run installs gofer's own SIGPIPE handler when the
// disposition is SIG_DFL (runtime.hpp, "SIGPIPE"; lib/DESIGN.md, "The poller and TCP"):
//
//   sigpipe_run_started / sigpipe_run_ended   gofer::run, before the workers start / after
//                                             they are joined (and after signal_run_ended)
//   t_sigpipe_from_sendfile                   set by net.cpp around its sendfile call: a
//                                             SIGPIPE arriving meanwhile is that call's EPIPE
//                                             and is dropped, by gofer's handler and by
//                                             signal.cpp's relay handler (signal::notify)
//   sigpipe_guard_needed                      the disposition is the user's own handler (or
//                                             no run is active): send_file keeps the old mask
//                                             guard, so that handler is never called by it
//
// Every SIGPIPE gofer's handler gets while the flag is clear (a write to a closed pipe or
// stdout by the program, kill -PIPE) gets SIG_DFL's behaviour: the process dies by SIGPIPE.
//
// The flag is a plain thread_local: it is set and cleared on one thread around one syscall,
// with no park in between (net.cpp's sendfile_nosignal is noinline, so its address is never
// kept across a park), and the handler that reads it runs on that same thread, since a
// SIGPIPE from a write is thread-directed.
#pragma once

#include <atomic>
#include <csignal>

namespace gofer::detail {

void sigpipe_run_started();
void sigpipe_run_ended();

inline thread_local volatile std::sig_atomic_t t_sigpipe_from_sendfile = 0;

extern std::atomic<bool> g_sigpipe_guard;  // signal.cpp; true outside a run
inline bool sigpipe_guard_needed() noexcept { return g_sigpipe_guard.load(std::memory_order_relaxed); }

}  // namespace gofer::detail
