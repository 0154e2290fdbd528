#!/usr/bin/env bash
# tools/thread_safety.sh — clang's -Wthread-safety over gofer's sources, as an error.
#
# gofer annotates every lock with what it guards (GOFER_GUARDED_BY, GOFER_REQUIRES, …:
# gofer/detail/thread_annotations.hpp); GCC ignores the annotations, clang checks them. This
# runs clang 14 in syntax-only mode over every translation unit of the library, the tests,
# the benchmarks and the demos listed in a build's compile_commands.json, with
# -Wthread-safety -Werror=thread-safety, and fails if any lock rule is broken.
#
#   tools/thread_safety.sh [build-dir] [regex]   (default: build/release, every file;
#                                                a regex limits it to matching paths)
#
# Files clang 14 cannot compile at all are listed in SKIP below with the reason; every
# other file must pass. Installs the Debian package clang if it is missing.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build/release}
ONLY=${2:-}
DB=$BUILD/compile_commands.json
[[ -f $DB ]] || { echo "thread_safety: no $DB (run ./gofer build first)" >&2; exit 2; }
"$ROOT/gofer" _install clang || exit 2  # Debian's clang 14; quiet when already there
command -v clang++ >/dev/null || { echo "thread_safety: clang++ not found: install the Debian package clang" >&2; exit 2; }

# Translation units clang 14 cannot parse, with the reason (checked with clang 14.0.6).
SKIP=(
)

# Boost.Stacktrace includes libbacktrace's <backtrace.h>, which Debian ships only in GCC's
# private include directory; clang gets just those two headers, not GCC's intrinsics.
shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
gcc_inc=$(dirname "$(gcc -print-file-name=include/backtrace.h)")
ln -s "$gcc_inc/backtrace.h" "$gcc_inc/backtrace-supported.h" "$shim/"

GOFER_TSA_ONLY=$ONLY python3 - "$DB" "$ROOT" "$shim" "${SKIP[@]}" <<'PY'
import json, os, re, shlex, subprocess, sys, concurrent.futures as cf
only = re.compile(os.environ.get("GOFER_TSA_ONLY") or ".")
db, root, shim, skip = sys.argv[1], sys.argv[2], sys.argv[3], set(sys.argv[4:])
cmds = json.load(open(db))
def clang_cmd(entry):
    args = shlex.split(entry["command"])
    out = ["clang++"]
    skip_next = False
    for a in args[1:]:
        if skip_next:
            skip_next = False
            continue
        if a in ("-o", "-MF", "-MT", "-include"):  # -include: CMake's GCC precompiled header
            skip_next = True
            continue
        if a in ("-c", "-MD", "-Winvalid-pch") or a.startswith("-fsanitize") or a == "-fno-sanitize-recover=undefined":
            continue
        out.append(a)
    out += ["-isystem", shim, "-fsyntax-only", "-Wno-everything", "-Wthread-safety", "-Werror=thread-safety"]
    return out
jobs, seen = [], set()
for e in cmds:
    f = e["file"]
    rel = f[len(root) + 1:] if f.startswith(root + "/") else f
    if not only.search(rel) or rel in seen or rel in skip or not rel.endswith(".cpp") or rel.startswith("build/"):
        continue
    seen.add(rel)
    jobs.append((rel, e["directory"], clang_cmd(e)))
failed = []
def run(job):
    rel, cwd, cmd = job
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return rel, p.returncode, p.stderr
with cf.ThreadPoolExecutor(max_workers=2) as ex:
    for rel, rc, err in ex.map(run, jobs):
        if rc != 0:
            failed.append(rel)
            sys.stderr.write(f"== {rel}\n{err}\n")
print(f"thread_safety: {len(jobs) - len(failed)} of {len(jobs)} files pass clang -Wthread-safety"
      + (f"; skipped {len(skip)} (see SKIP)" if skip else ""))
if failed:
    print("thread_safety: FAILED: " + " ".join(failed))
    sys.exit(1)
PY
