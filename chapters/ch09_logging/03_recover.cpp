// recover — panic and recover, and which log lines outlive a dying program (book, chapter
// 9: "Handling goroutine logs", "Using the runtime package for granular stack traces").
// Part 1 catches a goroutine's panic at its boundary: a tomb and a worker pool turn it into
// an error for you, an errgroup does not (catch it yourself). Part 2 collects every error
// instead of stopping at the first. Part 3 ends child copies of this program five ways and
// shows which destructors, defers, printf and spdlog lines survived: watch the unflushed lines
// die with quick_exit and with an escaping panic, the flushed one live, and std::exit inside
// a goroutine stopped by gofer with a fatal error (use gofer::exit, Go's os.Exit).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <gofer/defer.hpp>
#include <gofer/errgroup.hpp>
#include <gofer/gofer.hpp>
#include <gofer/log.hpp>
#include <gofer/pool.hpp>
#include <gofer/tomb.hpp>

#include "demo_flags.hpp"
#include "server.hpp"

namespace fs = std::filesystem;

// The work that panics: Go's panic is a C++ exception.
int parse_port(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument("bad port \"" + s + "\"");
  return std::stoi(s);
}

// ---------- part 3: the child process, ended one way ----------

// Leaves a mark with one write(2): no stdio buffer to lose.
void mark(const fs::path& dir, const char* what) {
  int fd = ::open((dir / what).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) ::close(fd);
}

// A static object: its destructor runs when the program exits normally or by std::exit.
struct static_marker {
  fs::path dir;
  ~static_marker() {
    if (!dir.empty()) mark(dir, "static-destructor");
  }
};
static_marker g_static;

int child(const std::string& how, const fs::path& dir) {
  g_static.dir = dir;
  // Three loggers, one line each: a synchronous file logger that never flushes (the line
  // sits in the FILE buffer), the same with flush_on(err), and an async logger (the line
  // sits in spdlog's queue until its thread writes it).
  auto sync_log = spdlog::basic_logger_mt("sync", (dir / "sync.log").string());
  auto flushed_log = spdlog::basic_logger_mt("flushed", (dir / "flushed.log").string());
  flushed_log->flush_on(spdlog::level::err);
  auto async_log = spdlog::basic_logger_mt<spdlog::async_factory>("async", (dir / "async.log").string());
  for (auto* l : {sync_log.get(), flushed_log.get(), async_log.get()})
    gofer::log::use_goroutine_flag(*l, "[%G] %v");

  int rc = gofer::run([&] {
    gofer::defer d([&] { mark(dir, "defer"); });  // Go: defer ...
    std::printf("printf line\n");  // stdout is a file here: buffered, not yet written
    sync_log->error("sync line");
    flushed_log->error("flushed line");
    async_log->error("async line");
    // std::exit runs the calling thread's thread_local destructors first, here on a
    // scheduler thread in the middle of a goroutine: Boost.Fiber's would tear the scheduler
    // down under the running goroutine and the process would never finish exiting. gofer
    // stops it first: "fatal error: std::exit called from goroutine 1 ...", status 2.
    if (how == "exit") std::exit(3);
    // Go's os.Exit: no defers, no destructors, status 3; gofer flushes C stdio first (so
    // printf's line, and spdlog's file sinks, which write through a FILE*, are kept).
    if (how == "gofer_exit") gofer::exit(3);
    if (how == "quick_exit") std::quick_exit(3);
    if (how == "panic") throw gofer::panic_error("the request handler failed");
    // how == "return": main returns normally
  });
  spdlog::shutdown();  // flushes every logger and stops the async thread
  return rc;
}

// ---------- the parent ----------

struct outcome {
  std::string how;
  int status = 0;
  bool hung = false;
  bool defer_ran = false, static_ran = false, printf_kept = false, sync_kept = false, flushed_kept = false,
       async_kept = false;
  std::string fatal;  // the first "fatal error:" line the child printed, if any
};

// The first line of `file` that contains `text`, "" if none.
std::string find_line(const fs::path& file, const std::string& text) {
  std::ifstream in(file);
  for (std::string l; std::getline(in, l);)
    if (l.find(text) != std::string::npos) return l;
  return "";
}
bool has_line(const fs::path& file, const std::string& text) { return !find_line(file, text).empty(); }

outcome run_child(const std::string& how, const fs::path& base) {
  fs::path dir = base / how;
  fs::create_directories(dir);
  auto p = gofer_demo::process::spawn({"/proc/self/exe", "--child", how, "--dir", dir.string()},
                                      dir / "output.txt");
  outcome o{how};
  // Wait up to 3 s: a child that hangs (std::exit inside a goroutine did, before gofer
  // caught it) is killed and shown as "hung".
  for (int i = 0; i < 60 && p.running(); ++i) gofer::sleep(std::chrono::milliseconds(50));
  if (p.running()) {
    p.kill();
    o.hung = true;
  }
  o.status = p.wait();
  o.defer_ran = fs::exists(dir / "defer");
  o.static_ran = fs::exists(dir / "static-destructor");
  o.printf_kept = has_line(dir / "output.txt", "printf line");
  o.fatal = find_line(dir / "output.txt", "fatal error:");
  o.sync_kept = has_line(dir / "sync.log", "[g1] sync line");
  o.flushed_kept = has_line(dir / "flushed.log", "[g1] flushed line");
  o.async_kept = has_line(dir / "async.log", "[-] async line");  // formatted on spdlog's thread
  return o;
}

