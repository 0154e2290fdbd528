#!/usr/bin/env bash
# bench/lb/run.sh — the load-balancer benchmark: gofer's loadbalancer demo (--serve) against
# nginx (an `upstream` block, started privately through the demos' shared launcher) and Go's
# httputil.ReverseProxy (bench/go/lbproxy), all round robin in front of the same three Go
# back ends (bench/go/hello), loaded by wrk over loopback at 100 and 1,000 keep-alive
# connections. `./gofer bench lb [args]` runs this script with the same arguments.
#
#   bench/lb/run.sh            10 s per point, 3 repetitions (about 4 minutes)
#   bench/lb/run.sh --quick    3 s per point, 1 repetition (under a minute)
#
# What it does, in order:
#   1. installs wrk, golang-go and nginx if missing (./gofer _install);
#   2. builds the demo and bench/lb/nginx_upstream (./gofer _build release ...) and the two
#      Go programs (standard library only, offline) into ~/.cache/gofer/lb-bench;
#   3. starts three back ends (Go's hello server, GOMAXPROCS=1 each), once for the whole run;
#   4. for each connection count and repetition, interleaved (gofer, nginx, Go): starts a
#      fresh balancer with --threads workers (gofer --threads, nginx worker_processes, Go
#      GOMAXPROCS), checks that GET / answers "hello" through it, runs wrk -t2, reads the
#      balancer's CPU time (its whole process tree: nginx's workers too), stops it (SIGTERM);
#   5. writes bench/results/lb-<date>-<host>.json and .md (-quick.* for --quick).
#
# Nothing is pinned: on a 2-core machine wrk, the balancer and the back ends share both
# cores, as in the issue's measurement (wrk -t2 -c100). Read the numbers as a comparison at
# the same point, not as absolute capacity.
set -euo pipefail
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/lb
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/gofer/lb-bench

usage() {
  cat <<'USAGE'
usage: ./gofer bench lb [options]      (or bench/lb/run.sh [options])

  --quick              3 s per point, 1 repetition (a smoke run; numbers are rough)
  --duration SECONDS   wrk's duration per point (default 10; --quick: 3)
  --reps N             repetitions of every point (default 3; --quick: 1)
  --conns LIST         connection counts (default 100,1000)
  --threads N          balancer threads / workers / GOMAXPROCS (default 2)
  --only LIST          balancers to run, of gofer,nginx,go (default all three)
  --out DIR            where the results go (default bench/results)
  -h, --help           this text
USAGE
}
say() { printf 'bench lb: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

quick=0 duration= reps= conns_list=100,1000 threads=2 only=gofer,nginx,go out=$ROOT/bench/results
while (($#)); do
  case $1 in
    --quick) quick=1; shift ;;
    --duration) duration=${2:?--duration needs a value}; shift 2 ;;
    --reps) reps=${2:?--reps needs a value}; shift 2 ;;
    --conns) conns_list=${2:?--conns needs a value}; shift 2 ;;
    --threads) threads=${2:?--threads needs a value}; shift 2 ;;
    --only) only=${2:?--only needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) say "unknown argument '$1'"; usage >&2; exit 2 ;;
  esac
