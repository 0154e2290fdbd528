// star — a master and N worker processes over TCP, every task done exactly once (book,
// chapter 7: "Distributed Go", "Types of topologies", "Type 1 – star", "Serialized data").
//
// The book's star master accepts workers on a TCP port and hands them tasks round-robin; its
// code never ran (the accept loop blocks on the first worker, the list stays empty, the
// round robin is off by one). This is the working version: the demo starts itself again as
// --workers worker processes plus one that answers garbage, and is the master. Tasks are
// JSON {id, command, data} with status unassigned/assigned/done, sent as newline-delimited
// JSON; one "dispatcher" goroutine owns every task and worker, round-robins over the live
// workers, re-queues the tasks of a worker whose connection drops and counts a task done
// only once. Watch: the demo SIGKILLs a worker mid-run, drops the garbage one, and every
// task is still done exactly once. Both sides send heartbeats; a silent peer times out.
//
// By hand (two terminals, or two machines):
//   ./gofer run star --master --addr 127.0.0.1:9000 --tasks 20
//   ./gofer run star --worker --master-addr 127.0.0.1:9000
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>

#include "demo_flags.hpp"
#include "server.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ---- the wire: one JSON object per line -----------------------------------------------------
// A line reader over a gofer::net::conn (Go's bufio.Scanner): read() parks the goroutine, not
// its thread. A line longer than max_line is garbage, like any other protocol violation.
class line_reader {
 public:
  explicit line_reader(gofer::net::conn& c) : c_(c) {}
  absl::StatusOr<std::string> next(std::size_t max_line = 64 * 1024) {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      if (buf_.size() > max_line) return absl::InvalidArgumentError("line longer than 64 KiB");
      char tmp[4096];
      auto n = c_.read(tmp, sizeof tmp);
      if (!n.ok()) return n.status();
      buf_.append(tmp, *n);
    }
  }

 private:
  gofer::net::conn& c_;
  std::string buf_;
};

absl::Status send_line(gofer::net::conn& c, const json& msg) {
  std::string line = msg.dump() + "\n";
  return c.write(line).status();
}

// The work itself: what a task's command does to its data. Pure, so a re-run after a
// re-queue computes the same result.
std::optional<std::string> perform(const std::string& command, const std::string& data) {
  if (command == "upper") {
    std::string s = data;
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::toupper(ch); });
    return s;
  }
  if (command == "reverse") return std::string(data.rbegin(), data.rend());
  if (command == "length") return std::to_string(data.size());
  return std::nullopt;
}

// ---- the master -----------------------------------------------------------------------------
enum class status { unassigned, assigned, done };  // the book's 0, 1, 2

struct task {
  int id = 0;
  std::string command, data;
  status st = status::unassigned;
  int worker = -1;           // assigned to / completed by
  std::string result;
};

// What connection goroutines tell the dispatcher. Only the dispatcher touches the tables.
struct event {
  enum kind { joined, done, dead } what;
  int worker = 0;
  std::string name;     // joined: the worker's name; dead: the reason
  int id = -1;          // done
  std::string result;   // done
  gofer::chan<json> out;                      // joined: the worker's outbox
  std::shared_ptr<gofer::net::conn> conn;     // joined: to drop it
};

struct worker_slot {
  std::string name;
  gofer::chan<json> out;  // to its writer goroutine
  std::shared_ptr<gofer::net::conn> conn;
  int in_flight = 0;
  int completed = 0;
  bool live = true;
};

struct master_options {
  int tasks = 30;
  int window = 2;             // tasks in flight per worker
  int expect = 1;             // dispatch once this many workers joined
  std::chrono::milliseconds heartbeat{100}, timeout{1000};
};

struct master_report {
  int done = 0, requeued = 0, dropped = 0, duplicates = 0;
  std::vector<task> tasks;
  std::vector<worker_slot> workers;
};

