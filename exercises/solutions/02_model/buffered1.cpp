// buffered1 — solution. A buffer of 3 lets three sends complete with no receiver waiting;
// a fourth would block. Buffered channels are FIFO, so the values come back in order.

#include <cstdio>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

int main() {
  return gofer::run([] {
    gofer::chan<std::string> queue(3);

    queue.send("first");
    queue.send("second");
    queue.send("third");
    std::printf("queued %zu of %zu\n", queue.len(), queue.cap());

    queue.close();  // no more messages: the loop below ends after the last one
    for (std::string m : queue) std::puts(m.c_str());
  });
}
