// ffi — C++'s side of cgo (book, chapter 4: "Getting low – implementing C", "Touching
// memory in cgo", "The structure of cgo", "The other way around").
// C++ calls C directly: no cgo, no copying at the border. What stays is ownership and
// blocking. Memory a C library allocates is freed by the C library's own function, so wrap it
// in RAII at once; C can call back into C++ through an extern "C" function, even from a
// thread of its own (which is not a goroutine: it may only use the non-blocking operations);
// and a C call that blocks holds its OS thread, so with one scheduler thread every other
// goroutine stops — unless the call goes through gofer::blocking. Watch the tick counts.

#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>  // gofer::blocking

#include "demo_flags.hpp"

using namespace std::chrono_literals;

// ---- 1. C allocations, owned by RAII ------------------------------------------------------

// The book's ch4_3_c.go: C.CString allocates in C, and Go must call C.free by hand. Here the
// pointer goes into a unique_ptr whose deleter is C's free, so every path frees it.
using c_string = std::unique_ptr<char, decltype(&std::free)>;

// getaddrinfo allocates a list that only freeaddrinfo may free.
using addrinfo_list = std::unique_ptr<addrinfo, decltype(&freeaddrinfo)>;

addrinfo_list resolve(const char* host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  // getaddrinfo may read files or ask a DNS server: a blocking C call.
  int rc = gofer::blocking([&] { return ::getaddrinfo(host, nullptr, &hints, &res); });
  if (rc != 0) throw std::runtime_error(std::string("getaddrinfo: ") + ::gai_strerror(rc));
  return addrinfo_list(res, &freeaddrinfo);
}

// ---- 2. C calling C++ ---------------------------------------------------------------------

// qsort calls this through a plain C function pointer, synchronously, on the calling
// goroutine's stack (cgo's //export, without the generated header).
std::atomic<int> comparisons{0};
extern "C" int compare_ints(const void* a, const void* b) {
  comparisons.fetch_add(1, std::memory_order_relaxed);
  int x = *static_cast<const int*>(a), y = *static_cast<const int*>(b);
  return (x > y) - (x < y);
}

// A POSIX timer with SIGEV_THREAD calls this on a thread the C library owns. That thread is
// not a goroutine: it must not park, so it hands the event to the goroutines with try_send
// on a buffered channel (a full channel drops the event instead of blocking C's thread).
struct timer_context {
  gofer::chan<int> events;
  std::atomic<int> fired{0};
};
extern "C" void on_timer(sigval v) {
  auto* ctx = static_cast<timer_context*>(v.sival_ptr);
  int n = ctx->fired.fetch_add(1) + 1;
  (void)ctx->events.try_send(n);
}

// ---- 3. a blocking C call -----------------------------------------------------------------

// A C function that blocks its thread for `ms` (nanosleep stands for any blocking library
// call: a database client, a compression of a big file, a DNS lookup).
extern "C" void slow_c_call(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (::nanosleep(&ts, &ts) != 0) {
  }
}

// How many times a ticking goroutine ran while another goroutine made the C call, on one
// scheduler thread.
long ticks_during(bool through_blocking, int ms) {
  long during = -1;
  gofer::run(
      [&] {
        std::atomic<long> ticks{0};
        std::atomic<bool> stop{false};
        gofer::wait_group wg;
        wg.add(1);
        gofer::go(gofer::named("ticker"), [&] {
          while (!stop.load()) {
            ticks.fetch_add(1);
            gofer::sleep(1ms);
          }
          wg.done();
        });
        gofer::sleep(5ms);  // the ticker is going
        long before = ticks.load();
        if (through_blocking) gofer::blocking([&] { slow_c_call(ms); });
        else slow_c_call(ms);  // holds the only thread: nobody else runs
        during = ticks.load() - before;
        stop = true;
        wg.wait();
      },
      gofer::options{.threads = 1});
  return during;
}

