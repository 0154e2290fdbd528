// timeouts1 — solution. A select over the answer and gofer::after(limit): whichever is
// ready first wins. The abandoned job still finishes, and its buffered channel lets it.

#include <chrono>
#include <cstdio>
#include <optional>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/select.hpp>
#include <gofer/time.hpp>

using namespace std::chrono_literals;

// A job that answers `value` after `delay`, on a channel with room for the answer, so the
// job can always deliver it and end, even when nobody waits for it any more.
gofer::chan<int> start_job(std::chrono::milliseconds delay, int value) {
  gofer::chan<int> answer(1);
  gofer::go(gofer::named{"job"}, [answer, delay, value] {
    gofer::sleep(delay);
    answer.send(value);
  });
  return answer;
}

// The answer, or nullopt if none came within `limit`.
std::optional<int> wait_for(gofer::chan<int> answer, std::chrono::milliseconds limit) {
  std::optional<int> got;
  gofer::select(gofer::recv_case(answer, [&](std::optional<int> v) { got = v; }),
                gofer::recv_case(gofer::after(limit)));
  return got;
}

void report(const char* job, std::optional<int> v, std::chrono::milliseconds limit) {
  if (v) std::printf("%s: answered %d\n", job, *v);
  else std::printf("%s: gave up after %lld ms\n", job, static_cast<long long>(limit.count()));
}

int main() {
  return gofer::run([] {
    report("slow job", wait_for(start_job(1000ms, 42), 100ms), 100ms);
    report("fast job", wait_for(start_job(10ms, 7), 2000ms), 2000ms);
  });
}
