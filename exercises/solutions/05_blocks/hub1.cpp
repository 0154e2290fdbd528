// hub1 — a chat hub that one slow client blocks (book, chapter 5: "The net package – a chat
// server with interfaced channels"; "Cleaning up goroutines").
//
// The hub sends every message to every client's outbox; each client reads its outbox in its
// own goroutine. alice and bob read; sleepy never does. As shipped the outboxes are
// unbuffered and the hub waits on each send, so the first message to sleepy stops the whole
// room: gofer's deadlock detector ends the program.
//
// Goal: the hub never waits for a client. Give each outbox room for a few messages, and
// when a client's outbox is full, drop that client (close its outbox, take it out of the
// room, print it) instead of waiting. The program then prints
//   sleepy was dropped at message 5
//   alice got 10 of 10
//   bob got 10 of 10
//
// Question: the hub cannot tell a client that does not read from one that is only a bit
// behind. What does the outbox's capacity decide, then?

#include <cstdio>
#include <string>
#include <vector>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

constexpr int kMessages = 10;

struct client {
  std::string name;
  gofer::chan<std::string> outbox;
};

// Sends text to every client in the room.
void broadcast(std::vector<client>& room, const std::string& text, int number) {
  for (auto it = room.begin(); it != room.end();) {
    // try_send never waits: false means the outbox is full (the client is not reading).
    std::string copy = text;
    if (it->outbox.try_send(copy)) {
      ++it;
      continue;
    }
    std::printf("%s was dropped at message %d\n", it->name.c_str(), number);
    it->outbox.close();
    it = room.erase(it);
  }
}

int main() {
  return gofer::run([] {
    // Room for 4 messages each: a client may fall behind by that much, no more.
    std::vector<client> room = {{"alice", gofer::chan<std::string>(4)},
                                {"bob", gofer::chan<std::string>(4)},
                                {"sleepy", gofer::chan<std::string>(4)}};

    // alice and bob read everything and tell main after each message; sleepy never reads.
    gofer::chan<int> acks(2);
    gofer::chan<int> totals(2);
    for (int i = 0; i < 2; ++i)
      gofer::go(gofer::named{room[i].name}, [outbox = room[i].outbox, acks, totals] {
        int got = 0;
        for ([[maybe_unused]] const std::string& msg : outbox) {
          ++got;
          acks.send(1);
        }
        totals.send(got);
      });
    gofer::chan<int> never;
    gofer::go(gofer::named{"sleepy"}, [never] { never.recv(); });

    // One message at a time; the next one after alice and bob have the previous one.
    for (int n = 1; n <= kMessages; ++n) {
      broadcast(room, "message " + std::to_string(n), n);
      acks.recv();
      acks.recv();
    }
    for (auto& c : room) c.outbox.close();  // sleepy's was closed when it was dropped
    int a = *totals.recv(), b = *totals.recv();
    std::printf("alice got %d of %d\n", a, kMessages);
    std::printf("bob got %d of %d\n", b, kMessages);
  });
}
