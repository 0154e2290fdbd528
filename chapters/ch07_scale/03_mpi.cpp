// mpi — scatter/gather of a task list over MPI ranks, goroutines inside each rank (book,
// chapter 7: "Message Passing Interface").
//
// The book names MPI (Open MPI, MPICH) as the HPC way to spread work over machines and notes
// that Go's binding was incomplete; in C++ it is the real thing. `./gofer run mpi` starts
// itself under Open MPI's mpirun (Debian: openmpi-bin, libopenmpi-dev) with 4 ranks on
// localhost. Rank 0 builds the task list (the star demo's JSON tasks) and MPI_Scatterv()s a
// slice to every rank; inside each rank a pool of goroutines does the work; MPI_Gatherv()
// brings the results back and rank 0 checks every task was done exactly once.
// Watch: MPI is confined to ONE goroutine per rank (the "mpi" goroutine), and its calls run
// through gofer::blocking — so the MPI thread level is SERIALIZED, not FUNNELED (see
// init_mpi and the chapter README).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <mpi.h>
#include <nlohmann/json.hpp>

#include <gofer/gofer.hpp>
#include <gofer/net.hpp>

#include "demo_flags.hpp"
#include "server.hpp"

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// ---- outside mpirun: start it ------------------------------------------------------------------
// Replaces this process with `mpirun -np N <this program> <its flags>`. The MCA variables keep
// Open MPI on this machine: shared memory between the ranks (btl self,vader), and loopback for
// its own daemon channel — it would otherwise probe every network interface it finds.
int exec_mpirun(int ranks, int argc, char** argv) {
  auto mpirun = gofer_demo::find_binary("mpirun");
  if (!mpirun) {
    std::fprintf(stderr, "mpi: mpirun not found: install the Debian packages openmpi-bin libopenmpi-dev (./gofer setup)\n");
    return 1;
  }
  ::setenv("OMPI_MCA_btl", "self,vader", 1);
  // No cross-memory attach (process_vm_readv): containers often forbid it, and vader then
  // warns or fails; plain copies through the shared segment are enough here.
  ::setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
  ::setenv("OMPI_MCA_oob_tcp_if_include", "lo", 1);
  ::setenv("OMPI_MCA_btl_tcp_if_include", "lo", 1);
  ::setenv("OMPI_MCA_plm_rsh_agent", "false", 1);  // never ssh: localhost only
  ::setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
  std::vector<std::string> args{mpirun->string(), "-np", std::to_string(ranks), "--oversubscribe"};
  if (::geteuid() == 0) args.push_back("--allow-run-as-root");  // mpirun refuses root without it
  args.push_back(std::filesystem::read_symlink("/proc/self/exe").string());
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  std::fflush(stdout);
  ::execv(cargs[0], cargs.data());
  std::perror("mpi: exec mpirun");
  return 1;
}

// ---- the work ------------------------------------------------------------------------------------
std::string perform(const std::string& command, const std::string& data) {
  if (command == "upper") {
    std::string s = data;
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
  }
  if (command == "reverse") return std::string(data.rbegin(), data.rend());
  return std::to_string(data.size());
}

// The rank's share: `workers` goroutines take tasks from one channel and send results on
// another (the fan-out/fan-in of chapter 3). Returns the results as a JSON array.
json run_tasks(const json& tasks, int workers, int rank) {
  gofer::chan<json> todo(static_cast<std::size_t>(tasks.size()) + 1), done(static_cast<std::size_t>(tasks.size()) + 1);
  for (const auto& t : tasks) todo.send(t);
  todo.close();
  gofer::wait_group wg;
  wg.add(workers);
  for (int g = 0; g < workers; ++g)
    gofer::go(gofer::named{"rank" + std::to_string(rank) + "-worker-" + std::to_string(g)}, [todo, done, &wg, g] {
      while (auto t = todo.recv()) {
        gofer::sleep(2ms);  // the "work"
        done.send(json{{"id", (*t)["id"]},
                       {"result", perform((*t)["command"].get<std::string>(), (*t)["data"].get<std::string>())},
                       {"goroutine", g}});
      }
      wg.done();
    });
  wg.wait();
  done.close();
  json results = json::array();
  while (auto r = done.recv()) results.push_back(std::move(*r));
  return results;
}

// Variable-length strings from every rank to rank 0: the lengths first (MPI_Gather), then
// the bytes (MPI_Gatherv). Blocking MPI calls: the caller runs this under gofer::blocking.
std::vector<std::string> gather_strings(const std::string& mine, int rank, int size) {
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<std::size_t>(size)), offs(static_cast<std::size_t>(size));
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string all;
  if (rank == 0) {
    int total = 0;
    for (int r = 0; r < size; ++r) { offs[static_cast<std::size_t>(r)] = total; total += lens[static_cast<std::size_t>(r)]; }
    all.resize(static_cast<std::size_t>(total));
  }
  MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offs.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
  std::vector<std::string> out;
  if (rank == 0)
    for (int r = 0; r < size; ++r)
      out.push_back(all.substr(static_cast<std::size_t>(offs[static_cast<std::size_t>(r)]),
                               static_cast<std::size_t>(lens[static_cast<std::size_t>(r)])));
  return out;
}

