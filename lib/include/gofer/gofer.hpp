// gofer/gofer.hpp — the umbrella header: everything gofer offers.
//
//   runtime.hpp  run, go, yield, sleep, num_goroutine, options
//   chan.hpp     chan, send_chan, recv_chan
//   select.hpp   select, recv_case, send_case, default_case
//   time.hpp     after, tick, timer, ticker
//   sync.hpp     wait_group, mutex, rw_mutex, once, cond
//   defer.hpp    defer (Go's defer: a scope guard, LIFO, arguments bound when created)
//   context.hpp  context, background, with_cancel, with_timeout, with_deadline, with_value
//   tomb.hpp     tomb (gopkg.in/tomb.v2)
//   errgroup.hpp errgroup (golang.org/x/sync/errgroup)
//   pool.hpp     worker_pool, future
//   pipeline.hpp generate, from_range, fan_out, merge, rate_limit
//   panic.hpp    panic_error
//
// Not included here: debug.hpp (dump_goroutines), testing.hpp and synctest.hpp (tests; the
// namespace gofer::testing would meet GoogleTest's ::testing in files that say `using
// namespace gofer;`), gtest.hpp (GoogleTest assertions; needs GoogleTest).
#pragma once

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
