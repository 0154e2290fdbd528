#!/usr/bin/env bash
# tests/explore_test.sh <explore_bug binary> — ./gofer explore's contract on a planted
# check-then-act bug (tests/explore_bug.cpp): explore finds a failing seed within 1,000
# seeds, prints the seed and the replay command, and that seed fails identically (same
# output, same status) three times in a row; exploration without yields, or of the fixed
# program (--fixed: check and act under one mutex), finds nothing.
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/.." && pwd)
explore=(python3 "$root/tools/explore.py" --no-build)

out=$("${explore[@]}" "$bin" --runs 1000 --seed 0) && { echo "explore found no failure:"; echo "$out"; exit 1; }
echo "$out"
seed=$(sed -n 's/^FAILED: .*, seed \([0-9]*\) (run.*/\1/p' <<<"$out")
[[ -n $seed ]] || { echo "no seed in explore's report"; exit 1; }
grep -q "^replay: GOFER_SCHEDULE=random:$seed:yield=0.1 " <<<"$out" || { echo "no replay command"; exit 1; }
grep -q "overdrawn: balance -60" <<<"$out" || { echo "the failure is not the overdraft"; exit 1; }

first= ; first_status=
for i in 1 2 3; do
  status=0
  run=$(GOFER_SCHEDULE=random:$seed:yield=0.1 "$bin") || status=$?
  [[ $status == 1 ]] || { echo "replay $i: status $status, want 1"; exit 1; }
  if [[ -z $first ]]; then first=$run; first_status=$status
  elif [[ $run != "$first" || $status != "$first_status" ]]; then
    echo "replay $i differs:"; echo "$run"; echo "first:"; echo "$first"; exit 1
  fi
done
echo "seed $seed failed identically 3 times:"
echo "$first"

# Without preemption the clerks never interleave between check and act; with the fix no
# seed breaks the invariant.
"${explore[@]}" "$bin" --runs 50 --yield 0
"${explore[@]}" "$bin" --runs 300 -- --fixed
