// wait_group1 — spot the bug: Add after the goroutines start (book, chapter 1: "A patient
// goroutine"; chapter 3: "Synchronizing our concurrent operations").
//
// The book's patient goroutine program starts its jobs first and calls wg.Add(2) after.
// Here main does one more thing before Add — anything that lets the scheduler switch
// goroutines (a log write, a channel operation; the yield stands for it, keep it). Run it:
// gofer panics with Go's "sync: negative WaitGroup counter". Which goroutine panics, and
// what was the counter when it called done()?
//
// Goal: the program prints these lines, the jobs' in any order, "both jobs done" last:
//   Starting
//   job 1 done
//   job 2 done
//   both jobs done

#include <cstdio>
#include <string>

#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

int main() {
  return gofer::run(
      [] {
        gofer::wait_group wg;
        for (int id = 1; id <= 2; ++id) {
          gofer::go(gofer::named{"job-" + std::to_string(id)}, [&wg, id] {
            std::printf("job %d done\n", id);
            wg.done();
          });
        }
        std::puts("Starting");
        gofer::yield();  // main does something else for a moment: keep this line
        // TODO: when must the wait_group learn how many jobs there are?
        wg.add(2);
        wg.wait();
        std::puts("both jobs done");
      },
      {.threads = 1});
}
