#!/bin/bash
# votes loses no vote across a SIGINT: run 1 reads a stream of 3000 tweets into a store and is
# interrupted mid-load (after its reader reported 500 tweets); run 2 resumes on the same store.
# Each run checks its store against the tweets it has read (the demo's "0 lost"); here we
# also check that run 1 really stopped mid-load and that run 2 ends with all 3000 tweets.
# Usage: sigint_test.sh path/to/votes
set -euo pipefail
bin=$1
tweets=3000
dir=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" --db "$dir/votes.db" --tweets $tweets > "$dir/run1" 2>&1 &
pid=$!
# Readiness (not ordering): the load is under way.
for _ in $(seq 400); do grep -q "reader: 500 tweets read" "$dir/run1" && break; sleep 0.025; done
grep -q "reader: 500 tweets read" "$dir/run1" || { echo "FAIL: the reader never got going"; cat "$dir/run1"; exit 1; }
kill -INT $pid
wait $pid && rc=0 || rc=$?
echo "--- run 1 (SIGINT mid-load)"; cat "$dir/run1"
[[ $rc == 0 ]] || { echo "FAIL: run 1 exit status $rc"; exit 1; }
at=$(sed -n 's/^interrupted at tweet \([0-9]*\) of .*/\1/p' "$dir/run1")
[[ -n $at ]] || { echo "FAIL: run 1 does not say where it was interrupted"; exit 1; }
(( at >= 500 && at < tweets )) || { echo "FAIL: interrupted at $at, not mid-load"; exit 1; }
grep -Eq ', 0 lost$' "$dir/run1" || { echo "FAIL: run 1 lost votes"; exit 1; }

"$bin" --db "$dir/votes.db" --tweets $tweets > "$dir/run2" 2>&1 && rc=0 || rc=$?
echo "--- run 2 (resumed)"; cat "$dir/run2"
[[ $rc == 0 ]] || { echo "FAIL: run 2 exit status $rc"; exit 1; }
grep -q "resuming at tweet $at\$" "$dir/run2" || { echo "FAIL: run 2 did not resume at tweet $at"; exit 1; }
grep -Eq "store holds ([0-9]+) of \\1 expected for tweets 0-$((tweets - 1)), 0 lost\$" "$dir/run2" ||
  { echo "FAIL: after the restart the store does not hold every vote of tweets 0-$((tweets - 1))"; exit 1; }
echo "PASS: interrupted at tweet $at of $tweets, resumed, no vote lost or counted twice"
