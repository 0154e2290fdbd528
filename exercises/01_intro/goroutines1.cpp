// goroutines1 — main does not wait (book, chapter 1: "Introducing goroutines", "A patient
// goroutine").
//
// Three workers are started with gofer::go, then main says it is finished. But nothing from
// the workers ever appears: when main returns, the run ends, and goroutines that are still
// waiting to run are dropped. (One scheduler thread makes this happen every time.)
//
// Goal: the program prints the three "worker N done" lines (in any order) and then, last,
// "all workers done".
//
// ./gofer ex check goroutines1 runs it; ./gofer ex hint goroutines1 helps.

#include <cstdio>
#include <string>

#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

int main() {
  return gofer::run(
      [] {
        // TODO: main must wait until every worker has said it is done. gofer has Go's
        // sync.WaitGroup for that.
        for (int id = 1; id <= 3; ++id) {
          gofer::go(gofer::named{"worker-" + std::to_string(id)}, [id] {
            std::printf("worker %d done\n", id);
          });
        }
        std::puts("all workers done");
      },
      {.threads = 1});
}
