// files — many goroutines, one file (book, chapter 4: "Working with files").
// The book's writers share a file under a *read* lock, which excludes nobody: each opens the
// file, seeks to its end and writes a record in pieces, so records interleave (torn) and
// overwrite each other (lost). A checker reads the file back and counts both. The fixes:
// one goroutine owns the file and the others send it records; and, for a file that is
// replaced as a whole, write a temp file, fsync it, rename it over the old one — a reader
// sees the old file or the new one, never half of one. Watch the checker's counts.
//
// Every file operation blocks its thread (there is no readiness for regular files), so each
// goes through gofer::blocking: the goroutine parks, its thread runs the others. Corruption
// on disk outlives the program: check every file you read back.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <shared_mutex>
#include <string>
#include <variant>
#include <vector>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>  // gofer::blocking

#include "demo_flags.hpp"

namespace fs = std::filesystem;

struct settings {
  int writers = 8;
  int records = 200;  // per writer
  int rewrites = 25;  // per writer, part 3
  unsigned threads = 0;
};

// ---- records and the checker -----------------------------------------------------------

// A record is one line: "w03 r00042 <payload> c=<checksum>\n"; the payload depends on the
// writer and the number, so a torn or mixed line fails its checksum or its format.
unsigned checksum(const std::string& s) {
  unsigned h = 2166136261u;  // FNV-1a
  for (unsigned char ch : s) h = (h ^ ch) * 16777619u;
  return h;
}
std::string record(int w, int r) {
  char head[32];
  std::snprintf(head, sizeof head, "w%02d r%05d ", w, r);
  std::string body = head + std::string(40 + (w * 7 + r) % 50, static_cast<char>('a' + (w + r) % 26));
  return body + " c=" + std::to_string(checksum(body)) + "\n";
}

struct verdict {
  long whole = 0, torn = 0, lost = 0, duplicated = 0;
};

// Reads the file back: a line is whole if its checksum matches; a record is lost if no
// whole line carries it.
verdict check(const fs::path& file, const settings& s) {
  std::string text = gofer::blocking([&] {
    std::string t;
    if (FILE* f = std::fopen(file.c_str(), "rb")) {
      char buf[65536];
      for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) t.append(buf, n);
      std::fclose(f);
    }
    return t;
  });
  verdict v;
  std::set<std::pair<int, int>> seen;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? text.size() : nl + 1;
    int w, r;
    std::size_t c = line.rfind(" c=");
    if (c != std::string::npos && std::sscanf(line.c_str(), "w%d r%d ", &w, &r) == 2 &&
        line.substr(c + 3) == std::to_string(checksum(line.substr(0, c))) && line + "\n" == record(w, r)) {
      ++v.whole;
      if (!seen.insert({w, r}).second) ++v.duplicated;
    } else {
      ++v.torn;
    }
  }
  v.lost = static_cast<long>(s.writers) * s.records - static_cast<long>(seen.size());
  return v;
}

void print(const verdict& v, const settings& s) {
  std::printf("   checker: %ld records expected: %ld whole lines, %ld torn lines, %ld records lost, %ld duplicated\n",
              static_cast<long>(s.writers) * s.records, v.whole, v.torn, v.lost, v.duplicated);
}

// Writes all of buf at the file's current offset (write may write less than asked).
void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::write(fd, p, n);
    if (k < 0) throw std::runtime_error(std::string("write: ") + std::strerror(errno));
    p += k;
    n -= static_cast<std::size_t>(k);
  }
}

// ---- 1. the book's way -------------------------------------------------------------------

