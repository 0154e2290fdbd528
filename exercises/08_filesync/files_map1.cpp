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
  // TODO: start the owner goroutine here; it alone touches the map.
  files() = default;
  // TODO: stop the owner (and wait for it) before the object goes away.
  ~files() = default;
  files(const files&) = delete;
  files& operator=(const files&) = delete;

  // A new version of `name` with this hash.
  void changed(const std::string& name, const std::string& hash) {
    // TODO: send this change to the owner instead of touching the map here.
    meta m = map_[name];
    gofer::yield();  // the listener hashes the file here: keep this line (in the owner, too)
    m.version++;
    m.hash = hash;
    map_[name] = m;
  }

  // The current version of `name` (0 if unknown).
  int version(const std::string& name) {
    // TODO: ask the owner.
    auto it = map_.find(name);
    return it == map_.end() ? 0 : it->second.version;
  }

 private:
  std::map<std::string, meta> map_;
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
