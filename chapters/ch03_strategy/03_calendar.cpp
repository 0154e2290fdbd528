// calendar — the multiuser appointment calendar (book, chapter 3: "The project – multiuser
// appointment calendar", "A multiuser Appointments Calendar"). An HTTP server keeps users,
// each with nine one-hour slots (9am to 5pm), and offers the book's routes: list the users,
// register a user, schedule a slot. Many people may book the same slot at the same moment;
// exactly one of them must get it. So the server checks "is it free?" and sets "it is
// mine" under one lock, as one step (a check-and-set). The book locked only the set, after
// an unlocked check: two requests could both see the slot free, and both "succeed".
//
// The demo drives itself: it serves on 127.0.0.1 and starts N client goroutines that all
// register the same new user and then all try to book every slot of two users, each in its
// own random order. Watch the grid: every slot has exactly one owner, and the server's own
// view (GET /api/users) agrees with what the clients were told.
// With --serve it only serves (http://127.0.0.1:1900/users in a browser, or curl) until
// Ctrl-C or SIGTERM, then shuts down gracefully. It holds at most --max-users users, so the
// listing (and the server's memory) stays bounded whoever registers.
//
// Routes (Go 1.22 patterns; changes are POSTs, the book used GET links):
//   GET  /users                   an HTML page: users and their slots, free ones as buttons
//   GET  /api/users               the same as JSON
//   POST /register/{name}         201 created | 409 exists | 400 bad name (letters only)
//                                 | 403 the calendar is full (--max-users)
//   POST /schedule/{name}/{hour}  200 booked | 409 taken | 404 no such user | 400 bad hour
//                                 optional JSON body {"by": "who"}

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <signal.h>
#include <random>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/http.hpp>
#include <gofer/net.hpp>
#include <gofer/signal.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace http = gofer::http;

namespace {

constexpr int kFirstHour = 9, kLastHour = 17;  // 9am .. 5pm: nine slots, as in the book's code
constexpr int kSlots = kLastHour - kFirstHour + 1;

std::string hour_label(int hour) {
  int h = hour > 12 ? hour - 12 : hour;
  return std::to_string(h) + (hour >= 12 ? "pm" : "am");
}

// The first max bytes of s, cut back to a UTF-8 code point boundary: a cut inside a
// multi-byte character would leave invalid UTF-8, which JSON cannot carry.
std::string utf8_prefix(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // s[n] continues a character
  return s.substr(0, n);
}

bool valid_name(const std::string& name) {  // the book's route regex: [A-Za-z]+
  return !name.empty() && name.size() <= 32 &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalpha(c); });
}

// ---- the calendar: all state behind one lock ----------------------------------------------
class calendar {
 public:
  enum class outcome { done, exists, taken, no_user, full };

  explicit calendar(std::size_t max_users) : max_users_(max_users) {}

  // Registers name: done, exists, or full (max_users reached: what one client can make the
  // server hold, and the listing cost, stay bounded). (The book wrote the users map
  // without any lock.)
  outcome register_user(const std::string& name) {
    std::lock_guard lk(mu_);
    if (users_.count(name) != 0) return outcome::exists;
    if (users_.size() >= max_users_) return outcome::full;
    users_.try_emplace(name);
    return outcome::done;
  }

  // Books name's slot at hour for `by`: done, taken (holder says by whom), or no_user.
  // The check and the set happen under one lock: nobody can come in between. Never parks
  // except to take the lock.
  outcome schedule(const std::string& name, int hour, const std::string& by, std::string& holder) {
    std::lock_guard lk(mu_);
    auto u = users_.find(name);
    if (u == users_.end()) return outcome::no_user;
    std::string& slot = u->second[hour - kFirstHour];
    if (!slot.empty()) {  // check ...
      holder = slot;
      return outcome::taken;
    }
    slot = by;  // ... and set, still under the same lock
    return outcome::done;
  }

  // A copy of everything, as JSON: {"users": [{"name", "slots": [{"hour", "label", "booked_by"}]}]}
  json snapshot() {
    std::lock_guard lk(mu_);
    json users = json::array();
    for (const auto& [name, slots] : users_) {
      json js = json::array();
      for (int h = kFirstHour; h <= kLastHour; ++h) {
        const std::string& by = slots[h - kFirstHour];
        js.push_back({{"hour", h}, {"label", hour_label(h)}, {"booked_by", by.empty() ? json(nullptr) : json(by)}});
      }
      users.push_back({{"name", name}, {"slots", js}});
    }
    return {{"users", users}};
  }

