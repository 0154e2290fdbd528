// files1 — a file that is never seen half-written (book, chapter 4: "Working with files").
//
// save() replaces a status file's contents; other goroutines load() it at any time. As it
// ships, save truncates the file and writes the new text in two pieces, so a reader that
// comes in between finds an empty or half file, and two savers at once can mix their
// pieces. The yield marks where a saver may be switched out between the pieces (the second
// piece is still being computed); keep it. File calls block their thread, so they run
// through gofer::blocking (gofer/net.hpp).
//
// Goal: a reader always sees one whole version — the old one or the new one — and the tests
// pass. Do it the way editors and databases do: never write into the file readers open.
// Question: what must reach the disk before the new file replaces the old one, so that a
// crash right after save() cannot leave an empty file behind?

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/gtest.hpp>
#include <gofer/net.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

namespace fs = std::filesystem;

void write_all(int fd, const std::string& s) {
  for (std::size_t at = 0; at < s.size();) {
    ssize_t n = ::write(fd, s.data() + at, s.size() - at);
    if (n < 0) throw std::runtime_error("write failed");
    at += static_cast<std::size_t>(n);
  }
}

// Replaces the contents of `file` with `text`.
void save(const fs::path& file, const std::string& text) {
  const std::string first = text.substr(0, text.size() / 2), second = text.substr(text.size() / 2);
  // Write a temp file beside it, with a name of its own (two savers must not share one),
  // fsync it, then rename it over the old file: rename is atomic, so a reader opens either
  // the old inode or the new one. The fsync comes first so that a crash after the rename
  // cannot leave the new name pointing at data still only in memory.
  static std::atomic<long> next{0};
  fs::path tmp = file.string() + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(next++);
  int fd = gofer::blocking([&] { return ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644); });
  if (fd < 0) throw std::runtime_error("open failed");
  gofer::blocking([&] { write_all(fd, first); });
  gofer::yield();  // the saver may be switched out here: keep this line
  gofer::blocking([&] {
    write_all(fd, second);
    ::fsync(fd);
    ::close(fd);
    if (::rename(tmp.c_str(), file.c_str()) != 0) throw std::runtime_error("rename failed");
    int d = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);  // and the rename itself
    ::fsync(d);
    ::close(d);
  });
}

// ---- the tests: no need to change anything below ----

std::string load(const fs::path& file) {
  return gofer::blocking([&] {
    std::string out;
    if (FILE* f = std::fopen(file.c_str(), "rb")) {
      char buf[4096];
      for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
      std::fclose(f);
    }
    return out;
  });
}

std::string version(int n) { return "version " + std::to_string(n) + " " + std::string(2000 + n % 7, 'a' + n % 26) + " end\n"; }
bool whole(const std::string& t) {
  int n;
  return std::sscanf(t.c_str(), "version %d ", &n) == 1 && t == version(n);
}

struct files1 : ::testing::Test {
  fs::path dir;
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "gofer-files1-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }

  // `savers` goroutines save 100 versions each while one reader loads the file; returns
  // how many loads found something other than one whole version.
  int partial_reads(int savers, unsigned threads) {
    fs::path file = dir / "status";
    int partial = 0;
    EXPECT_GOFER_OK(gofer::testing::run([&] {
      save(file, version(0));
      std::atomic<bool> done{false};
      gofer::wait_group saving, reading;
      saving.add(savers);
      reading.add(1);
      for (int s = 0; s < savers; ++s) {
        gofer::go(gofer::named("saver"), [&, s] {
          for (int i = 1; i <= 100; ++i) save(file, version(s * 1000 + i));
          saving.done();
        });
      }
      gofer::go(gofer::named("reader"), [&] {
        while (!done.load()) {
          if (!whole(load(file))) ++partial;
          gofer::yield();
        }
        reading.done();
      });
      saving.wait();
      done = true;
      reading.wait();
      EXPECT_TRUE(whole(load(file))) << "the file is not one whole version after the last save";
    }, {.threads = threads}));
    return partial;
  }
};

TEST_F(files1, save_then_load_gives_it_back) {
  fs::path file = dir / "status";
  std::string got;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    save(file, version(1));
    save(file, version(2));
    got = load(file);
  }));
  EXPECT_EQ(got, version(2));
}

TEST_F(files1, a_reader_never_sees_half_a_file) {
  EXPECT_EQ(partial_reads(1, 1), 0);
}

TEST_F(files1, two_savers_at_once_do_not_mix_their_versions) {
  EXPECT_EQ(partial_reads(4, 2), 0);
}

TEST_F(files1, no_temp_files_are_left_behind) {
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    for (int i = 0; i < 10; ++i) save(dir / "status", version(i));
  }));
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) (void)e, ++files;
  EXPECT_EQ(files, 1) << "only the status file itself should remain";
}
