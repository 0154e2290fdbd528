#!/usr/bin/env python3
"""./gofer explore: run a gofer program under many seeded schedules, stop at the first failure.

    ./gofer explore <demo|exercise|program> [--runs N] [--seed S] [--yield P] [--trace]
                    [--timeout SECONDS] [--preset P] [--no-build] [-- program arguments...]

Each run sets GOFER_SCHEDULE=random:SEED:yield=P (gofer/runtime.hpp, gofer::schedule): one
scheduler thread, every scheduling choice and select choice drawn from a generator seeded
with SEED, and a yield with probability P at every safe point (PCT-style preemption), so
one seed is one interleaving and replays exactly. Seeds S, S+1, ... S+N-1 are tried in
order. A run fails when it exits non-zero or by a signal (a failed assertion, a panic, a
deadlock: gofer exits 2), prints a sanitizer report, or outlives --timeout (then SIGQUIT
makes gofer print every goroutine); for a demo, also when its output lacks the summary line
of chapters/demos.tsv. The first failure is printed with its seed and the command that
replays it; --trace reruns that seed with GOFER_TRACE and renders the SVG timeline
(tools/trace_svg) beside the Perfetto trace. Exit status: 0 no failure, 1 a failure found,
2 bad usage.

The target: a demo name (chapters/demos.tsv; built as demo_<name>), an exercise name
(exercises/info.json; built as ex_<name>), or the path of any program that uses gofer::run
(a test binary included: its gofer::testing::run calls follow GOFER_SCHEDULE too).
Python standard library only; builds go through ./gofer _build <preset> <target>.
"""
import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANITIZER = re.compile(r"ERROR: (Address|Leak|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error: |"
                       r"^panic: |^fatal error: ", re.M)


def die(msg, status=2):
    print(f"gofer explore: {msg}", file=sys.stderr)
    sys.exit(status)


def gofer_build(preset, target):
    p = subprocess.run([os.path.join(ROOT, "gofer"), "_build", preset, target])
    if p.returncode != 0:
        die(f"building {target} failed", 2)


def resolve(target, preset, build):
    """(argv0, expect regex or None, label) for a demo, an exercise or a program path."""
    demos = os.path.join(ROOT, "chapters", "demos.tsv")
    with open(demos) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if cols[0] == target:
                if build:
                    gofer_build(preset, f"demo_{target}")
                exe = os.path.join(ROOT, "build", preset, "chapters", cols[1], target)
                return exe, (cols[3] if len(cols) > 3 and cols[3] else None), f"demo {target}"
    with open(os.path.join(ROOT, "exercises", "info.json")) as f:
        for ex in json.load(f)["exercises"]:
            if ex["name"] == target:
                if build:
                    gofer_build(preset, f"ex_{target}")
                return os.path.join(ROOT, "build", preset, "exercises", "bin", target), None, f"exercise {target}"
    caller = os.environ.get("GOFER_CALLER_DIR", os.getcwd())
    if os.sep in target or os.path.isfile(os.path.join(caller, target)):
        exe = os.path.abspath(os.path.join(caller, target))
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            die(f"'{target}' is not an executable file")
        return exe, None, exe
    die(f"'{target}' is no demo (./gofer list), exercise (./gofer ex list) or program path")


