// backupd — the backup daemon (Module 2, chapter 8: "Filesystem Backup": the backup
// library, the command-line tool and the daemon). The paths to back up live in a small
// JSON DB with the last hash of each; the daemon wakes on an interval, hashes each
// directory's entries (names, sizes, modification times) and zips the ones that changed.
// Its wait is interruptible: a select on the timer and the signal channel, so SIGINT stops
// it at once, not at the next tick (watch the milliseconds). Last, restore: every latest
// archive unzipped concurrently by an errgroup with a limit, and two corrupt archives to
// show the two ways to report errors: the first error (errgroup's) or all of them.
//
// Without flags the demo drives itself in a temp dir: it adds 3 directories to the DB,
// changes one between checks, interrupts the daemon with a real SIGINT and restores.
// `--daemon --db FILE --archive DIR` runs only the daemon, until Ctrl-C.

#include <zip.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <algorithm>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <gofer/errgroup.hpp>
#include <gofer/gofer.hpp>
#include <gofer/net.hpp>  // gofer::blocking
#include <gofer/signal.hpp>

#include "demo_flags.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

// ---- the DB: {"paths": [{"path": "...", "hash": "..."}]} in one JSON file (the book's
// filedb), read and written whole; written to a temp file and renamed, so a crash never
// leaves half a DB --------------------------------------------------------------------------

struct db {
  fs::path file;
  std::map<std::string, std::string> paths;  // path → last archived hash ("" if never)

  static db load(const fs::path& file) {
    db d{file, {}};
    if (!fs::exists(file)) return d;
    std::ifstream in(file);
    nlohmann::json j = nlohmann::json::parse(in);  // throws on a malformed DB: a clear error
    for (auto& p : j.at("paths")) d.paths[p.at("path").get<std::string>()] = p.value("hash", "");
    return d;
  }
  void save() const {
    nlohmann::json j = {{"paths", nlohmann::json::array()}};
    for (auto& [path, hash] : paths) j["paths"].push_back({{"path", path}, {"hash", hash}});
    fs::path tmp = file;
    tmp += ".tmp";
    std::ofstream(tmp) << j.dump(2) << '\n';
    fs::rename(tmp, file);
  }
};

// ---- the backup library: hash a directory, zip it, unzip it (file I/O: all called through
// gofer::blocking by the goroutines) ---------------------------------------------------------

// The directory's state: every entry's relative name, size and mtime, in order, hashed.
// (The book hashes the same with MD5; any stable hash detects a change.)
std::string dir_hash(const fs::path& dir) {
  std::vector<std::string> entries;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    std::ostringstream s;
    s << fs::relative(e.path(), dir).generic_string() << '|' << e.is_directory() << '|'
      << (e.is_regular_file() ? e.file_size() : 0) << '|' << e.last_write_time().time_since_epoch().count();
    entries.push_back(s.str());
  }
  std::sort(entries.begin(), entries.end());
  std::string all;
  for (auto& e : entries) all += e + '\n';
  return std::to_string(std::hash<std::string>{}(all));
}

std::string zip_message(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string m = zip_error_strerror(&e);
  zip_error_fini(&e);
  return m;
}

// Zips every file under dir into `to` (names relative to dir).
void zip_dir(const fs::path& dir, const fs::path& to) {
  int err = 0;
  zip_t* z = zip_open(to.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) throw std::runtime_error(to.string() + ": " + zip_message(err));
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    std::string name = fs::relative(e.path(), dir).generic_string();
    if (e.is_directory()) {
      zip_dir_add(z, name.c_str(), ZIP_FL_ENC_UTF_8);
    } else if (e.is_regular_file()) {
      zip_source_t* src = zip_source_file(z, e.path().c_str(), 0, -1);
      if (!src || zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8) < 0) {
        if (src) zip_source_free(src);
        std::string m = zip_strerror(z);
        zip_discard(z);
        throw std::runtime_error(to.string() + ": " + m);
      }
    }
  }
  if (zip_close(z) < 0) {
    std::string m = zip_strerror(z);
    zip_discard(z);
    throw std::runtime_error(to.string() + ": " + m);
  }
}

// Unzips `from` into dir. Returns an error status instead of throwing (errgroup's currency).
absl::Status unzip(const fs::path& from, const fs::path& dir) {
  int err = 0;
  zip_t* z = zip_open(from.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err);
  std::string name = (from.parent_path().filename() / from.filename()).string();
  if (!z) return absl::DataLossError(name + ": " + zip_message(err));
  std::unique_ptr<zip_t, decltype(&zip_discard)> guard(z, &zip_discard);
  zip_int64_t n = zip_get_num_entries(z, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    if (zip_stat_index(z, i, 0, &st) < 0) return absl::DataLossError(name + ": " + zip_strerror(z));
    fs::path out = dir / st.name;
    if (std::string(st.name).ends_with('/')) {
      fs::create_directories(out);
      continue;
    }
    fs::create_directories(out.parent_path());
    zip_file_t* f = zip_fopen_index(z, i, 0);
    if (!f) return absl::DataLossError(name + ": " + zip_strerror(z));
    std::string data(st.size, '\0');
    zip_int64_t got = zip_fread(f, data.data(), st.size);
    zip_fclose(f);
    if (got != static_cast<zip_int64_t>(st.size)) return absl::DataLossError(name + ": short read");
    std::ofstream(out, std::ios::binary) << data;
  }
  return absl::OkStatus();
}