// Each writer: take the read lock (shared with every other writer: it excludes nothing),
// open the file, seek to its end, write the record in three pieces, close. Two writers that
// seek before either writes both write at the same offset (one record lost); pieces of
// different records interleave (torn lines).
void books_way(const fs::path& file, const settings& s) {
  gofer::rw_mutex mu;
  gofer::wait_group wg;
  wg.add(s.writers);
  for (int w = 0; w < s.writers; ++w) {
    gofer::go(gofer::named("writer-" + std::to_string(w)), [&, w] {
      for (int r = 0; r < s.records; ++r) {
        std::string rec = record(w, r);
        std::shared_lock lk(mu);  // the wrong kind of lock: every writer holds it at once
        // Each system call is its own blocking call, as each of Go's file calls is: the
        // goroutine parks in every one, and the other writers run in between.
        int fd = gofer::blocking([&] {
          int f = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);  // the book wrote 0x777
          ::lseek(f, 0, SEEK_END);
          return f;
        });
        std::size_t third = rec.size() / 3;
        gofer::blocking([&] { write_all(fd, rec.data(), third); });
        gofer::blocking([&] { write_all(fd, rec.data() + third, third); });
        gofer::blocking([&] { write_all(fd, rec.data() + 2 * third, rec.size() - 2 * third); });
        gofer::blocking([&] { ::close(fd); });
      }
      wg.done();
    });
  }
  wg.wait();
}

// ---- 2. one goroutine owns the file ------------------------------------------------------

// The writers send records to the owner, the only goroutine that touches the file. It
// appends whatever has arrived with one write() (O_APPEND), and fsyncs once at the end,
// before it reports the file saved. Returns how many write() calls it made.
long owner_way(const fs::path& file, const settings& s) {
  gofer::chan<std::string> records(64);
  gofer::chan<long> saved;
  gofer::go(gofer::named("file-owner"), [&file, records, saved] {
    int fd = gofer::blocking([&] { return ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644); });
    if (fd < 0) throw std::runtime_error("open " + file.string() + ": " + std::strerror(errno));
    long writes = 0;
    for (std::string rec : records) {
      std::string batch = std::move(rec);
      while (auto more = records.try_recv()) batch += *more;  // whatever else is waiting
      gofer::blocking([&] { write_all(fd, batch.data(), batch.size()); });
      ++writes;
    }
    // records was closed: every record is in. fsync before saying "saved" (without it the
    // data may still be only in the page cache when the machine loses power).
    gofer::blocking([&] {
      ::fsync(fd);
      ::close(fd);
    });
    saved.send(writes);
  });
  gofer::wait_group wg;
  wg.add(s.writers);
  for (int w = 0; w < s.writers; ++w) {
    gofer::go(gofer::named("writer-" + std::to_string(w)), [&, w, records] {
      for (int r = 0; r < s.records; ++r) records.send(record(w, r));
      wg.done();
    });
  }
  wg.wait();
  records.close();
  return saved.recv().value_or(-1);
}

// ---- 3. replacing a whole file -------------------------------------------------------------

// A status file is rewritten again and again by many goroutines while a reader reads it.
// A version is whole if it is exactly "version <n>\n" + 4000 letters + "end\n".
constexpr std::size_t kBody = 4000;
std::string version_text(int n) { return "version " + std::to_string(n) + "\n" + std::string(kBody, 'x') + "end\n"; }
bool whole_version(const std::string& t) {
  int n;
  return std::sscanf(t.c_str(), "version %d\n", &n) == 1 && t == version_text(n);
}

// In place: truncate, then write in pieces. A reader in between sees an empty or half file.
void rewrite_in_place(const fs::path& file, int n) {
  std::string t = version_text(n);
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  for (std::size_t at = 0; at < t.size(); at += 1024) write_all(fd, t.data() + at, std::min<std::size_t>(1024, t.size() - at));
  ::close(fd);
}

// Temp + rename: write a new file beside it (a name of its own), fsync it, rename it over
// the old one (atomic within a file system: the name points at the old inode or the new
// one), then fsync the directory so that the rename itself survives a crash.
void rewrite_by_rename(const fs::path& file, int n, int writer) {
  std::string t = version_text(n);
  fs::path tmp = file.string() + ".tmp" + std::to_string(writer);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  for (std::size_t at = 0; at < t.size(); at += 1024) write_all(fd, t.data() + at, std::min<std::size_t>(1024, t.size() - at));
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), file.c_str()) != 0) throw std::runtime_error(std::string("rename: ") + std::strerror(errno));
  int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ::fsync(dir);
  ::close(dir);
}