done
((quick)) && : "${duration:=3}" "${reps:=1}"
: "${duration:=10}" "${reps:=3}"
[[ $duration =~ ^[1-9][0-9]*$ ]] || { say "--duration must be a positive integer"; exit 2; }
[[ $reps =~ ^[1-9][0-9]*$ ]] || { say "--reps must be a positive integer"; exit 2; }
[[ $threads =~ ^[1-9][0-9]*$ ]] || { say "--threads must be a positive integer"; exit 2; }
[[ $conns_list =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { say "--conns: a comma-separated list of counts"; exit 2; }
[[ $only =~ ^(gofer|nginx|go)(,(gofer|nginx|go))*$ ]] || { say "--only: a list of gofer, nginx, go"; exit 2; }
IFS=, read -r -a conns_arr <<<"$conns_list"
IFS=, read -r -a impls <<<"$only"

# ---- 1-2. tools and programs ------------------------------------------------------------------
"$ROOT/gofer" _install wrk golang-go nginx python3
mkdir -p "$CACHE/logs" "$out"
say "building the loadbalancer demo and nginx-upstream (preset release)"
"$ROOT/gofer" _build release demo_loadbalancer nginx_upstream
lb_bin=$ROOT/build/release/chapters/ch10_advanced/loadbalancer
nginx_bin=$ROOT/build/release/bench/nginx-upstream
[[ -x $lb_bin && -x $nginx_bin ]] || die "the build did not produce $lb_bin and $nginx_bin"
say "building Go's hello server and lbproxy into ${CACHE/#$HOME/\~}"
(cd "$ROOT/bench/go/hello" && GOPROXY=off GOFLAGS=-mod=mod go build -o "$CACHE/go-hello" .) || die "go build failed (bench/go/hello)"
(cd "$ROOT/bench/go/lbproxy" && GOPROXY=off GOFLAGS=-mod=mod go build -o "$CACHE/go-lbproxy" .) || die "go build failed (bench/go/lbproxy)"
ulimit -n "$(ulimit -Hn)"

# ---- helpers ------------------------------------------------------------------------------------
clk_tck=$(getconf CLK_TCK)
tree_pids() {  # <pid>: the pid and all its descendants
  local p=$1 c
  echo "$p"
  for c in $(pgrep -P "$p" 2>/dev/null); do tree_pids "$c"; done
}
tree_ticks() { local s=0 p t; for p in $(tree_pids "$1"); do t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0); s=$((s + t)); done; echo "$s"; }
tree_rss_kib() { local s=0 p r; for p in $(tree_pids "$1"); do r=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0); s=$((s + ${r:-0})); done; echo "$s"; }

pids_to_kill=()
stop_pid() {  # <pid>: SIGTERM, wait up to 10 s; sets exit_status (a number, or "killed").
  # Not in a $(...) subshell: only this shell can wait for its own children.
  local pid=$1 i
  exit_status=0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; ++i)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    exit_status=killed
    return 0
  fi
  wait "$pid" 2>/dev/null || exit_status=$?
}
trap 'for p in "${pids_to_kill[@]}"; do kill -TERM $p 2>/dev/null || true; done; rm -f "$CACHE/runs-$$.jsonl"' EXIT

# wait_addr <log> <pid>: the 127.0.0.1:port the program announced ("listening on ..." or
# "load balancer on http://...").
wait_addr() {
  local log=$1 pid=$2 i a
  for ((i = 0; i < 100; ++i)); do
    a=$(sed -n 's/^\(listening on\|load balancer on\) \(http:\/\/\)\{0,1\}\(127\.0\.0\.1:[0-9]*\).*/\3/p' "$log" | head -1)
    [[ -n $a ]] && { echo "$a"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  return 1
}
get_hello() {  # <addr>: one HTTP/1.0 GET through bash's /dev/tcp
  local answer
  answer=$(exec 3<>"/dev/tcp/${1%:*}/${1#*:}" && printf 'GET / HTTP/1.0\r\nHost: x\r\n\r\n' >&3 && timeout 5 cat <&3) || true
  [[ $answer == "HTTP/1."?" 200 "*hello* ]]
}

# ---- 3. the back ends ---------------------------------------------------------------------------
backends=()
for i in 1 2 3; do
: >"$CACHE/logs/backend-$i.log"
  GOMAXPROCS=1 "$CACHE/go-hello" -addr 127.0.0.1:0 >"$CACHE/logs/backend-$i.log" 2>&1 &
  pid=$!
  pids_to_kill+=("$pid")
  a=$(wait_addr "$CACHE/logs/backend-$i.log" "$pid") || die "back end $i did not start"
  backends+=("$a")
done
say "back ends: ${backends[*]}"

# ---- 4. the runs ----------------------------------------------------------------------------------
start_balancer() {  # <impl>: sets bal_pid, bal_addr
  local impl=$1 log=$CACHE/logs/$1.log args=() b
  : >"$log"  # here, not only in the child's redirection: wait_addr must never read the last run's address
  case $impl in
    gofer)
      for b in "${backends[@]}"; do args+=(--backend "http://$b"); done
      "$lb_bin" --serve --addr 127.0.0.1:0 --threads "$threads" "${args[@]}" >"$log" 2>&1 & ;;
    nginx)
      for b in "${backends[@]}"; do args+=(--backend "$b"); done
      "$nginx_bin" --workers "$threads" "${args[@]}" >"$log" 2>&1 & ;;
    go)
      for b in "${backends[@]}"; do args+=(-backend "http://$b"); done
      GOMAXPROCS=$threads "$CACHE/go-lbproxy" -addr 127.0.0.1:0 "${args[@]}" >"$log" 2>&1 & ;;
  esac
  bal_pid=$!
  pids_to_kill+=("$bal_pid")
  bal_addr=$(wait_addr "$log" "$bal_pid") || die "$impl did not start"
  get_hello "$bal_addr" || die "$impl did not answer hello through the balancer"
}