// One goroutine per connection reads (the "reader"), one writes (the "writer": the outbox and
// heartbeats). Any read error — EOF of a killed worker, a timeout, garbage — ends in exactly
// one `dead` event, after which nothing more is read from that connection: so no `done` from
// a dropped worker can arrive after its tasks were re-queued.
void serve_worker(int wid, std::shared_ptr<gofer::net::conn> c, gofer::chan<event> events,
                  master_options opt) {
  gofer::chan<json> out(opt.window + 2);  // never full: the dispatcher keeps ≤ window tasks + bye
  gofer::go(gofer::named{"writer-" + std::to_string(wid)}, [c, out, opt] {
    for (;;) {
      std::optional<json> msg;
      bool got = false;
      gofer::select(gofer::recv_case(out, [&](std::optional<json> m) { msg = std::move(m); got = true; }),
                    gofer::recv_case(gofer::after(opt.heartbeat), [](auto) {}));
      if (got && !msg) return;                                  // outbox closed: dropped
      json m = got ? std::move(*msg) : json{{"type", "heartbeat"}};
      c->set_write_deadline(gofer::time_point(std::chrono::steady_clock::now() + opt.timeout));
      if (!send_line(*c, m).ok()) { c->close(); return; }     // the reader reports it
      if (m["type"] == "bye") return;
    }
  });

  line_reader in(*c);
  auto fail = [&](std::string why) {
    c->close();
    events.send(event{event::dead, wid, std::move(why), -1, {}, {}, {}});
  };
  bool joined = false;
  for (;;) {
    c->set_read_deadline(gofer::time_point(std::chrono::steady_clock::now() + opt.timeout));
    auto line = in.next();
    if (!line.ok()) {
      if (!joined) { c->close(); out.close(); return; }
      return fail(gofer::net::is_eof(line.status()) ? "connection closed"
                  : gofer::net::is_timeout(line.status()) ? "silent for " + std::to_string(opt.timeout.count()) + " ms"
                  : std::string(line.status().message()));
    }
    json m = json::parse(*line, nullptr, /*allow_exceptions=*/false);
    std::string type = m.is_object() && m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : "";
    if (type == "heartbeat") continue;
    if (!joined && type == "hello" && m.contains("name") && m["name"].is_string()) {
      joined = true;
      events.send(event{event::joined, wid, m["name"].get<std::string>(), -1, {}, out, c});
    } else if (joined && type == "done" && m.contains("id") && m["id"].is_number_integer() &&
               m.contains("result") && m["result"].is_string()) {
      events.send(event{event::done, wid, {}, m["id"].get<int>(), m["result"].get<std::string>(), {}, {}});
    } else {
      if (!joined) { c->close(); out.close(); return; }
      return fail("garbage: " + line->substr(0, 40));
    }
  }
}

