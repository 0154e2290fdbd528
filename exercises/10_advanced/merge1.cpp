// merge1 — merge two streams until both are closed, with nil channels (book, chapter 10:
// "Using nil channels").
//
// merge() receives from two streams in one select loop and collects every value. Each
// stream closes when it is done, at its own time. As shipped, merge() stops at the first
// close and loses the rest of the other stream. Keeping a flag per stream is not enough
// either: a closed channel is always ready to receive from, so its case would keep firing.
//
// Goal: the program prints
//   merged 11 values, sum 225
//   closes seen: 2
//
// Question: which kind of channel is never ready in a select — and what is the handle of
// that channel?

#include <cstdio>
#include <optional>
#include <vector>

#include <gofer/gofer.hpp>

using namespace std::chrono_literals;

// A stream: sends its values `gap` apart, then closes.
gofer::recv_chan<int> stream(std::vector<int> values, std::chrono::milliseconds gap) {
  gofer::chan<int> out;
  gofer::go([out, values, gap] {
    for (int v : values) {
      gofer::sleep(gap);
      out.send(v);
    }
    out.close();
  });
  return out;
}

struct merged {
  std::vector<int> values;
  int closes_seen = 0;  // how many times a case reported a closed channel
};

merged merge(gofer::recv_chan<int> a, gofer::recv_chan<int> b) {
  merged m;
  // TODO: when should this loop end?
  for (;;) {
    std::optional<int> va, vb;
    switch (gofer::select(gofer::recv_case(a, va), gofer::recv_case(b, vb))) {
      case 0:
        if (!va) {
          ++m.closes_seen;
          // TODO: stream a is finished. Make sure its case can never fire again.
          return m;
        }
        m.values.push_back(*va);
        break;
      case 1:
        if (!vb) {
          ++m.closes_seen;
          // TODO: the same for stream b.
          return m;
        }
        m.values.push_back(*vb);
        break;
    }
  }
  return m;
}

int main() {
  return gofer::run([] {
    merged m = merge(stream({1, 2, 3, 4, 5}, 1ms), stream({10, 20, 30, 40, 50, 60}, 4ms));
    int sum = 0;
    for (int v : m.values) sum += v;
    std::printf("merged %zu values, sum %d\n", m.values.size(), sum);
    std::printf("closes seen: %d\n", m.closes_seen);
  });
}
