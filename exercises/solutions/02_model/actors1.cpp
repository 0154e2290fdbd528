// actors1 — solution. The request carries a send-only handle to the requester's channel
// (gofer::chan<int> would do too); the actor ranges over its inbox and answers each request.
// The count needs no lock: only the actor's goroutine ever touches it.

#include <cstdio>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

struct request {
  int add = 0;
  gofer::send_chan<int> reply;
};

void counter_actor(gofer::recv_chan<request> inbox) {
  int count = 0;
  for (request r : inbox) {
    count += r.add;
    r.reply.send(count);
  }
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
