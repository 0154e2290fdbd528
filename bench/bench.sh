#!/usr/bin/env bash
# bench/bench.sh — `./gofer bench`: gofer's channels, select, spawn and pools against every
# peer (bench/adapters.hpp) and against Go (bench/go), in one run, on this machine.
#
# Builds the benchmarks (Release), runs every benchmark binary and the Go program in
# several rounds — one process per binary per round, C++ and Go interleaved, because
# two-thread figures on a small VM flip between modes from one process to the next —
# then bench/report.py writes bench/results/<date>-<host>.{json,md} and SVG charts.
# `./gofer bench http ...` is the C10K run (bench/http/run.sh); `./gofer bench c10k ...` the
# chapter 6 server's run (bench/c10k/run.sh); `./gofer bench lb ...` the load-balancer run
# (bench/lb/run.sh); `./gofer bench lru ...` Module 1 ch10's LRU cache against memcached
# (bench/lru_bench.cpp).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<'EOF'
usage: ./gofer bench [--quick] [--rounds N] [--build-dir DIR] [--out DIR] [--no-go]
                     [--impl FILE[:TEMPLATE]]
       ./gofer bench http [args...]     the C10K run (bench/http/run.sh)
       ./gofer bench chat [args...]     chapter 5's chat fan-out (bench/chat_bench.cpp); args go
                                        to Google Benchmark; the JSON goes to
                                        bench/results/chat-<date>-<host>.json
       ./gofer bench c10k [args...]     the chapter 6 server, its pitfalls, a blocking
                                        baseline and Go (bench/c10k/run.sh)
       ./gofer bench lb [args...]       the load balancer vs nginx and Go (bench/lb/run.sh)
       ./gofer bench lru [args...]      Module 1 ch10's LRU cache (one mutex, sharded, single-
                                        flight) at 1-8 goroutines against memcached
                                        (bench/lru_bench.cpp, --help for its flags; 1-2 min);
                                        writes bench/results/lru-<date>-<host>.{json,md}

Runs gofer's benchmarks against Boost.Fiber, moodycamel, std::mutex/absl::Mutex queues
and Go, and writes bench/results/<date>-<host>.json, .md (tables) and .svg (charts).

  --quick          one round, short runs, counts divided by 10 (about a minute);
                   results go to build/bench-results unless --out is given
  --rounds N       processes per benchmark binary and per Go run (default 9; the
                   thread- and Boost-based peers run in the first 3 only)
  --build-dir DIR  use the benchmark binaries already built in DIR (default: build
                   them with `./gofer _build release` into build/release)
  --out DIR        where the results go (default bench/results)
  --no-go          leave Go out
  --impl FILE[:TEMPLATE]
                   benchmark your own queue too: the class template TEMPLATE
                   (default bounded_buffer) in FILE, with put/take (bench/user_queue.hpp);
                   it appears as "yours" in the tables and charts. Example:
                   --impl exercises/solutions/04_integrity/buffer1.cpp
  -h, --help       this text
EOF
}

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
bad_usage() { say "$*"; usage >&2; exit 2; }

if [[ ${1-} == http ]]; then
  shift
  [[ -x $ROOT/bench/http/run.sh ]] || die "bench/http/run.sh is missing"
  exec "$ROOT/bench/http/run.sh" "$@"
fi
if [[ ${1-} == c10k ]]; then
  shift
  [[ -x $ROOT/bench/c10k/run.sh ]] || die "bench/c10k/run.sh is missing"
  exec "$ROOT/bench/c10k/run.sh" "$@"
fi

if [[ ${1-} == chat ]]; then
  shift
  "$ROOT/gofer" _build release chat_bench
  mkdir -p "$ROOT/bench/results"
  json=$ROOT/bench/results/chat-$(date -u +%Y-%m-%d)-$(hostname -s 2>/dev/null || hostname).json
  "$ROOT/build/release/bench/chat_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_out="$json" --benchmark_out_format=json "$@"
  say "wrote ${json#"$ROOT"/}"
  exit 0
fi

if [[ ${1-} == lru ]]; then
  shift
  "$ROOT/gofer" _build release lru_bench
  mkdir -p "$ROOT/bench/results"
  base=$ROOT/bench/results/lru-$(date -u +%Y-%m-%d)-$(hostname -s 2>/dev/null || hostname)
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  "$ROOT/build/release/bench/lru_bench" --json "$base.json" "$@" | tee "$base.md"
  printf '\nload average (1/5/15 min): %s before, %s after; %s CPUs\n' \
    "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" | tee -a "$base.md"
  say "wrote ${base#"$ROOT"/}.{json,md}"
  exit 0
fi