// ---- the daemon ---------------------------------------------------------------------------

struct daemon_stats {
  int checks = 0, archived = 0;
};

// One check: hash every path, zip the changed ones to archive/<name>/<n>.zip, save the DB.
void check(db& d, const fs::path& archive, daemon_stats& st, bool verbose) {
  ++st.checks;
  bool changed = false;
  for (auto& [path, hash] : d.paths) {
    std::string now = gofer::blocking([&] { return dir_hash(path); });
    if (now == hash) continue;
    fs::path dir = archive / fs::path(path).filename();
    fs::path to = dir / (std::to_string(clk::now().time_since_epoch().count()) + ".zip");
    gofer::blocking([&] {
      fs::create_directories(dir);
      zip_dir(path, to);
    });
    hash = now;
    changed = true;
    ++st.archived;
    if (verbose) std::printf("  check %d: %s changed, archived to %s\n", st.checks, fs::path(path).filename().c_str(),
                             fs::relative(to, archive).c_str());
  }
  if (changed) gofer::blocking([&] { d.save(); });
  std::fflush(stdout);
}

// The daemon's loop: check, then wait for the interval OR a stop signal, whichever first —
// the book's select on a timer and the signal channel. `after_check`, if set, runs in the
// daemon's goroutine after each check, before the wait (the demo changes files there).
void run_daemon(db& d, const fs::path& archive, std::chrono::milliseconds interval, gofer::chan<int> stop,
                daemon_stats& st, const std::function<void(int)>& after_check, bool verbose) {
  for (;;) {
    check(d, archive, st, verbose);
    if (after_check) after_check(st.checks);
    bool stopping = false;
    gofer::select(gofer::recv_case(gofer::after(interval), [](auto) {}),
                  gofer::recv_case(stop, [&](auto) { stopping = true; }));
    if (stopping) return;
  }
}

// ---- restore: the latest archive of every path, unzipped concurrently -----------------------

struct restore_result {
  absl::Status first;               // errgroup's: the first error, the rest dropped
  std::vector<absl::Status> all;    // every error, in the order they happened
  int max_active = 0;
};

// At most `limit` archives are unzipped at once (errgroup::set_limit parks go() meanwhile).
restore_result restore(const std::vector<fs::path>& archives, const fs::path& into, int limit) {
  restore_result r;
  gofer::errgroup g;
  g.set_limit(limit);
  gofer::mutex mu;
  int active = 0;
  for (const fs::path& a : archives) {
    g.go([&, a]() -> absl::Status {
      {
        std::lock_guard lk(mu);
        r.max_active = std::max(r.max_active, ++active);
      }
      absl::Status s = gofer::blocking([&] { return unzip(a, into / a.parent_path().filename()); });
      std::lock_guard lk(mu);
      --active;
      if (!s.ok()) r.all.push_back(s);
      return s;
    });
  }
  r.first = g.wait();
  return r;
}

