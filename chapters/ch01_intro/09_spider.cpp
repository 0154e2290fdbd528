// spider — a concurrent web crawler (book, chapter 1: "Building a web spider using
// goroutines and channels").
//
// The book's spider fetched five fixed pages one after another and coordinated three
// goroutines through a shared status flag (and could hang). This one is the correct
// version: a few *fetcher* goroutines take URLs from a jobs channel, fetch and parse them
// (links extracted with a real HTML parser, gumbo), and send results back on one channel
// to main, the only owner of the "visited" set — no locks, no flags, no polling. Every
// request has a timeout, the crawl stops at a depth limit, and main knows it is done when
// no fetch is in flight.
//
// With no --url it crawls a small site that it serves itself on 127.0.0.1 (generated pages
// linking to each other; some slow, one hanging past the timeout, one broken link), then
// crawls it again with a single fetcher so you can see what the goroutines bought.
// Watch: the pages arrive out of order (whichever fetcher finishes first), the slow pages
// don't hold the others up, and the summary compares the two crawls.
#include <gumbo.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
namespace http = gofer::http;

namespace {

// ---- the local site -------------------------------------------------------------------
// Page n links to 2n+1 and 2n+2 (a tree), back to page 0, and every 5th page to a page
// that doesn't exist. Every 4th page is slow; page 7 takes longer than the client timeout.
std::string page_html(int n, int pages) {
  std::string body = "<html><head><title>page " + std::to_string(n) + "</title></head><body>";
  body += "<h1>Page " + std::to_string(n) + "</h1><ul>";
  for (int child : {2 * n + 1, 2 * n + 2})
    if (child < pages) body += "<li><a href=\"/page/" + std::to_string(child) + "\">page " + std::to_string(child) + "</a></li>";
  body += "<li><a href=\"/page/0\">home</a></li>";
  if (n % 5 == 4) body += "<li><a href=\"/missing/" + std::to_string(n) + "\">a broken link</a></li>";
  body += "<li><a href=\"http://elsewhere.invalid/\">another site (not followed)</a></li>";
  return body + "</ul></body></html>";
}

http::serve_mux make_site(int pages) {
  http::serve_mux mux;
  mux.handle("GET /page/{n}", [pages](const http::request& r, http::response_writer& w) {
    int n = std::atoi(r.path_value("n").c_str());
    if (n < 0 || n >= pages) return http::not_found(w);
    if (n == 7) gofer::sleep(2s);                  // hangs past the spider's timeout
    else if (n % 4 == 3) gofer::sleep(100ms);      // slow
    w.headers().set("Content-Type", "text/html; charset=utf-8");
    w.write(page_html(n, pages));
  });
  return mux;
}

// ---- link extraction with gumbo ---------------------------------------------------------
void collect_links(const GumboNode* node, std::vector<std::string>& out) {
  if (node->type != GUMBO_NODE_ELEMENT) return;
  if (node->v.element.tag == GUMBO_TAG_A) {
    if (const GumboAttribute* href = gumbo_get_attribute(&node->v.element.attributes, "href"))
      out.emplace_back(href->value);
  }
  const GumboVector& kids = node->v.element.children;
  for (unsigned i = 0; i < kids.length; ++i) collect_links(static_cast<const GumboNode*>(kids.data[i]), out);
}

std::vector<std::string> extract_links(const std::string& html) {
  std::vector<std::string> links;
  GumboOutput* doc = gumbo_parse_with_options(&kGumboDefaultOptions, html.data(), html.size());
  collect_links(doc->root, links);
  gumbo_destroy_output(&kGumboDefaultOptions, doc);
  return links;
}

// ---- the crawler ------------------------------------------------------------------------
struct job {
  std::string url;
  int depth;
};
struct result {
  std::string url;
  int depth;
  int fetcher;
  int status = 0;                  // HTTP status, 0 on error
  std::string error;               // why it failed
  std::vector<std::string> links;  // absolute, same host, not yet filtered for visited
  double ms = 0;
};

struct crawl_stats {
  int pages = 0, ok = 0, errors = 0, links = 0;
  double seconds = 0;
};

// A fetcher: takes jobs until the jobs channel is closed; one result per job.
void fetcher(int id, gofer::recv_chan<job> jobs, gofer::send_chan<result> results, http::client& client,
             std::chrono::milliseconds timeout) {
  for (job j : jobs) {
    result r;
    r.url = j.url;
    r.depth = j.depth;
    r.fetcher = id;
    auto t0 = clock_type::now();
    // Every request gets its own deadline: a hanging server costs at most `timeout`.
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), timeout);
    auto res = client.get(ctx, j.url);
    cancel();
    r.ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
    if (!res.ok()) {
      r.error = std::string(absl::StatusCodeToString(res.status().code()));
    } else {
      r.status = res->status;
      if (res->status == 200) {
        auto base = http::parse_url(res->url);
        for (const std::string& href : extract_links(res->body)) {
          auto abs = http::resolve_reference(*base, href);
          // Stay on the site we started on.
          if (abs.ok() && abs->host_port() == base->host_port()) r.links.push_back(abs->string());
        }
      }
    }
    results.send(std::move(r));
  }
}

