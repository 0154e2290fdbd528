#!/bin/bash
# The fake tweet stream from outside (votes --serve): a malformed request gets a 400 and the
# stream keeps serving; a good one gets 200 and JSON lines (chunked: a size line before each)
# from the tweet asked for; then Ctrl-C ends the demo cleanly with nothing lost. Plain bash
# /dev/tcp, no client package.
# Usage: stream_test.sh path/to/votes
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" --serve --tweets 200 --drop-every 1000000 > "$dir/out" 2>&1 &   # no drops: the reply is checked
pid=$!
for _ in $(seq 400); do grep -q "^stream on " "$dir/out" && break; sleep 0.025; done
addr=$(sed -n 's|^stream on http://\([^/]*\)/.*|\1|p' "$dir/out")
[[ -n $addr ]] || { echo "FAIL: no stream address"; cat "$dir/out"; exit 1; }
host=${addr%:*} port=${addr#*:}

# ask PATH: the first lines of the answer (timeout 2 s: the stream itself never ends)
ask() {
  exec 3<>"/dev/tcp/$host/$port"
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' "$1" "$addr" >&3
  timeout 2 head -n "$2" <&3 || true
  exec 3<&-
}
bad=$(ask "/stream?track=happy" 1)
echo "bad request -> $bad"
[[ $bad == "HTTP/1.1 400"* ]] || { echo "FAIL: a request with one option should get 400"; exit 1; }
good=$(ask "/stream?track=happy,sad&since=7" 12 | tr -d '\r')
echo "$good"
[[ $(head -1 <<<"$good") == "HTTP/1.1 200"* ]] || { echo "FAIL: no 200 after the 400"; exit 1; }
grep -q '^{"id":7,"text":' <<<"$good" || grep -q '^{"id":8,"text":' <<<"$good" ||
  { echo "FAIL: the stream did not start at tweet 7"; exit 1; }

kill -INT $pid
wait $pid && rc=0 || rc=$?
cat "$dir/out"
[[ $rc == 0 ]] || { echo "FAIL: exit status $rc after Ctrl-C"; exit 1; }
grep -Eq ', 0 lost$' "$dir/out" || { echo "FAIL: votes lost"; exit 1; }
echo "PASS: 400 for a malformed request, then the stream; a clean stop"