int main(int argc, char** argv) {
  int ms = 100, timer_events = 5;
  CLI::App app{"C from goroutines: RAII around C allocations, C callbacks, blocking C calls", "ffi"};
  app.add_option("--ms", ms, "how long the blocking C call takes")->capture_default_str()->check(CLI::Range(10, 10000));
  app.add_option("--events", timer_events, "callbacks from the C timer thread")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int received = 0;
  bool ok = true;
  // The timer's context outlives the run: timer_delete does not wait for a callback that
  // C's thread has already started.
  timer_context ctx{gofer::chan<int>(timer_events), {}};
  int status = gofer::run([&] {
    // 1. Memory from C, freed by C's own functions, whatever happens in between.
    std::puts("1. a C library called from a goroutine, its allocations owned by RAII:");
    c_string s(::strdup("hello from C"), &std::free);
    std::printf("   strdup -> \"%s\", strlen %zu; freed by unique_ptr<char, free>\n", s.get(), std::strlen(s.get()));
    addrinfo_list list = resolve("localhost");
    for (addrinfo* a = list.get(); a != nullptr; a = a->ai_next) {
      char text[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, text, sizeof text);
      std::printf("   getaddrinfo(\"localhost\") -> %s (through gofer::blocking); freed by freeaddrinfo\n", text);
      break;
    }

    // 2. C calls back: synchronously (qsort), and from its own thread (a POSIX timer).
    std::puts("2. C calling back into C++:");
    std::vector<int> v{42, 7, 19, 3, 88, 61, 5, 23};
    std::qsort(v.data(), v.size(), sizeof(int), compare_ints);
    std::printf("   qsort sorted %zu ints (%d .. %d) with an extern \"C\" comparator, called %d times\n", v.size(),
                v.front(), v.back(), comparisons.load());
    ok = ok && std::is_sorted(v.begin(), v.end());

    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = on_timer;
    sev.sigev_value.sival_ptr = &ctx;
    timer_t timer;
    if (::timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) throw std::runtime_error("timer_create failed");
    std::unique_ptr<void, void (*)(void*)> timer_guard(timer, [](void* t) { ::timer_delete(static_cast<timer_t>(t)); });
    itimerspec every{{0, 10'000'000}, {0, 10'000'000}};  // every 10 ms
    ::timer_settime(timer, 0, &every, nullptr);
    while (received < timer_events) {
      // The select's timeout also tells the deadlock detector that something can still
      // happen: only C's thread will send.
      bool timed_out = false;
      gofer::select(gofer::recv_case(ctx.events, [&](std::optional<int>) { ++received; }),
                    gofer::recv_case(gofer::after(2s), [&](auto) { timed_out = true; }));
      if (timed_out) break;
    }
    timer_guard.reset();  // timer_delete: no more callbacks
    std::printf("   a POSIX timer's thread (C's, not a goroutine) called on_timer %d times; it try_send's each event,\n"
                "   the goroutine received %d\n",
                ctx.fired.load(), received);
  });
  if (status != 0) return status;

  // 3. The blocking C call, with one scheduler thread.
  std::printf("3. a C call that blocks for %d ms, with one scheduler thread, while a goroutine ticks every 1 ms:\n", ms);
  long direct = ticks_during(false, ms);
  std::printf("   called directly:          the ticker ran %3ld times meanwhile (its thread was inside C)\n", direct);
  long helped = ticks_during(true, ms);
  std::printf("   through gofer::blocking:  the ticker ran %3ld times meanwhile (C ran on a helper thread)\n", helped);

  if (!ok || received != timer_events || direct != 0 || helped == 0) {
    std::puts("FAILED: see above");
    return 1;
  }
  std::printf("C was called with RAII-owned memory, called back %d times from its own thread, and a blocking call "
              "froze the other goroutines only when called directly (%ld vs %ld ticks)\n",
              received, direct, helped);
  return 0;
}
