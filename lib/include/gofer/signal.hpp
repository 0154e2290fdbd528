// gofer/signal.hpp — Go's os/signal: Unix signals delivered to goroutines on channels.
//
//   signal::notify(c, {SIGINT, SIGTERM})   signal.Notify: relay those signals to c
//   signal::stop(c)                        signal.Stop: no more signals to c
//   signal::notify_context(parent, sigs)   signal.NotifyContext: a context cancelled by
//                                          the first of sigs, and its stop function
//
// The shape every server in chapters/ uses:
//   gofer::chan<int> sigs(1);                       // buffered: see "Never blocks" below
//   gofer::signal::notify(sigs, {SIGINT, SIGTERM});
//   ... start serving in goroutines ...
//   int sig = *sigs.recv();                         // parks until Ctrl-C or `kill`
//   std::printf("got %s: shutting down\n", strsignal(sig));
//
// How: the first notify installs a sigaction handler for each signal asked for; the handler
// only writes the signal number to a pipe (async-signal-safe). A relay thread outside the
// scheduler (Go's signal_recv loop) reads the pipe and try_sends the number to every
// channel registered for it. So it needs no signal mask: signals arrive on whichever thread
// the kernel picks, as in Go, and a goroutine waiting for one parks like any receiver.
//
// Never blocks: like Go, the relay never waits for a receiver — a signal that finds c's
// buffer full is dropped for c. Use a channel with a buffer (1 is enough to not miss the
// one signal that ends a program); an unbuffered c receives a signal only if a goroutine is
// already parked receiving.
//
//   call \ state        | sig not handled yet             | already handled for other channels
//   notify(c, {sig})    | handler installed, c added      | c added (a second notify adds signals)
//   stop(c)             | nothing                         | c removed; the last one restores the
//                       |                                 | signal's previous disposition
//   signal arrives      | (previous disposition)          | try_send(sig) to each channel (dropped
//                       |                                 | where full)
//   gofer::run returns  | —                               | every registration of the run is
//                       |                                 | stopped; dispositions restored
// After stop(c) returns, c receives no more signals (the relay holds the registry lock
// while it sends). A run's registrations end with it, since its channels belong to it.
//
// Deadlock detection: while any registration exists, a goroutine waiting for a signal is
// not a deadlock (a signal may come from outside, as in Go, whose detector also stays quiet
// once os/signal is in use); nor does the leak check of gofer::testing call it parked for
// good, so such a test's leak check waits its full 2 s: stop() before returning.
//
// Errors (std::invalid_argument, with the reason): an empty signal list (Go's Notify with
// no signals means "all": not supported, name them), SIGKILL and SIGSTOP (cannot be
// caught), SIGQUIT (the runtime's goroutine dump, runtime.hpp), the synchronous signals
// SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP (a fault in this program: not a message), a
// number out of range; std::logic_error outside gofer::run; a nil channel: invalid_argument.
// Mixing with sigprocmask/sigwait on the same signal: a signal blocked in every thread never
// reaches the handler — use one mechanism per signal.
// SIGPIPE: notify relays it like any signal, but not the one gofer's own send_file raises
// when its peer is gone (send_file returns EPIPE; conn::write never raises one): unlike
// Go, which relays every SIGPIPE once it is notified (runtime.hpp, "SIGPIPE").
//
// Thread-safety: every function may be called from any goroutine; the relay thread's
// sends happen-after the signal's delivery. Copy semantics: channels are handles; stop
// matches the channel (any handle to it), not the handle object.
#pragma once

#include <initializer_list>
#include <utility>

#include "gofer/chan.hpp"
#include "gofer/context.hpp"

namespace gofer::signal {

// signal.Notify: relays each of `sigs` to c from now on (non-blocking sends).
// A chan<int> converts to send_chan<int> implicitly.
void notify(send_chan<int> c, std::initializer_list<int> sigs);

// signal.Stop: c receives no more signals once this returns. Unknown c: does nothing.
void stop(send_chan<int> c);

// signal.NotifyContext: a child of parent that is cancelled when one of `sigs` arrives
// (or when parent ends, or when the returned function is called). Call the function when
// done: it stops the relay for this context (the signals go back to their previous
// disposition if nothing else wants them) and cancels the context.
std::pair<context, cancel_func> notify_context(const context& parent, std::initializer_list<int> sigs);

}  // namespace gofer::signal
