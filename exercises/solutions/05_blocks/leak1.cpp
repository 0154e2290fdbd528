// leak1 — the leak hunt: spawn 100,000, take one result (book, chapter 5: "Pprof – yet
// another awesome tool"; ch5_6_pprof.go).
//
// The book's profiling program starts 99,999 goroutines that each make a random string and
// send it on an unbuffered channel, takes ONE string, and moves on. Every other goroutine is
// stuck in its send for the rest of the program: in a server that does this per request,
// memory grows until the process dies. gofer::num_goroutine() counts them.
//
// Goal: take the first result and leave no goroutine behind. Either give the results
// channel room for every result, or let the workers give up once main has its result (a
// context, select). The program prints
//   took one result of 100000 (300 bytes)
//   goroutines left besides main: 0
//
// Question: both fixes end the leak. Which one still spends the CPU time of 100,000 random
// strings, and which one can skip most of that work?

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/context.hpp>
#include <gofer/runtime.hpp>
#include <gofer/select.hpp>

using namespace std::chrono_literals;

constexpr int kWorkers = 100000;

std::string random_string(int seed) {
  std::minstd_rand rng(static_cast<unsigned>(seed) + 1);
  std::string s(300, ' ');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

int main() {
  return gofer::run([] {
    // Room for every result: each send completes at once, and each worker ends.
    gofer::chan<std::string> results(kWorkers);
    for (int i = 0; i < kWorkers; ++i)
      gofer::go([results, i] { results.send(random_string(i)); });

    std::string first = *results.recv();
    std::printf("took one result of %d (%zu bytes)\n", kWorkers, first.size());

    // Give the other goroutines up to two seconds to finish, then count who is left.
    for (int tries = 0; tries < 2000 && gofer::num_goroutine() > 1; ++tries) gofer::sleep(1ms);
    std::printf("goroutines left besides main: %zu\n", gofer::num_goroutine() - 1);
  });
}
