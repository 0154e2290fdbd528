// gofer/gofer.hpp — the umbrella header: everything gofer offers.
//
//   runtime.hpp  run, go, yield, sleep, num_goroutine, options
//   chan.hpp     chan, send_chan, recv_chan
//   sync.hpp     wait_group
//   panic.hpp    panic_error
#pragma once

#include "gofer/chan.hpp"
#include "gofer/panic.hpp"
#include "gofer/runtime.hpp"
#include "gofer/sync.hpp"
