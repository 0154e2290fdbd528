// philosophers1 — solution: a global order on the forks. Every philosopher picks up the
// lower-numbered fork first. A cycle of waiters would need someone holding a higher fork
// while waiting for a lower one, which nobody ever does; so there is no cycle, no deadlock.
// (The waiter goroutine that hands out forks, chapters/ch02_model/04_philosophers.cpp, is the
// other classic fix.)

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>

#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

constexpr int kPhilosophers = 5;
constexpr int kMeals = 3;
const std::array<std::string, kPhilosophers> kNames = {"Kant", "Turing", "Descartes",
                                                        "Kierkegaard", "Wittgenstein"};

int main() {
  return gofer::run(
      [] {
        std::array<gofer::mutex, kPhilosophers> forks;  // fork i lies between i-1 and i
        std::array<int, kPhilosophers> meals{};
        gofer::wait_group table;

        for (int p = 0; p < kPhilosophers; ++p) {
          table.add(1);
          gofer::go(gofer::named{kNames[p]}, [&, p] {
            int left = p;
            int right = (p + 1) % kPhilosophers;
            int first = std::min(left, right);
            int second = std::max(left, right);
            for (int m = 0; m < kMeals; ++m) {
              forks[first].lock();
              gofer::yield();  // reaching for the second fork takes a moment: keep this line
              forks[second].lock();
              ++meals[p];  // eat
              forks[second].unlock();
              forks[first].unlock();
              gofer::yield();  // think
            }
            table.done();
          });
        }
        table.wait();

        int all = 0;
        for (int p = 0; p < kPhilosophers; ++p) {
          if (meals[p] == kMeals) ++all;
          else std::printf("%s ate %d times\n", kNames[p].c_str(), meals[p]);
        }
        std::printf("all %d philosophers ate %d times\n", all, kMeals);
      },
      {.threads = 1});
}
