// pubsub — publish/subscribe on a real NATS server, from goroutines (book, chapter 7:
// "The Publish and Subscribe model"; queue groups are what NSQ's channels are in Module 2).
//
// The demo starts a private nats-server (Debian: nats-server) on a free loopback port through
// the shared launcher, and talks to it with the NATS C client (libnats-dev). libnats delivers
// messages on its own threads, through callbacks; each callback hands the message to a
// goroutine with try_send into a bounded gofer channel — it never waits on a gofer channel
// (see `inbox`). Four parts: fan-out (every subscriber gets every message), a queue group of
// 3 (each message goes to exactly one member: work distribution), a subscriber that is down
// (core NATS is at-most-once: what it missed is gone), and JetStream (a stream keeps the
// messages until a consumer acknowledges them: at-least-once). Watch the counts.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nats/nats.h>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>

#include "demo_flags.hpp"
#include "server.hpp"

using namespace std::chrono_literals;

namespace {

// ---- libnats, owned -------------------------------------------------------------------------
struct nats_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
void check(natsStatus s, const char* what) {
  if (s != NATS_OK)
    throw nats_failure(std::string(what) + ": " + natsStatus_GetText(s) + " (" + nats_GetLastError(nullptr) + ")");
}
// Destroying a connection closes it and waits for libnats's threads for it: blocking.
struct conn_deleter {
  void operator()(natsConnection* c) const { gofer::blocking([c] { natsConnection_Destroy(c); }); }
};
struct sub_deleter { void operator()(natsSubscription* s) const { natsSubscription_Destroy(s); } };
struct js_deleter { void operator()(jsCtx* j) const { jsCtx_Destroy(j); } };
using connection = std::unique_ptr<natsConnection, conn_deleter>;
using subscription = std::unique_ptr<natsSubscription, sub_deleter>;

// Connecting waits for the server's greeting: a blocking C call, so it runs on a helper
// thread (gofer::blocking) while the goroutine parks.
connection connect(const std::string& url) {
  natsConnection* nc = nullptr;
  check(gofer::blocking([&] { return natsConnection_ConnectTo(&nc, url.c_str()); }), "connect");
  return connection(nc);
}

// Flush is a PING/PONG round trip: when it returns, the server has processed everything
// this connection sent before it (its SUBs and PUBs). Blocking, so through gofer::blocking.
void flush(const connection& nc) {
  check(gofer::blocking([&] { return natsConnection_FlushTimeout(nc.get(), 5000); }), "flush");
}

// ---- from a NATS thread to a goroutine --------------------------------------------------------
// The rule: never block a NATS delivery thread on a gofer channel. A blocking send() from a
// thread that is not a goroutine cannot park (gofer throws), and if it could, a slow goroutine
// would stall every message of the subscription behind it. So the callback copies the
// payload, frees the message and try_send()s into a *bounded* channel: if the channel is full
// the message is dropped and counted — the same policy as NATS's own "slow consumer" limit on
// a subscription's pending messages, made visible. In this demo every inbox holds more than
// any part publishes, so the drop count stays 0; in a service it is the number to alert on.
// The inbox channel is never closed while its subscription exists (try_send on a closed
// channel panics, like Go): readers stop through a separate `quit` channel instead.
struct inbox {
  std::string name;
  gofer::chan<std::string> ch{1024};
  std::atomic<long> dropped{0};
};

void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* in = static_cast<inbox*>(closure);
  std::string data(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
  if (!in->ch.try_send(std::move(data))) in->dropped.fetch_add(1, std::memory_order_relaxed);
}

// What readers report: who got which message.
struct delivery {
  std::string reader, data;
};

// A reader goroutine: hands every message of its inbox on to `tally` until `quit` closes.
void reader(inbox* in, gofer::chan<delivery> tally, gofer::chan<int> quit) {
  for (;;) {
    std::optional<std::string> msg;
    if (gofer::select(gofer::recv_case(in->ch, msg), gofer::recv_case(quit)) == 1) return;
    tally.send(delivery{in->name, std::move(*msg)});
  }
}

// Receives `n` deliveries, or fewer if none arrives for `quiet`.
std::vector<delivery> collect(gofer::chan<delivery> tally, int n, std::chrono::milliseconds quiet = 3000ms) {
  std::vector<delivery> got;
  while (static_cast<int>(got.size()) < n) {
    std::optional<delivery> d;
    if (gofer::select(gofer::recv_case(tally, d), gofer::recv_case(gofer::after(quiet))) == 1) break;
    got.push_back(std::move(*d));
  }
  return got;
}

void publish(const connection& nc, const std::string& subject, const std::string& data) {
  // Publish appends to the connection's buffer (libnats's flusher thread writes it): it does
  // not wait for the server, so no gofer::blocking.
  check(natsConnection_PublishString(nc.get(), subject.c_str(), data.c_str()), "publish");
}

struct session {
  std::string url;
  std::vector<std::unique_ptr<inbox>> inboxes;  // outlive their subscriptions (see main)
  inbox* make_inbox(std::string name) {
    inboxes.push_back(std::make_unique<inbox>());
    inboxes.back()->name = std::move(name);
    return inboxes.back().get();
  }
  long dropped() const {
    long n = 0;
    for (auto& in : inboxes) n += in->dropped.load();
    return n;
  }
};

// ---- 1. fan-out ---------------------------------------------------------------------------------
int fan_out(session& s, int messages) {
  std::puts("1. fan-out: 2 subscribers on \"news\", each on its own connection, get every message");
  connection pub = connect(s.url), c1 = connect(s.url), c2 = connect(s.url);
  gofer::chan<delivery> tally(64);
  gofer::chan<int> quit;
  std::vector<subscription> subs;
  for (auto* c : {&c1, &c2}) {
    inbox* in = s.make_inbox(subs.empty() ? "alice" : "bob");
    natsSubscription* sub = nullptr;
    check(natsConnection_Subscribe(&sub, c->get(), "news", on_message, in), "subscribe");
    subs.emplace_back(sub);
    flush(*c);  // the server has the SUB before anyone publishes
    gofer::go(gofer::named{"reader-" + in->name}, reader, in, tally, quit);
  }
  for (int i = 1; i <= messages; ++i) publish(pub, "news", "headline " + std::to_string(i));
  flush(pub);
  auto got = collect(tally, 2 * messages);
  quit.close();
  std::map<std::string, int> per;
  for (auto& d : got) ++per[d.reader];
  std::printf("   alice got %d, bob got %d of %d\n", per["alice"], per["bob"], messages);
  return per["alice"] == messages && per["bob"] == messages ? messages : -1;
}

// ---- 2. a queue group of 3 ---------------------------------------------------------------------
// Subscribers that share a queue group name split the subject's messages: the server gives
// each message to one member, at random. This is work distribution (NSQ's channels).
std::vector<int> queue_group(session& s, int jobs, bool& exactly_once) {
  std::printf("2. queue group \"resizers\": 3 members share %d jobs on \"jobs.resize\"\n", jobs);
  connection pub = connect(s.url);
  std::vector<connection> conns;
  std::vector<subscription> subs;
  gofer::chan<delivery> tally(256);
  gofer::chan<int> quit;
  for (int m = 1; m <= 3; ++m) {
    conns.push_back(connect(s.url));
    inbox* in = s.make_inbox("member-" + std::to_string(m));
    natsSubscription* sub = nullptr;
    check(natsConnection_QueueSubscribe(&sub, conns.back().get(), "jobs.resize", "resizers", on_message, in),
          "queue subscribe");
    subs.emplace_back(sub);
    flush(conns.back());
    gofer::go(gofer::named{"reader-" + in->name}, reader, in, tally, quit);
  }
  for (int i = 0; i < jobs; ++i) publish(pub, "jobs.resize", "job " + std::to_string(i));
  flush(pub);
  auto got = collect(tally, jobs);
  // Anything more would be a duplicate: wait a moment for one that should not come.
  auto extra = collect(tally, 1, 200ms);
  quit.close();
  std::vector<int> per(3, 0);
  std::set<std::string> seen;
  for (auto& d : got) {
    ++per[static_cast<std::size_t>(d.reader.back() - '1')];
    seen.insert(d.data);
  }
  exactly_once = static_cast<int>(got.size()) == jobs && static_cast<int>(seen.size()) == jobs && extra.empty();
  std::printf("   member-1 got %d, member-2 got %d, member-3 got %d: %zu of %d jobs, %s\n", per[0], per[1], per[2],
              seen.size(), jobs, exactly_once ? "each exactly once" : "NOT exactly once");
  return per;
}

// ---- 3. a subscriber that is down ------------------------------------------------------------
// Core NATS keeps nothing: a message goes to the subscriptions that exist when it arrives.
int at_most_once(session& s, int batch) {
  std::printf("3. at-most-once: a subscriber on \"alerts\" is down for the middle of 3 batches of %d\n", batch);
  connection pub = connect(s.url), sc = connect(s.url);
  gofer::chan<delivery> tally(64);
  gofer::chan<int> quit;
  inbox* in = s.make_inbox("pager");
  gofer::go(gofer::named{"reader-pager"}, reader, in, tally, quit);
  auto up = [&] {
    natsSubscription* sub = nullptr;
    check(natsConnection_Subscribe(&sub, sc.get(), "alerts", on_message, in), "subscribe");
    flush(sc);
    return subscription(sub);
  };
  auto send_batch = [&](int b) {
    for (int i = 1; i <= batch; ++i) publish(pub, "alerts", "batch " + std::to_string(b) + " alert " + std::to_string(i));
    flush(pub);
  };
  subscription sub = up();
  send_batch(1);
  auto first = collect(tally, batch);
  check(natsSubscription_Unsubscribe(sub.get()), "unsubscribe");
  flush(sc);  // the server forgot the subscription
  sub.reset();
  send_batch(2);  // nobody listens: gone
  sub = up();
  send_batch(3);
  auto third = collect(tally, batch);
  auto late = collect(tally, 1, 200ms);  // would batch 2 turn up? (it cannot)
  quit.close();
  int from2 = 0;
  for (auto* v : {&first, &third, &late})
    for (auto& d : *v) from2 += d.data.rfind("batch 2", 0) == 0;
  int received = static_cast<int>(first.size() + third.size() + late.size());
  std::printf("   the pager got %d of %d: batch 1 %zu, batch 2 %d (sent while it was down), batch 3 %zu\n", received,
              3 * batch, first.size(), from2, third.size());
  return static_cast<int>(first.size()) == batch && static_cast<int>(third.size()) == batch && from2 == 0 &&
                 late.empty()
             ? batch
             : -1;
}

// ---- 4. JetStream --------------------------------------------------------------------------------
// A stream stores the subject's messages on the server; a durable consumer reads them later,
// however long it was away, and acknowledges each: at-least-once (an unacknowledged message
// is delivered again after the ack wait).
int jetstream(session& s, int messages) {
  std::printf("4. JetStream: stream ORDERS keeps %d messages published before any consumer exists\n", messages);
  connection nc = connect(s.url);
  jsCtx* raw = nullptr;
  check(natsConnection_JetStream(&raw, nc.get(), nullptr), "jetstream");
  std::unique_ptr<jsCtx, js_deleter> js(raw);
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = "ORDERS";
  const char* subjects[] = {"orders.*"};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsStreamInfo* si = nullptr;
  check(gofer::blocking([&] { return js_AddStream(&si, js.get(), &cfg, nullptr, &jerr); }), "add stream");
  jsStreamInfo_Destroy(si);
  // Publishing to a stream waits for the server's acknowledgement (stored): blocking.
  for (int i = 1; i <= messages; ++i) {
    std::string body = "order " + std::to_string(i);
    check(gofer::blocking([&] {
            return js_Publish(nullptr, js.get(), "orders.new", body.data(), static_cast<int>(body.size()), nullptr,
                              &jerr);
          }),
          "js publish");
  }
  // Now a consumer appears: a durable pull consumer fetches what was stored, and acks it.
  natsSubscription* psub = nullptr;
  check(gofer::blocking([&] { return js_PullSubscribe(&psub, js.get(), "orders.*", "shipping", nullptr, nullptr, &jerr); }),
        "pull subscribe");
  subscription sub(psub);
  int got = 0;
  for (;;) {
    natsMsgList list{};
    natsStatus st = gofer::blocking([&] { return natsSubscription_Fetch(&list, sub.get(), messages, 1000, &jerr); });
    if (st == NATS_TIMEOUT) break;
    check(st, "fetch");
    for (int i = 0; i < list.Count; ++i) {
      check(gofer::blocking([&] { return natsMsg_AckSync(list.Msgs[i], nullptr, &jerr); }), "ack");
      ++got;
    }
    natsMsgList_Destroy(&list);
    if (got >= messages) break;
  }
  std::printf("   the durable consumer \"shipping\" fetched and acked %d of %d\n", got, messages);
  return got;
}

}  // namespace

