// files_map1 — the book's unsynchronised Files map, fixed by ownership (book, chapter 8:
// "Using variadic functions" / the listener's Files map; book-notes.md, chapter 8).
//
// The book's file listener keeps one global map of file metadata; the inotify goroutine
// writes it and every HTTP handler reads and writes it too, with no lock. In Go, `go test
// -race` reports it. Here `changed()` is that code: it reads a file's entry, hashes the
// file (the yield stands for that: keep it), then writes the entry back — and four
// listener goroutines on two threads call it at once, while readers ask for versions.
// (ThreadSanitizer would report the map; the test below makes the damage visible every
// time instead: versions go missing.)
//
// Goal: every change counts — after 4 x 100 changes of one file its version is 400, and
// the tests pass. Don't add a lock: give the map ONE owner goroutine and make changed() and
// version() ask it over channels (chan.hpp), as the demo's store owner does
// (chapters/ch08_filesync/01_filesync.cpp, owner()).
// Question: once one goroutine owns the map, what still has to be true about the request
// channel when the files object is destroyed?

#include <map>
#include <optional>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

struct meta {
  int version = 0;
  std::string hash;
};

// The file table: create and use it inside gofer::run.
class files {
 public:
  // The owner goroutine: the only code that touches map_. It serves requests in order, so
  // each read-hash-write of an entry completes before the next request starts.
  files() {
    gofer::go(gofer::named("files-owner"), [this] {
      for (request r : requests_) {
        if (r.hash) {
          meta m = map_[r.name];
          gofer::yield();  // the listener hashes the file here
          m.version++;
          m.hash = *r.hash;
          map_[r.name] = m;
        }
        auto it = map_.find(r.name);
        r.reply.send(it == map_.end() ? 0 : it->second.version);
      }
      stopped_.close();
    });
  }
  // No request may be in flight: close the channel, wait for the owner to finish.
  ~files() {
    requests_.close();
    stopped_.recv();
  }
  files(const files&) = delete;
  files& operator=(const files&) = delete;

  // A new version of `name` with this hash.
  void changed(const std::string& name, const std::string& hash) {
    ask(name, hash);
  }

  // The current version of `name` (0 if unknown).
  int version(const std::string& name) {
    return ask(name, std::nullopt);
  }

 private:
  struct request {
    std::string name;
    std::optional<std::string> hash;  // a change, or (nullopt) a query
    gofer::chan<int> reply;           // the version after it
  };
  int ask(const std::string& name, std::optional<std::string> hash) {
    gofer::chan<int> reply(1);
    requests_.send(request{name, std::move(hash), reply});
    return *reply.recv();  // the owner always answers
  }
  gofer::chan<request> requests_{16};
  gofer::chan<int> stopped_{0};
  std::map<std::string, meta> map_;  // the owner's alone
};

// ---- the tests: no need to change anything below ----

TEST(files_map1, one_goroutine_counts_its_changes) {
  int v = -1;
  gofer::run([&] {
    files f;
    for (int i = 0; i < 10; ++i) f.changed("a.txt", "h" + std::to_string(i));
    v = f.version("a.txt");
  });
  EXPECT_EQ(v, 10);
}

TEST(files_map1, four_listeners_and_a_reader_lose_no_change) {
  int v = -1, b = -1;
  bool monotonic = true;
  gofer::run([&] {
    files f;
    gofer::wait_group wg;
    wg.add(5);
    for (int l = 0; l < 4; ++l) {
      gofer::go(gofer::named("listener-" + std::to_string(l)), [&, l] {
        for (int i = 0; i < 100; ++i) f.changed("a.txt", std::to_string(l * 1000 + i));
        f.changed("b.txt", "b");
        wg.done();
      });
    }
    gofer::go(gofer::named("handler"), [&] {  // an HTTP handler listing versions meanwhile
      for (int i = 0, last = 0; i < 200; ++i) {
        int now = f.version("a.txt");
        if (now < last) monotonic = false;
        last = now;
      }
      wg.done();
    });
    wg.wait();
    v = f.version("a.txt");
    b = f.version("b.txt");
  }, {.threads = 2});
  EXPECT_EQ(v, 400) << "changes were lost: two goroutines read the same version and both wrote version+1";
  EXPECT_EQ(b, 4);
  EXPECT_TRUE(monotonic) << "a reader saw a version go backwards";
}
