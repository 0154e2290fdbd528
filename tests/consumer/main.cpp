// consumer — the smallest real gofer program: a goroutine sends, main receives.
#include <cstdio>
#include <string>

#include <gofer/gofer.hpp>

int main() {
  return gofer::run([] {
    gofer::chan<std::string> greetings;  // unbuffered: the send waits for the receive
    gofer::go([greetings]() { greetings.send("hello from a goroutine"); });
    std::printf("consumer got: %s\n", greetings.recv().value().c_str());
  });
}
