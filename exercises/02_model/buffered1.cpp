// buffered1 — buffered or unbuffered channels (book, chapter 1: "Buffered or unbuffered
// channels"; chapter 2: "A little bit about CSP").
//
// Main puts three messages into a queue and reads them back itself. On an unbuffered
// channel a send completes only when a receiver takes the value — and the only receiver here
// is main, which is busy sending. So the first send waits forever, and gofer's deadlock
// detector ends the program: "fatal error: all goroutines are asleep - deadlock!".
//
// Goal: the program prints
//   queued 3 of 3
//   first
//   second
//   third

#include <cstdio>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

int main() {
  return gofer::run([] {
    // TODO: give the queue room for exactly the messages it must hold.
    gofer::chan<std::string> queue;

    queue.send("first");
    queue.send("second");
    queue.send("third");
    std::printf("queued %zu of %zu\n", queue.len(), queue.cap());

    queue.close();  // no more messages: the loop below ends after the last one
    for (std::string m : queue) std::puts(m.c_str());
  });
}