runs=$CACHE/runs-$$.jsonl
: >"$runs"
points=$((${#conns_arr[@]} * reps * ${#impls[@]}))
say "$points runs of ${duration} s; wrk -t2; balancers with $threads threads/workers"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
n=0
for c in "${conns_arr[@]}"; do
  for ((rep = 1; rep <= reps; ++rep)); do
    for impl in "${impls[@]}"; do
      n=$((n + 1))
      start_balancer "$impl"
      cpu0=$(tree_ticks "$bal_pid")
      wrk_out=$CACHE/logs/wrk-$impl-$c-$rep.txt
      TIMEFORMAT='%U %S'
      { time wrk -t2 -c"$c" -d"${duration}s" --timeout 10s --latency -s "$ROOT/bench/http/report.lua" \
          "http://$bal_addr/" >"$wrk_out" 2>&1; } 2>"$wrk_out.time" || { cat "$wrk_out" >&2; die "wrk failed"; }
      cpu1=$(tree_ticks "$bal_pid")
      rss=$(tree_rss_kib "$bal_pid")
      stop_pid "$bal_pid"
      wrk_json=$(sed -n 's/^WRKJSON //p' "$wrk_out")
      [[ -n $wrk_json ]] || { cat "$wrk_out" >&2; die "no result line from wrk"; }
      read -r wu ws <"$wrk_out.time"
      printf '{"server":"%s","threads":%d,"conns":%d,"rep":%d,"wrk":%s,"server_cpu_s":%s,"server_peak_rss_kib":%d,"wrk_cpu_s":%s,"server_exit":"%s"}\n' \
        "$impl" "$threads" "$c" "$rep" "$wrk_json" "$(awk -v a="$cpu0" -v b="$cpu1" -v h="$clk_tck" 'BEGIN{printf "%.2f", (b-a)/h}')" \
        "${rss:-0}" "$(awk -v u="$wu" -v s="$ws" 'BEGIN{printf "%.2f", u+s}')" "$exit_status" >>"$runs"
      say "[$n/$points] $(python3 "$ROOT/bench/http/report.py" --line "$(tail -1 "$runs")")"
    done
  done
done

# ---- 5. results ---------------------------------------------------------------------------------
stamp=$(date -u +%Y-%m-%d)
host=$(hostname -s 2>/dev/null || hostname)
base=$out/lb-$stamp-$host
((quick)) && base+=-quick
python3 "$HERE/report.py" --runs "$runs" --json "$base.json" --md "$base.md" \
  --meta cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  --meta cores="$(nproc)" --meta kernel="$(uname -r)" \
  --meta go="$(go version | cut -d' ' -f3-)" \
  --meta nginx="$(nginx -v 2>&1 | sed 's/.*nginx\///')" \
  --meta wrk="$(wrk -v 2>&1 | head -1 | cut -d' ' -f2)" \
  --meta gofer_commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --meta date="$(date -u '+%Y-%m-%d %H:%M UTC')" --meta host="$host" \
  --meta load_before="$load_before" --meta load_after="$(cut -d' ' -f1-3 /proc/loadavg)" \
  --meta duration_s="$duration" --meta reps="$reps" --meta threads="$threads"
say "wrote ${base#"$ROOT"/}.json and .md"
exit 0
}
