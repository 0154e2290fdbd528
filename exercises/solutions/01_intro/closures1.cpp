// closures1 — solution. Capture i by value: go() copies the lambda, and with it this
// iteration's i, before the goroutine starts. (The channel handle may be copied too: copies
// are handles to one channel.)

#include <cstdio>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

int main() {
  return gofer::run(
      [] {
        gofer::chan<int> squares;
        int i;
        for (i = 0; i < 5; ++i) {
          gofer::go(gofer::named{"square-of-" + std::to_string(i)}, [squares, i] { squares.send(i * i); });
        }
        int sum = 0;
        for (int k = 0; k < 5; ++k) sum += *squares.recv();
        std::printf("sum of the squares of 0..4: %d\n", sum);
      },
      {.threads = 1});
}