 private:
  const std::size_t max_users_;
  gofer::mutex mu_;                                              // guards users_
  std::map<std::string, std::array<std::string, kSlots>> users_;  // name → who booked each slot ("" free)
};

// ---- the web server ---------------------------------------------------------------------
std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// The small HTML page: a row per user, a button (a POST form) per free slot.
std::string users_page(const json& snap) {
  std::string h =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>Appointments</title>"
      "<style>body{font-family:sans-serif} td{padding:2px 6px} form{display:inline}</style></head><body>"
      "<h1>Appointments</h1><table>";
  for (const json& u : snap["users"]) {
    std::string name = u["name"];
    h += "<tr><td><b>" + name + "</b></td>";
    for (const json& s : u["slots"]) {
      std::string label = s["label"];
      if (s["booked_by"].is_null())
        h += "<td><form method=\"post\" action=\"/schedule/" + name + "/" + std::to_string(int(s["hour"])) +
             "\"><button>" + label + "</button></form></td>";
      else
        h += "<td title=\"booked by " + html_escape(s["booked_by"].get<std::string>()) + "\"><s>" + label + "</s></td>";
    }
    h += "</tr>";
  }
  return h + "</table><p>Register: <code>curl -X POST http://HOST/register/Name</code></p></body></html>";
}

bool wants_html(const http::request& r) { return r.headers.get("Accept").find("text/html") != std::string::npos; }

// Answers as JSON, or, for a browser's form post, as a line of HTML with a link back.
void answer(const http::request& r, http::response_writer& w, int code, const json& j) {
  if (!wants_html(r)) return http::write_json(w, code, j);
  w.headers().set("Content-Type", "text/html; charset=utf-8");
  w.write_header(code);
  std::string msg = j.contains("error") ? j["error"].get<std::string>() : j["message"].get<std::string>();
  w.write("<!doctype html><p>" + html_escape(msg) + "</p><p><a href=\"/users\">Back to users</a></p>");
}

http::serve_mux routes(calendar& cal) {
  http::serve_mux mux;
  mux.handle("GET /{$}", [](const http::request& r, http::response_writer& w) {
    http::redirect(w, r, "/users", http::status::found);
  });
  mux.handle("GET /users", [&cal](const http::request&, http::response_writer& w) {
    w.headers().set("Content-Type", "text/html; charset=utf-8");
    w.write(users_page(cal.snapshot()));
  });
  mux.handle("GET /api/users", [&cal](const http::request&, http::response_writer& w) {
    http::write_json(w, http::status::ok, cal.snapshot());
  });
  mux.handle("POST /register/{name}", [&cal](const http::request& r, http::response_writer& w) {
    std::string name = r.path_value("name");
    if (!valid_name(name)) return answer(r, w, http::status::bad_request, {{"error", "a name is letters only"}});
    switch (cal.register_user(name)) {
      case calendar::outcome::exists:
        return answer(r, w, http::status::conflict, {{"error", "user " + name + " already exists"}});
      case calendar::outcome::full:
        return answer(r, w, http::status::forbidden, {{"error", "the calendar is full"}});
      default: break;
    }
    answer(r, w, http::status::created, {{"message", "you have created user " + name}, {"created", name}});
  });
  mux.handle("POST /schedule/{name}/{hour}", [&cal](const http::request& r, http::response_writer& w) {
    std::string name = r.path_value("name"), hour_text = r.path_value("hour");
    int hour = 0;
    if (hour_text.empty() || hour_text.size() > 2 ||
        !std::all_of(hour_text.begin(), hour_text.end(), [](unsigned char c) { return std::isdigit(c); }) ||
        (hour = std::stoi(hour_text)) < kFirstHour || hour > kLastHour)
      return answer(r, w, http::status::bad_request, {{"error", "the hour is 9 to 17"}});
    std::string by = "someone";
    if (!r.body().empty()) {
      auto j = http::decode_json(r, w);  // bad JSON: it answered 400
      if (!j) return;
      if (j->contains("by") && (*j)["by"].is_string()) by = utf8_prefix((*j)["by"].get<std::string>(), 40);
    }
    std::string holder;
    switch (cal.schedule(name, hour, by, holder)) {
      case calendar::outcome::no_user:
        return answer(r, w, http::status::not_found,
                      {{"error", "no user " + name + ": POST /register/" + name + " first"}});
      case calendar::outcome::taken:
        return answer(r, w, http::status::conflict,
                      {{"error", name + " is booked at " + hour_label(hour)}, {"booked_by", holder}});
      default:
        return answer(r, w, http::status::ok,
                      {{"message", "scheduled " + name + " at " + hour_label(hour) + " for " + by},
                       {"user", name},
                       {"hour", hour},
                       {"booked_by", by}});
    }
  });
  return mux;
}

