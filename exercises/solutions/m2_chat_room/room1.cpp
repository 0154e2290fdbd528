// room1 — spot the bug: the room's client map touched outside the room's goroutine
// (Module 2, chapter 1: "Modeling a room", "Concurrency programming using idiomatic Go";
// book-notes.md, Module 2 chapter 1).
//
// The chat room works because ONE goroutine, run(), owns `clients`: joins, leaves and
// messages reach it over channels, one at a time. Someone took a shortcut: "the handler
// knows its client, why queue a join or a leave?" — so join() and leave() below change the
// map directly, on the handler's goroutine. leave() even does it in the polite order:
// close the outbox, wait until the writer has sent what was queued, then remove the client.
// With chatter going on, the room fans a message out in between... and gofer stops the
// run: "send on closed channel". On two threads it is worse: a late comer's join() writes
// the map on one thread while the room iterates over it on the other — a data race,
// undefined behaviour, which ThreadSanitizer reports ("data race" in std::map, the two
// lines named) when the two goroutines run on different threads (the tsan preset; the
// panic above usually comes first).
//
// Goal: the tests pass — 20 clients join, one of them talks, 5 more join and 5 leave in the
// middle of the chatter, nobody panics, and every client that stayed got every message
// (from the moment it joined), in order.
// Don't add a lock: let the room goroutine do ALL the work on `clients`, through the
// channels it already has (join, leave), as chapters/m2_ch1_chat_room/01_chatroom.cpp does.
// Question: after the fix, who closes a leaving client's outbox — and why must it be the
// same goroutine that removes the client from the map?

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/gtest.hpp>
#include <gofer/runtime.hpp>
#include <gofer/select.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

// A client without a socket: its writer goroutine "sends" each message by appending it to
// `got` (the yield stands for the socket write, which parks: keep it).
struct client {
  explicit client(int i) : id(i) {}
  int id;
  gofer::chan<std::string> send{256};  // the outbox
  gofer::chan<int> writer_done;         // closed when the writer has finished
  std::vector<std::string> got;         // only the writer touches it until writer_done

  void write() {
    for (const std::string& m : send) {
      gofer::yield();  // the socket write
      got.push_back(m);
    }
    writer_done.close();
  }
};

struct room {
  gofer::chan<std::string> forward;
  gofer::chan<client*> join_ch;
  gofer::chan<client*> leave_ch;
  gofer::chan<int> stop;
  gofer::chan<int> done;
  std::map<int, client*> clients;  // the room goroutine's alone

  // The room goroutine (nothing to change here).
  void run() {
    for (bool open = true; open;) {
      open = gofer::select(
          gofer::recv_case(join_ch, [&](std::optional<client*> c) {
            clients[(*c)->id] = *c;
            return true;
          }),
          gofer::recv_case(leave_ch, [&](std::optional<client*> c) {
            if (clients.erase((*c)->id) != 0) (*c)->send.close();
            return true;
          }),
          gofer::recv_case(forward, [&](std::optional<std::string> m) {
            for (auto it = clients.begin(); it != clients.end();) {
              if (it->second->send.try_send(std::string(*m))) {
                ++it;
              } else {  // outbox full: drop the client
                it->second->send.close();
                it = clients.erase(it);
              }
            }
            return true;
          }),
          gofer::recv_case(stop, [](std::optional<int>) { return false; }));
    }
    for (auto& [id, c] : clients) c->send.close();
    done.close();
  }

  // Called on a client's own (handler) goroutine when it connects: the room adds it.
  void join(client* c) { join_ch.send(c); }

  // Called on a client's own (handler) goroutine when its reader ends; returns when the
  // client's writer has finished. The room removes the client AND closes its outbox in
  // one step of its own goroutine, so no fan-out can fall between the two.
  void leave(client* c) {
    leave_ch.send(c);
    c->writer_done.recv();
  }
};

// ---- the tests: no need to change anything below ----