if [[ ${1-} == lb ]]; then
  shift
  [[ -x $ROOT/bench/lb/run.sh ]] || die "bench/lb/run.sh is missing"
  exec "$ROOT/bench/lb/run.sh" "$@"
fi

quick=0 rounds= build_dir= out= with_go=1 impl=
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || bad_usage "$1 needs a positive number, not '$2'"; }
while (($# > 0)); do
  case $1 in
    --quick) quick=1 ;;
    --rounds) (($# > 1)) || bad_usage "--rounds needs a value"; positive --rounds "$2"; rounds=$2; shift ;;
    --rounds=*) positive --rounds "${1#*=}"; rounds=${1#*=} ;;
    --build-dir) (($# > 1)) || bad_usage "--build-dir needs a value"; build_dir=$2; shift ;;
    --build-dir=*) build_dir=${1#*=} ;;
    --out) (($# > 1)) || bad_usage "--out needs a value"; out=$2; shift ;;
    --out=*) out=${1#*=} ;;
    --no-go) with_go=0 ;;
    --impl) (($# > 1)) || bad_usage "--impl needs FILE[:TEMPLATE]"; impl=$2; shift ;;
    --impl=*) impl=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) bad_usage "unknown argument '$1'" ;;
  esac
  shift
done

# Settings: min_time per Google Benchmark run, Go's -benchtime, the count divisor, rounds
# (all), rounds with the thread/Boost peers, rounds of the memory measurement.
if ((quick)); then
  min_time=0.01 go_benchtime=20ms scale=10 peer_rounds=1 mem_rounds=1
  rounds=${rounds:-1}
  out=${out:-$ROOT/build/bench-results}  # a quick run's numbers are not worth committing
else
  min_time=0.1 go_benchtime=200ms scale=1 peer_rounds=3 mem_rounds=3
  rounds=${rounds:-9}
  out=${out:-$ROOT/bench/results}
fi
((peer_rounds > rounds)) && peer_rounds=$rounds
((mem_rounds > rounds)) && mem_rounds=$rounds

# ---- prerequisites --------------------------------------------------------------------

# gnuplot draws the charts; Go is the baseline. Neither is needed to build gofer, so they
# are installed here, on first use.
if ((with_go)); then
  "$ROOT/gofer" _install golang-go gnuplot-nox || say "could not install golang-go/gnuplot-nox"
else
  "$ROOT/gofer" _install gnuplot-nox || say "could not install gnuplot-nox"
fi
if ((with_go)) && ! command -v go >/dev/null; then
  say "go not found: running without the Go baseline"
  with_go=0
fi

# --impl: chan_bench_user (chan_bench plus the user's queue) replaces chan_bench.
chan_exe=chan_bench impl_file= impl_queue=bounded_buffer
if [[ -n $impl ]]; then
  impl_file=${impl%%:*}
  [[ $impl == *:* ]] && impl_queue=${impl#*:}
  [[ $impl_queue =~ ^[A-Za-z_][A-Za-z0-9_:]*$ ]] || bad_usage "--impl: '$impl_queue' is not a class template name"
  [[ $impl_file == /* ]] || impl_file=${GOFER_CALLER_DIR:-$ROOT}/$impl_file
  [[ -f $impl_file ]] || die "--impl: $impl_file does not exist"
  impl_file=$(realpath "$impl_file")
  chan_exe=chan_bench_user
fi

if [[ -z $build_dir ]]; then
  if [[ -n $impl ]]; then
    "$ROOT/gofer" _build release gofer  # configures build/release if it is not yet
    cmake -S "$ROOT" -B "$ROOT/build/release" -DGOFER_BENCH_IMPL="$impl_file" \
      -DGOFER_BENCH_IMPL_QUEUE="$impl_queue" >/dev/null || die "configuring chan_bench_user failed"
  fi
  "$ROOT/gofer" _build release "$chan_exe" select_bench runtime_bench ||
    die "building the benchmarks failed${impl:+ (is $impl_queue a class template with put/take in $impl_file? bench/user_queue.hpp)}"
  build_dir=$ROOT/build/release
fi
bin=$build_dir/bench
for b in $chan_exe select_bench runtime_bench; do
  [[ -x $bin/$b ]] || die "$bin/$b is missing (build the $b target)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gofer-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

go_version=
if ((with_go)); then
  say "building bench/go"
  (cd "$ROOT/bench/go" && GOPROXY=off GOWORK=off GOFLAGS= go build -o "$work/gobench" .) ||
    die "building bench/go failed"
  go_version=$(go version | awk '{print $3}')
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
export GOFER_BENCH_SCALE=$scale

# cxx <round> <binary> <filter>: one process of a benchmark binary, JSON into the work dir.
cxx() {
  local exe=$2_bench
  [[ $2 == chan ]] && exe=$chan_exe
  "$bin/$exe" --benchmark_filter="$3" --benchmark_min_time="$min_time" \
    --benchmark_out="$work/r$1-$2.json" --benchmark_out_format=json >/dev/null 2>>"$work/log" ||
    die "$2_bench failed in round $1 ($(tail -n 3 "$work/log"))"
}
# gob <file> <args...>: one process of the Go program.
gob() {
  local file=$1; shift
  "$work/gobench" -benchtime "$go_benchtime" -scale "$scale" "$@" >"$work/$file" 2>>"$work/log" ||
    die "bench/go failed ($(tail -n 3 "$work/log"))"
}

# ---- rounds ---------------------------------------------------------------------------

go_scenarios='^(ping|spsc|mpmc|pool|select|timer|after|mutex|spawn)'
for ((r = 1; r <= rounds; r++)); do
  # After the first peer_rounds rounds, only gofer (and Go): the goal figures get their
  # >= 9 processes without running the slow thread-based peers each time.
  filter=.
  ((r > peer_rounds)) && filter='^BM_(gofer|worker_pool|user)_'
  say "round $r/$rounds"
  cxx "$r" chan "$filter"
  if ((with_go)); then
    gob "r$r-go.tsv" -filter "$go_scenarios"
    gob "r$r-go4.tsv" -filter '^mpmc_balanced/pairs:4$' -procs 4  # gofer's 4x4 at 4 threads
  fi
  cxx "$r" select "$filter"
  cxx "$r" runtime 'spawn'
done

# memory_per_goroutine: one fresh process per measurement (stacks freed earlier in a
# process are cached and would be reused).
for ((m = 1; m <= mem_rounds; m++)); do
  say "memory $m/$mem_rounds"
  for t in 1 2; do
    "$bin/runtime_bench" --benchmark_filter="BM_gofer_memory_per_goroutine/.*/threads:$t/" \
      --benchmark_out="$work/mem$m-gofer$t.json" --benchmark_out_format=json >/dev/null 2>>"$work/log" ||
      die "runtime_bench (memory) failed"
    ((with_go)) && gob "mem$m-go$t.tsv" -filter '^memory' -procs "$t"
  done
  if ((m == 1)); then
    "$bin/runtime_bench" --benchmark_filter='BM_boost_fiber_memory_per_goroutine' \
      --benchmark_out="$work/mem$m-boost.json" --benchmark_out_format=json >/dev/null 2>>"$work/log" ||
      die "runtime_bench (boost memory) failed"
  fi
done

# ---- the machine, then the report ----------------------------------------------------

host=$(hostname -s 2>/dev/null || hostname)
stem=$(date -u +%Y-%m-%d)-$host
((quick)) && stem+=-quick
cache=$build_dir/CMakeCache.txt
cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$cache" 2>/dev/null | head -n 1; }
cxx_compiler=$(cache_var CMAKE_CXX_COMPILER)
build_type=$(cache_var CMAKE_BUILD_TYPE)
flags="$(cache_var CMAKE_CXX_FLAGS) $(cache_var "CMAKE_CXX_FLAGS_${build_type^^}") -std=c++20 ($build_type)"
BENCH_DATE=$(date -u '+%Y-%m-%d %H:%M UTC') BENCH_HOST=$host \
BENCH_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) \
BENCH_CORES="$(nproc) online ($(grep -c ^processor /proc/cpuinfo) CPUs)" BENCH_KERNEL=$(uname -r) \
BENCH_COMPILER=$("${cxx_compiler:-c++}" --version | head -n 1) BENCH_FLAGS=${flags# } \
BENCH_GO=${go_version:-"not run"} BENCH_USER=${impl:+$impl_queue in ${impl_file#"$ROOT"/}} \
BENCH_ROUNDS="$rounds processes per binary (thread/Boost peers: $peer_rounds; memory: $mem_rounds); min_time ${min_time}s, Go -benchtime $go_benchtime, counts ÷ $scale" \
BENCH_LOAD="$load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after (1/5/15 min)" \
python3 - "$work/machine.json" <<'EOF'
import json, os, sys
keys = ["date", "host", "cpu", "cores", "kernel", "compiler", "flags", "go", "rounds", "load", "user"]
json.dump({k: os.environ["BENCH_" + k.upper()] for k in keys}, open(sys.argv[1], "w"), indent=1)
EOF

md=$(python3 "$ROOT/bench/report.py" --work "$work" --out "$out" --stem "$stem")
say "wrote ${md%.md}.json, .md and -*.svg"
cat "$md"
