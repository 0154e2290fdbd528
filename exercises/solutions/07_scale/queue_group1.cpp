// queue_group1 — share work through a NATS queue group (book, chapter 7: "The Publish and
// Subscribe model"; NSQ's channels in Module 2 are the same idea).
//
// The program starts a private nats-server (Debian: nats-server) on a free loopback port,
// connects three "members" and a publisher with the NATS C client, and publishes 60 jobs on
// the subject "jobs". Every member should get a share of the jobs, and every job should be
// done once — by one member. As shipped, each member gets every job.
//
// Each member's libnats callback hands its messages to a goroutine with try_send into a
// bounded channel (never a blocking send on a NATS thread: see
// chapters/ch07_scale/02_pubsub.cpp); the goroutines report to a tally.
//
// Goal: the program prints exactly
//   60 jobs published
//   deliveries: 60, each job once
//   members with work: 3
//
// Question: plain subscribers on one subject all get every message (fan-out). What do the
// subscribers have to tell the server so that it gives each message to only one of them?

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nats/nats.h>

#include <gofer/chan.hpp>
#include <gofer/net.hpp>
#include <gofer/runtime.hpp>
#include <gofer/select.hpp>
#include <gofer/time.hpp>

#include "server.hpp"  // the chapters' launcher: gofer_demo::server, nats_spec()

constexpr int kMembers = 3, kJobs = 60;

struct inbox {
  int member = 0;
  gofer::chan<std::string> ch{1024};
};

// On a NATS thread: copy, free, try_send (a full inbox would drop; 1024 > 60, so it cannot).
void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* in = static_cast<inbox*>(closure);
  std::string job(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
  in->ch.try_send(std::move(job));
}

void must(natsStatus s, const char* what) {
  if (s != NATS_OK) throw std::runtime_error(std::string(what) + ": " + natsStatus_GetText(s));
}

struct delivery {
  int member = 0;
  std::string job;
};

int main() {
  std::vector<std::unique_ptr<inbox>> inboxes;  // outlive every subscription (see the end)
  gofer::run([&] {
    auto nats = gofer_demo::server::start(gofer_demo::nats_spec());
    std::string url = "nats://" + nats.addr();
    auto connect = [&] {
      natsConnection* nc = nullptr;
      must(gofer::blocking([&] { return natsConnection_ConnectTo(&nc, url.c_str()); }), "connect");
      return nc;
    };
    gofer::chan<delivery> tally(256);
    gofer::chan<int> quit;
    std::vector<natsConnection*> conns;
    std::vector<natsSubscription*> subs;
    for (int m = 1; m <= kMembers; ++m) {
      inboxes.push_back(std::make_unique<inbox>());
      inbox* in = inboxes.back().get();
      in->member = m;
      conns.push_back(connect());
      natsSubscription* sub = nullptr;
      // One queue group, "workers": the server gives each message to one member of it.
      must(natsConnection_QueueSubscribe(&sub, conns.back(), "jobs", "workers", on_message, in), "queue subscribe");
      subs.push_back(sub);
      must(gofer::blocking([&] { return natsConnection_Flush(conns.back()); }), "flush");  // the server has it
      gofer::go(gofer::named("member-" + std::to_string(m)), [in, tally, quit] {
        for (;;) {
          std::optional<std::string> job;
          if (gofer::select(gofer::recv_case(in->ch, job), gofer::recv_case(quit)) == 1) return;
          tally.send(delivery{in->member, std::move(*job)});
        }
      });
    }

    natsConnection* pub = connect();
    for (int j = 0; j < kJobs; ++j) must(natsConnection_PublishString(pub, "jobs", ("job " + std::to_string(j)).c_str()), "publish");
    must(gofer::blocking([&] { return natsConnection_Flush(pub); }), "flush");
    std::printf("%d jobs published\n", kJobs);

    // Count deliveries until none comes for 300 ms.
    int deliveries = 0;
    std::set<std::string> jobs;
    std::set<int> members;
    for (;;) {
      std::optional<delivery> d;
      if (gofer::select(gofer::recv_case(tally, d), gofer::recv_case(gofer::after(std::chrono::milliseconds(300)))) == 1)
        break;
      ++deliveries;
      jobs.insert(d->job);
      members.insert(d->member);
    }
    quit.close();
    std::printf("deliveries: %d, %s\n", deliveries,
                deliveries == kJobs && static_cast<int>(jobs.size()) == kJobs ? "each job once" : "NOT each job once");
    std::printf("members with work: %zu\n", members.size());

    for (auto* s : subs) natsSubscription_Destroy(s);
    gofer::blocking([&] {
      for (auto* c : conns) natsConnection_Destroy(c);
      natsConnection_Destroy(pub);
    });
  });
  nats_CloseAndWait(5000);  // no libnats thread can call on_message after this
  return 0;
}
