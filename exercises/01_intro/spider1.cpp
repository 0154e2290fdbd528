// spider1 — spot the bug: two goroutines read one status channel (book, chapter 1:
// "Building a web spider using goroutines and channels").
//
// The book's spider fetches pages in one goroutine, which pings a status channel after each
// page; an evaluator goroutine counts the pings and says "done" after the last one. Main
// waits for "done" — and, to show progress, also listens on the status channel. Run it:
// gofer's deadlock detector stops it, and its report says which goroutine waits where.
// How many pings did the evaluator count, and where did the others go?
// (Here the "web" is a table in memory.)
//
// Goal: the program prints
//   counted page 1 of 5
//   counted page 2 of 5
//   counted page 3 of 5
//   counted page 4 of 5
//   counted page 5 of 5
//   crawled 5 pages, 107 bytes

#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/select.hpp>

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

        // TODO: find the bug. Who receives from `status`, and who should?
        std::size_t bytes = 0;
        for (bool finished = false; !finished;) {
          gofer::select(
              gofer::recv_case(status, [](std::optional<std::size_t>) { std::puts("(progress)"); }),
              gofer::recv_case(done, [&](std::optional<std::size_t> b) {
                bytes = *b;
                finished = true;
              }));
        }
        std::printf("crawled %d pages, %zu bytes\n", pages, bytes);
      },
      {.threads = 1});
}
