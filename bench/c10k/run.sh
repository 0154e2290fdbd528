#!/usr/bin/env bash
# bench/c10k/run.sh — `./gofer bench c10k`: the chapter 6 server under wrk (book, chapter 6:
# "Benchmarking against a blocking web server", "Exploring our web server").
#
# Servers (each started fresh for every connection count, on a free loopback port):
#   gofer      the c10k demo (--serve): /static, /template, /dynamic (MariaDB, pool of 8;
#              its DB calls parked on gofer's poller, and again with --db-mode=blocking)
#   gofer      with --parse-per-request (/template) and --connect-per-request (/dynamic)
#   blocking   bench/c10k/blocking_server.cpp: a std::thread per connection, blocking
#              sockets (Boost.Asio/Beast sync), /static and /template — the book's Apache model
#   go         bench/go/c10k: net/http + html/template (standard library), /static, /template
# For each: wrk (1 thread, keep-alive, --latency) at each connection count; /dynamic asks
# for random articles (c10k.lua). Recorded: requests/s, p50/p99, errors (socket errors and
# status >= 400), and the server's RSS and thread count sampled mid-run.
#
#   bench/c10k/run.sh                 5 s per point at 100 and 1,000 connections, 15 s at 10,000
#   bench/c10k/run.sh --quick         2 s per point, 100 and 1,000 connections
#   --duration S  --conns LIST  --threads T (gofer threads = GOMAXPROCS; default: all cores)
#   --long-duration S  seconds per point at 10,000 connections or more (default 15: the first
#                 seconds there are the connect storm — see somaxconn below — so 5 s measures
#                 mostly SYN retries, a lottery that swung gofer ÷ Go from 0.7 to 1.3)
#   --routes LIST (default static,template,dynamic,pitfalls: which rows to run; e.g.
#                 static,template for the rows that race Go)
#   --out DIR     (default bench/results) → c10k-<date>-<host>[-N].json, .md and charts
#                 (-latency.svg: p50/p99 against connections; -rps.svg: requests/s); with the
#                 default --out, bench/RESULTS.md's "Latest ./gofer bench c10k" block is
#                 rewritten from the run too (the commentary around it is not)
#
# 10,000 connections need about 10,000 descriptors per side (wrk and the server): the script
# raises the soft limit to the hard one (as root, the hard one too) and skips counts that do
# not fit. The kernel's accept backlog is net.core.somaxconn (the servers ask for the
# maximum; 4096 on Debian 12): at 10,000 connections the first second is a connect storm —
# SYNs beyond the backlog are dropped and retried after 1 s and 3 s (the connect errors
# show it if they run out). Raise it as root for a fairer start: sysctl -w
# net.core.somaxconn=16384 (and net.ipv4.tcp_max_syn_backlog); the run records its value.
# Nothing is pinned: wrk and the server share the machine's cores, as in the book.
set -euo pipefail
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/c10k
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/gofer/c10k-bench

say() { printf 'bench c10k: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

duration=5 long_duration=15 conns_list=100,1000,10000 threads=$(nproc) out=$ROOT/bench/results routes=static,template,dynamic,pitfalls
while (($#)); do
  case $1 in
    --quick) duration=2 conns_list=100,1000; shift ;;
    --duration) duration=${2:?--duration needs a value}; shift 2 ;;
    --long-duration) long_duration=${2:?--long-duration needs a value}; shift 2 ;;
    --conns) conns_list=${2:?--conns needs a value}; shift 2 ;;
    --threads) threads=${2:?--threads needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    --routes) routes=${2:?--routes needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) say "unknown argument '$1'"; usage >&2; exit 2 ;;
  esac
done
[[ $duration =~ ^[1-9][0-9]*$ ]] || { say "--duration must be a positive integer"; exit 2; }
[[ $long_duration =~ ^[1-9][0-9]*$ ]] || { say "--long-duration must be a positive integer"; exit 2; }
[[ $conns_list =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { say "--conns: a comma-separated list"; exit 2; }
[[ $threads =~ ^[1-9][0-9]*$ ]] || { say "--threads must be a positive integer"; exit 2; }
IFS=, read -r -a conns_arr <<<"$conns_list"
[[ $routes =~ ^(static|template|dynamic|pitfalls)(,(static|template|dynamic|pitfalls))*$ ]] ||
  { say "--routes: a comma-separated list of static, template, dynamic, pitfalls"; exit 2; }
want() { [[ ,$routes, == *,$1,* ]]; }

# ---- build ----------------------------------------------------------------------------------
"$ROOT/gofer" _install wrk golang-go python3 gnuplot-nox mariadb-server libmariadb-dev libctemplate-dev
mkdir -p "$CACHE/logs" "$out"
say "building the c10k demo and the blocking baseline (preset release)"
"$ROOT/gofer" _build release demo_c10k c10k_blocking
gofer_bin=$ROOT/build/release/chapters/ch06_c10k/c10k
blocking_bin=$ROOT/build/release/bench/c10k_blocking
go_bin=$CACHE/go-c10k
(cd "$ROOT/bench/go/c10k" && GOPROXY=off GOWORK=off GOFLAGS=-mod=mod go build -o "$go_bin" .) || die "go build failed"

max_conns=0
for c in "${conns_arr[@]}"; do ((c > max_conns)) && max_conns=$c; done
need=$((max_conns + 256))  # per process: wrk holds one end of each connection, the server the other
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((hard < need)); then
  if ((EUID == 0)) && ulimit -Hn "$need" 2>/dev/null; then
    say "raised the hard open-files limit from $hard to $need (root)"
  else
    say "the hard open-files limit is $hard; $max_conns connections need about $need (raise it as root: ulimit -Hn $need)"
  fi
fi
ulimit -n "$(ulimit -Hn)"
fd_limit=$(ulimit -n)

# ---- servers ----------------------------------------------------------------------------------
server_pid= server_addr=
stop_server() {
  local pid=$server_pid i
  server_pid=
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; ++i)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap 'stop_server; rm -f "$runs"' EXIT

start_server() {  # <server> <flags...>
  local impl=$1 log i
  shift
  log=$CACHE/logs/$impl.log
  rm -f "$log"  # else the address of the previous run could be read before the new one writes
  case $impl in
    gofer) "$gofer_bin" --addr 127.0.0.1:0 --threads "$threads" "$@" >"$log" 2>&1 & ;;
    blocking) "$blocking_bin" --addr 127.0.0.1:0 >"$log" 2>&1 & ;;
    go) GOMAXPROCS=$threads "$go_bin" -addr 127.0.0.1:0 >"$log" 2>&1 & ;;
  esac
  server_pid=$!
  server_addr=
  for ((i = 0; i < 300; ++i)); do
    [[ -f $log ]] && server_addr=$(sed -n 's|^listening on \(http://\)\{0,1\}\(127\.0\.0\.1:[0-9]*\).*|\2|p' "$log" | head -1)
    [[ -n $server_addr ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n $server_addr ]] || { cat "$log" >&2; die "$impl did not start"; }
}

