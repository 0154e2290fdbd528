// lib/src/tsan_spawn.cpp — goroutine contexts for ThreadSanitizer builds only (the tsan
// preset adds this file, compiled with -fno-sanitize=thread; see detail/tsan.hpp).
//
// Boost.Context's templates that run on a goroutine's stack around the switches Boost makes
// without asking gofer — fiber_entry (entered once at creation, on the creator's behalf),
// the worker context's run_ and the record's exit (run when the dead context is released,
// on the releaser's behalf) — would push and pop TSan's shadow call stack of whichever
// fiber TSan believes is running, until it over- or underflows. Instantiated here, without
// instrumentation, they touch no TSan state; everything they call (goroutine_main, the
// body, the stack allocator) is instrumented and balanced on the right fiber.
#include <string>
#include <utility>

#include <boost/fiber/context.hpp>

#include "gofer/runtime.hpp"

namespace gofer::detail {

namespace {
struct tsan_entry {
  void (*run)(void*);
  void (*destroy)(void*) noexcept;
  void* p;
  void operator()() const {
    goroutine_main(run, p);
    destroy(p);
  }
};
}  // namespace

void spawn_tsan(void (*run)(void*), void (*destroy)(void*) noexcept, void* p, std::string name) {
  spawn(boost::fibers::make_worker_context(boost::fibers::launch::post, stack_allocator{},
                                           tsan_entry{run, destroy, p}),
        std::move(name));
}

}  // namespace gofer::detail
