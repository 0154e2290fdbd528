// philosophers1 — the dining philosophers (book, chapter 2: "The dining philosophers
// problem").
//
// Five philosophers sit round a table with one fork between each pair; to eat, a philosopher
// needs both the fork on the left and the fork on the right. Each one picks up the left fork
// first. If all five pick up their left fork at the same moment, every fork is taken and each
// philosopher waits for a right fork that never comes: a deadlock, which gofer's detector
// reports. The yield makes that unlucky moment happen every time; keep it.
//
// Goal: the program prints
//   all 5 philosophers ate 3 times
// without changing the yields, the number of forks or the meals.

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
            // TODO: choose which fork to pick up first so that no circle of waiting
            // philosophers can ever form.
            int first = left;
            int second = right;
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