// ---- the clients ------------------------------------------------------------------------
// What one client goroutine saw: did its registration create the user, and the answer to
// each booking it tried.
struct booking {
  std::string user;
  int hour;
  int status;  // 200 booked, 409 taken; anything else is a failure of the demo
};
struct client_report {
  int id;
  int register_status = 0;
  std::vector<booking> bookings;
  std::string error;  // a transport error, if any
};

client_report run_client(int id, const std::string& base, const std::vector<std::string>& users, unsigned seed) {
  client_report rep;
  rep.id = id;
  http::client c;
  auto post = [&](const std::string& path, std::string body) -> int {
    auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 5s);
    auto res = c.post(ctx, base + path, std::move(body), "application/json");
    cancel();
    if (!res.ok()) {
      rep.error = res.status().ToString();
      return 0;
    }
    return res->status;
  };
  // Everybody registers the newcomer; one of them creates it.
  rep.register_status = post("/register/" + users.back(), "");
  // Then every slot of every user, in this client's own random order.
  std::vector<std::pair<std::string, int>> wanted;
  for (const std::string& u : users)
    for (int h = kFirstHour; h <= kLastHour; ++h) wanted.emplace_back(u, h);
  std::shuffle(wanted.begin(), wanted.end(), std::mt19937(seed));
  json body = {{"by", "client-" + std::to_string(id)}};
  for (const auto& [u, h] : wanted)
    rep.bookings.push_back({u, h, post("/schedule/" + u + "/" + std::to_string(h), body.dump())});
  return rep;
}

}  // namespace