int main(int argc, char** argv) {
  CLI::App app{"backupd: a JSON DB of paths, changed directories zipped on an interval, restore in parallel"};
  bool daemon_only = false;
  std::string db_file, archive_dir;
  int interval_ms = 300, limit = 2;
  app.add_flag("--daemon", daemon_only, "only run the daemon (needs --db and --archive), until Ctrl-C");
  app.add_option("--db", db_file, "the JSON DB of paths");
  app.add_option("--archive", archive_dir, "where the zips go");
  app.add_option("--interval-ms", interval_ms, "time between checks")->check(CLI::Range(1, 86'400'000));
  app.add_option("--limit", limit, "archives unzipped at once by restore")->check(CLI::Range(1, 64));
  if (int rc = gofer_demo::parse_flags(app, argc, argv); rc >= 0) return rc;
  if (daemon_only && (db_file.empty() || archive_dir.empty())) {
    std::fprintf(stderr, "backupd: --daemon needs --db FILE and --archive DIR\n");
    return 2;
  }

  int status = 0;
  std::string summary;
  gofer::run(
      [&] {
        // Go's signal.Notify(sigs, os.Interrupt, syscall.SIGTERM): from here on Ctrl-C and
        // SIGTERM arrive on sigs (buffered: the relay never waits) instead of ending the
        // program; the daemon's wait selects on it.
        gofer::chan<int> sigs(1);
        gofer::signal::notify(sigs, {SIGINT, SIGTERM});
        if (daemon_only) {
          db d;
          try {
            d = db::load(db_file);
          } catch (const std::exception& e) {  // a malformed DB: say so, exit 1
            std::fprintf(stderr, "backupd: %s: %s\n", db_file.c_str(), e.what());
            status = 1;
            return;
          }
          daemon_stats st;
          std::printf("backupd: %zu paths, a check every %d ms (Ctrl-C to stop)\n", d.paths.size(), interval_ms);
          std::fflush(stdout);
          run_daemon(d, archive_dir, std::chrono::milliseconds(interval_ms), sigs, st, {}, true);
          std::printf("backupd: stopped after %d checks, %d archives\n", st.checks, st.archived);
          return;
        }

        // 1. A temp dir with 3 directories to back up, added to a fresh DB (`backup add`).
        fs::path root = fs::temp_directory_path() / ("backupd-" + std::to_string(::getpid()));
        fs::remove_all(root);
        gofer::defer cleanup([&] { fs::remove_all(root); });
        db d{root / "backupdata" / "db.json", {}};
        fs::create_directories(d.file.parent_path());
        for (std::string name : {"docs", "photos", "code"}) {
          fs::create_directories(root / name / "sub");
          for (int i = 0; i < 3; ++i) std::ofstream(root / name / ("file" + std::to_string(i) + ".txt")) << name << i;
          std::ofstream(root / name / "sub" / "deep.txt") << "deep in " << name;
          d.paths[(root / name).string()] = "";
        }
        d.save();
        std::printf("DB %s: %zu paths\n", fs::relative(d.file, root).c_str(), db::load(d.file).paths.size());

        // 2. The daemon in its own goroutine, a check every interval. Between checks the
        // demo changes two directories; it does so in the daemon's after_check hook, so each
        // change falls strictly between two checks (no sleeps to order anything).
        fs::path archive = root / "archive";
        daemon_stats st;
        gofer::chan<int> four_checks, stopped;
        auto after_check = [&](int n) {
          if (n == 2) std::ofstream(root / "docs" / "new.txt") << "a new file";
          if (n == 3) std::ofstream(root / "code" / "sub" / "deep.txt", std::ios::app) << " and longer";
          if (n == 4) four_checks.close();
        };
        gofer::go(gofer::named("daemon"), [&] {
          run_daemon(d, archive, std::chrono::milliseconds(interval_ms), sigs, st, after_check, true);
          stopped.close();
        });
        four_checks.recv();

        // 3. SIGINT, a real one, while the daemon waits for its next check (up to
        // interval-ms away): the select returns at once.
        auto t0 = clk::now();
        ::kill(::getpid(), SIGINT);
        stopped.recv();
        long stop_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clk::now() - t0).count();
        std::printf("SIGINT: the daemon stopped %ld ms later (the next check was due in %d ms), after %d checks and %d archives\n",
                    stop_ms, interval_ms, st.checks, st.archived);

        // 4. Restore the latest archive of each path, `limit` at a time, into restore/.
        std::vector<fs::path> latest;
        for (auto& dir : fs::directory_iterator(archive)) {
          fs::path newest;
          for (auto& z : fs::directory_iterator(dir)) newest = std::max(newest, z.path());
          latest.push_back(newest);
        }
        std::sort(latest.begin(), latest.end());
        auto ok = restore(latest, root / "restore", limit);
        auto read = [](const fs::path& p) {
          std::ifstream in(p);
          return std::string(std::istreambuf_iterator<char>(in), {});
        };
        int same = 0;  // directories whose restored deep.txt equals the original
        for (auto& [path, hash] : d.paths)
          same += read(fs::path(path) / "sub" / "deep.txt") ==
                  read(root / "restore" / fs::path(path).filename() / "sub" / "deep.txt");
        bool docs_new = fs::exists(root / "restore" / "docs" / "new.txt");
        std::printf("restore: %zu archives, at most %d at once: %s, %d of 3 directories equal the originals, docs/new.txt %s\n",
                    latest.size(), ok.max_active, ok.first.ok() ? "ok" : ok.first.ToString().c_str(), same,
                    docs_new ? "restored" : "MISSING");

        // 5. Two archives corrupted: errgroup's wait() returns the first error only; the
        // restore also collected all of them.
        for (int i : {0, 2}) std::ofstream(latest[i], std::ios::trunc) << "not a zip file";
        auto bad = restore(latest, root / "restore2", limit);
        std::printf("with 2 corrupt archives: first error: %s\n", bad.first.ToString().c_str());
        for (auto& e : bad.all) std::printf("  all errors: %s\n", e.ToString().c_str());

        if (!ok.first.ok() || !docs_new || same != 3 || bad.all.size() != 2 || bad.first.ok()) status = 1;
        summary = "backupd archived " + std::to_string(st.archived) + " directories in " + std::to_string(st.checks) +
                  " checks, stopped " + std::to_string(stop_ms) + " ms after SIGINT, restored " +
                  std::to_string(latest.size()) + " archives at most " + std::to_string(ok.max_active) +
                  " at once, and reported the first of " + std::to_string(bad.all.size()) + " errors or all of them";
      },
      {.threads = 2});
  if (status != 0) return status;
  if (!summary.empty()) std::printf("%s\n", summary.c_str());
  return 0;
}
