// mesh — the master only introduces the peers; the peers exchange the work directly; the
// master's message count against the star's (book, chapter 7: "Type 2 – mesh").
//
// In the book's mesh, every time a node joins, the master sends the list of all nodes to all
// nodes; from then on they talk to each other. Here --peers peer goroutines, each with its own
// TCP listener on loopback, join a master over TCP with {"type":"hello","name","addr"}; the
// master answers every join with the whole list, to everyone. Once peer-1 (which holds the
// task list) knows all the others, it dials each of them and hands out the tasks round robin;
// each answers "done" on the same connection. Then the same tasks run as a star (the master
// hands them out and collects the answers). Watch the counts: in the star every task passes
// through the master twice; in the mesh the master only sees the joins.
// (The star demo, 01_star, adds what a real one needs: processes, heartbeats, re-queueing.)
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>

#include "demo_flags.hpp"

using json = nlohmann::json;

namespace {

// One JSON object per line (as in the star demo).
class line_conn {
 public:
  explicit line_conn(gofer::net::conn c) : c_(std::move(c)) {}
  std::optional<json> recv() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        json m = json::parse(buf_.substr(0, nl), nullptr, false);
        buf_.erase(0, nl + 1);
        if (m.is_discarded()) return std::nullopt;
        return m;
      }
      char tmp[4096];
      auto n = c_.read(tmp, sizeof tmp);
      if (!n.ok()) return std::nullopt;
      buf_.append(tmp, *n);
    }
  }
  bool send(const json& m) { return c_.write(m.dump() + "\n").ok(); }
  void close() { c_.close(); }

 private:
  gofer::net::conn c_;
  std::string buf_;
};

std::string perform(int id) { return "result " + std::to_string(id * id); }

// ---- mesh ---------------------------------------------------------------------------------------
struct counts {
  long via_master = 0, direct = 0, tasks_done = 0;
};

counts run_mesh(int peers, int tasks) {
  counts n;
  auto ln = gofer::net::listen("127.0.0.1:0").value();
  std::string master_addr = ln.addr();
  gofer::wait_group everyone;

  // The master: on each join, the whole list to every peer joined so far.
  struct joined_peer {
    std::string name, addr;
    std::shared_ptr<line_conn> conn;
  };
  gofer::chan<int> master_done;
  gofer::go(gofer::named("master"), [&ln, &n, peers, master_done] {
    std::vector<joined_peer> list;
    while (static_cast<int>(list.size()) < peers) {
      auto c = ln.accept();
      if (!c.ok()) return;
      auto lc = std::make_shared<line_conn>(std::move(*c));
      auto hello = lc->recv();
      if (!hello || (*hello)["type"] != "hello") continue;
      ++n.via_master;
      list.push_back({(*hello)["name"].get<std::string>(), (*hello)["addr"].get<std::string>(), lc});
      json all = json::array();
      for (auto& p : list) all.push_back(json{{"name", p.name}, {"addr", p.addr}});
      for (auto& p : list)
        if (p.conn->send(json{{"type", "peers"}, {"peers", all}})) ++n.via_master;
    }
    // Introduced: the master has nothing more to do (its connections close with `list`).
    master_done.close();
  });

  // The peers. Each listens, joins, and waits until the list names all `peers`.
  for (int i = 1; i <= peers; ++i) {
    everyone.add(1);
    gofer::go(gofer::named("peer-" + std::to_string(i)), [&, i] {
      auto own = gofer::net::listen("127.0.0.1:0").value();
      line_conn master(gofer::net::dial(master_addr).value());
      master.send(json{{"type", "hello"}, {"name", "peer-" + std::to_string(i)}, {"addr", own.addr()}});
      json list;
      do {
        auto m = master.recv();
        if (!m) break;
        list = (*m)["peers"];
      } while (static_cast<int>(list.size()) < peers);
      if (i != 1) {
        // A worker: serve the one connection the source opens, one answer per task.
        auto c = own.accept();
        if (c.ok()) {
          line_conn from(std::move(*c));
          while (auto t = from.recv()) from.send(json{{"type", "done"}, {"id", (*t)["id"]}, {"result", perform((*t)["id"].get<int>())}});
        }
      } else {
        // The source: dial every other peer directly and hand out the tasks round robin.
        std::vector<std::shared_ptr<line_conn>> others;
        for (auto& p : list)
          if (p["name"] != "peer-1") others.push_back(std::make_shared<line_conn>(gofer::net::dial(p["addr"].get<std::string>()).value()));
        for (int t = 0; t < tasks; ++t)
          if (others[static_cast<std::size_t>(t) % others.size()]->send(json{{"type", "task"}, {"id", t}})) ++n.direct;
        for (std::size_t k = 0; k < others.size(); ++k) {
          int expect = tasks / static_cast<int>(others.size()) + (static_cast<int>(k) < tasks % static_cast<int>(others.size()) ? 1 : 0);
          for (int j = 0; j < expect; ++j)
            if (auto d = others[k]->recv(); d && (*d)["result"] == perform((*d)["id"].get<int>())) {
              ++n.direct;
              ++n.tasks_done;
            }
          others[k]->close();  // the worker's recv ends: it returns
        }
      }
      everyone.done();
    });
  }
  everyone.wait();
  master_done.recv();  // its counts are final
  ln.close();
  return n;
}