int main(int argc, char** argv) {
  std::string child_how, child_dir;
  unsigned threads = 2;
  CLI::App app{"panic and recover, and which log lines survive which exit", "recover"};
  app.add_option("--threads", threads, "scheduler threads")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--child", child_how, "(internal) die this way")
      ->check(CLI::IsMember({"return", "exit", "gofer_exit", "quick_exit", "panic"}));
  app.add_option("--dir", child_dir, "(internal) where the child writes");
  if (int rc = gofer_demo::parse_flags(app, argc, argv); rc >= 0) return rc;
  if (!child_how.empty()) return child(child_how, child_dir);

  std::vector<std::string> ports = {"8080", "80a", "443", "", "9090"};
  int recovered = 0, collected = 0;
  std::vector<outcome> outcomes;
  fs::path base = fs::temp_directory_path() / ("gofer-recover-" + std::to_string(::getpid()));

  int rc = gofer::run([&] {
    // Part 1a: a tomb turns an exception escaping its goroutine into the tomb's error.
    std::puts("1. a panic caught at the goroutine's boundary");
    gofer::tomb t;
    t.go([] { parse_port("80a"); return absl::OkStatus(); });
    absl::Status why = t.wait();
    std::printf("   tomb:        %s\n", why.ToString().c_str());
    recovered += !why.ok();

    // Part 1b: a worker pool fails only that job's future.
    gofer::worker_pool<std::string, int> pool(gofer::background(), {.workers = 2, .queue = 4},
                                              [](std::string s) { return parse_port(s); });
    auto f = pool.submit("");
    auto r = f.get();
    std::printf("   worker_pool: %s\n", r.status().ToString().c_str());
    recovered += !r.ok();
    pool.close();

    // Part 1c: an errgroup lets an exception crash the program (Go's errgroup does too),
    // so its function recovers by itself: try/catch is C++'s defer+recover.
    gofer::errgroup g;
    g.go([]() -> absl::Status {
      try {
        parse_port("http");
        return absl::OkStatus();
      } catch (const std::exception& e) {
        return absl::InvalidArgumentError(std::string("recovered: ") + e.what());
      }
    });
    absl::Status first = g.wait();
    std::printf("   errgroup:    %s\n", first.ToString().c_str());
    recovered += !first.ok();

    // Part 2: the book's point: collect every error, not just the first. Each goroutine
    // recovers its own panic and sends the outcome; main reads exactly one per goroutine.
    std::printf("2. %zu goroutines parse ports, every error collected\n", ports.size());
    gofer::chan<std::string> errors(ports.size());
    for (std::size_t i = 0; i < ports.size(); ++i) {
      gofer::go(gofer::named("parser-" + std::to_string(i)), [errors, p = ports[i]] {
        try {
          parse_port(p);
          errors.send("");
        } catch (const std::exception& e) {
          errors.send(gofer::log::tag() + ": " + e.what());
        }
      });
    }
    std::vector<std::string> errs;
    for (std::size_t i = 0; i < ports.size(); ++i)
      if (auto e = errors.recv(); e && !e->empty()) errs.push_back(*e);
    std::sort(errs.begin(), errs.end());
    for (auto& e : errs) std::printf("   %s\n", e.c_str());
    collected = static_cast<int>(errs.size());

    // Part 3: five children, one per way to end, each printing one line and logging three
    // first.
    std::puts("3. a child process prints a line and logs three, then ends:");
    for (const char* how : {"return", "exit", "gofer_exit", "quick_exit", "panic"})
      outcomes.push_back(run_child(how, base));
  }, {.threads = threads});
  fs::remove_all(base);

  auto yn = [](bool b) { return b ? "yes" : "no "; };
  // gofer::exit's flush races spdlog's thread: the async line is kept only if that thread
  // had already written it into its FILE buffer. Shown as "race", not as one run's luck.
  auto async_col = [&](const outcome& o) { return o.how == "gofer_exit" ? "race" : yn(o.async_kept); };
  std::puts("   ending      status  defer  static-dtor  printf-line  unflushed-log  flushed-log  async-log");
  for (auto& o : outcomes)
    std::printf("   %-11s %-7s %s    %s          %s          %s            %s          %s\n", o.how.c_str(),
                o.hung ? "hung" : std::to_string(o.status).c_str(), yn(o.defer_ran), yn(o.static_ran),
                yn(o.printf_kept), yn(o.sync_kept), yn(o.flushed_kept), async_col(o));
  const outcome& exited = outcomes[1];
  std::printf("   exit's child said: %s\n", exited.fatal.empty() ? "(nothing)" : exited.fatal.c_str());

  // The lesson, checked: the flushed line survives every ending; the unflushed one dies;
  // std::exit in a goroutine is a fatal error (status 2), not a hang; gofer::exit is os.Exit.
  bool flushed_always = true;
  for (auto& o : outcomes) flushed_always = flushed_always && o.flushed_kept;
  const outcome& panic = outcomes.back();
  bool lost_then_kept = !panic.sync_kept && panic.flushed_kept;
  bool exit_caught = !exited.hung && exited.status == 2 && !exited.fatal.empty();
  const outcome& os_exit = outcomes[2];
  bool os_exit_ok = !os_exit.hung && os_exit.status == 3 && !os_exit.defer_ran && !os_exit.static_ran &&
                    os_exit.printf_kept;
  if (rc != 0 || recovered != 3 || collected != 2 || !flushed_always || !lost_then_kept || !exit_caught ||
      !os_exit_ok) {
    std::printf("unexpected: rc %d, recovered %d, collected %d, flushed always %d, lost then kept %d, "
                "std::exit caught %d, gofer::exit as os.Exit %d\n",
                rc, recovered, collected, flushed_always, lost_then_kept, exit_caught, os_exit_ok);
    return 1;
  }
  std::printf("recovered %d panics at goroutine boundaries, collected %d of %zu errors, and a panic lost the "
              "unflushed line but kept the flushed one\n",
              recovered, collected, ports.size());
  return 0;
}