int main(int argc, char** argv) {
  int messages = 5, jobs = 300;
  bool no_jetstream = false;
  CLI::App app{"publish/subscribe on a private NATS server: fan-out, a queue group, at-most-once, JetStream", "pubsub"};
  app.add_option("--messages", messages, "messages per fan-out, per batch and for JetStream")
      ->capture_default_str()->check(CLI::Range(1, 500));
  app.add_option("--jobs", jobs, "jobs for the queue group of 3")->capture_default_str()->check(CLI::Range(3, 1000));
  app.add_flag("--no-jetstream", no_jetstream, "skip part 4");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int status = 0;
  session s;
  gofer::run([&] {
    try {
      auto nats = gofer_demo::server::start(gofer_demo::nats_spec(/*jetstream=*/!no_jetstream));
      s.url = "nats://" + nats.addr();
      std::printf("nats-server on %s\n", nats.addr().c_str());
      int fan = fan_out(s, messages);
      bool once = false;
      std::vector<int> per = queue_group(s, jobs, once);
      int amo = at_most_once(s, messages);
      int kept = no_jetstream ? 0 : jetstream(s, messages);
      bool ok = fan == messages && once && per[0] > 0 && per[1] > 0 && per[2] > 0 && amo == messages &&
                (no_jetstream || kept == messages) && s.dropped() == 0;
      if (!ok) {
        std::printf("FAILED (dropped by full inboxes: %ld)\n", s.dropped());
        status = 1;
        return;
      }
      std::printf("fan-out: 2 x %d delivered, queue group of 3: %d jobs each delivered once (%d/%d/%d), "
                  "at-most-once: %d lost while down, JetStream: %d of %d kept, %ld dropped\n",
                  messages, jobs, per[0], per[1], per[2], messages, kept, no_jetstream ? 0 : messages, s.dropped());
    } catch (const std::exception& e) {  // server_error (no nats-server), nats_failure
      std::fprintf(stderr, "pubsub: %s\n", e.what());
      status = 1;
    }
  });
  // Every connection and subscription is destroyed by now; wait for libnats's own threads to
  // end before the inboxes (their callbacks' closures) go away with `s`.
  nats_CloseAndWait(5000);
  return status;
}
