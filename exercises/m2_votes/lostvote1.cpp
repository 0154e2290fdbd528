// lostvote1 — a vote lost at shutdown (Module 2, chapter 5: "Counting votes", "Keeping the
// database updated", "Responding to Ctrl+C").
//
// The book's counter: every vote adds to a map under a mutex; an updater flushes the map to
// the database on a timer (1 s) and empties it. On Ctrl+C the counter stops its updater and
// exits. A counter of votes that loses votes is not much of a counter.
//
// Here voters call count(); start_updater() runs the updater goroutine, which adds each
// batch to `db` (the database) until `stop` closes, then sends on the signal channel it
// returned. As it ships, the votes counted since the last tick never reach the database.
//
// Goal: the tests pass: after stop, the database holds every vote that was counted —
// 1000 of 1000, with the book's 1 s interval and with a 1 ms one.
// Question: between the last tick and the stop, votes keep arriving. Where are they when
// the updater sees `stop`, and who else could still put them somewhere?

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/select.hpp>
#include <gofer/sync.hpp>
#include <gofer/time.hpp>

using namespace std::chrono_literals;

struct empty {};  // Go's struct{}: a signal channel carries no data

struct counter {
  std::mutex mu;
  std::map<std::string, long> counts;  // guarded by mu: counted, not yet in the database
  std::map<std::string, long> db;      // the database: written by the updater only

  // The message handler: one vote.
  void count(const std::string& option) {
    std::lock_guard lk(mu);
    ++counts[option];
  }
  // Moves the pending counts into the database (the book's $inc), emptying the map.
  void flush() {
    std::map<std::string, long> batch;
    {
      std::lock_guard lk(mu);
      batch.swap(counts);
    }
    for (auto& [option, n] : batch) db[option] += n;
  }
};

// The updater: flushes every `every` until `stop` closes; then says it stopped.
gofer::chan<empty> start_updater(counter& c, std::chrono::milliseconds every, gofer::chan<empty> stop) {
  gofer::chan<empty> stopped(1);
  gofer::go(gofer::named("updater"), [&c, every, stop, stopped] {
    gofer::ticker t(every);
    for (;;) {
      if (gofer::select(gofer::recv_case(t.c()), gofer::recv_case(stop)) == 1) {
        // TODO: the updater is stopping. Is there anything it still holds?
        break;
      }
      c.flush();
    }
    stopped.send(empty{});
  });
  return stopped;
}

// ---- the tests: no need to change anything below ----

// 4 voters cast 250 votes each (one for "happy", one for "sad", ...), then the
// counter is told to stop, and the database is read once the updater said it stopped.
long votes_in_db(std::chrono::milliseconds every, std::map<std::string, long>& per_option) {
  long total = 0;
  gofer::run(
      [&] {
        counter c;
        gofer::chan<empty> stop;
        gofer::chan<empty> stopped = start_updater(c, every, stop);
        gofer::wait_group wg;
        const std::vector<std::string> options = {"happy", "sad", "fail", "win"};
        for (int v = 0; v < 4; ++v) {
          wg.add(1);
          gofer::go(gofer::named("voter"), [&c, &wg, option = options[static_cast<std::size_t>(v)]] {
            for (int i = 0; i < 250; ++i) {
              c.count(option);
              if (i % 50 == 0) gofer::sleep(1ms);  // votes arrive over a while
            }
            wg.done();
          });
        }
        wg.wait();      // every vote was counted...
        stop.close();   // ...then Ctrl+C
        stopped.recv();
        per_option = c.db;
        for (auto& [o, n] : c.db) total += n;
      },
      {.threads = 2});
  return total;
}

TEST(lostvote1, the_books_one_second_interval_loses_nothing) {
  std::map<std::string, long> per;
  EXPECT_EQ(votes_in_db(1000ms, per), 1000) << "votes counted but never stored";
  for (const char* o : {"happy", "sad", "fail", "win"}) EXPECT_EQ(per[o], 250) << o;
}

TEST(lostvote1, a_short_interval_loses_nothing_either) {
  std::map<std::string, long> per;
  EXPECT_EQ(votes_in_db(1ms, per), 1000) << "votes counted but never stored";
  for (const char* o : {"happy", "sad", "fail", "win"}) EXPECT_EQ(per[o], 250) << o;
}
