#!/usr/bin/env bash
# bench/http/run.sh — the C10K benchmark: gofer's hello-server demo against Go's net/http,
# both loaded by wrk over loopback at 100, 1,000 and 10,000 keep-alive connections.
# `./gofer bench http [args]` runs this script with the same arguments.
#
#   bench/http/run.sh            full run: 10 s per point (30 s at 10,000 connections),
#                                3 repetitions (about 15 minutes)
#   bench/http/run.sh --quick    3 s per point (9 s at 10,000), 1 repetition (about 2 minutes)
#
# What it does, in order:
#   1. installs wrk and golang-go if missing (./gofer _install);
#   2. builds the demo in Release (./gofer _build release demo_hello-server) and Go's server
#      (bench/go/hello, standard library only, offline) into ~/.cache/gofer/http-bench;
#   3. raises the open-files limit (ulimit -n) to the hard limit — and, when running as root,
#      the hard limit itself if it is below what 10,000 connections need;
#   4. for each connection count, repetition, thread count and server, interleaved
#      (gofer 1, Go 1, gofer 2, Go 2, then the next repetition): starts a fresh server on a
#      free loopback port, checks that GET / answers "hello", runs wrk, reads the server's
#      CPU time and peak RSS, stops it with SIGTERM (graceful shutdown) and checks it exited 0;
#   5. writes bench/results/http-<date>-<host>.json (every run) and .md (the table);
#      --quick runs are named http-<date>-<host>-quick.*.
#
# Fairness on a small machine (documented in the table): wrk runs ONE thread pinned to the
# last CPU. A server with T threads (gofer --threads T, Go GOMAXPROCS=T) is pinned to the
# first T CPUs when T < number of CPUs, so on 2 cores the 1-thread servers get CPU 0 to
# themselves; a server with as many threads as CPUs is not pinned and shares wrk's CPU.
# Both servers get exactly the same treatment. On a machine busy with other work, --nice N
# (negative: root only) runs wrk and the servers at that nice level, so that they get the
# CPUs they are pinned to; the default leaves nice levels alone.
set -euo pipefail
{  # (closed at the end: bash reads the whole script first, so editing it mid-run is safe)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/http
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/gofer/http-bench

usage() {
  cat <<'EOF'
usage: ./gofer bench http [options]      (or bench/http/run.sh [options])

  --quick              a few seconds per point, 1 repetition (a smoke run; numbers are rough)
  --duration SECONDS   wrk's duration per point (default 10; --quick: 3); x3 from 5,000 connections
  --reps N             repetitions of every point (default 3; --quick: 1)
  --conns LIST         connection counts (default 100,1000,10000)
  --threads LIST       gofer scheduler threads = Go's GOMAXPROCS (default 1,2)
  --only gofer|go      benchmark one server only
  --nice N             run wrk and the servers at nice level N (negative: root only)
  --server-bin PATH    use this hello-server binary instead of building build/release's
  --label TEXT         what that binary is (shown instead of the checkout's commit)
  --out DIR            where the results go (default bench/results)
  -h, --help           this text

Writes <out>/http-<date>-<host>.json and .md (-quick.* for --quick).
EOF
}

say() { printf 'bench http: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

quick=0 duration= reps= conns_list=100,1000,10000 threads_list=1,2 only= server_bin= label= out=$ROOT/bench/results nice_level=0
while (($#)); do
  case $1 in
    --quick) quick=1; shift ;;
    --duration) duration=${2:?--duration needs a value}; shift 2 ;;
    --reps) reps=${2:?--reps needs a value}; shift 2 ;;
    --conns) conns_list=${2:?--conns needs a value}; shift 2 ;;
    --threads) threads_list=${2:?--threads needs a value}; shift 2 ;;
    --only) only=${2:?--only needs a value}; shift 2 ;;
    --nice) nice_level=${2:?--nice needs a value}; shift 2 ;;
    --server-bin) server_bin=${2:?--server-bin needs a value}; shift 2 ;;
    --label) label=${2:?--label needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) say "unknown argument '$1'"; usage >&2; exit 2 ;;
  esac
