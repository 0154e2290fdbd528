// gofer/gofer.hpp — the umbrella header: the core of gofer, exactly these headers (and what
// they include themselves):
//
//   runtime.hpp  run, go, named, yield, sleep, num_goroutine, options
//   chan.hpp     chan, send_chan, recv_chan
//   select.hpp   select, recv_case, send_case, default_case
//   time.hpp     after, tick, timer, ticker
//   sync.hpp     wait_group, mutex, rw_mutex, once, cond
//   defer.hpp    defer (Go's defer: a scope guard, LIFO, arguments bound when created)
//   blocking.hpp blocking (a blocking call on a helper thread while the goroutine parks)
//   context.hpp  context, background, with_cancel, with_timeout, with_deadline, with_value
//   tomb.hpp     tomb (gopkg.in/tomb.v2)
//   errgroup.hpp errgroup (golang.org/x/sync/errgroup)
//   pool.hpp     worker_pool, future
//   pipeline.hpp generate, from_range, fan_out, merge, rate_limit
//   panic.hpp    panic_error
//
// Not included here, each included on its own where needed:
//   net.hpp         TCP (net::listen, dial, conn; pulls in Boost.Asio's buffer types)
//   http.hpp        HTTP server and client on Boost.Beast (heavy: Beast and Asio)
//   debug.hpp       dump_goroutines, the deadlock report
//   debug_http.hpp  /debug/pprof-style pages over http.hpp
//   log.hpp         spdlog with goroutine ids (needs spdlog; target gofer::log)
//   testing.hpp     gofer::testing::run for tests, and synctest.hpp (virtual-time bubbles):
//                   their namespace gofer::testing would meet GoogleTest's ::testing in
//                   files that say `using namespace gofer;`
//   gtest.hpp       GoogleTest assertions (needs GoogleTest)
//   signal.hpp      os/signal (signal::notify; installs process-wide handlers)
//   raw_fd.hpp      any pollable file descriptor on the poller (inotify, pipes, C libraries)
//   websocket.hpp   WebSocket on http.hpp (Beast)
#pragma once

#include "gofer/blocking.hpp"
#include "gofer/chan.hpp"
#include "gofer/context.hpp"
#include "gofer/defer.hpp"
#include "gofer/errgroup.hpp"
#include "gofer/panic.hpp"
#include "gofer/pipeline.hpp"
#include "gofer/pool.hpp"
#include "gofer/runtime.hpp"
#include "gofer/select.hpp"
#include "gofer/sync.hpp"
#include "gofer/time.hpp"
#include "gofer/tomb.hpp"