// 20 clients join; client 0 talks 100 lines; 5 more join after line 10 went out, and
// clients 15..19 leave after line 30 reached them.
void chat(int threads, std::vector<std::vector<std::string>>& got) {
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    room r;
    gofer::go(gofer::named{"room"}, [&r] { r.run(); });
    std::vector<std::unique_ptr<client>> cs;
    for (int i = 0; i < 25; ++i) cs.push_back(std::make_unique<client>(i));
    gofer::wait_group joined, finished;
    auto connect = [&](client* c) {
      joined.add(1);
      finished.add(1);
      gofer::go(gofer::named{"handler-" + std::to_string(c->id)}, [&r, &joined, c] {
        r.join(c);
        joined.done();
      });
      gofer::go(gofer::named{"writer-" + std::to_string(c->id)}, [&finished, c] {
        c->write();
        finished.done();
      });
    };
    for (int i = 0; i < 20; ++i) connect(cs[i].get());
    joined.wait();
    gofer::chan<int> line10, line30, talked;
    gofer::go(gofer::named{"talker"}, [&r, line10, line30, talked] {
      for (int k = 0; k < 100; ++k) {
        r.forward.send("line " + std::to_string(k));
        if (k == 10) line10.close();
        if (k == 30) line30.close();
        gofer::yield();  // typing
      }
      talked.close();
    });
    line10.recv();
    for (int i = 20; i < 25; ++i) connect(cs[i].get());  // late comers, mid-conversation
    line30.recv();
    gofer::wait_group left;
    for (int i = 15; i < 20; ++i) {
      left.add(1);
      gofer::go(gofer::named{"leaver-" + std::to_string(i)}, [&r, &left, c = cs[i].get()] {
        r.leave(c);
        left.done();
      });
    }
    left.wait();
    // The chatter ends; one more line, which the room forwards after all the others.
    talked.recv();
    joined.wait();  // the late comers are in
    r.forward.send("end");
    r.stop.close();
    r.done.recv();
    finished.wait();
    got.clear();
    for (auto& c : cs) got.push_back(c->got);
  }, {.threads = static_cast<unsigned>(threads)}));
}

void expect_complete(const std::vector<std::vector<std::string>>& got) {
  ASSERT_EQ(got.size(), 25u);
  for (int i = 0; i < 15; ++i) {
    ASSERT_EQ(got[i].size(), 101u) << "client " << i << " stayed and should have every line and the end";
    for (int k = 0; k < 100; ++k) EXPECT_EQ(got[i][k], "line " + std::to_string(k)) << "client " << i;
  }
  for (int i = 15; i < 20; ++i) {
    EXPECT_GE(got[i].size(), 31u) << "client " << i << " left after line 30 reached it";
    for (std::size_t k = 0; k < got[i].size(); ++k) EXPECT_EQ(got[i][k], "line " + std::to_string(k));
  }
  for (int i = 20; i < 25; ++i) {  // the late comers: from their first line on, every line
    ASSERT_FALSE(got[i].empty()) << "client " << i << " joined before the end and stayed";
    EXPECT_EQ(got[i].back(), "end") << "client " << i;
    if (got[i].size() == 1) continue;  // it came in after the last line
    int first = std::stoi(got[i][0].substr(5));
    EXPECT_EQ(got[i].size(), static_cast<std::size_t>(100 - first + 1)) << "client " << i << " missed lines";
    for (std::size_t k = 0; k + 1 < got[i].size(); ++k)
      EXPECT_EQ(got[i][k], "line " + std::to_string(first + static_cast<int>(k))) << "client " << i;
  }
}

TEST(room1, leaving_in_the_middle_of_chatter_one_thread) {
  std::vector<std::vector<std::string>> got;
  chat(1, got);
  expect_complete(got);
}

TEST(room1, leaving_in_the_middle_of_chatter_two_threads) {
  std::vector<std::vector<std::string>> got;
  chat(2, got);
  expect_complete(got);
}