done
((quick)) && : "${duration:=3}" "${reps:=1}"
: "${duration:=10}" "${reps:=3}"
[[ $duration =~ ^[1-9][0-9]*$ ]] || { say "--duration must be a positive integer"; exit 2; }
[[ $reps =~ ^[1-9][0-9]*$ ]] || { say "--reps must be a positive integer"; exit 2; }
[[ $conns_list =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { say "--conns: a comma-separated list of counts"; exit 2; }
[[ $threads_list =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { say "--threads: a comma-separated list"; exit 2; }
case $only in '' | gofer | go) ;; *) say "--only takes gofer or go"; exit 2 ;; esac
[[ $nice_level =~ ^-?[0-9]+$ ]] || { say "--nice takes an integer"; exit 2; }
run_at=(nice -n "$nice_level")
IFS=, read -r -a conns_arr <<<"$conns_list"
IFS=, read -r -a threads_arr <<<"$threads_list"
servers=(gofer go)
[[ -n $only ]] && servers=("$only")

# ---- 1-2. tools and the two servers -------------------------------------------------------
"$ROOT/gofer" _install wrk golang-go python3
mkdir -p "$CACHE/logs" "$out"
if [[ -z $server_bin ]]; then
  say "building the hello-server demo (preset release)"
  "$ROOT/gofer" _build release demo_hello-server
  server_bin=$ROOT/build/release/chapters/ch06_c10k/hello-server
fi
[[ -x $server_bin ]] || die "no hello-server binary at $server_bin"
go_bin=$CACHE/go-hello
say "building Go's hello server into ${go_bin/#$HOME/\~}"
# Standard library only: GOPROXY=off makes any attempt to download a module an error.
(cd "$ROOT/bench/go/hello" && GOPROXY=off GOFLAGS=-mod=mod go build -o "$go_bin" .) ||
  die "go build failed (bench/go/hello)"

# ---- 3. file descriptors ----------------------------------------------------------------
max_conns=0
for c in "${conns_arr[@]}"; do ((c > max_conns)) && max_conns=$c; done
need=$((max_conns + 1024))  # each side holds one fd per connection, plus its own few
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((hard < need)); then
  if ((EUID == 0)) && ulimit -Hn "$need" 2>/dev/null; then
    say "raised the hard open-files limit from $hard to $need (root)"
  else
    say "the hard open-files limit is $hard; $max_conns connections need about $need."
    say "raise it as root (ulimit -Hn $need, or 'nofile' in /etc/security/limits.conf);"
    say "connection counts above $((hard - 1024)) are skipped."
  fi
fi
ulimit -n "$(ulimit -Hn)"
fd_limit=$(ulimit -n)

# ---- pinning --------------------------------------------------------------------------------
ncpu=$(nproc)
wrk_cpu=$((ncpu - 1))
server_cpus() {  # <threads>: the CPU list for a server with that many threads
  local t=$1
  if ((ncpu > 1 && t < ncpu)); then echo "0-$((t - 1))"; else echo "0-$((ncpu - 1))"; fi
}

# ---- 4. the runs ------------------------------------------------------------------------------
# At 10,000 connections the first seconds of a run are the connect storm (10,000 SYNs against
# an accept queue of at most somaxconn, 4096 here: the rest are retried after 1 s, 3 s...),
# so points with 5,000 connections or more run three times as long to measure mostly the
# steady state.
point_duration() { if (($1 >= 5000)); then echo $((duration * 3)); else echo "$duration"; fi; }
runs=$CACHE/runs-$$.jsonl
: >"$runs"
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }  # utime+stime
rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

server_pid= server_log= exit_status=
stop_server() {  # SIGTERM, then wait up to 10 s; sets exit_status (a number, or "killed")
  local pid=$server_pid i
  server_pid= exit_status=0
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; ++i)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    exit_status=killed
    return 0
  fi
  wait "$pid" 2>/dev/null || exit_status=$?
}
trap '[[ -n $server_pid ]] && kill -KILL $server_pid 2>/dev/null; rm -f "$runs"' EXIT

# start_server <impl> <threads>: sets server_pid and server_addr.
start_server() {
  local impl=$1 t=$2 cpus i
  cpus=$(server_cpus "$t")
  server_log=$CACHE/logs/$impl-$t.log
  if [[ $impl == gofer ]]; then
    "${run_at[@]}" taskset -c "$cpus" "$server_bin" --addr 127.0.0.1:0 --threads "$t" >"$server_log" 2>&1 &
  else
    GOMAXPROCS=$t "${run_at[@]}" taskset -c "$cpus" "$go_bin" -addr 127.0.0.1:0 >"$server_log" 2>&1 &
  fi
  server_pid=$!
  server_addr=
  for ((i = 0; i < 100; ++i)); do
    server_addr=$(grep -o -m1 '127\.0\.0\.1:[0-9]*' "$server_log" || true)
    [[ -n $server_addr ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n $server_addr ]] || { cat "$server_log" >&2; die "$impl server did not start"; }
  # One plain HTTP/1.0 request through bash's /dev/tcp: the server answers "hello".
  local answer
  answer=$(exec 3<>"/dev/tcp/${server_addr%:*}/${server_addr#*:}" &&
    printf 'GET / HTTP/1.0\r\nHost: x\r\n\r\n' >&3 && timeout 5 cat <&3) || true
  [[ $answer == "HTTP/1."?" 200 "*hello* ]] || { printf '%s\n' "$answer" >&2; die "$impl server did not answer hello"; }
}

