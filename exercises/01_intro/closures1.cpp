// closures1 — the loop-variable bug (book, chapter 1: "Closures and goroutines").
//
// Five goroutines should each square one number, 0 to 4, and main adds the squares up:
// 0 + 1 + 4 + 9 + 16 = 30. But every goroutine captures the *variable* i, not its value,
// and by the time they run the loop has finished and i is 5. (Go had the same trap until
// Go 1.22 gave each iteration its own variable.)
//
// Goal: the program prints
//   sum of the squares of 0..4: 30

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
          // TODO: each goroutine must square the i of *its own* iteration.
          gofer::go(gofer::named{"square-of-" + std::to_string(i)}, [&] { squares.send(i * i); });
        }
        int sum = 0;
        for (int k = 0; k < 5; ++k) sum += *squares.recv();
        std::printf("sum of the squares of 0..4: %d\n", sum);
      },
      {.threads = 1});
}