// The dispatcher: the one owner of the task table and the worker list (no locks).
master_report dispatch(gofer::chan<event> events, master_options opt, gofer::chan<int> progress) {
  master_report r;
  const char* commands[] = {"upper", "reverse", "length"};
  const char* words[] = {"golang.org", "play.golang.org", "golang.org/doc", "blog.golang.org"};
  for (int i = 0; i < opt.tasks; ++i)
    r.tasks.push_back(task{i, commands[i % 3], std::string(words[i % 4]) + "#" + std::to_string(i)});
  std::deque<int> queue;  // unassigned task ids, oldest first
  for (int i = 0; i < opt.tasks; ++i) queue.push_back(i);
  std::map<int, int> slot_of;  // connection id → index in r.workers
  std::size_t next = 0;        // round robin: the next worker to try
  int joined = 0;

  auto assign = [&] {
    if (joined < opt.expect) return;
    while (!queue.empty()) {
      // Round robin over the live workers with room: at most one full turn, then wait.
      int chosen = -1;
      for (std::size_t k = 0; k < r.workers.size(); ++k) {
        std::size_t i = (next + k) % r.workers.size();  // the book's bug: `i <= len` overran
        if (r.workers[i].live && r.workers[i].in_flight < opt.window) { chosen = static_cast<int>(i); break; }
      }
      if (chosen < 0) return;
      next = static_cast<std::size_t>(chosen) + 1;
      task& t = r.tasks[static_cast<std::size_t>(queue.front())];
      queue.pop_front();
      t.st = status::assigned;
      t.worker = chosen;
      worker_slot& w = r.workers[static_cast<std::size_t>(chosen)];
      ++w.in_flight;
      w.out.try_send(json{{"type", "task"}, {"id", t.id}, {"command", t.command}, {"data", t.data}});
    }
  };

  while (r.done < opt.tasks) {
    std::optional<event> ev = events.recv();
    if (!ev) break;
    if (ev->what == event::joined) {
      slot_of[ev->worker] = static_cast<int>(r.workers.size());
      r.workers.push_back(worker_slot{ev->name, ev->out, ev->conn});
      ++joined;
      std::printf("master: %s joined (%d so far)\n", ev->name.c_str(), joined);
    } else if (ev->what == event::dead) {
      auto it = slot_of.find(ev->worker);
      if (it == slot_of.end()) continue;
      worker_slot& w = r.workers[static_cast<std::size_t>(it->second)];
      w.live = false;
      w.out.close();
      ++r.dropped;
      // Re-queue its unfinished tasks, at the front: they are the oldest.
      int n = 0;
      for (auto t = r.tasks.rbegin(); t != r.tasks.rend(); ++t)
        if (t->st == status::assigned && t->worker == it->second) {
          t->st = status::unassigned;
          t->worker = -1;
          queue.push_front(t->id);
          ++n;
        }
      r.requeued += n;
      std::printf("master: dropped %s (%s), re-queued %d task%s\n", w.name.c_str(), ev->name.c_str(), n,
                  n == 1 ? "" : "s");
    } else {
      auto it = slot_of.find(ev->worker);
      if (it == slot_of.end()) continue;
      worker_slot& w = r.workers[static_cast<std::size_t>(it->second)];
      if (!w.live) continue;  // cannot happen (see serve_worker), but never trust it
      // Only the worker the task is assigned to can complete it; anything else is a
      // duplicate (counted, ignored) — this is what makes completion exactly-once.
      if (ev->id < 0 || ev->id >= opt.tasks || r.tasks[static_cast<std::size_t>(ev->id)].st != status::assigned ||
          r.tasks[static_cast<std::size_t>(ev->id)].worker != it->second) {
        ++r.duplicates;
        continue;
      }
      task& t = r.tasks[static_cast<std::size_t>(ev->id)];
      t.st = status::done;
      t.result = ev->result;
      --w.in_flight;
      ++w.completed;
      ++r.done;
      progress.try_send(r.done);
    }
    assign();
  }
  // Every task is done: say goodbye to the live workers.
  for (auto& w : r.workers)
    if (w.live) {
      w.out.try_send(json{{"type", "bye"}});
      w.out.close();
    }
  return r;
}

// Accepts workers until the listener is closed; a goroutine per connection, so a slow or
// silent worker never holds up the next one (the book's accept loop did).
void accept_loop(gofer::net::listener& ln, gofer::chan<event> events, master_options opt) {
  for (int wid = 0;; ++wid) {
    auto c = ln.accept();
    if (!c.ok()) return;
    auto conn = std::make_shared<gofer::net::conn>(std::move(*c));
    gofer::go(gofer::named{"reader-" + std::to_string(wid)}, serve_worker, wid, conn, events, opt);
  }
}

