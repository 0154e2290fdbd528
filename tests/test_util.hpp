// tests/test_util.hpp — helpers shared by gofer's GoogleTest files.
//
//   threads_test       fixture base: TEST_P over scheduler thread counts (1, 2, 4, 8)
//   run_main           gofer::testing::run(fn, {.threads = n}): a panic, a deadlock or a
//                      goroutine left alive when fn returns fails the test with its report
//   allow_leaks        run_main(n, fn, allow_leaks): for tests that leave goroutines on purpose
//   eventually         yield until a condition holds (ordering without sleeps)
//   parked_senders / parked_receivers / wait_parked
//                      how many goroutines wait in a channel's queues (white-box)
//   tracked            a value type that counts its live instances (leak check)
//   destroy_counter    RAII witness: increments a counter in its destructor (unwinding)
//   panic_text         runs f, returns the what() of the panic_error it threw, or ""
//   goroutine_state / wait_state
//                      a named goroutine's state in gofer::dump_goroutines ("sync.Mutex.Lock")
//   forked             runs a function in a forked child, stdout/stderr captured, hang → SIGALRM
//
// Ordering rule of this suite: never sleep to order events. "Goroutine G is parked on
// channel c" is established by looking at c's waiter queue under c's lock (through
// detail::chan_access, the same door select and timers use): once G's waiter is linked,
// G's arrival order is fixed, which is exactly what the FIFO rules talk about.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstddef>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "gofer/debug.hpp"
#include "gofer/detail/source_location.hpp"
#include "gofer/gofer.hpp"
#include "gofer/gtest.hpp"
#include "gofer/testing.hpp"

namespace gofer_test {

// 8 oversubscribes the 2-core CI machine: a thread is preempted inside spinlocks and
// between a wait and its wake-up, interleavings 1, 2 and 4 threads rarely show.
inline constexpr unsigned kThreadCounts[] = {1, 2, 4, 8};

// Base for fixtures parameterised over the number of scheduler threads.
class threads_test : public ::testing::TestWithParam<unsigned> {
 protected:
  unsigned threads() const { return GetParam(); }
};

inline std::string threads_name(const ::testing::TestParamInfo<unsigned>& info) {
  return "threads_" + std::to_string(info.param);
}

// Runs fn as gofer's main goroutine on `threads` scheduler threads in test mode
// (gofer/testing.hpp): an unrecovered panic, a deadlock, or a goroutine still alive when fn
// returned (the leak check) is a failure of the calling test with the report, and the
// binary goes on with the next test.
// A failure names the test's line (a GoogleTest trace) as well as this one; the line comes
// from gofer::source_location, which clang 14 (tools/thread_safety.sh) also compiles.
inline void run_main(unsigned threads, std::function<void()> fn,
                     gofer::source_location where = gofer::source_location::current()) {
  ::testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "run_main");
  EXPECT_GOFER_OK(gofer::testing::run(std::move(fn), {.threads = threads}));
}

// run_main(n, fn, allow_leaks): the same without the leak check, for a test that leaves
// goroutines behind on purpose (they are unwound when fn returns, as gofer::run does).
// Say why on the line that uses it.
struct allow_leaks_t {
  explicit constexpr allow_leaks_t() = default;
};
inline constexpr allow_leaks_t allow_leaks{};

inline void run_main(unsigned threads, std::function<void()> fn, allow_leaks_t,
                     gofer::source_location where = gofer::source_location::current()) {
  ::testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "run_main");
  EXPECT_GOFER_OK(gofer::testing::run(std::move(fn), {.threads = threads},
                                      gofer::testing::leaks::allow));
}

// Yields (gofer::yield, so other goroutines run) until pred() holds. Returns false after
// `limit`, which is a failure bound, not a way to order events: a correct runtime meets
// every condition used here within microseconds to milliseconds.
template <class Pred>
bool eventually(Pred pred, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (unsigned i = 0;; ++i) {
    if (pred()) return true;
    if ((i & 63) == 0 && std::chrono::steady_clock::now() > deadline) return pred();
    gofer::yield();
  }
}

namespace detail {
inline std::size_t count_queue(const gofer::detail::waitq& q) {
  std::size_t n = 0;
  for (const gofer::detail::waiter* w = q.front(); w != nullptr; w = w->next) {
    if (++n > (std::size_t{1} << 26)) break;  // a corrupted (cyclic) queue: don't hang
  }
  return n;
}
}  // namespace detail

// Goroutines parked in send() on the channel (0 for nil). Takes the channel lock.
template <class T>
std::size_t parked_senders(const gofer::detail::chan_handle<T>& h) {
  auto* impl = gofer::detail::chan_access::get(h);
  if (impl == nullptr) return 0;
  gofer::detail::spinlock_guard g(impl->lock);
  return detail::count_queue(impl->sendq);
}

