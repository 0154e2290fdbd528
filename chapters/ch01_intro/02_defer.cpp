// defer — Go's defer is RAII in C++ (book, chapter 1: "Implementing the defer control
// mechanism"). A scope guard is an object whose destructor runs a function when its scope
// ends — by falling off the end, an early return or an exception — newest first, like
// Go's deferred calls. Watch the order of the "deferred" lines, and which counter value
// each guard prints: copied when the guard was made, or read when it runs.

#include <atomic>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <utility>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

// The whole of `defer` in C++ is a few lines: keep a function and call it in the
// destructor (and forbid copies, so that it runs exactly once):
//
//   template <class F> struct defer {
//     F f;
//     ~defer() { f(); }
//   };
//
// gofer::defer (gofer/defer.hpp) is that, built on absl::Cleanup, plus Go's argument
// binding: `gofer::defer d(f, args...)` copies the arguments now, as Go's `defer f(args)`
// evaluates them at the defer statement. (C++ has no anonymous variables, so every guard
// needs a name.)

// Every guard that runs bumps this, so main can check that none was skipped.
std::atomic<int> deferred_ran{0};

// What most guards below do when they run: say so, and count.
void deferred(const char* what) {
  std::printf("  %s\n", what);
  ++deferred_ran;
}

// 1. LIFO. Go:  defer fmt.Println("deferred 1"); defer ...("deferred 2"); ...
// Objects are destroyed in the reverse order of their construction, so the last guard
// made runs first: exactly Go's stack of deferred calls.
void lifo() {
  gofer::defer d1(deferred, "deferred 1");  // Go: defer fmt.Println("deferred 1")
  gofer::defer d2(deferred, "deferred 2");
  gofer::defer d3(deferred, "deferred 3");
  std::puts("  body of lifo() ends");
}

// 2. Early and late binding. Go evaluates a deferred call's *arguments* at the defer
// statement, so `defer fmt.Println(counter)` prints the value counter had then (0); a
// deferred *closure* reads the variable when it runs. In C++ the lambda capture decides:
// [counter] copies now (early), [&counter] reads at the end (late).
// Returns what the two guards saw, through the out-parameters.
void binding(int count, int& early_saw, int& late_saw) {
  int counter = 0;
  gofer::defer early([counter, &early_saw] {  // defer fmt.Println("early:", counter)
    std::printf("  early binding (captured by value):     counter = %d\n", counter);
    early_saw = counter;
    ++deferred_ran;
  });
  gofer::defer late([&counter, &late_saw] {  // defer func() { fmt.Println("late:", counter) }()
    std::printf("  late binding (captured by reference): counter = %d\n", counter);
    late_saw = counter;
    ++deferred_ran;
  });
  for (int i = 0; i < count; ++i) ++counter;
  std::printf("  body of binding() ends with counter = %d\n", counter);
}

// 3. Cleanup on every path. The book defers a file's Close right after creating it. In C++
// the file handle itself can be the guard: a unique_ptr whose deleter closes the file runs
// on every way out of the scope. Go's `defer wg.Done()` becomes a guard too, so an early
// return cannot forget it.
std::atomic<int> files_closed{0};
struct file_closer {
  void operator()(std::FILE* f) const noexcept {
    std::fclose(f);
    ++files_closed;
    ++deferred_ran;
  }
};

void job(int i, gofer::wait_group& wg) {
  gofer::defer done([&wg] {
    ++deferred_ran;
    wg.done();
  });                                                         // defer wg.Done()
  std::unique_ptr<std::FILE, file_closer> f{std::tmpfile()};  // f, _ := os.Create(...)
  if (!f) throw std::runtime_error("tmpfile failed");         // (deleter: defer f.Close())
  if (i % 2 == 0) {
    std::printf("  job %d: nothing to write, returns early\n", i);
    return;  // both guards still run: the file is closed, then wg.done()
  }
  std::fprintf(f.get(), "job %d was here\n", i);
  std::printf("  job %d: wrote its file\n", i);
}

// 4. Exceptions. A Go panic runs the deferred calls on its way up; so does a C++ exception
// (stack unwinding). The guard below runs before the catch block does. (Inside a goroutine,
// an exception that escapes it is an unrecovered panic that ends the program: catch it there.)
void throws() {
  gofer::defer d(deferred, "deferred: runs while the exception unwinds");
  std::puts("  throws() is about to throw");
  throw std::runtime_error("something went wrong");
}

int main(int argc, char** argv) {
  int count = 100, jobs = 4;
  unsigned threads = 0;
  CLI::App app{"Go's defer as C++ scope guards: LIFO order, early vs late binding, cleanup", "defer"};
  app.add_option("--count", count, "how far binding() counts")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option("--jobs", jobs, "goroutines in part 3")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--threads", threads, "OS threads to run them on (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int unhappy = 0;
  int status = gofer::run(
      [&] {
        std::puts("1. guards run newest first (LIFO):");
        lifo();

        std::puts("2. a guard copies a value, or reads it at the end:");
        int early_saw = -1, late_saw = -1;
        binding(count, early_saw, late_saw);

        std::printf("3. %d goroutines clean up on every path:\n", jobs);
        gofer::wait_group wg;
        wg.add(jobs);
        for (int i = 1; i <= jobs; ++i) gofer::go(job, i, std::ref(wg));
        wg.wait();

        std::puts("4. guards run while an exception unwinds the stack:");
        try {
          throws();
        } catch (const std::exception& e) {
          std::printf("  caught: %s\n", e.what());
        }

        // Check what each part promised: 3 + 2 + 2 per job + 1 guards ran.
        int expected = 3 + 2 + 2 * jobs + 1;
        bool ok = deferred_ran == expected && files_closed == jobs && early_saw == 0 && late_saw == count;
        if (ok) {
          std::printf("all %d deferred calls ran: newest first, early binding saw 0, late binding saw %d\n",
                      expected, count);
        } else {
          std::printf("FAILED: %d of %d deferred calls ran, %d of %d files closed, early %d, late %d\n",
                      deferred_ran.load(), expected, files_closed.load(), jobs, early_saw, late_saw);
          unhappy = 1;
        }
      },
      gofer::options{.threads = threads});
  return status != 0 ? status : unhappy;
}
