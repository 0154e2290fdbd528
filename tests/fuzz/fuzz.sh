#!/usr/bin/env bash
# tests/fuzz/fuzz.sh — builds the libFuzzer harness and fuzzes channels and select against
# the model of Go's channels (tests/fuzz/chan_fuzz.cpp, chan_model.hpp).
#
#   tests/fuzz/fuzz.sh [seconds] [libFuzzer args...]   default 60 s (CI); e.g. 3600 for an hour
#
# Build: gofer's library in the release preset (GCC), installed into build/fuzz/prefix; the
# harness with clang (tests/fuzz/libfuzzer/) into build/fuzz/harness. Needs the Debian
# packages clang and libclang-rt-14-dev (libFuzzer), installed here through ./gofer _install.
#
# Corpus: tests/fuzz/corpus (seeds and regression inputs, only read) plus the working corpus
# build/fuzz/corpus (kept between runs, never committed). On a crash or a mismatch with the
# model libFuzzer writes the input to build/fuzz/artifacts/ and this script exits non-zero;
# keep it as a regression input, replayed by the fuzz.chan_corpus test in every preset:
#   cp build/fuzz/artifacts/crash-<sha> tests/fuzz/corpus/regression-<what-it-shows>
# The cov-* inputs are what longer runs found, merged down to the inputs that add coverage
# (2026-12-03: 430 inputs from a 4-minute run, 60 KB; the replay takes 0.3 s, 2.6 s under
# ASan). To fold a longer run's finds in:
#   build/fuzz/harness/chan_fuzz -merge=1 -max_len=512 tests/fuzz/corpus build/fuzz/corpus
# then rename the new hash-named files to cov-<first 16 hex digits>.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${1:-60}
(($# == 0)) || shift
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: tests/fuzz/fuzz.sh [seconds] [libFuzzer args...]" >&2; exit 2; }
say() { printf 'fuzz: %s\n' "$*" >&2; }

"$ROOT/gofer" _install clang libclang-rt-14-dev
"$ROOT/gofer" _build release gofer
work=$ROOT/build/fuzz
mkdir -p "$work/corpus" "$work/artifacts"
cmake --install "$ROOT/build/release" --prefix "$work/prefix" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; say "installing gofer into $work/prefix failed"; exit 1; }
if [[ ! -f $work/harness/build.ninja ]]; then
  cmake -S "$ROOT/tests/fuzz/libfuzzer" -B "$work/harness" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log" >&2; say "configuring the harness failed"; exit 1; }
fi
cmake --build "$work/harness" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; say "building the harness failed"; exit 1; }

# -timeout: one input (at most 256 steps on one thread) takes milliseconds; 10 s is a hang.
say "chan_fuzz for $seconds s (corpus: tests/fuzz/corpus + build/fuzz/corpus)"
run() {
  "$work/harness/chan_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -max_len=512 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" \
    "$work/corpus" "$ROOT/tests/fuzz/corpus"
}
# On a terminal libFuzzer's live progress is the point. Elsewhere (CI logs) its thousands of
# NEW/REDUCE/pulse lines would bury everything printed before them, so the whole output goes
# to build/fuzz/fuzz.log and only the rest (start, final stats, any crash report) is shown.
if [[ -t 2 ]]; then
  run "$@"
else
  status=0
  run "$@" >"$work/fuzz.log" 2>&1 || status=$?
  grep -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)[[:space:]]' "$work/fuzz.log" >&2 || true
  say "full libFuzzer output: build/fuzz/fuzz.log"
  exit "$status"
fi
