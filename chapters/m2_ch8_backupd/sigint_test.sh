#!/bin/bash
# backupd --daemon must exit within 100 ms of SIGINT, although its next check is 10 s away
# (the daemon's wait is a select on the timer and the signal channel).
# Usage: sigint_test.sh path/to/backupd
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/src" && echo hello > "$dir/src/a.txt"
printf '{"paths": [{"path": "%s", "hash": ""}]}\n' "$dir/src" > "$dir/db.json"
"$bin" --daemon --db "$dir/db.json" --archive "$dir/archive" --interval-ms 10000 > "$dir/out" 2>&1 &
pid=$!
# Readiness (not ordering): the first check has archived src.
for _ in $(seq 200); do grep -q "archived to" "$dir/out" && break; sleep 0.05; done
grep -q "archived to" "$dir/out" || { echo "FAIL: the daemon never checked"; cat "$dir/out"; exit 1; }
t0=$(date +%s%N)
kill -INT $pid
wait $pid && rc=0 || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
cat "$dir/out"
[[ $rc == 0 ]] || { echo "FAIL: exit status $rc"; exit 1; }
grep -q "stopped after 1 checks, 1 archives" "$dir/out" || { echo "FAIL: no clean stop line"; exit 1; }
(( ms < 100 )) || { echo "FAIL: exited $ms ms after SIGINT (limit 100)"; exit 1; }
echo "PASS: exited $ms ms after SIGINT"
