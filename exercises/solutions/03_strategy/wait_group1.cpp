// wait_group1 — solution. add() happens before the go statement that starts the job, so no
// done() can ever come first (Go's documentation: "calls with a positive delta ... must
// happen before a Wait", and in practice before the goroutine starts).

#include <cstdio>
#include <string>

#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

int main() {
  return gofer::run(
      [] {
        gofer::wait_group wg;
        for (int id = 1; id <= 2; ++id) {
          wg.add(1);
          gofer::go(gofer::named{"job-" + std::to_string(id)}, [&wg, id] {
            std::printf("job %d done\n", id);
            wg.done();
          });
        }
        std::puts("Starting");
        gofer::yield();
        wg.wait();
        std::puts("both jobs done");
      },
      {.threads = 1});
}
