// actor — CSP vs the actor model (book, chapter 2: "A little bit about CSP", "Go and the
// actor model"). In CSP two goroutines meet at a channel: on an unbuffered channel a send
// completes only when a receiver takes the value (a rendezvous), so the sender waits for
// the receiver. An actor has a mailbox: you send to *it*, the message is queued, and you
// go on at once; the actor takes its messages one at a time and is the only one that
// touches its state. In Go (and gofer) an actor is a goroutine that owns its state and
// reads a buffered channel. Watch the timestamps: the same busy receiver makes every
// rendezvous send wait, and no mailbox send.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <variant>

#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using clock_type = std::chrono::steady_clock;
using ms = std::chrono::duration<double, std::milli>;

namespace {

clock_type::time_point t0;
double now_ms() { return ms(clock_type::now() - t0).count(); }

// One line of the log: time since the part began, who, what. (printf from several
// goroutines: each line comes out whole, in the order the calls happened.)
void say(const char* who, const std::string& what) {
  std::printf("   t=%6.1f ms  %-9s %s\n", now_ms(), who, what.c_str());
}

struct settings {
  int messages;
  std::chrono::milliseconds work;  // how long the receiver spends on each message
};

// 1. CSP: a rendezvous on an unbuffered channel. The receiver is busy for `work` before it
// takes each message, so each send waits for it. Returns true if every send returned only
// after its receiver could have taken the message — message m not before m * work, since
// the receiver sleeps that long before its m-th receive (Go's guarantee; checked, not
// assumed).
bool rendezvous(const settings& s) {
  gofer::chan<int> ch;  // unbuffered
  gofer::chan<int> done;
  gofer::go(gofer::named{"receiver"}, [&s, ch, done]() {
    for (int i = 1; i <= s.messages; ++i) {
      gofer::sleep(s.work);  // busy with something else; not at the channel yet
      int m = *ch.recv();
      say("receiver", "took message " + std::to_string(m));
    }
    done.send(0);
  });
  bool waited = true;
  for (int m = 1; m <= s.messages; ++m) {
    double t = now_ms();
    say("sender", "sends message " + std::to_string(m) + "...");
    ch.send(m);  // parks until the receiver takes it
    waited = waited && now_ms() >= m * ms(s.work).count();
    say("sender", "... send returned after " + std::to_string(static_cast<int>(now_ms() - t + 0.5)) + " ms");
  }
  done.recv();
  return waited;
}

// 2. An actor: a goroutine that owns a tally and reads its mailbox, a buffered channel.
// Messages are requests: "add n", or "tell me the tally" with a channel for the answer.
struct add {
  int n;
};
struct get {
  gofer::chan<int> reply;
};
using message = std::variant<add, get>;

// Returns how many sends returned while the actor had handled fewer messages than that.
int mailbox(const settings& s, int& tally_seen) {
  gofer::chan<message> inbox(s.messages + 1);  // room for every message: senders never wait
  std::atomic<int> handled{0};
  gofer::go(gofer::named{"actor"}, [&s, inbox, &handled]() {
    int tally = 0;  // the actor's state: no other goroutine can see it
    for (message m : inbox) {
      if (auto* a = std::get_if<add>(&m)) {
        gofer::sleep(s.work);  // handling a message takes time
        tally += a->n;
        handled = handled + 1;
        say("actor", "handled message " + std::to_string(handled.load()) + " (add " + std::to_string(a->n) +
                         "), tally " + std::to_string(tally));
      } else {
        std::get<get>(m).reply.send(tally);
      }
    }
  });
  int early = 0;
  for (int m = 1; m <= s.messages; ++m) {
    double t = now_ms();
    inbox.send(add{1});  // queued: returns at once
    if (handled.load() < m) ++early;
    say("sender", "sends message " + std::to_string(m) + " (add 1): returned after " +
                      std::to_string(static_cast<int>(now_ms() - t + 0.5)) + " ms");
  }
  say("sender", "all sent; now asks the actor for its tally (and waits for the answer)");
  gofer::chan<int> reply;
  inbox.send(get{reply});  // behind the adds in the mailbox: answered after them
  tally_seen = *reply.recv();
  say("sender", "the actor says: tally " + std::to_string(tally_seen));
  inbox.close();  // the actor's range loop ends
  return early;
}

}  // namespace

int main(int argc, char** argv) {
  int messages = 4, work_ms = 20;
  unsigned threads = 0;
  CLI::App app{"CSP vs the actor model: a rendezvous on an unbuffered channel vs an actor's mailbox", "actor"};
  app.add_option("--messages", messages, "messages to send in each part")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--work-ms", work_ms, "how long the receiver takes per message")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  settings s{messages, std::chrono::milliseconds(work_ms)};

  bool waited = false;
  int early = 0, tally = 0;
  int status = gofer::run(
      [&] {
        std::printf("1. CSP rendezvous: an unbuffered channel; the receiver needs %d ms before each receive\n",
                    work_ms);
        t0 = clock_type::now();
        waited = rendezvous(s);
        std::printf("2. actor mailbox: a buffered channel in front of an actor goroutine that owns a tally\n");
        t0 = clock_type::now();
        early = mailbox(s, tally);
      },
      {.threads = threads});
  if (status != 0) return status;
  if (!waited || tally != messages) {
    std::puts("FAILED: a rendezvous send returned before its receiver, or the actor lost a message");
    return 1;
  }
  if (early < messages)
    std::printf("(%d of %d mailbox sends returned after the actor had already handled them: a busy machine)\n",
                messages - early, messages);
  std::printf("every rendezvous send waited for its receiver, the %d mailbox sends did not: the actor counted %d\n",
              early, tally);
  return 0;
}
