// topologies — a bus and a ring, and their single points of failure, found by failing each
// part in turn (book, chapter 7: "Other topologies").
//
// The book describes two more ways to connect nodes. On a bus, every node announces on one
// shared medium and listens to it; in a ring, each node passes messages to the next. Here the
// nodes are goroutines and the links are channels (the star and pubsub demos do the same over
// TCP and NATS). For each topology the demo first checks that everyone reaches everyone, then
// fails one part at a time — the bus itself, or one node — and asks the survivors again.
// A part whose failure cuts surviving nodes off from each other is a single point of failure.
// Watch: the bus has one (the medium), a one-way ring has as many as it has nodes.
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;

namespace {

struct message {
  int from = 0;
  int hops = 0;
};

// Receives until nothing arrives for `quiet` (a failed part stays silent; nothing to wait on).
std::vector<message> drain(gofer::chan<message> in, std::chrono::milliseconds quiet) {
  std::vector<message> got;
  for (;;) {
    std::optional<message> m;
    if (gofer::select(gofer::recv_case(in, m), gofer::recv_case(gofer::after(quiet))) == 1) return got;
    got.push_back(*m);
  }
}

// ---- the bus ----------------------------------------------------------------------------------
// One "bus" goroutine is the medium: it copies every announcement to every other node. Node
// `failed` (1..n) is down; failed == 0 means the bus itself is down. Returns whether every
// live node heard every other live node.
bool bus_works(int n, int failed, std::chrono::milliseconds quiet) {
  gofer::chan<message> medium(64);
  std::vector<gofer::chan<message>> inbox;
  for (int i = 0; i <= n; ++i) inbox.emplace_back(64);
  gofer::chan<int> stop;
  if (failed != 0)
    gofer::go(gofer::named("bus"), [=] {
      for (;;) {
        std::optional<message> m;
        if (gofer::select(gofer::recv_case(medium, m), gofer::recv_case(stop)) == 1) return;
        for (int i = 1; i <= n; ++i)
          if (i != m->from) inbox[static_cast<std::size_t>(i)].try_send(*m);  // a down node's inbox just fills
      }
    });
  for (int i = 1; i <= n; ++i)
    if (i != failed) medium.send(message{i, 1});  // announce
  bool ok = true;
  for (int i = 1; i <= n; ++i) {
    if (i == failed) continue;
    std::set<int> heard;
    for (auto& m : drain(inbox[static_cast<std::size_t>(i)], quiet)) heard.insert(m.from);
    ok = ok && static_cast<int>(heard.size()) == n - 1 - (failed > 0 ? 1 : 0);
  }
  stop.close();
  return ok;
}

// ---- the ring ---------------------------------------------------------------------------------
// Node i forwards what it receives to node i+1 (mod n), until the message is back home. Node
// `failed` (1..n) is down and forwards nothing. Returns whether every live node's message came
// back around.
bool ring_works(int n, int failed, std::chrono::milliseconds quiet) {
  std::vector<gofer::chan<message>> link;
  for (int i = 0; i < n; ++i) link.emplace_back(n + 1);
  gofer::chan<message> home(n + 1);
  gofer::chan<int> stop;
  for (int i = 1; i <= n; ++i) {
    if (i == failed) continue;
    gofer::go(gofer::named("node-" + std::to_string(i)), [=] {
      auto& in = link[static_cast<std::size_t>(i - 1)];
      auto& next = link[static_cast<std::size_t>(i % n)];
      for (;;) {
        std::optional<message> m;
        if (gofer::select(gofer::recv_case(in, m), gofer::recv_case(stop)) == 1) return;
        if (m->from == i) {
          home.send(*m);  // around the ring and back
        } else {
          m->hops++;
          next.try_send(*m);
        }
      }
    });
  }
  for (int i = 1; i <= n; ++i)
    if (i != failed) link[static_cast<std::size_t>(i % n)].send(message{i, 1});  // to the next node
  auto back = drain(home, quiet);
  stop.close();
  return static_cast<int>(back.size()) == n - (failed > 0 ? 1 : 0);
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 5, quiet_ms = 50;
  CLI::App app{"a bus and a ring of goroutines, and their single points of failure", "topologies"};
  app.add_option("--nodes", nodes, "nodes in each topology")->capture_default_str()->check(CLI::Range(3, 100));
  app.add_option("--quiet-ms", quiet_ms, "silence after which a node has heard all it will")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int status = 0;
  gofer::run([&] {
    auto quiet = std::chrono::milliseconds(quiet_ms);
    // For each part: fail it, and see whether the rest still talk.
    auto survey = [&](const char* name, bool (*works)(int, int, std::chrono::milliseconds), bool has_medium) {
      std::vector<std::string> spof;
      bool healthy = works(nodes, -1, quiet);
      std::printf("%s of %d nodes, nothing failed: %s\n", name, nodes, healthy ? "everyone reaches everyone" : "BROKEN");
      if (!healthy) status = 1;
      if (has_medium && !works(nodes, 0, quiet)) spof.push_back("the bus");
      for (int i = 1; i <= nodes; ++i)
        if (!works(nodes, i, quiet)) spof.push_back("node-" + std::to_string(i));
      std::string list;
      for (auto& s : spof) list += (list.empty() ? "" : ", ") + s;
      std::printf("  single points of failure: %s\n", list.empty() ? "none" : list.c_str());
      return static_cast<int>(spof.size());
    };
    int bus = survey("bus", bus_works, true);
    int ring = survey("ring", ring_works, false);
    std::printf("the bus has %d single point of failure (the medium), the one-way ring %d (every node)\n", bus, ring);
    if (bus != 1 || ring != nodes) status = 1;
  });
  return status;
}
