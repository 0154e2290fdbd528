// directional1 — only the owner closes a channel (book, chapter 10: "Choosing
// unidirectional and bidirectional channels").
//
// The producer sends the numbers 0..9. The consumer only wants 5 of them, so after the
// fifth it closes the channel — the book's ch10_8 — and the producer's next send panics:
// "send on closed channel". Make the types say who may do what: the producer owns its
// channel and hands out a receive-only view (gofer::recv_chan), which has no close(). The
// consumer then needs another way to tell the producer to stop — a channel of its own that
// the producer watches while it sends.
//
// Goal: the program prints
//   consumer: got 0 1 2 3 4
//   producer: stopped and closed its channel
//   nothing panicked
//
// Question: once the consumer cannot close `in`, how does the producer find out, in the
// middle of a send, that nobody wants more? (lib/include/gofer/select.hpp)

#include <cstdio>
#include <optional>
#include <string>

#include <gofer/gofer.hpp>

// The producer: makes its channel, sends 0..9 on it, closes it.
// TODO: return only the receive side, and stop early when asked to on `stop`.
gofer::chan<int> producer(gofer::chan<int> stop, gofer::chan<int> done) {
  gofer::chan<int> out;
  gofer::go([out, stop, done] {
    (void)stop;
    for (int i = 0; i < 10; ++i) out.send(i);
    out.close();
    done.send(1);
  });
  return out;
}

// The consumer: takes the first five values.
// TODO: what should a consumer be able to do with `in`? Which channel may it close?
void consumer(gofer::chan<int> in, gofer::chan<int> stop) {
  (void)stop;
  std::string got;
  int n = 0;
  for (int v : in) {
    got += (got.empty() ? "" : " ") + std::to_string(v);
    if (++n == 5) {
      in.close();  // the book's consumer: "I have enough"
      break;
    }
  }
  std::printf("consumer: got %s\n", got.c_str());
  for ([[maybe_unused]] int v : in) {
  }  // drain what the producer still sends, until it closes
}

int main() {
  return gofer::run([] {
    gofer::chan<int> stop, done(1);
    consumer(producer(stop, done), stop);
    done.recv();
    std::puts("producer: stopped and closed its channel");
    std::puts("nothing panicked");
  });
}
