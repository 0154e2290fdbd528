// nil_outbox1 — the book's nil-outbox broadcast (book, chapter 5: "The net package – a chat
// server with interfaced channels", ch5_3_server.go).
//
// In the book a user is added to the room when it connects, but gets its channel only when
// it has sent its name. Until then its channel is nil, and a send on a nil channel waits
// forever: one slow typist stops every broadcast. Here the room holds alice, bob and a
// newcomer who has not sent a name yet; bob says hello, and gofer's deadlock detector ends
// the program.
//
// Goal: a broadcast never sends on a nil channel. The program prints
//   alice got: bob: hello
//   the newcomer got nothing yet
//
// Question: skipping the nil outbox fixes the broadcast. Where would the newcomer have to
// be added to the room so that the room never holds a nil outbox at all?

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

struct user {
  std::string name;
  gofer::chan<std::string> outbox = nullptr;  // nil until the user has sent its name
};

void broadcast(const std::vector<user>& room, const std::string& from, const std::string& text) {
  for (const user& u : room) {
    if (u.name == from) continue;
    // A nil channel is never ready: skip a user who has no outbox yet.
    if (!u.outbox) continue;
    u.outbox.send(from + ": " + text);
  }
}

int main() {
  return gofer::run([] {
    std::vector<user> room = {{"alice", gofer::chan<std::string>(8)},
                              {"(newcomer)", nullptr},
                              {"bob", gofer::chan<std::string>(8)}};
    broadcast(room, "bob", "hello");
    std::printf("alice got: %s\n", room[0].outbox.try_recv().value_or("(nothing)").c_str());
    std::printf("the newcomer got %s\n", room[1].outbox ? "a line" : "nothing yet");
  });
}