// And the other way: rank 0 holds one string per rank; each rank receives its own.
std::string scatter_strings(const std::vector<std::string>& parts, int rank, int size) {
  std::vector<int> lens(static_cast<std::size_t>(size)), offs(static_cast<std::size_t>(size));
  std::string all;
  if (rank == 0)
    for (int r = 0; r < size; ++r) {
      offs[static_cast<std::size_t>(r)] = static_cast<int>(all.size());
      lens[static_cast<std::size_t>(r)] = static_cast<int>(parts[static_cast<std::size_t>(r)].size());
      all += parts[static_cast<std::size_t>(r)];
    }
  int len = 0;
  MPI_Scatter(lens.data(), 1, MPI_INT, &len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string mine(static_cast<std::size_t>(len), '\0');
  MPI_Scatterv(all.data(), lens.data(), offs.data(), MPI_CHAR, mine.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
  return mine;
}

}  // namespace

int main(int argc, char** argv) {
  int ranks = 4, tasks = 40, workers = 4;
  unsigned threads = 2;
  CLI::App app{"scatter/gather of a task list over MPI ranks, goroutines inside each rank", "mpi"};
  app.add_option("--ranks", ranks, "MPI ranks (mpirun -np)")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--tasks", tasks, "tasks in the list")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--workers", workers, "worker goroutines per rank")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--threads", threads, "gofer scheduler threads per rank")->capture_default_str()->check(CLI::Range(1u, 64u));
  if (int code = gofer_demo::parse_flags(app, argc, argv); code >= 0) return code;

  // 1. Not under mpirun yet (Open MPI sets OMPI_COMM_WORLD_SIZE in every rank): start it.
  if (std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr) return exec_mpirun(ranks, argc, argv);

  // 2. The thread level. Only the "mpi" goroutine calls MPI, one call at a time, but through
  //    gofer::blocking each call runs on whichever helper thread is free — not the thread
  //    that called MPI_Init_thread. FUNNELED (only the main thread calls MPI) would be broken
  //    by that; SERIALIZED (any thread, never two at once) is exactly what we do. MULTIPLE
  //    would allow several goroutines to call MPI concurrently, at the price of a lock inside
  //    every MPI call.
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (provided < MPI_THREAD_SERIALIZED) {
    if (rank == 0) std::fprintf(stderr, "mpi: this MPI provides thread level %d, SERIALIZED is needed\n", provided);
    MPI_Finalize();
    return 1;
  }

  int status = 0;
  gofer::options opts;
  opts.threads = threads;
  gofer::run(
      [&] {
        // 3. Rank 0 builds the list and cuts it into one JSON array per rank (round robin).
        std::vector<std::string> parts;
        if (rank == 0) {
          const char* commands[] = {"upper", "reverse", "length"};
          const char* words[] = {"golang.org", "play.golang.org", "golang.org/doc", "blog.golang.org"};
          std::vector<json> slices(static_cast<std::size_t>(size), json::array());
          for (int i = 0; i < tasks; ++i)
            slices[static_cast<std::size_t>(i % size)].push_back(
                json{{"id", i}, {"command", commands[i % 3]}, {"data", std::string(words[i % 4]) + "#" + std::to_string(i)}});
          for (auto& s : slices) parts.push_back(s.dump());
          std::printf("rank 0 of %d: scattering %d tasks, %d worker goroutines per rank on %u threads each\n", size,
                      tasks, workers, threads);
          std::fflush(stdout);
        }
        // 4. The "mpi" goroutine is this one (main): every MPI call goes through
        //    gofer::blocking, one at a time.
        std::string mine = gofer::blocking([&] { return scatter_strings(parts, rank, size); });
        json my_tasks = json::parse(mine);
        json results = run_tasks(my_tasks, workers, rank);
        json report{{"rank", rank}, {"pid", ::getpid()}, {"results", results}};
        std::vector<std::string> gathered = gofer::blocking([&] { return gather_strings(report.dump(), rank, size); });
        if (rank != 0) return;

        // 5. Rank 0: every task exactly once, and each result right.
        std::map<int, int> count;
        int wrong = 0;
        for (const auto& g : gathered) {
          json r = json::parse(g);
          std::set<int> used;
          for (const auto& res : r["results"]) {
            int id = res["id"].get<int>();
            ++count[id];
            used.insert(res["goroutine"].get<int>());
            const char* commands[] = {"upper", "reverse", "length"};
            const char* words[] = {"golang.org", "play.golang.org", "golang.org/doc", "blog.golang.org"};
            if (res["result"] != perform(commands[id % 3], std::string(words[id % 4]) + "#" + std::to_string(id))) ++wrong;
          }
          std::printf("  rank %d (pid %d): %zu tasks by %zu goroutines\n", r["rank"].get<int>(), r["pid"].get<int>(),
                      r["results"].size(), used.size());
        }
        bool once = static_cast<int>(count.size()) == tasks;
        for (auto& [id, n] : count) once = once && n == 1 && id >= 0 && id < tasks;
        if (!once || wrong != 0) {
          std::printf("FAILED: %zu distinct tasks of %d, %d wrong results\n", count.size(), tasks, wrong);
          status = 1;
          return;
        }
        std::printf("scattered %d tasks over %d ranks, gathered %d results: each task done exactly once\n", tasks, size,
                    tasks);
      },
      opts);
  MPI_Finalize();
  return status;
}
