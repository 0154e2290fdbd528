// debug_http_test — gofer/debug_http.hpp: the dump parser and the pages on a live server.
#include <gtest/gtest.h>

#include <string>

#include <gofer/debug_http.hpp>
#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>

namespace {

TEST(debug_http, goroutines_json_parses_headers_names_states_and_times) {
  auto j = gofer::debug::goroutines_json(
      "a line before the first goroutine\n"
      "goroutine 1 [running]:\n"
      "\n"
      "goroutine 7 \"fetcher-3\" [chan receive, 2.5s]:\n"
      "fetch(const std::string&)\n"
      "\tmain.cpp:12\n"
      "\n"
      "goroutine 9 \"with [brackets]\" [select, 3 minutes]:\n");
  ASSERT_EQ(j["count"], 3);
  auto& g = j["goroutines"];
  EXPECT_EQ(g[0]["id"], 1);
  EXPECT_EQ(g[0]["name"], "");
  EXPECT_EQ(g[0]["state"], "running");
  EXPECT_EQ(g[1]["id"], 7);
  EXPECT_EQ(g[1]["name"], "fetcher-3");
  EXPECT_EQ(g[1]["state"], "chan receive");
  EXPECT_DOUBLE_EQ(g[1]["blocked_seconds"].get<double>(), 2.5);
  EXPECT_TRUE(g[0]["detail"].empty());
  ASSERT_EQ(g[1]["detail"].size(), 2u) << "the waiting function and its file:line";
  EXPECT_EQ(g[1]["detail"][0], "fetch(const std::string&)");
  EXPECT_EQ(g[1]["detail"][1], "main.cpp:12");
  EXPECT_EQ(g[2]["name"], "with [brackets]");
  EXPECT_EQ(g[2]["state"], "select");
  EXPECT_DOUBLE_EQ(g[2]["blocked_seconds"].get<double>(), 180.0) << "Go's words from a minute on";
}

TEST(debug_http, pages_answer_on_a_mounted_mux) {
  gofer::run([] {
    gofer::http::serve_mux mux;
    gofer::debug::mount(mux);
    gofer::http::server srv(mux);
    auto ln = gofer::net::listen("127.0.0.1:0").value();
    std::string base = "http://" + ln.addr() + "/debug/gofer/";
    gofer::chan<absl::Status> served(1);
    gofer::go([&srv, served, l = std::move(ln)]() mutable { served.send(srv.serve(std::move(l))); });
    gofer::chan<int> never;
    gofer::go(gofer::named{"parked-here"}, [never] { never.recv(); });

    gofer::http::client c;
    auto index = c.get(gofer::background(), base);
    ASSERT_TRUE(index.ok());
    EXPECT_EQ(index->status, 200);
    EXPECT_NE(index->body.find("href=\"goroutines\""), std::string::npos);

    auto text = c.get(gofer::background(), base + "goroutines");
    ASSERT_TRUE(text.ok());
    EXPECT_NE(text->body.find("\"parked-here\" [chan receive"), std::string::npos) << text->body;

    auto json = c.get(gofer::background(), base + "goroutines?format=json");
    ASSERT_TRUE(json.ok());
    auto j = json->json();
    ASSERT_TRUE(j.ok());
    bool found = false;
    for (auto& g : (*j)["goroutines"])
      if (g["name"] == "parked-here") found = g["state"] == "chan receive";
    EXPECT_TRUE(found);

    auto m = c.get(gofer::background(), base + "metrics");
    ASSERT_TRUE(m.ok());
    auto mj = m->json();
    ASSERT_TRUE(mj.ok());
    EXPECT_GE((*mj)["goroutines"].get<long>(), 3);
    EXPECT_EQ((*mj)["threads"].get<unsigned>(), gofer::num_threads());
    EXPECT_GT((*mj)["rss_bytes"].get<long>(), 0);

    auto post = c.post(gofer::background(), base + "metrics", "x", "text/plain");
    ASSERT_TRUE(post.ok());
    EXPECT_EQ(post->status, 405);
    auto missing = c.get(gofer::background(), base + "heap");
    ASSERT_TRUE(missing.ok());
    EXPECT_EQ(missing->status, 404);

    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), std::chrono::seconds(5));
    EXPECT_TRUE(srv.shutdown(ctx).ok());
    cancel();
    served.recv();
  });
}

}  // namespace