// ---- star, for comparison ------------------------------------------------------------------------
counts run_star(int workers, int tasks) {
  counts n;
  auto ln = gofer::net::listen("127.0.0.1:0").value();
  gofer::wait_group wg;
  for (int i = 1; i <= workers; ++i) {
    wg.add(1);
    gofer::go(gofer::named("worker-" + std::to_string(i)), [&, i] {
      line_conn master(gofer::net::dial(ln.addr()).value());
      master.send(json{{"type", "hello"}, {"name", "worker-" + std::to_string(i)}});
      while (auto t = master.recv()) master.send(json{{"type", "done"}, {"id", (*t)["id"]}, {"result", perform((*t)["id"].get<int>())}});
      wg.done();
    });
  }
  std::vector<std::unique_ptr<line_conn>> list;
  while (static_cast<int>(list.size()) < workers) {
    list.push_back(std::make_unique<line_conn>(ln.accept().value()));
    if (list.back()->recv()) ++n.via_master;  // hello
  }
  for (int t = 0; t < tasks; ++t)
    if (list[static_cast<std::size_t>(t) % list.size()]->send(json{{"type", "task"}, {"id", t}})) ++n.via_master;
  for (std::size_t k = 0; k < list.size(); ++k) {
    int expect = tasks / workers + (static_cast<int>(k) < tasks % workers ? 1 : 0);
    for (int j = 0; j < expect; ++j)
      if (auto d = list[k]->recv(); d && (*d)["result"] == perform((*d)["id"].get<int>())) {
        ++n.via_master;
        ++n.tasks_done;
      }
    list[k]->close();
  }
  wg.wait();
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int peers = 4, tasks = 30;
  CLI::App app{"a mesh: the master introduces the peers, the peers exchange the work; message counts against a star", "mesh"};
  app.add_option("--peers", peers, "peers (peer-1 holds the tasks)")->capture_default_str()->check(CLI::Range(2, 200));
  app.add_option("--tasks", tasks, "tasks")->capture_default_str()->check(CLI::Range(1, 100000));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int status = 0;
  gofer::run([&] {
    counts mesh = run_mesh(peers, tasks);
    std::printf("mesh of %d peers: the master handled %ld messages (%d hellos, %ld peer lists), the peers exchanged "
                "%ld directly\n",
                peers, mesh.via_master, peers, mesh.via_master - peers, mesh.direct);
    counts star = run_star(peers - 1, tasks);
    std::printf("star of 1 master + %d workers: the master handled %ld messages (%d hellos, %d tasks, %d results)\n",
                peers - 1, star.via_master, peers - 1, tasks, tasks);
    if (mesh.tasks_done != tasks || star.tasks_done != tasks) {
      std::printf("FAILED: the mesh did %ld and the star %ld of %d tasks\n", mesh.tasks_done, star.tasks_done, tasks);
      status = 1;
      return;
    }
    std::printf("all %d tasks done both ways: the master handled %ld messages in the mesh, %ld in the star\n", tasks,
                mesh.via_master, star.via_master);
  });
  return status;
}