// ---- a worker -------------------------------------------------------------------------------
// Dials the master, says hello, and runs each task in its own goroutine; one writer sends the
// results and a heartbeat whenever it has been quiet. --garbage answers its first task with a
// line that is not JSON (the master must drop it). Returns the exit status.
int run_worker(const std::string& master_addr, const std::string& name, std::chrono::milliseconds work,
               bool garbage, master_options opt) {
  absl::StatusOr<gofer::net::conn> dialed = absl::UnavailableError("not dialed");
  for (int attempt = 0; attempt < 50; ++attempt) {  // by hand, the master may start later
    dialed = gofer::net::dial(master_addr);
    if (dialed.ok()) break;
    gofer::sleep(100ms);
  }
  if (!dialed.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), dialed.status().ToString().c_str());
    return 1;
  }
  auto c = std::make_shared<gofer::net::conn>(std::move(*dialed));
  gofer::chan<std::string> out(16);
  gofer::chan<int> writer_done;
  gofer::go(gofer::named{"writer"}, [c, out, opt, writer_done] {
    for (;;) {
      std::optional<std::string> line;
      bool got = false;
      gofer::select(gofer::recv_case(out, [&](std::optional<std::string> l) { line = std::move(l); got = true; }),
                    gofer::recv_case(gofer::after(opt.heartbeat), [](auto) {}));
      if (got && !line) break;
      std::string s = got ? std::move(*line) : json{{"type", "heartbeat"}}.dump() + "\n";
      c->set_write_deadline(gofer::time_point(std::chrono::steady_clock::now() + opt.timeout));
      if (!c->write(s).ok()) break;
    }
    writer_done.close();
  });
  out.send(json{{"type", "hello"}, {"name", name}}.dump() + "\n");

  line_reader in(*c);
  int status = 0, tasks = 0;
  for (;;) {
    c->set_read_deadline(gofer::time_point(std::chrono::steady_clock::now() + opt.timeout));
    auto line = in.next();
    if (!line.ok()) {
      std::fprintf(stderr, "%s: master gone: %s\n", name.c_str(), line.status().ToString().c_str());
      status = 1;
      break;
    }
    json m = json::parse(*line, nullptr, false);
    if (!m.is_object() || !m.contains("type")) {
      std::fprintf(stderr, "%s: garbage from the master\n", name.c_str());
      status = 1;
      break;
    }
    if (m["type"] == "heartbeat") continue;
    if (m["type"] == "bye") break;
    if (m["type"] != "task" || !m["id"].is_number_integer() || !m["command"].is_string() || !m["data"].is_string()) {
      std::fprintf(stderr, "%s: bad task %s\n", name.c_str(), line->c_str());
      status = 1;
      break;
    }
    if (garbage) {
      out.send("this is not JSON\n");
      continue;
    }
    ++tasks;
    gofer::go(gofer::named{"task-" + std::to_string(m["id"].get<int>())}, [m, out, work] {
      gofer::sleep(work);  // the "work": long enough that a kill lands mid-run
      auto result = perform(m["command"].get<std::string>(), m["data"].get<std::string>());
      out.send(json{{"type", "done"}, {"id", m["id"]}, {"result", result.value_or("unknown command")}}.dump() + "\n");
    });
  }
  out.close();
  writer_done.recv();
  c->close();
  std::fprintf(stderr, "%s: ran %d tasks, exiting %d\n", name.c_str(), tasks, status);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  bool master = false, worker = false, garbage = false;
  std::string addr, master_addr, name = "worker", results_file;
  int workers = 3, kill_after = -1;
  int work_ms = 20, kill_delay_ms = 0;
  master_options opt;
  CLI::App app{"a star topology: a master and worker processes over TCP, each task done exactly once", "star"};
  app.add_option("--workers", workers, "worker processes to start (demo mode)")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--tasks", opt.tasks, "tasks to hand out")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--work-ms", work_ms, "how long a task takes a worker")->capture_default_str()->check(CLI::Range(0, 10000));
  app.add_option("--kill-after", kill_after, "demo mode: SIGKILL worker 1 after this many tasks are done (default: a third)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--kill-delay-ms", kill_delay_ms, "demo mode: and this much later")->check(CLI::Range(0, 10000));
  app.add_option("--results", results_file, "write one line per task: id, completing worker, result");
  app.add_flag("--master", master, "run only the master, on --addr, waiting for --expect workers");
  app.add_option("--addr", addr, "the master's host:port (with --master)");
  app.add_option("--expect", opt.expect, "with --master: workers to wait for before dispatching")->check(CLI::Range(1, 1000));
  app.add_flag("--worker", worker, "run only a worker, connecting to --master-addr");
  app.add_option("--master-addr", master_addr, "the master's host:port (with --worker)");
  app.add_option("--name", name, "the worker's name (with --worker)");
  app.add_flag("--garbage", garbage, "with --worker: answer tasks with garbage (to be dropped)");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  if (master && worker) { std::fprintf(stderr, "star: --master and --worker exclude each other\n"); return 2; }
  if (worker && master_addr.empty()) { std::fprintf(stderr, "star: --worker needs --master-addr host:port\n"); return 2; }
  if (master && addr.empty()) addr = "127.0.0.1:9000";
  if (kill_after < 0) kill_after = opt.tasks / 3;

  int exit_status = 0;
  gofer::run([&] {
    if (worker) {
      exit_status = run_worker(master_addr, name, std::chrono::milliseconds(work_ms), garbage, opt);
      return;
    }
    // 1. Listen first, so the workers can dial as soon as they start.
    auto ln = gofer::net::listen(master ? addr : "127.0.0.1:0");
    if (!ln.ok()) {
      std::fprintf(stderr, "star: %s\n", ln.status().ToString().c_str());
      exit_status = 1;
      return;
    }
    std::string where = ln->addr();
    gofer::chan<event> events(64);
    gofer::chan<int> progress(opt.tasks);  // every done count fits: try_send never drops
    gofer::go(gofer::named{"acceptor"}, [&ln, events, opt] { accept_loop(*ln, events, opt); });

    // 2. Demo mode: start the workers (this same program with --worker) and one that sends
    //    garbage; dispatch once all of them joined.
    std::vector<gofer_demo::process> procs;
    fs::path logs;
    if (!master) {
      opt.expect = workers + 1;
      logs = fs::temp_directory_path() / ("gofer-star-" + std::to_string(::getpid()));
      fs::create_directories(logs);
      std::string self = fs::read_symlink("/proc/self/exe").string();
      for (int i = 1; i <= workers + 1; ++i) {
        std::string n = i <= workers ? "w" + std::to_string(i) : "garbler";
        std::vector<std::string> args{self, "--worker", "--master-addr", where, "--name", n,
                                      "--work-ms", std::to_string(work_ms)};
        if (i > workers) args.push_back("--garbage");
        procs.push_back(gofer_demo::process::spawn(args, logs / (n + ".log")));
      }
      std::printf("master on %s: %d tasks, %d workers + 1 garbler, round robin, %d in flight each\n",
                  where.c_str(), opt.tasks, workers, opt.window);
    } else {
      std::printf("master on %s: %d tasks, waiting for %d worker%s\n", where.c_str(), opt.tasks, opt.expect,
                  opt.expect == 1 ? "" : "s");
    }
    std::fflush(stdout);

    // 3. The killer (demo mode): SIGKILL w1 once kill_after tasks are done — a crash, no
    //    goodbye; the master learns it from the connection (EOF), not from us.
    gofer::chan<int> killed(1);
    if (!master) {
      gofer::go(gofer::named{"killer"}, [&procs, progress, killed, kill_after, kill_delay_ms] {
        int done = 0;
        while (done < kill_after) {
          auto d = progress.recv();
          if (!d) break;
          done = *d;
        }
        if (kill_delay_ms > 0) gofer::sleep(std::chrono::milliseconds(kill_delay_ms));
        procs[0].kill();
        std::printf("demo: SIGKILLed w1 after %d tasks were done\n", done);
        std::fflush(stdout);
        killed.send(1);
      });
    }

    // 4. Dispatch until every task is done.
    master_report r = dispatch(events, opt, progress);
    progress.close();
    if (!master) killed.recv();
    ln->close();

    // 5. Wait for the workers to leave (the bye), and check what the tasks say.
    int workers_ok = 0;
    for (std::size_t i = 1; i < procs.size(); ++i)
      if (procs[i].wait() == 0) ++workers_ok;
    if (!logs.empty()) fs::remove_all(logs);
    std::map<int, int> done_count;
    int by_live = 0;
    for (const task& t : r.tasks)
      if (t.st == status::done) {
        ++done_count[t.id];
        if (r.workers[static_cast<std::size_t>(t.worker)].live) ++by_live;
      }
    for (const auto& w : r.workers)
      std::printf("  %-8s completed %2d task%s%s\n", w.name.c_str(), w.completed, w.completed == 1 ? "" : "s",
                  w.live ? "" : "  (dropped)");
    if (!results_file.empty()) {
      std::ofstream f(results_file);
      for (const task& t : r.tasks)
        f << t.id << ' ' << r.workers[static_cast<std::size_t>(t.worker)].name << ' ' << t.result << '\n';
    }
    bool exactly_once = static_cast<int>(done_count.size()) == opt.tasks && r.done == opt.tasks &&
                        std::all_of(done_count.begin(), done_count.end(), [](auto& p) { return p.second == 1; });
    if (!exactly_once) {
      std::printf("FAILED: %d of %d tasks done\n", r.done, opt.tasks);
      exit_status = 1;
      return;
    }
    if (master) {
      std::printf("all %d tasks done exactly once by %zu workers, %d dropped, %d tasks re-queued\n", opt.tasks,
                  r.workers.size(), r.dropped, r.requeued);
    } else {
      std::printf("all %d tasks done exactly once: %d workers, 1 killed and %d dropped for garbage, %d tasks "
                  "re-queued, %d of %d workers left cleanly\n",
                  opt.tasks, workers, r.dropped - 1, r.requeued, workers_ok, workers - 1);
      if (workers_ok != workers - 1) exit_status = 1;
    }
  });
  return exit_status;
}
