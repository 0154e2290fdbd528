#!/bin/bash
# A `--serve` demo must shut down gracefully on SIGTERM (what systemd sends) and on SIGINT
# (Ctrl-C): print "got SIG…: shutting down gracefully", then a last line saying it shut
# down gracefully, and exit 0. The demo takes its signals with gofer::signal::notify.
# Usage: serve_signal_test.sh path/to/demo [demo args...]   (the args must make it serve on
# a free port, e.g. --addr 127.0.0.1:0; its "Ctrl-C or SIGTERM to stop" line means ready)
set -euo pipefail
dir=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
for sig in TERM INT; do
  "$@" > "$dir/out" 2>&1 &
  pid=$!
  # Readiness (not ordering): the demo says it serves only after signal::notify.
  for _ in $(seq 200); do grep -q "to stop" "$dir/out" && break; sleep 0.05; done
  grep -q "to stop" "$dir/out" || { echo "FAIL: never said it serves"; cat "$dir/out"; exit 1; }
  kill -$sig $pid
  wait $pid && rc=0 || rc=$?
  pid=
  echo "--- SIG$sig:"
  cat "$dir/out"
  [[ $rc == 0 ]] || { echo "FAIL: SIG$sig: exit status $rc"; exit 1; }
  grep -q "^got SIG$sig: shutting down gracefully$" "$dir/out" || { echo "FAIL: SIG$sig: no 'got SIG$sig' line"; exit 1; }
  tail -n 1 "$dir/out" | grep -q "shut down gracefully$" || { echo "FAIL: SIG$sig: the last line is not a graceful shutdown"; exit 1; }
done
echo "PASS: SIGTERM and SIGINT each shut $(basename "$1") down gracefully"