// main's side: owns `visited`, hands out jobs, counts what is in flight.
crawl_stats crawl(const std::string& start, int max_depth, int nfetchers, std::chrono::milliseconds timeout,
                  bool verbose) {
  auto t0 = clock_type::now();
  http::client client;
  gofer::chan<job> jobs(64);
  gofer::chan<result> results(64);
  gofer::wait_group fetchers_done;
  for (int i = 1; i <= nfetchers; ++i) {
    fetchers_done.add(1);
    gofer::go(gofer::named{"fetcher-" + std::to_string(i)}, [=, &client, &fetchers_done] {
      fetcher(i, jobs, results, client, timeout);
      fetchers_done.done();
    });
  }

  std::set<std::string> visited{start};
  std::deque<job> todo{{start, 0}};  // jobs not yet handed out (jobs has room for 64)
  int in_flight = 0;
  crawl_stats st;
  while (!todo.empty() || in_flight > 0) {
    // Hand out what fits without blocking, then wait for one result.
    while (!todo.empty() && jobs.try_send(todo.front())) {
      todo.pop_front();
      ++in_flight;
    }
    result r = *results.recv();
    --in_flight;
    ++st.pages;
    if (r.status == 200) ++st.ok;
    else ++st.errors;
    st.links += static_cast<int>(r.links.size());
    if (verbose) {
      std::string what = r.status != 0 ? std::to_string(r.status) : "ERR " + r.error;
      std::printf("  fetcher %d  depth %d  %-22s %-30s %3zu links %7.1f ms\n", r.fetcher, r.depth, what.c_str(),
                  r.url.c_str(), r.links.size(), r.ms);
    }
    if (r.depth < max_depth) {
      for (std::string& link : r.links)
        if (visited.insert(link).second) todo.push_back({std::move(link), r.depth + 1});
    }
  }
  jobs.close();  // the fetchers' range loops end
  fetchers_done.wait();
  st.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  return st;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  int depth = 4, fetchers = 4, pages = 24, timeout_ms = 500;
  bool serve = false, compare = true;
  unsigned threads = 0;
  CLI::App app{"a concurrent web spider: fetchers, a results channel, one owner of the visited set", "spider"};
  app.add_option("--url", url, "crawl this http:// URL instead of the built-in local site");
  app.add_option("--depth", depth, "how many links deep to follow")->capture_default_str()->check(CLI::Range(0, 50));
  app.add_option("--fetchers", fetchers, "fetcher goroutines")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--pages", pages, "pages of the local site")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--timeout-ms", timeout_ms, "per-request timeout")->capture_default_str()->check(CLI::Range(1, 600000));
  app.add_option("--threads", threads, "scheduler threads (0: one per core)")->capture_default_str();
  app.add_flag("--serve", serve, "only serve the local site (until Ctrl-C) and print its address");
  app.add_flag("!--no-compare", compare, "skip the single-fetcher comparison crawl");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int status = 0;
  gofer::run(
      [&] {
        // 1. The site to crawl: ours, on a free loopback port, unless --url names one.
        http::server site(make_site(pages));
        std::string start = url;
        if (url.empty()) {
          auto ln = gofer::net::listen("127.0.0.1:0");
          if (!ln.ok()) {
            std::fprintf(stderr, "spider: %s\n", ln.status().ToString().c_str());
            status = 1;
            return;
          }
          start = "http://" + ln->addr() + "/page/0";
          gofer::go(gofer::named{"site"}, [&site, l = std::move(*ln)]() mutable {
            if (auto st = site.serve(std::move(l)); !http::is_server_closed(st))
              std::fprintf(stderr, "spider: %s\n", st.ToString().c_str());
          });
          if (serve) {
            std::printf("serving %d pages at %s (Ctrl-C to stop)\n", pages, start.c_str());
            gofer::select();  // park forever
          }
        } else if (!http::parse_url(url).ok()) {
          std::fprintf(stderr, "spider: %s\n", http::parse_url(url).status().ToString().c_str());
          status = 2;
          return;
        }

        // 2. The concurrent crawl, page by page as results arrive.
        std::printf("crawling %s with %d fetchers, depth %d, timeout %d ms\n", start.c_str(), fetchers, depth,
                    timeout_ms);
        crawl_stats c = crawl(start, depth, fetchers, std::chrono::milliseconds(timeout_ms), true);

        // 3. The same crawl with one fetcher: what the concurrency bought.
        crawl_stats s{};
        if (compare && fetchers > 1) {
          std::printf("crawling again with 1 fetcher (sequential)...\n");
          s = crawl(start, depth, 1, std::chrono::milliseconds(timeout_ms), false);
          std::printf("sequential: %d pages in %.2f s; concurrent: %.2f s (%.1fx faster)\n", s.pages, s.seconds,
                      c.seconds, s.seconds / c.seconds);
        }
        if (url.empty()) {
          auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 1s);
          // Graceful: in-flight requests may finish (page 7's may still be asleep); after 1 s
          // the rest are cut off.
          if (!site.shutdown(ctx).ok()) (void)site.close();
          cancel();
        }
        std::printf("crawled %d pages: %d ok, %d errors, %d links followed or seen, in %.2f s\n", c.pages, c.ok,
                    c.errors, c.links, c.seconds);
      },
      {.threads = threads});
  return status;
}
