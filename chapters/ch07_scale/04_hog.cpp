// hog — the book's allocation hog, measured, then fixed by reusing buffers; and a goroutine
// profile of 20,000 goroutines (book, chapter 7: "High performance in Go", "Getting deeper
// into pprof", "Memory preservation").
//
// The book's Ch7_1_pprof.go allocates a fresh 100,000-byte slice on each of 100,000
// iterations, fills it and throws it away, and reads the result in pprof. Here --goroutines
// goroutines share --iterations iterations, once the book's way (a new std::vector each time)
// and once with one buffer per goroutine, and the demo prints the time, the minor page faults
// and the peak RSS of each way; --cpuprofile FILE writes a pprof-format CPU profile of both
// (gperftools; read it with google-pprof). Then 20,000 goroutines park on a channel and the
// goroutine dump (gofer's pprof.Lookup("goroutine")) is summarized by wait reason.
// Watch: the fresh vector costs a malloc, a free and a zero-fill of 100,000 bytes per
// iteration; reuse costs nothing but the fill.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gperftools/profiler.h>

#include <gofer/debug.hpp>
#include <gofer/gofer.hpp>

#include "demo_flags.hpp"

using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t kSize = 100000;  // the book's 100,000-byte buffer

// One iteration's work: fill the buffer (the book's loop) and return a byte of it. The empty
// asm statement (Google Benchmark's DoNotOptimize) tells the compiler the buffer's memory is
// read: without it, GCC may drop the allocation and the fill altogether (C++14 lets it elide
// a new/delete pair), and both ways would measure nothing.
unsigned char fill(std::vector<unsigned char>& buf, long i) {
  std::fill(buf.begin(), buf.end(), static_cast<unsigned char>(i));
  asm volatile("" : : "r"(buf.data()) : "memory");
  return buf[static_cast<std::size_t>(i) % kSize];
}

struct measured {
  double seconds = 0;
  long minor_faults = 0;
  long checksum = 0;
};

long minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

// Runs `iterations` iterations on `goroutines` goroutines, with a fresh buffer per iteration
// (reuse == false: the book's hog) or one buffer per goroutine (reuse == true).
measured hog(long iterations, int goroutines, bool reuse) {
  measured m;
  long faults0 = minor_faults();
  auto t0 = clock_type::now();
  gofer::wait_group wg;
  std::atomic<long> sum{0};
  wg.add(goroutines);
  for (int g = 0; g < goroutines; ++g)
    gofer::go(gofer::named(reuse ? "reuser" : "hog"), [&, g] {
      long mine = 0;
      std::vector<unsigned char> kept;
      if (reuse) kept.resize(kSize);  // allocated once, refilled by every iteration
      for (long i = g; i < iterations; i += goroutines) {
        if (reuse) {
          mine += fill(kept, i);
        } else {
          std::vector<unsigned char> fresh(kSize);  // malloc + zero-fill, freed at the brace
          mine += fill(fresh, i);
        }
      }
      sum.fetch_add(mine);
      wg.done();
    });
  wg.wait();
  m.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  m.minor_faults = minor_faults() - faults0;
  m.checksum = sum.load();
  return m;
}

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 20000;
  int goroutines = 4, parked = 20000;
  std::string cpuprofile;
  CLI::App app{"the allocation hog, measured and fixed, and a goroutine profile", "hog"};
  app.add_option("--iterations", iterations, "iterations of the hog (the book: 100000)")
      ->capture_default_str()->check(CLI::Range(1L, 10000000L));
  app.add_option("--goroutines", goroutines, "goroutines sharing them")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--parked", parked, "goroutines in the goroutine profile")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--cpuprofile", cpuprofile, "write a pprof-format CPU profile here (gperftools; google-pprof reads it)");
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  int status = 0;
  gofer::run([&] {
    // 1. The hog, the book's way and with reused buffers. The profiler (if asked) samples
    //    every thread of the process (ProfilerRegisterThread is not needed for SIGPROF).
    if (!cpuprofile.empty() && !ProfilerStart(cpuprofile.c_str())) {
      std::fprintf(stderr, "hog: cannot write the profile to %s\n", cpuprofile.c_str());
      status = 1;
      return;
    }
    std::printf("1. %ld iterations of %zu bytes on %d goroutines\n", iterations, kSize, goroutines);
    measured fresh = hog(iterations, goroutines, false);
    long rss_fresh = peak_rss_kib();
    std::printf("   a fresh buffer each time: %6.3f s, %7ld minor page faults, peak RSS %ld KiB\n", fresh.seconds,
                fresh.minor_faults, rss_fresh);
    measured reused = hog(iterations, goroutines, true);
    std::printf("   one buffer per goroutine: %6.3f s, %7ld minor page faults, peak RSS %ld KiB\n", reused.seconds,
                reused.minor_faults, peak_rss_kib());
    if (!cpuprofile.empty()) {
      ProfilerStop();
      std::printf("   CPU profile in %s: google-pprof --text %s %s\n", cpuprofile.c_str(), argv[0], cpuprofile.c_str());
    }
    if (fresh.checksum != reused.checksum) {
      std::printf("FAILED: the two ways computed %ld and %ld\n", fresh.checksum, reused.checksum);
      status = 1;
      return;
    }

    // 2. The goroutine profile: `parked` goroutines wait on a channel; the dump has one line
    //    per goroutine, "goroutine N "name" [reason]:", summarized here by reason.
    gofer::chan<int> release;
    gofer::wait_group wg;
    gofer::chan<int> started(parked);
    wg.add(parked);
    for (int i = 0; i < parked; ++i)
      gofer::go(gofer::named("sleeper"), [release, started, &wg] {
        started.send(1);
        release.recv();
        wg.done();
      });
    for (int i = 0; i < parked; ++i) started.recv();
    // A started goroutine may still be on its way to recv: wait until the dump shows them all.
    std::map<std::string, int> by_reason;
    for (int attempt = 0; attempt < 200; ++attempt) {
      std::ostringstream dump;
      gofer::dump_goroutines(dump);
      by_reason.clear();
      std::istringstream lines(dump.str());
      static const std::regex header(R"re(^goroutine [0-9]+ (?:"([^"]*)" )?\[([^,\]]+))re");
      for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (std::regex_search(line, m, header) && m[1] == "sleeper") ++by_reason[m[2]];
      }
      if (by_reason["chan receive"] == parked) break;
      gofer::sleep(std::chrono::milliseconds(5));
    }
    std::printf("2. goroutine profile: %d goroutines named \"sleeper\"\n", parked);
    for (auto& [reason, n] : by_reason) std::printf("   %6d [%s]\n", n, reason.c_str());
    int in_recv = by_reason["chan receive"];
    release.close();
    wg.wait();
    std::printf("the hog took %.2fx the time of buffer reuse for the same checksum, and %d of %d parked goroutines "
                "showed in the profile\n",
                fresh.seconds / std::max(reused.seconds, 1e-9), in_recv, parked);
    if (in_recv != parked) status = 1;
  });
  return status;
}
