// panic — reading gofer's panic and deadlock reports, line by line, against Go's (book,
// chapter 5: "Handling deadlocks and errors"; ch5_7_panic.go).
//
// Three programs that die, each run as a child process (--crash NAME) so that this demo
// can show what the child printed on stderr and its exit status, and still end normally:
//   panic     the book's explicit panic("...") in main
//   closed    a goroutine sends on a closed channel (a runtime panic)
//   deadlock  main waits for a reply that nobody will ever send
// Each report is printed beside the one Go 1.22 prints for the same program. Watch the
// first line (same text), the goroutine lines (same shape: id, state, what it waits on)
// and the exit status (2 in both).
#include <cstdio>
#include <string>
#include <vector>

#include <gofer/gofer.hpp>

#include "child.hpp"
#include "demo_flags.hpp"

namespace {

// ---- the three programs, run only in the child ---------------------------------------
int crash(const std::string& what) {
  return gofer::run([&] {
    if (what == "panic") {
      // ch5_7_panic.go: panic("Oh no, forgot to write a program"); os.Exit(1) never runs.
      gofer::panic("Oh no, forgot to write a program");
    } else if (what == "closed") {
      gofer::chan<int> results(1);
      gofer::chan<int> started;
      results.close();
      gofer::go(gofer::named{"late-sender"}, [results, started] {
        started.close();
        results.send(1);  // panics: send on closed channel
      });
      started.recv();
      gofer::sleep(std::chrono::seconds(5));  // the panic ends the process long before
    } else {  // deadlock
      gofer::chan<int> reply;
      gofer::mutex mu;
      mu.lock();
      gofer::go(gofer::named{"worker"}, [&mu] { mu.lock(); });  // waits for main's lock
      reply.recv();  // nobody will send: everyone is asleep
    }
  });
}

// ---- what Go prints for the same three programs (go1.22, linux/amd64) ----------------
struct reading {
  const char* name;
  const char* what;
  std::vector<const char*> go_report;  // abridged: paths and addresses shortened
  std::vector<const char*> notes;      // what to read in gofer's report
};

const std::vector<reading> readings = {
    {"panic", "the book's explicit panic in main",
     {"panic: Oh no, forgot to write a program", "", "goroutine 1 [running]:", "main.main()",
      "\t/tmp/ch5_7_panic.go:6 +0x25", "exit status 2"},
     {"line 1: `panic: ` and the value, the same in both",
      "`goroutine 1 [running]:` the goroutine that panicked; main is goroutine 1 in both",
      "then the stack, innermost frame first (gofer: the C++ frames at the throw)",
      "exit status 2: an unrecovered panic, in both"}},
    {"closed", "a goroutine sends on a closed channel",
     {"panic: send on closed channel", "", "goroutine 18 [running]:", "main.main.func1()",
      "\t/tmp/closed.go:12 +0x3d", "created by main.main in goroutine 1", "\t/tmp/closed.go:10 +0xa5",
      "exit status 2"},
     {"the runtime's own panic text is Go's, word for word (gofer::panic_error)",
      "the goroutine is the sender's, not main's: a panic ends the whole process whichever "
      "goroutine it is in",
      "gofer names the goroutine (\"late-sender\") where Go shows `created by`"}},
    {"deadlock", "main waits for a reply nobody sends",
     {"fatal error: all goroutines are asleep - deadlock!", "", "goroutine 1 [chan receive]:",
      "main.main()", "\t/tmp/deadlock.go:13 +0x8d", "", "goroutine 18 [sync.Mutex.Lock]:",
      "sync.runtime_SemacquireMutex(...)", "exit status 2"},
     {"`fatal error:` not `panic:` — a deadlock cannot be recovered, in either",
      "then every goroutine with the thing it waits on, in Go's words: [chan receive], "
      "[sync.Mutex.Lock]",
      "the detector fires only when NOTHING can wake anyone: no timer, no socket, no "
      "blocking call in flight"}},
};

void print_block(const char* title, const std::vector<std::string>& lines) {
  std::printf("   %s\n", title);
  for (auto& l : lines) std::printf("     | %s\n", l.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string crash_what;
  CLI::App app{"reading gofer's panic and deadlock reports against Go's", "panic"};
  app.add_option("--crash", crash_what, "run only this failing program: it dies with status 2")
      ->check(CLI::IsMember({"panic", "closed", "deadlock"}));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;
  if (!crash_what.empty()) return crash(crash_what);

  int matched = 0, n = 0;
  for (const reading& r : readings) {
    ++n;
    std::printf("%d. %s (--crash %s)\n", n, r.what, r.name);
    ch05::child_result got = ch05::run_self({"--crash", r.name});
    std::vector<std::string> gofer_lines, go_lines(r.go_report.begin(), r.go_report.end());
    for (std::size_t at = 0, nl; (nl = got.out.find('\n', at)) != std::string::npos; at = nl + 1)
      gofer_lines.push_back(got.out.substr(at, nl - at));
    // Stack frames vary with the build; keep the first lines and the last.
    if (gofer_lines.size() > 9) {
      std::string last = gofer_lines.back();
      gofer_lines.resize(8);
      gofer_lines.push_back("...");
      gofer_lines.push_back(last);
    }
    print_block("gofer:", gofer_lines);
    print_block("Go:", go_lines);
    for (const char* note : r.notes) std::printf("   - %s\n", note);
    // The same first line, and the same exit status.
    bool same = got.status == 2 && !gofer_lines.empty() && gofer_lines.front() == r.go_report.front();
    std::printf("   => exit status %d, first line %s Go's\n", got.status, same ? "identical to" : "DIFFERENT from");
    matched += same ? 1 : 0;
  }
  if (matched != n) {
    std::printf("FAILED: %d of %d reports matched Go's\n", matched, n);
    return 1;
  }
  std::printf("read %d reports: each child died with status 2 and Go's first line, as Go's programs do\n", n);
  return 0;
}