int main(int argc, char** argv) {
  int clients = 8;
  unsigned seed = std::random_device{}();
  bool serve = false;
  std::string addr = "127.0.0.1:1900";
  unsigned threads = 0;
  std::size_t max_users = 1000;
  CLI::App app{"the multiuser appointment calendar: an HTTP server with a check-and-set per slot, raced by its "
               "own clients",
               "calendar"};
  app.add_option("--clients", clients, "client goroutines racing for the slots")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--seed", seed, "seed for the clients' booking orders (default: a new one each run)");
  app.add_flag("--serve", serve, "only serve (until Ctrl-C), on --addr");
  app.add_option("--addr", addr, "where --serve listens")->capture_default_str();
  app.add_option("--max-users", max_users, "users the calendar holds at most")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{2}, std::size_t{1000000}));
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  const std::vector<std::string> users = {"Bill", "Ada"};  // Bill exists; the clients register Ada
  int status = 0, slots_ok = 0, attempts = 0, successes = 0;
  gofer::run(
      [&] {
        calendar cal(max_users);
        cal.register_user("Bill");  // the book's seed user
        http::server server(routes(cal));
        auto ln = gofer::net::listen(serve ? addr : "127.0.0.1:0");
        if (!ln.ok()) {
          std::fprintf(stderr, "calendar: %s\n", ln.status().ToString().c_str());
          status = 1;
          return;
        }
        std::string base = "http://" + ln->addr();
        // serve() returns when the server is shut down, or when it fails: `served` says which
        // (buffered, so the server goroutine never waits for a reader).
        gofer::chan<absl::Status> served(1);
        gofer::go(gofer::named{"server"}, [&server, served, l = std::move(*ln)]() mutable {
          absl::Status st = server.serve(std::move(l));
          if (!http::is_server_closed(st)) std::fprintf(stderr, "calendar: %s\n", st.ToString().c_str());
          served.send(st);
        });
        if (serve) {
          // Go's signal.Notify(sigs, os.Interrupt, syscall.SIGTERM): Ctrl-C and SIGTERM
          // arrive on sigs (buffered: the relay never waits) instead of ending the program.
          gofer::chan<int> sigs(1);
          gofer::signal::notify(sigs, {SIGINT, SIGTERM});
          std::printf("serving the calendar at %s/users (Ctrl-C or SIGTERM to stop)\n", base.c_str());
          std::fflush(stdout);
          // Wait for a signal — or for the server to fail, which ends the demo too.
          std::optional<int> sig;
          std::optional<absl::Status> failed;
          if (gofer::select(gofer::recv_case(sigs, sig), gofer::recv_case(served, failed)) == 1) {
            gofer::signal::stop(sigs);
            status = 1;
            return;
          }
          // Go's srv.Shutdown: stop accepting, let requests in flight finish (at most 5 s).
          std::printf("got %s: shutting down gracefully\n", *sig == SIGINT ? "SIGINT" : "SIGTERM");
          auto [ctx, cancel] = gofer::with_timeout(gofer::background(), 5s);
          absl::Status down = server.shutdown(ctx);
          cancel();
          std::printf("calendar: shut down %s\n", down.ok() ? "gracefully" : "forcibly");
          std::fflush(stdout);
          if (!down.ok()) status = 1;
          return;
        }

        // N clients at once; each reports on one channel (room for all: nobody waits).
        std::printf("%d clients register %s and book every slot of %s and %s, all at once, at %s\n", clients,
                    users.back().c_str(), users[0].c_str(), users[1].c_str(), base.c_str());
        gofer::chan<client_report> reports(clients);
        std::mt19937 seeds(seed);
        for (int id = 1; id <= clients; ++id)
          gofer::go(gofer::named{"client-" + std::to_string(id)}, [&, id, reports, s = seeds()]() {
            reports.send(run_client(id, base, users, s));
          });

        // Tally: who was told "booked" for each slot, and who created the user.
        std::map<std::pair<std::string, int>, std::vector<int>> winners;
        int created = 0, exists = 0, refused = 0;
        bool clean = true;
        for (int n = 0; n < clients; ++n) {
          client_report rep = *reports.recv();
          if (!rep.error.empty()) {
            std::printf("   client-%d: %s\n", rep.id, rep.error.c_str());
            clean = false;
          }
          if (rep.register_status == http::status::created) ++created;
          else if (rep.register_status == http::status::conflict) ++exists;
          else clean = false;
          for (const booking& b : rep.bookings) {
            ++attempts;
            if (b.status == http::status::ok) {
              ++successes;
              winners[{b.user, b.hour}].push_back(rep.id);
            } else if (b.status == http::status::conflict) {
              ++refused;
            } else {
              clean = false;
            }
          }
        }
        std::printf("   register %s: %d created it, %d were told it exists (409)\n", users.back().c_str(), created,
                    exists);
        std::printf("   schedule: %d booked (200), %d told the slot was taken (409)\n", successes, refused);

        // The grid, from the server's own view, checked against what the clients were told.
        http::client c;
        auto res = c.get(gofer::background(), base + "/api/users");
        json snap = res.ok() ? res->json().value_or(json::object()) : json::object();
        std::printf("\n        ");
        for (int h = kFirstHour; h <= kLastHour; ++h)
          std::printf(h < kLastHour ? " %-10s" : " %s", hour_label(h).c_str());
        std::printf("\n");
        const json server_users = snap.value("users", json::array());
        for (const std::string& u : users) {
          std::printf("   %-5s", u.c_str());
          const json* juser = nullptr;
          for (const json& j : server_users)
            if (j["name"] == u) juser = &j;
          for (int h = kFirstHour; h <= kLastHour; ++h) {
            const std::vector<int>& won = winners[{u, h}];
            std::string server_says;
            if (juser && (*juser)["slots"][h - kFirstHour]["booked_by"].is_string())
              server_says = (*juser)["slots"][h - kFirstHour]["booked_by"];
            bool once = won.size() == 1 && server_says == "client-" + std::to_string(won[0]);
            if (once) ++slots_ok;
            std::string cell = won.empty() ? "(nobody)" : server_says;
            if (won.size() > 1) cell = std::to_string(won.size()) + " owners!";
            std::printf(h < kLastHour ? " %-10s" : " %s", cell.c_str());
          }
          std::printf("\n");
        }
        std::printf("\n");
        if (!clean || created != 1) slots_ok = -1;
        (void)server.close();  // always OK
      },
      {.threads = threads});
  if (serve || status != 0) return status;
  const int total = static_cast<int>(users.size()) * kSlots;
  if (slots_ok != total) {
    std::printf("FAILED: %d of %d slots were booked exactly once, or a request failed\n", std::max(slots_ok, 0), total);
    return 1;
  }
  std::printf("each of %d slots was booked exactly once: %d clients made %d attempts, %d succeeded\n", total, clients,
              attempts, successes);
  return 0;
}