def run_once(argv, env, timeout):
    """(status, output, timed_out): stdout and stderr interleaved as the program wrote them."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace"), False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGQUIT)  # gofer dumps every goroutine, then exits
            out, _ = p.communicate(timeout=3)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, _ = p.communicate()
        return p.returncode, out.decode(errors="replace"), True


def failure(status, out, timed_out, expect, timeout):
    """Why the run failed, or None."""
    if timed_out:
        return f"still running after {timeout:g} s (a hang; gofer's goroutine dump is in the output)"
    if status is not None and status < 0:
        return f"killed by signal {signal.Signals(-status).name}"
    if status != 0:
        return f"exit status {status}"
    m = SANITIZER.search(out)
    if m:
        return f"'{m.group(0).strip()}' in the output"
    if expect is not None and not re.search(expect, out, re.M):
        return f"the output lacks the summary line (regex {expect!r})"
    return None


def schedule(seed, p):
    return f"random:{seed}" + (f":yield={p:g}" if p > 0 else "")


def progress(done, total, seed, start):
    if not sys.stderr.isatty():
        return
    width = 30
    filled = width * done // total
    rate = done / max(time.monotonic() - start, 1e-9)
    sys.stderr.write(f"\r\033[K[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                     f"seed {seed}  {rate:.0f} runs/s")
    sys.stderr.flush()


def tail(text, n=40):
    lines = text.rstrip("\n").split("\n")
    if len(lines) > n:
        lines = [f"... ({len(lines) - n} lines before)"] + lines[-n:]
    return "\n".join("  " + l for l in lines)


def main():
    ap = argparse.ArgumentParser(prog="./gofer explore", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", help="demo name, exercise name or program path")
    ap.add_argument("--runs", type=int, default=1000, help="seeds to try (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--yield", dest="yield_p", type=float, default=0.1,
                    help="probability of a yield at each safe point (default 0.1; 0: none)")
    ap.add_argument("--timeout", type=float, default=20, help="seconds per run (default 20)")
    ap.add_argument("--trace", action="store_true",
                    help="rerun the failing seed with GOFER_TRACE: a Perfetto trace and an SVG timeline")
    ap.add_argument("--preset", default="release", help="build preset (default release)")
    ap.add_argument("--no-build", action="store_true", help="do not build the demo or exercise first")
    argv_in = sys.argv[1:]
    prog_args = []
    if "--" in argv_in:
        cut = argv_in.index("--")
        argv_in, prog_args = argv_in[:cut], argv_in[cut + 1:]
    a = ap.parse_args(argv_in)
    if a.runs < 1:
        die("--runs must be at least 1")
    if not 0 <= a.yield_p <= 1:
        die("--yield must be between 0 and 1")
    if a.seed < 0:
        die("--seed must be non-negative")
    exe, expect, label = resolve(a.target, a.preset, not a.no_build)
    argv = [exe] + prog_args

    caller = os.environ.get("GOFER_CALLER_DIR", os.getcwd())
    start = time.monotonic()
    for i in range(a.runs):
        seed = a.seed + i
        env = dict(os.environ, GOFER_SCHEDULE=schedule(seed, a.yield_p))
        env.pop("GOFER_TRACE", None)
        status, out, timed_out = run_once(argv, env, a.timeout)
        why = failure(status, out, timed_out, expect, a.timeout)
        progress(i + 1, a.runs, seed, start)
        if why is None:
            continue
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
        sched = schedule(seed, a.yield_p)
        print(f"FAILED: {label}, seed {seed} (run {i + 1} of {a.runs}): {why}")
        print(f"output:\n{tail(out)}")
        cmd = " ".join(shlex.quote(x) for x in argv)
        print(f"replay: GOFER_SCHEDULE={sched} {cmd}")
        rel = os.path.relpath(os.path.join(ROOT, "gofer"), caller)
        rel = os.path.join(ROOT, "gofer") if rel.startswith("..") else "./" + rel
        print(f"    or: {rel} explore {shlex.quote(a.target)} "
              f"--seed {seed} --runs 1" + (f" --yield {a.yield_p:g}" if a.yield_p != 0.1 else ""))
        if a.trace:
            write_trace(argv, sched, seed, a)
        return 1
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    print(f"ok: {label}: no failure in {a.runs} runs (seeds {a.seed}..{a.seed + a.runs - 1}, "
          f"yield {a.yield_p:g}) in {time.monotonic() - start:.1f} s")
    return 0


def write_trace(argv, sched, seed, a):
    base = os.path.join(os.environ.get("GOFER_CALLER_DIR", os.getcwd()), f"explore-seed{seed}")
    env = dict(os.environ, GOFER_SCHEDULE=sched, GOFER_TRACE=base + ".json")
    run_once(argv, env, a.timeout)
    if not os.path.isfile(base + ".json"):
        print("trace: the failing run wrote no trace (it exited before gofer::run returned)")
        return
    print(f"trace: {base}.json (open it in https://ui.perfetto.dev)")
    svg = os.path.join(ROOT, "build", a.preset, "tools", "trace_svg")
    if not os.path.isfile(svg) and not a.no_build:
        gofer_build(a.preset, "trace_svg")
    if os.path.isfile(svg) and subprocess.run([svg, base + ".json", base + ".svg"]).returncode == 0:
        print(f"timeline: {base}.svg")


if __name__ == "__main__":
    sys.exit(main())
