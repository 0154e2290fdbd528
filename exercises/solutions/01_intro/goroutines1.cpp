// goroutines1 — solution. A wait_group counts the workers: add(1) before each go (never
// inside the goroutine, see wait_group1), done() as each finishes, wait() until zero.

#include <cstdio>
#include <string>

#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

int main() {
  return gofer::run(
      [] {
        gofer::wait_group wg;
        for (int id = 1; id <= 3; ++id) {
          wg.add(1);
          gofer::go(gofer::named{"worker-" + std::to_string(id)}, [id, &wg] {
            std::printf("worker %d done\n", id);
            wg.done();
          });
        }
        wg.wait();  // main parks here; the workers run; the last done() wakes main
        std::puts("all workers done");
      },
      {.threads = 1});
}