runs=$CACHE/runs-$$.jsonl
: >"$runs"
status_field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# point <server> <case> <conns> <path> [random-article]
point() {
  local impl=$1 case=$2 c=$3 path=$4 extra=${5-} wrk_out rss threads d=$duration
  ((c >= 10000)) && d=$long_duration
  wrk_out=$CACHE/logs/wrk-$impl-${case// /_}-$c.txt
  local args=(-t1 -c"$c" -d"${d}s" --timeout 10s --latency -s "$HERE/c10k.lua" "http://$server_addr$path")
  [[ -n $extra ]] && args+=(-- "$extra")
  wrk "${args[@]}" >"$wrk_out" 2>&1 &
  local wrk_pid=$!
  sleep "$(awk -v d="$d" 'BEGIN{print d/2}')"
  rss=$(status_field "$server_pid" VmRSS)
  threads=$(status_field "$server_pid" Threads)
  wait "$wrk_pid" || { cat "$wrk_out" >&2; die "wrk failed"; }
  local j
  j=$(sed -n 's/^WRKJSON //p' "$wrk_out")
  [[ -n $j ]] || { cat "$wrk_out" >&2; die "no result from wrk"; }
  printf '{"server":"%s","case":"%s","conns":%d,"duration_s":%d,"wrk":%s,"rss_kib":%d,"threads":%d}\n' \
    "$impl" "$case" "$c" "$d" "$j" "${rss:-0}" "${threads:-0}" >>"$runs"
  say "$(python3 "$HERE/report.py" --line "$(tail -1 "$runs")")"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for c in "${conns_arr[@]}"; do
  if ((c + 256 > fd_limit)); then
    say "skipping $c connections: wrk and the server need about $((c + 256)) descriptors each, the limit is $fd_limit"
    continue
  fi
  if want static || want template || want dynamic; then
    start_server gofer
    want static && point gofer "static" "$c" /static/page-0.html
    want template && point gofer "template" "$c" /template/gopher
    want dynamic && point gofer "dynamic (pool of 8)" "$c" / random-article
    stop_server
  fi
  if want dynamic; then
    start_server gofer --db-mode=blocking  # the other way to keep MariaDB off the scheduler
    point gofer "dynamic (pool of 8), blocking DB calls" "$c" / random-article
    stop_server
  fi
  if want pitfalls; then
    start_server gofer --parse-per-request
    point gofer "template, parse per request" "$c" /template/gopher
    stop_server
    start_server gofer --connect-per-request
    point gofer "dynamic, connect per request" "$c" / random-article
    stop_server
  fi
  if want static || want template; then
    start_server blocking
    want static && point blocking "static" "$c" /static/page-0.html
    want template && point blocking "template" "$c" /template/gopher
    stop_server
    start_server go
    want static && point go "static" "$c" /static/page-0.html
    want template && point go "template" "$c" /template/gopher
    stop_server
  fi
done

stamp=$(date -u +%Y-%m-%d)
host=$(hostname -s 2>/dev/null || hostname)
base=$out/c10k-$stamp-$host
for ((n = 2; n < 100; ++n)); do  # never overwrite an earlier run of the day (RESULTS.md cites them)
  [[ -e $base.json ]] || break
  base=$out/c10k-$stamp-$host-$n
done
results_md=()
[[ $out == "$ROOT/bench/results" ]] && results_md=(--results-md "$ROOT/bench/RESULTS.md")
python3 "$HERE/report.py" --runs "$runs" --json "$base.json" --md "$base.md" "${results_md[@]}" \
  --meta cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  --meta cores="$(nproc)" --meta kernel="$(uname -r)" \
  --meta go="$(go version | cut -d' ' -f3-)" \
  --meta gofer_commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --meta date="$(date -u '+%Y-%m-%d %H:%M UTC')" --meta host="$host" \
  --meta load_before="$load_before" --meta load_after="$(cut -d' ' -f1-3 /proc/loadavg)" \
  --meta duration_s="$duration" --meta long_duration_s="$long_duration" --meta threads="$threads" --meta routes="$routes" \
  --meta fd_limit="$fd_limit" --meta somaxconn="$(cat /proc/sys/net/core/somaxconn)" \
  --meta stack_limit_kib="$(ulimit -s)" \
  --meta wrk="1 thread, keep-alive, unpinned, on the same machine"
say "wrote ${base#"$ROOT"/}.json and .md${results_md:+, and the latest-run block of bench/RESULTS.md}"
exit 0
}
