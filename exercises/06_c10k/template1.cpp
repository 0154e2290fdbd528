// template1 — find the hidden cost by measuring: a template parsed on every request (book,
// chapter 6: "Parsing our template", "Exploring our web server").
//
// The book's first template server called template.ParseFiles inside the handler, and
// collapsed at about 200 concurrent connections; parsing once at start-up and only
// executing per request brought it back to 10,000. This server renders its pages with
// Google's ctemplate (Go's html/template plays this part in the book: it escapes the
// values for HTML). It answers correctly, but it is slow. Run it: at the end it prints on
// stderr where the handlers' time went. Find the work that is done again and again
// although its result never changes, and do it once.
//
// Goal: the same pages, and the output
//   200 pages served, each with its own title
//   the template was parsed 1 time
// Question: which part of rendering depends on the request, and which does not?

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ctemplate/template.h>

#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

namespace http = gofer::http;
using template_ptr = std::unique_ptr<ctemplate::Template>;

// ---- the template and the two steps of using it (no need to change these) ----

// The site's template: a title, and 40 KB of fixed text around it. AUTOESCAPE makes
// ctemplate HTML-escape the values.
std::string template_text() {
  std::string text = "{{%AUTOESCAPE context=\"HTML\"}}<html><head><title>{{TITLE}}</title></head><body>\n";
  while (text.size() < 40 * 1024) text += "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n";
  return text + "</body></html>\n";
}

std::atomic<long> parses{0}, parse_us{0}, executes{0}, execute_us{0};

long micros_since(std::chrono::steady_clock::time_point t0) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
}

// Step 1: turns the text into a parsed template. Thread-safe; never parks.
template_ptr parse(const std::string& text) {
  auto t0 = std::chrono::steady_clock::now();
  template_ptr t(ctemplate::Template::StringToTemplate(text, ctemplate::DO_NOT_STRIP));
  if (!t) throw std::runtime_error("template: parse error");
  parses++;
  parse_us += micros_since(t0);
  return t;
}

// Step 2: fills a parsed template in. A parsed template may be executed by any number of
// goroutines at once (Expand is const and thread-safe). Never parks.
std::string execute(const ctemplate::Template& t, const std::string& title) {
  auto t0 = std::chrono::steady_clock::now();
  ctemplate::TemplateDictionary dict("page");
  dict.SetValue("TITLE", title);
  std::string out;
  t.Expand(&out, &dict);
  executes++;
  execute_us += micros_since(t0);
  return out;
}

// ---- the server ----

// TODO: make the handlers do only the work that depends on their request.
http::serve_mux make_mux() {
  http::serve_mux mux;
  mux.handle("GET /template/{name}", [](const http::request& r, http::response_writer& w) {
    template_ptr t = parse(template_text());
    w.headers().set("Content-Type", "text/html; charset=utf-8");
    w.write(execute(*t, "This is our URL: " + r.path_value("name")));
  });
  return mux;
}

// ---- the load and the report: no need to change anything below ----

int main() {
  int right = 0;
  gofer::run([&] {
    http::server srv(make_mux());
    auto ln = gofer::net::listen("127.0.0.1:0").value();
    std::string base = "http://" + ln.addr() + "/template/";
    gofer::go(gofer::named("server"), [&srv, l = std::move(ln)]() mutable { srv.serve(std::move(l)); });
    // 20 visitors, 10 pages each, at once.
    std::vector<int> ok(20);
    gofer::wait_group wg;
    for (int v = 0; v < 20; ++v) {
      wg.add(1);
      gofer::go(gofer::named{"visitor"}, [&, v] {
        http::client c;
        for (int i = 0; i < 10; ++i) {
          std::string name = "v" + std::to_string(v) + "p" + std::to_string(i);
          auto res = c.get(gofer::background(), base + name);
          ok[v] += res.ok() && res->body.find("<title>This is our URL: " + name + "</title>") != std::string::npos;
        }
        wg.done();
      });
    }
    wg.wait();
    srv.shutdown(gofer::background());
    for (int n : ok) right += n;
  });
  std::fprintf(stderr, "where the handlers' time went:\n  parse    %5ld calls, %8.1f ms\n  execute  %5ld calls, %8.1f ms\n",
               parses.load(), static_cast<double>(parse_us.load()) / 1000, executes.load(),
               static_cast<double>(execute_us.load()) / 1000);
  std::printf("%d pages served, each with its own title\n", right);
  std::printf("the template was parsed %ld time%s\n", parses.load(), parses.load() == 1 ? "" : "s");
}
