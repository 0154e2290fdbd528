// actors1 — an actor that owns its state (book, chapter 2: "Go and the actor model",
// "A little bit about CSP").
//
// The counter below belongs to one goroutine, the actor: nobody else touches `count`, so no
// lock is needed. Others send it requests on its inbox; each request says how much to add
// and carries its own reply channel, on which the actor answers with the new count.
// As shipped, this does not compile: the request has nowhere to carry its reply channel,
// and the actor does not do its job yet.
//
// Goal: the program prints
//   count is 1
//   count is 3
//   count is 42
//   after 100 more adds from 10 goroutines: 142

#include <cstdio>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

struct request {
  int add = 0;
  // TODO: a channel on which the actor sends back the new count.
};

void counter_actor(gofer::recv_chan<request> inbox) {
  int count = 0;
  // TODO: for each request in the inbox (until it is closed): add, then reply with the count.
}

int main() {
  return gofer::run([] {
    gofer::chan<request> inbox;
    gofer::go(gofer::named{"counter-actor"}, counter_actor, inbox);

    // Ask, and wait for the answer, three times.
    gofer::chan<int> reply;
    for (int add : {1, 2, 39}) {
      inbox.send(request{add, reply});
      std::printf("count is %d\n", *reply.recv());
    }

    // Ten goroutines add 1 ten times each, each with a reply channel of its own.
    gofer::wait_group wg;
    for (int g = 0; g < 10; ++g) {
      wg.add(1);
      gofer::go(gofer::named{"adder-" + std::to_string(g)}, [inbox, &wg] {
        gofer::chan<int> mine;
        for (int k = 0; k < 10; ++k) {
          inbox.send(request{1, mine});
          mine.recv();
        }
        wg.done();
      });
    }
    wg.wait();
    inbox.send(request{0, reply});
    std::printf("after 100 more adds from 10 goroutines: %d\n", *reply.recv());
    inbox.close();  // the actor's loop ends
  });
}