struct reads {
  long total = 0, partial = 0;
};

// The writers rewrite the file; one reader reads it until they are done.
template <class Rewrite>
reads replace_whole(const fs::path& file, const settings& s, Rewrite rewrite) {
  gofer::blocking([&] { rewrite(file, 0, 0); });
  gofer::chan<std::monostate> done;
  gofer::chan<reads> result;
  gofer::go(gofer::named("reader"), [&file, done, result] {
    reads r;
    for (bool more = true; more;) {
      std::string t = gofer::blocking([&] {
        std::string out;
        if (FILE* f = std::fopen(file.c_str(), "rb")) {
          char buf[8192];
          for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
          std::fclose(f);
        }
        return out;
      });
      ++r.total;
      if (!whole_version(t)) ++r.partial;
      gofer::select(gofer::recv_case(done, [&](auto) { more = false; }), gofer::default_case([] {}));
    }
    result.send(r);
  });
  gofer::wait_group wg;
  wg.add(s.writers);
  for (int w = 0; w < s.writers; ++w) {
    gofer::go(gofer::named("rewriter-" + std::to_string(w)), [&, w] {
      for (int i = 1; i <= s.rewrites; ++i) gofer::blocking([&] { rewrite(file, w * 1000 + i, w); });
      wg.done();
    });
  }
  wg.wait();
  done.close();
  return result.recv().value_or(reads{});
}

int main(int argc, char** argv) {
  settings s;
  CLI::App app{"many goroutines, one file: torn and lost records, one owner goroutine, temp+rename", "files"};
  app.add_option("--writers", s.writers, "writer goroutines")->capture_default_str()->check(CLI::Range(2, 1000));
  app.add_option("--records", s.records, "records per writer")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--rewrites", s.rewrites, "whole-file rewrites per writer (part 3)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--threads", s.threads, "OS threads (0: one per core)")->capture_default_str()->check(CLI::Range(0, 1024));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  // A private directory, removed at the end.
  std::string tmpl = (fs::temp_directory_path() / "gofer-files-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  fs::path dir = tmpl;
  verdict book, owned;
  long owner_writes = 0;
  reads in_place, renamed;
  int status = gofer::run(
      [&] {
        std::printf("1. the book's way: %d goroutines append %d records each, in 3 pieces, under a read lock\n",
                    s.writers, s.records);
        books_way(dir / "book.log", s);
        print(book = check(dir / "book.log", s), s);

        std::puts("2. one goroutine owns the file; the writers send it their records on a channel");
        owner_writes = owner_way(dir / "owned.log", s);
        print(owned = check(dir / "owned.log", s), s);
        std::printf("   (%ld write calls: the owner appends whatever has arrived at once, fsync once at the end)\n",
                    owner_writes);

        std::printf("3. %d goroutines rewrite a whole status file %d times each while a reader reads it:\n",
                    s.writers, s.rewrites);
        in_place = replace_whole(dir / "status-in-place", s, [](const fs::path& f, int n, int) { rewrite_in_place(f, n); });
        std::printf("   in place (truncate, write):   %ld of %ld reads saw a partial file\n", in_place.partial,
                    in_place.total);
        renamed = replace_whole(dir / "status-renamed", s, rewrite_by_rename);
        std::printf("   temp file, fsync, rename:     %ld of %ld reads saw a partial file\n", renamed.partial,
                    renamed.total);
      },
      gofer::options{.threads = s.threads});
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (status != 0) return status;
  if (owned.torn != 0 || owned.lost != 0 || owned.duplicated != 0 || renamed.partial != 0) {
    std::puts("FAILED: a fix did not hold");
    return 1;
  }
  std::printf(
      "the book's way tore %ld lines and lost %ld of %ld records, the owner goroutine lost none, and temp+rename "
      "never showed a partial file in %ld reads\n",
      book.torn, book.lost, static_cast<long>(s.writers) * s.records, renamed.total);
  return 0;
}
