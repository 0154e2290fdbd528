// spider1 — solution. One consumer per channel: the status pings belong to the evaluator,
// and main waits only for its answer on `done`. (If main wants progress, the evaluator can
// report it on a channel of its own.)

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

const std::vector<std::pair<std::string, std::string>> kWeb = {
    {"index1.html", "<p>the first page</p>"},
    {"index2.html", "<p>the second page</p>"},
    {"index3.html", "<p>the third page</p>"},
    {"index4.html", "<p>the fourth page</p>"},
    {"index5.html", "<p>the fifth page</p>"},
};

int main() {
  return gofer::run(
      [] {
        const int pages = static_cast<int>(kWeb.size());
        gofer::chan<std::size_t> status;  // one ping per page: its size in bytes
        gofer::chan<std::size_t> done;    // the evaluator's total, after the last ping

        // readURLs: fetches the pages one after another and pings after each.
        gofer::go(gofer::named{"readURLs"}, [status] {
          for (const auto& [url, body] : kWeb) status.send(body.size());
        });

        // evaluateStatus: counts the pings.
        gofer::go(gofer::named{"evaluateStatus"}, [status, done, pages] {
          std::size_t bytes = 0;
          for (int n = 1; n <= pages; ++n) {
            bytes += *status.recv();
            std::printf("counted page %d of %d\n", n, pages);
          }
          done.send(bytes);
        });

        std::size_t bytes = *done.recv();
        std::printf("crawled %d pages, %zu bytes\n", pages, bytes);
      },
      {.threads = 1});
}
