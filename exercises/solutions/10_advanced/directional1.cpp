// directional1 — solution. producer() hands out a recv_chan<int>, which has no close(); the
// consumer closes its own `stop` channel (a send_chan it may close) and drains; the producer
// selects between its send and `stop`, and closes its channel itself.

#include <cstdio>
#include <optional>
#include <string>

#include <gofer/gofer.hpp>

// The producer: makes its channel, sends 0..9 on it, closes it.
gofer::recv_chan<int> producer(gofer::recv_chan<int> stop, gofer::chan<int> done) {
  gofer::chan<int> out;
  gofer::go([out, stop, done] {
    for (int i = 0; i < 10; ++i) {
      if (gofer::select(gofer::send_case(out, i), gofer::recv_case(stop)) == 1) break;
    }
    out.close();
    done.send(1);
  });
  return out;
}

// The consumer: takes the first five values.
void consumer(gofer::recv_chan<int> in, gofer::send_chan<int> stop) {
  std::string got;
  int n = 0;
  for (int v : in) {
    got += (got.empty() ? "" : " ") + std::to_string(v);
    if (++n == 5) {
      stop.close();  // "I have enough": on the consumer's own channel
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