// Goroutines parked in recv() on the channel (0 for nil). Takes the channel lock.
template <class T>
std::size_t parked_receivers(const gofer::detail::chan_handle<T>& h) {
  auto* impl = gofer::detail::chan_access::get(h);
  if (impl == nullptr) return 0;
  gofer::detail::spinlock_guard g(impl->lock);
  return detail::count_queue(impl->recvq);
}

// Yields until exactly n goroutines are parked sending (resp. receiving) on h.
template <class T>
bool wait_parked_senders(const gofer::detail::chan_handle<T>& h, std::size_t n) {
  return eventually([&] { return parked_senders(h) == n; });
}
template <class T>
bool wait_parked_receivers(const gofer::detail::chan_handle<T>& h, std::size_t n) {
  return eventually([&] { return parked_receivers(h) == n; });
}

// A value that counts its live instances, so a test can check that a channel destroys
// what it buffered and that no copy leaks.
struct tracked {
  static inline std::atomic<long> live{0};
  int v = 0;
  explicit tracked(int x) noexcept : v(x) { live.fetch_add(1); }
  tracked(const tracked& o) noexcept : v(o.v) { live.fetch_add(1); }
  tracked(tracked&& o) noexcept : v(o.v) { live.fetch_add(1); }
  tracked& operator=(const tracked&) noexcept = default;
  tracked& operator=(tracked&&) noexcept = default;
  ~tracked() { live.fetch_sub(1); }
};

// Increments *counter when destroyed: proves a goroutine's stack was unwound.
class destroy_counter {
 public:
  explicit destroy_counter(std::atomic<int>& counter) noexcept : counter_(&counter) {}
  destroy_counter(const destroy_counter&) = delete;
  destroy_counter& operator=(const destroy_counter&) = delete;
  ~destroy_counter() { counter_->fetch_add(1); }

 private:
  std::atomic<int>* counter_;
};

// Runs f; returns the what() of the gofer::panic_error it throws, "" if it returns, and
// "<other exception>" if it throws something else (goroutine_exit is let through).
template <class F>
std::string panic_text(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const gofer::panic_error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<other exception: ") + e.what() + ">";
  }
  return "";
}

// The state of the goroutine named `name` (gofer::go(gofer::named{name}, ...)) as
// gofer::dump_goroutines shows it: "runnable", or a wait reason such as "sync.Mutex.Lock",
// "select (no cases)". "" if no such goroutine exists. A goroutine shows a wait reason only
// once its waiter is queued (park() publishes it), so this orders events for primitives
// whose queues a test cannot see (mutex, rw_mutex, cond, wait_group, select).
inline std::string goroutine_state(const std::string& name) {
  std::ostringstream dump;
  gofer::dump_goroutines(dump);
  std::istringstream lines(dump.str());
  const std::string key = "\"" + name + "\" [";
  for (std::string line; std::getline(lines, line);) {
    std::size_t p = line.find(key);
    if (p == std::string::npos) continue;
    p += key.size();
    return line.substr(p, line.find_first_of(",]", p) - p);
  }
  return "";
}

// Yields until the goroutine named `name` is in `state` (see goroutine_state).
inline bool wait_state(const std::string& name, const std::string& state) {
  return eventually([&] { return goroutine_state(name) == state; });
}

// How a forked child ended and what it wrote. stdout and stderr go to temporary files, so
// stdout is fully buffered in the child: a line shows up only if someone flushed it.
struct ended {
  int status = -1;  // -1: killed by a signal (SIGALRM: it hung)
  std::string out, err;
};

namespace detail {
inline std::string read_all(std::FILE* f) {
  std::string s;
  std::rewind(f);
  char buf[4096];
  for (std::size_t r; (r = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, r);
  std::fclose(f);
  return s;
}

// Drops the line ASan prints in every process that first switches fibers under the asan
// preset's ucontext Boost ("==N==WARNING: ASan doesn't fully support makecontext/
// swapcontext..."): not the child's output.
inline std::string without_asan_notes(const std::string& err) {
  std::string kept;
  std::size_t at = 0;
  while (at < err.size()) {
    std::size_t end = err.find('\n', at);
    end = end == std::string::npos ? err.size() : end + 1;
    std::string_view line(err.data() + at, end - at);
    if (!(line.starts_with("==") && line.find("ASan doesn't fully support makecontext") != std::string_view::npos))
      kept.append(line);
    at = end;
  }
  return kept;
}
}  // namespace detail

// Runs `child` in a forked child with stdout and stderr captured; then std::exit(0) if it
// returns. alarm() turns a hang into SIGALRM; the CTest timeout is the outer guard.
inline ended forked(const std::function<void()>& child) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  if (out == nullptr || err == nullptr) return {};
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(::fileno(out), 1);
    ::dup2(::fileno(err), 2);
    ::alarm(20);
    child();
    std::exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ended e;
  e.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  e.out = detail::read_all(out);
  e.err = detail::without_asan_notes(detail::read_all(err));
  return e;
}

}  // namespace gofer_test
