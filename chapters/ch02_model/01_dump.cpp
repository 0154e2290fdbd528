// dump — what is every goroutine doing right now? (book, chapter 2: "Understanding the
// working of goroutines"). A goroutine is either running, runnable, or parked waiting for
// something: a channel, a lock, a wait_group. gofer::dump_goroutines prints every goroutine
// with its name, what it waits for and the line that parked it, like Go's goroutine dump.
// Watch the brackets: each goroutine parked in a different place; one can never leave.
//
// The same dump appears on Ctrl-\ (SIGQUIT) and in the deadlock report (try --deadlock).

#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>

#include <gofer/debug.hpp>
#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using namespace std::chrono_literals;

// dump_goroutines lists the goroutines by id: a header line each ("goroutine 2
// "producer" [chan send]:") and, for a parked one, the function and file:line of the call
// that parked it. Indent it under the demo's numbered steps.
std::string indented_dump() {
  std::ostringstream out;
  gofer::dump_goroutines(out);
  std::istringstream in(out.str());
  std::string s;
  for (std::string line; std::getline(in, line);) s += line.empty() ? "\n" : "   " + line + "\n";
  return s;
}

int main(int argc, char** argv) {
  bool deadlock = false;
  unsigned threads = 0;
  CLI::App app{"goroutine dumps: named goroutines parked on channels, locks and wait groups", "dump"};
  app.add_flag("--deadlock", deadlock, "forget to release them: the deadlock detector reports it (exit 2)");
  app.add_option("--threads", threads, "OS threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int unhappy = 0;
  int status = gofer::run(
      [&] {
        // The things the goroutines will wait for. main holds the lock and the wait_group's
        // count, so "locker" and "waiter" cannot get past them yet.
        gofer::chan<int> orders, deliveries, news, quit;
        gofer::chan<int> nil_chan(nullptr);  // var c chan int: nobody can ever use it
        gofer::mutex mu;
        mu.lock();
        gofer::wait_group gate;
        gate.add(1);
        gofer::wait_group finished;  // counts the goroutines main will release
        finished.add(5);

        // Named goroutines: go(named("..."), f). The name shows in dumps and traces.
        gofer::go(gofer::named("producer"), [&, orders]() {
          orders.send(42);  // unbuffered, and nobody receives yet: parks in "chan send"
          std::puts("   producer: my order was taken");
          finished.done();
        });
        gofer::go(gofer::named("consumer"), [&, deliveries]() {
          int d = *deliveries.recv();  // nothing sent yet: parks in "chan receive"
          std::printf("   consumer: received delivery %d\n", d);
          finished.done();
        });
        gofer::go(gofer::named("selector"), [&, news, quit]() {
          // Neither channel is ready: parks in "select" on both at once.
          gofer::select(gofer::recv_case(news), gofer::recv_case(quit));
          std::puts("   selector: quit was closed");
          finished.done();
        });
        gofer::go(gofer::named("locker"), [&] {
          std::lock_guard lk(mu);  // main holds mu: parks in "sync.Mutex.Lock"
          std::puts("   locker: got the lock");
          finished.done();
        });
        gofer::go(gofer::named("waiter"), [&] {
          gate.wait();  // the count is 1: parks in "sync.WaitGroup.Wait"
          std::puts("   waiter: the wait_group reached zero");
          finished.done();
        });
        gofer::go(gofer::named("leaker"), [nil_chan]() {
          nil_chan.recv();  // a nil channel is never ready: parked for good (a leak)
          std::puts("   leaker: unreachable");
        });

        // Wait until none of them is still on its way to its parking spot: the dump shows
        // "runnable" for a goroutine that is ready or running on another thread.
        for (int tries = 0; tries < 1000; ++tries) {
          std::ostringstream probe;
          gofer::dump_goroutines(probe);
          if (probe.str().find("[runnable]") == std::string::npos) break;
          gofer::sleep(1ms);
        }
        std::printf("1. %zu goroutines, and what each is doing:\n", gofer::num_goroutine());
        std::fputs(indented_dump().c_str(), stdout);

        if (deadlock) {
          // Forget to release anybody and wait for a reply that will never come: every
          // goroutine is now parked with nothing left that could wake one. gofer notices,
          // prints the dump to stderr and exits with status 2, as Go does.
          std::puts("2. main forgets to release them and waits for a reply nobody will send...");
          std::fflush(stdout);
          gofer::chan<int> reply;
          reply.recv();
        }

        // Release them one by one: each wait is matched by the operation it waits for.
        std::puts("2. main releases five of them:");
        orders.recv();       // take the producer's order
        deliveries.send(7);  // hand the consumer a delivery
        quit.close();        // a closed channel is ready for every receiver, forever
        mu.unlock();         // the locker gets the lock
        gate.done();         // the wait_group's count reaches zero
        finished.wait();
        // done() is their last call, but they may not have returned yet: wait until they have.
        for (int tries = 0; tries < 1000 && gofer::num_goroutine() > 2; ++tries) gofer::sleep(1ms);

        std::printf("3. %zu goroutines are left:\n", gofer::num_goroutine());
        std::string after = indented_dump();
        std::fputs(after.c_str(), stdout);

        // The leaker is still there, and nothing can ever wake it. When main returns,
        // gofer unwinds it (its destructors run); in Go it would simply vanish with the
        // process. A leak like this in a long-running program is a goroutine lost forever.
        bool ok = gofer::num_goroutine() == 2 &&
                  after.find("\"leaker\" [chan receive (nil chan)]") != std::string::npos;
        if (ok) {
          std::puts("all 5 parked goroutines were released, the one on a nil channel never can be");
        } else {
          std::puts("FAILED: unexpected goroutines left");
          unhappy = 1;
        }
      },
      gofer::options{.threads = threads});
  return status != 0 ? status : unhappy;
}
