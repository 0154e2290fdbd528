// tomb1 — solution. The request runs under t.context(), which is cancelled when the tomb
// starts dying: the kill cancels the GET in flight, the fetcher returns, t.wait() returns.

#include <chrono>
#include <cstdio>
#include <string>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/tomb.hpp>

using namespace std::chrono_literals;
namespace http = gofer::http;

int main() {
  return gofer::run([] {
    // The server: GET /page/N answers after N ms.
    http::serve_mux mux;
    mux.handle("GET /page/{ms}", [](const http::request& r, http::response_writer& w) {
      gofer::sleep(std::chrono::milliseconds(std::stoi(r.path_value("ms"))));
      w.write("page");
    });
    auto ln = gofer::net::listen("127.0.0.1:0");
    std::string base = "http://" + ln->addr();
    http::server srv(mux);
    gofer::go([&srv, l = std::move(*ln)]() mutable { (void)srv.serve(std::move(l)); });

    gofer::tomb t;
    std::string outcome[2];
    const char* pages[] = {"/page/0", "/page/2000"};
    for (int i = 0; i < 2; ++i) {
      t.go([t, i, &outcome, url = base + pages[i]]() -> absl::Status {
        http::client c;
        auto res = c.get(t.context(), url);
        outcome[i] = res.ok() ? "got data" : "cancelled";
        return res.ok() ? absl::OkStatus() : gofer::err_dying();
      });
    }

    gofer::sleep(200ms);
    auto killed = std::chrono::steady_clock::now();
    t.kill(absl::OkStatus());
    (void)t.wait();
    auto took = std::chrono::steady_clock::now() - killed;
    for (int i = 0; i < 2; ++i) std::printf("%s: %s\n", pages[i], outcome[i].c_str());
    if (took < 500ms) std::puts("the tomb was dead soon after the kill");
    else std::printf("the tomb waited %lld ms for a fetcher that ignored the kill\n",
                     static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    (void)srv.close();
  });
}
