// rss — an RSS reader with self-diagnostics (book, chapter 2: "RSS in action", "An RSS
// reader with self diagnostics", "Imposing a timeout"). The demo serves a few RSS feeds
// itself on 127.0.0.1, each answering after its own delay (one of them slower than the
// reader's patience, one sending broken XML). The reader fetches all feeds at once, one
// goroutine per feed, each with its own deadline (a context), parses them with pugixml,
// and reports back on one channel. Then it diagnoses itself: how long each feed took, how
// many items it had, and whether it was ok, timed out or failed, drawn on a time line.
// Watch: the feeds arrive fastest first, the slow one costs exactly the timeout and no more,
// and the whole read takes as long as the slowest feed, not the sum of them.
//
// (The book's reader started each feed in a goroutine but waited for it right after
// starting it, so the feeds were read one after another; and the HTTP client of its day
// had no timeout at all.)

#include <pugixml.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using ms = std::chrono::duration<double, std::milli>;
namespace http = gofer::http;

namespace {

// ---- the feed server --------------------------------------------------------------------
// What each feed is and how the server treats it: its delay, its items, and whether it
// sends a document cut off in the middle (a broken feed).
struct feed_spec {
  std::string name;
  int delay_ms;
  int items;
  bool broken = false;
};

std::vector<feed_spec> default_feeds() {
  return {{"golang-nuts", 40, 5},
          {"golang-dev", 150, 3},
          {"reddit-golang", 300, 4},
          {"go-blog", 2000, 3},  // slower than the reader's default timeout
          {"broken-feed", 10, 2, true}};
}

// An RSS 2.0 document, built and serialized by pugixml (it escapes the '&' and '<' in the
// titles; nothing here writes XML by hand).
std::string rss_document(const feed_spec& f) {
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  auto rss = doc.append_child("rss");
  rss.append_attribute("version") = "2.0";
  auto channel = rss.append_child("channel");
  channel.append_child("title").text().set(f.name.c_str());
  channel.append_child("link").text().set(("http://example.invalid/" + f.name).c_str());
  channel.append_child("description").text().set("a feed served by the rss demo");
  static const char* const topics[] = {"select & timeouts", "channels <- values", "goroutines vs threads",
                                       "sync.Mutex or a channel?", "context cancellation", "the race detector"};
  for (int i = 1; i <= f.items; ++i) {
    auto item = channel.append_child("item");
    std::string title = f.name + " #" + std::to_string(i) + ": " + topics[(i - 1) % 6];
    item.append_child("title").text().set(title.c_str());
    std::string link = "http://example.invalid/" + f.name + "/" + std::to_string(i);
    item.append_child("link").text().set(link.c_str());
    item.append_child("guid").text().set(link.c_str());
  }
  std::ostringstream out;
  doc.save(out, "  ");
  std::string xml = out.str();
  if (f.broken) xml.resize(xml.size() * 2 / 3);  // the connection "dropped" mid-document
  return xml;
}

http::serve_mux feed_server(const std::vector<feed_spec>& feeds) {
  http::serve_mux mux;
  mux.handle("GET /rss/{feed}", [feeds](const http::request& r, http::response_writer& w) {
    auto f =
        std::find_if(feeds.begin(), feeds.end(), [&](const feed_spec& s) { return s.name == r.path_value("feed"); });
    if (f == feeds.end()) return http::not_found(w);
    // The feed's delay: a sleep that ends early if the server is closed (r.ctx).
    gofer::select(gofer::recv_case(gofer::after(std::chrono::milliseconds(f->delay_ms))),
                  gofer::recv_case(r.ctx.done()));
    w.headers().set("Content-Type", "application/rss+xml; charset=utf-8");
    w.write(rss_document(*f));
  });
  return mux;
}

// ---- the reader -------------------------------------------------------------------------
struct item {
  std::string title, guid;
};

// What a reader goroutine reports about its feed: the self-diagnostics.
struct report {
  int index;                // which feed (its row in the table)
  std::string status;       // "ok", "timeout" or "error"
  std::string detail;       // why, for errors
  double start_ms, end_ms;  // since the read began
  std::vector<item> items;
};

// Parses an RSS 2.0 document: the items, or an error message.
bool parse_rss(const std::string& body, std::vector<item>& items, std::string& error) {
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(body.data(), body.size());
  if (!parsed) {
    error = std::string("XML: ") + parsed.description() + " at byte " + std::to_string(parsed.offset);
    return false;
  }
  pugi::xml_node channel = doc.child("rss").child("channel");
  if (!channel) {
    error = "not an RSS 2.0 document (no <rss><channel>)";
    return false;
  }
  for (pugi::xml_node it : channel.children("item"))
    items.push_back({it.child_value("title"), it.child_value("guid")});
  return true;
}

// One feed: fetch it within `timeout`, parse it, report. Every outcome is a report: the
// reader never just disappears, so main can count on exactly one report per feed.
void read_feed(int index, const std::string& url, std::chrono::milliseconds timeout, http::client& client,
               clock_type::time_point t0, gofer::send_chan<report> reports) {
  report r{index, "ok", "", ms(clock_type::now() - t0).count(), 0, {}};
  auto [ctx, cancel] = gofer::with_timeout(gofer::background(), timeout);
  auto res = client.get(ctx, url);
  cancel();
  if (!res.ok()) {
    r.status = absl::IsDeadlineExceeded(res.status()) ? "timeout" : "error";
    r.detail = std::string(res.status().message());
  } else if (res->status != http::status::ok) {
    r.status = "error";
    r.detail = "HTTP " + std::to_string(res->status);
  } else if (!parse_rss(res->body, r.items, r.detail)) {
    r.status = "error";
  }
  r.end_ms = ms(clock_type::now() - t0).count();
  reports.send(std::move(r));
}

// The time line of one feed: '#' while it was being fetched, on a scale of `scale_ms`.
std::string bar(const report& r, double scale_ms, int width) {
  std::string row(width, ' ');
  int a = std::clamp(static_cast<int>(r.start_ms / scale_ms * width), 0, width - 1);
  int b = std::clamp(static_cast<int>(r.end_ms / scale_ms * width + 0.5), a + 1, width);
  for (int c = a; c < b; ++c) row[c] = '#';
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<feed_spec> feeds = default_feeds();
  std::vector<int> delays;
  int timeout_ms = 500;
  bool quiet = false;
  unsigned threads = 0;
  CLI::App app{"an RSS reader with self-diagnostics: one goroutine per feed, a per-feed timeout", "rss"};
  app.add_option("--timeout-ms", timeout_ms, "how long the reader waits for each feed")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  app.add_option("--delays", delays,
                 "per-feed server delays in ms, in table order (default 40,150,300,2000,10)")
      ->delimiter(',')
      ->check(CLI::Range(0, 60000));
  app.add_flag("--quiet", quiet, "don't list the items");
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  if (delays.size() > feeds.size()) {
    std::fprintf(stderr,
                 "rss: --delays: at most %zu values, one per feed\nUsage: rss [OPTIONS]  (--help for the flags)\n",
                 feeds.size());
    return 2;
  }
  for (std::size_t i = 0; i < delays.size(); ++i) feeds[i].delay_ms = delays[i];

  int status = 0;
  int ok = 0, timed_out = 0, failed = 0, total_items = 0;
  double elapsed_ms = 0;
  gofer::run(
      [&] {
        // 1. The feed server, on a free loopback port.
        auto ln = gofer::net::listen("127.0.0.1:0");
        if (!ln.ok()) {
          std::fprintf(stderr, "rss: %s\n", ln.status().ToString().c_str());
          status = 1;
          return;
        }
        std::string base = "http://" + ln->addr() + "/rss/";
        http::server server(feed_server(feeds));
        gofer::go(gofer::named{"feed-server"}, [&server, l = std::move(*ln)]() mutable {
          if (auto st = server.serve(std::move(l)); !http::is_server_closed(st))
            std::fprintf(stderr, "rss: %s\n", st.ToString().c_str());
        });
        std::printf("reading %zu feeds from %s... at once, each with a %d ms timeout\n", feeds.size(), base.c_str(),
                    timeout_ms);

        // 2. One reader goroutine per feed, all started before main waits for any. The
        // reports channel has room for all of them, so no reader waits for main.
        http::client client;
        gofer::chan<report> reports(feeds.size());
        auto t0 = clock_type::now();
        for (std::size_t i = 0; i < feeds.size(); ++i) {
          gofer::go(gofer::named{"reader-" + feeds[i].name}, [&, i, reports] {
            read_feed(static_cast<int>(i), base + feeds[i].name, std::chrono::milliseconds(timeout_ms), client, t0,
                      reports);
          });
        }

        // 3. The reports, in the order they arrive: fastest first.
        std::vector<report> table(feeds.size());
        for (std::size_t n = 0; n < feeds.size(); ++n) {
          report r = *reports.recv();
          const std::string& name = feeds[r.index].name;
          if (r.status == "ok")
            std::printf("  %6.0f ms  %-14s %zu items\n", r.end_ms, name.c_str(), r.items.size());
          else
            std::printf("  %6.0f ms  %-14s %s: %s\n", r.end_ms, name.c_str(), r.status.c_str(), r.detail.c_str());
          if (!quiet)
            for (const item& it : r.items)
              std::printf("               - %s  <%s>\n", it.title.c_str(), it.guid.c_str());
          table[r.index] = std::move(r);
        }
        elapsed_ms = ms(clock_type::now() - t0).count();

        // 4. The self-diagnostics: one row per feed, and its time line.
        double scale = std::max(elapsed_ms, static_cast<double>(timeout_ms));
        double one_by_one = 0;
        std::string end_label = std::to_string(static_cast<int>(scale + 0.5)) + " ms";
        std::printf("\n  %-14s %8s %9s %5s  %-8s 0 ms%*s\n", "feed", "delay", "took", "items", "status",
                    static_cast<int>(30 - 4 + 1), end_label.c_str());
        for (std::size_t i = 0; i < feeds.size(); ++i) {
          const report& r = table[i];
          std::printf("  %-14s %5d ms %6.0f ms %5zu  %-8s|%s|\n", feeds[i].name.c_str(), feeds[i].delay_ms,
                      r.end_ms - r.start_ms, r.items.size(), r.status.c_str(), bar(r, scale, 30).c_str());
          one_by_one += r.end_ms - r.start_ms;
          total_items += static_cast<int>(r.items.size());
          if (r.status == "ok") ++ok;
          else if (r.status == "timeout") ++timed_out;
          else ++failed;
        }
        std::printf("  together: %.0f ms; one feed after another (the book's loop) would take about %.0f ms\n\n",
                    elapsed_ms, one_by_one);

        // 5. Done: close the server (it cuts the slow feed's handler short: r.ctx).
        (void)server.close();  // always OK
      },
      {.threads = threads});
  if (status != 0) return status;
  std::printf("read %d of %zu feeds (%d items): %d timed out, %d failed, in %.2f s\n", ok, feeds.size(), total_items,
              timed_out, failed, elapsed_ms / 1000);
  return 0;
}
