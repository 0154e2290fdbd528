// merge1 — solution. A finished stream's handle is set to nil: a nil channel is never ready,
// so its case never fires again, and the loop runs while at least one stream is not nil.

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
  while (a || b) {
    std::optional<int> va, vb;
    switch (gofer::select(gofer::recv_case(a, va), gofer::recv_case(b, vb))) {
      case 0:
        if (!va) {
          ++m.closes_seen;
          a = nullptr;
          break;
        }
        m.values.push_back(*va);
        break;
      case 1:
        if (!vb) {
          ++m.closes_seen;
          b = nullptr;
          break;
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