points=0
for c in "${conns_arr[@]}"; do
  ((c + 64 <= fd_limit)) && points=$((points + reps * ${#threads_arr[@]} * ${#servers[@]}))
done
say "$points runs of ${duration} s (x3 from 5,000 connections); wrk: 1 thread on CPU $wrk_cpu; open-files limit $fd_limit"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
n=0
for c in "${conns_arr[@]}"; do
  if ((c + 64 > fd_limit)); then
    say "skipping $c connections (open-files limit $fd_limit)"
    continue
  fi
  for ((rep = 1; rep <= reps; ++rep)); do
    for t in "${threads_arr[@]}"; do
      for impl in "${servers[@]}"; do
        n=$((n + 1))
        start_server "$impl" "$t"
        cpu0=$(cpu_ticks "$server_pid")
        wrk_out=$CACHE/logs/wrk-$impl-$t-$c-$rep.txt
        TIMEFORMAT='%U %S'
        { time "${run_at[@]}" taskset -c "$wrk_cpu" wrk -t1 -c"$c" -d"$(point_duration "$c")s" --timeout 10s --latency \
            -s "$HERE/report.lua" "http://$server_addr/" >"$wrk_out" 2>&1; } 2>"$wrk_out.time" ||
          { cat "$wrk_out" >&2; stop_server; die "wrk failed"; }
        cpu1=$(cpu_ticks "$server_pid")
        rss=$(rss_kib "$server_pid")
        stop_server
        wrk_json=$(sed -n 's/^WRKJSON //p' "$wrk_out")
        [[ -n $wrk_json ]] || { cat "$wrk_out" >&2; die "no result line from wrk"; }
        read -r wu ws <"$wrk_out.time"
        printf '{"server":"%s","threads":%d,"conns":%d,"rep":%d,"wrk":%s,"server_cpu_s":%s,"server_peak_rss_kib":%d,"wrk_cpu_s":%s,"server_exit":"%s"}\n' \
          "$impl" "$t" "$c" "$rep" "$wrk_json" "$(awk -v a="$cpu0" -v b="$cpu1" -v h="$clk_tck" 'BEGIN{printf "%.2f", (b-a)/h}')" \
          "${rss:-0}" "$(awk -v u="$wu" -v s="$ws" 'BEGIN{printf "%.2f", u+s}')" "$exit_status" >>"$runs"
        say "[$n/$points] $(python3 "$HERE/report.py" --line "$(tail -1 "$runs")")"
      done
    done
  done
done

# ---- 5. results -------------------------------------------------------------------------------
stamp=$(date -u +%Y-%m-%d)
host=$(hostname -s 2>/dev/null || hostname)
base=$out/http-$stamp-$host
((quick)) && base+=-quick
boost=$(sed -n 's/^#define BOOST_LIB_VERSION "\(.*\)"/\1/p' /usr/include/boost/version.hpp 2>/dev/null | tr _ .)
compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$(dirname "$(dirname "$(dirname "$server_bin")")")/CMakeCache.txt" 2>/dev/null || true)
[[ -n $compiler ]] || compiler=c++
python3 "$HERE/report.py" --runs "$runs" --json "$base.json" --md "$base.md" \
  --meta cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  --meta cores="$ncpu" \
  --meta kernel="$(uname -r)" \
  --meta compiler="$("$compiler" --version | head -1)" \
  --meta boost="$boost" \
  --meta go="$(go version | cut -d' ' -f3-)" \
  --meta wrk="$(wrk -v 2>&1 | head -1 | cut -d' ' -f2)" \
  --meta gofer_commit="${label:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}" \
  --meta gofer_tree_dirty="$([[ -z $label ]] && git -C "$ROOT" status --porcelain -- lib 2>/dev/null | grep -q . && echo yes || echo no)" \
  --meta server_bin="${server_bin#"$ROOT"/}" \
  --meta date="$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --meta host="$host" \
  --meta load_before="$load_before" \
  --meta load_after="$(cut -d' ' -f1-3 /proc/loadavg)" \
  --meta duration_s="$duration" --meta reps="$reps" \
  --meta fd_limit="$fd_limit" --meta somaxconn="$(cat /proc/sys/net/core/somaxconn)" \
  --meta pinning="wrk -t1 on CPU $wrk_cpu; a server with T < $ncpu threads on CPUs 0..T-1, else unpinned; nice $nice_level for both"
say "wrote ${base#"$ROOT"/}.json and .md"
exit 0
}
