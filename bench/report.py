#!/usr/bin/env python3
"""bench/report.py — turns one `./gofer bench` run into JSON, a Markdown table and SVG charts.

Input (a work directory written by bench/bench.sh):
  r<round>-<binary>.json   Google Benchmark JSON (--benchmark_out), one process each
  r<round>-go.tsv          bench/go's output (name, procs, value, unit), one process each
  mem-*.json, mem-*.tsv    memory_per_goroutine, one fresh process per measurement
  machine.json             what bench.sh learnt about the machine (CPU, compiler, versions, load)

Output (--out DIR, --stem NAME):
  NAME.json               every sample, per implementation/scenario/threads, and the summary
  NAME.md                 the machine header, the tables (median and min-max), goals, legend
  NAME-threads1.svg, NAME-threads2.svg   ns/op per scenario per implementation (log scale)
  NAME-scaling.svg        mpmc_balanced: ns/item against scheduler threads and against pairs

Every sample is one process's figure (a Google Benchmark run or a Go testing.Benchmark);
medians, minima and maxima are over processes. gofer/Go ratios are medians of per-round
ratios (gofer's process and Go's process of the same round), with their min-max: the
spread that the two-core machine's mode flips cause.
"""
import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys

# Implementations in table order: (key, column title).
IMPLS = [
    ("gofer", "gofer chan"),
    ("go", "Go"),
    ("worker_pool", "gofer worker_pool"),
    ("boost_fiber", "Boost.Fiber"),
    ("moodycamel_fiber", "moodycamel in goroutines"),
    ("moodycamel_thread", "moodycamel threads"),
    ("mutex_cv_thread", "mutex+condvar threads"),
    ("absl_thread", "absl::Mutex threads"),
    ("user", "yours"),
    ("std", "std::mutex"),
]
CXX_IMPLS = sorted((k for k, _ in IMPLS if k != "go"), key=len, reverse=True)

# Goals of issue #6: (scenario regexp, threads, implementation, max ratio to Go).
GOALS = [
    (r"ping_pong_unbuffered$", 1, "gofer", 0.6),
    (r"ping_pong_unbuffered$", 2, "gofer", 0.8),
    (r"spsc_buffered/cap:\d+$", 1, "gofer", 0.7),
    (r"spsc_buffered/cap:\d+$", 2, "gofer", 0.8),
    (r"mpmc_balanced/pairs:4$", 1, "gofer", 0.8),
    (r"mpmc_balanced/pairs:4$", 2, "gofer", 0.8),
    (r"select_fan_in_\w+/channels:\d$", 1, "gofer", 0.8),
    (r"select_fan_in_\w+/channels:\d$", 2, "gofer", 0.8),
    (r"spawn/n:\d+$", 1, "gofer", 0.5),
    (r"spawn/n:\d+$", 2, "gofer", 0.8),
    (r"pool_throughput/jobs:\d+$", 1, "worker_pool", 0.8),
    (r"pool_throughput/jobs:\d+$", 1, "gofer", 0.8),
    (r"pool_throughput/jobs:\d+$", 2, "gofer", 0.8),
    (r"pool_throughput/jobs:\d+$", 2, "worker_pool", 0.8),
    (r"memory_per_goroutine/n:\d+$", 1, "gofer", 1.6),
    (r"memory_per_goroutine/n:\d+$", 2, "gofer", 1.6),
]

# Scenario order in the tables (prefix match), then alphabetical within.
ORDER = ["ping_pong", "spsc", "mpmc", "select_fan_in_buffered", "select_fan_in_unbuffered",
         "pool", "spawn", "memory", "timer", "after", "mutex"]

LEGEND = """\
- **gofer chan**: `gofer::chan` between goroutines on gofer's M:N scheduler (threads = GOMAXPROCS).
- **Go**: the same scenario in Go (bench/go/main.go, `testing.Benchmark`, GOMAXPROCS = threads).
- **gofer worker_pool**: `gofer::worker_pool<int,int>` (8 workers, queue 128, a future per job,
  the futures streamed through a `chan` of capacity 128). Only `pool_throughput`.
- **Boost.Fiber**: raw `boost::fibers::unbuffered_channel` / `buffered_channel` on one thread with
  Boost's `round_robin` scheduler; no multi-threaded runs. `buffered_channel` needs a power of two
  and holds one less: cap 1 → 2 (holds 1), 64 → 64 (holds 63), 1024 → 1024 (holds 1023).
- **moodycamel in goroutines**: `moodycamel::ConcurrentQueue` between gofer goroutines; an empty
  queue is polled with `gofer::yield()`. Unbounded (cap is ignored; "unbuffered" is a queue too).
- **moodycamel threads**: `moodycamel::BlockingConcurrentQueue` between `std::thread`s (a
  lock-free queue plus a semaphore). Unbounded, like the above.
- **mutex+condvar threads** / **absl::Mutex threads**: a bounded `std::deque` under `std::mutex` +
  two `std::condition_variable`s / under `absl::Mutex` with `LockWhen(Condition)`, between
  `std::thread`s; cap 0 is a rendezvous (the sender waits until its item is taken).
- Thread-based implementations: threads = the number of CPUs every thread is pinned to
  (`sched_setaffinity`); their task count is the scenario's (2 for ping-pong, 2×pairs, 10 for the pool).
- **yours** (with `--impl FILE[:TEMPLATE]`, see "Your queue" above): your class template's `put`
  and `take` between gofer goroutines (bench/user_queue.hpp); cap 0 is whatever your queue makes of it.
- **std::mutex**: `std::mutex` lock+unlock on a plain thread (baseline of `mutex_uncontended`).
- Empty cell: the implementation cannot run the scenario (no `select` outside gofer and Go; no
  goroutine memory figure for thread queues; Boost.Fiber single-threaded) or was not run.
- Units: ns per item (spsc, mpmc, select, pool: per job), per round trip (ping-pong), per
  goroutine (spawn), per operation (timers, mutexes); memory: bytes of RSS per parked goroutine.
- Cells: median (min–max) over processes; ratio: median over rounds of gofer's figure ÷ Go's
  figure from the same round (min–max over rounds)."""

DISCLAIMER = ("Numbers from one shared 2-core KVM guest; other load on the machine inflates them and "
              "moves them between runs — compare within a run, not across machines.")


def parse_cxx_name(name):
    """BM_<impl>_<scenario>[/k:v...]/threads:N[/...] -> (impl, key, threads) or None."""
    if not name.startswith("BM_"):
        return None
    parts = name[3:].split("/")
    head = parts[0]
    impl = next((i for i in CXX_IMPLS if head.startswith(i + "_")), None)
    if impl is None:
        return None
    scenario = head[len(impl) + 1:]
    params, threads = [], 1
    for p in parts[1:]:
        if ":" not in p:
            continue  # process_time, real_time
        k, v = p.split(":", 1)
        if k == "threads":
            threads = int(v)
        elif k != "iterations":
            params.append(p)
    return impl, "/".join([scenario] + params), threads


def cxx_value(b):
    """ns per item (1e9 / items_per_second), else real time per iteration in ns; memory in B."""
    if "bytes_per_goroutine" in b:
        return float(b["bytes_per_goroutine"]), "B/goroutine"
    if b.get("items_per_second"):
        return 1e9 / float(b["items_per_second"]), "ns/op"
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    return float(b["real_time"]) * scale, "ns/op"


def load(work):
    """-> samples: {(impl, key, threads): [(round, value)]}, units: {key: unit}, context."""
    samples, units, context = {}, {}, {}

    def add(impl, key, threads, rnd, value, unit):
        samples.setdefault((impl, key, threads), []).append((rnd, value))
        units[key] = unit

    for path in sorted(glob.glob(os.path.join(work, "*.json"))):
        base = os.path.basename(path)
        if base == "machine.json":
            continue
        m = re.match(r"(?:r|mem)(\d+)-", base)
        rnd = int(m.group(1)) if m else 0
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError:
                print(f"report: skipping unreadable {base}", file=sys.stderr)
                continue
        context = data.get("context", context)
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                continue
            parsed = parse_cxx_name(b["name"])
            if parsed:
                value, unit = cxx_value(b)
                add(*parsed, rnd, value, unit)
    for path in sorted(glob.glob(os.path.join(work, "*.tsv"))):
        m = re.match(r"(?:r|mem)(\d+)-", os.path.basename(path))
        rnd = int(m.group(1)) if m else 0
        with open(path) as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) != 4 or cols[0] == "name" or cols[0].endswith("_median"):
                    continue
                add("go", cols[0], int(cols[1]), rnd, float(cols[2]), cols[3])
    return samples, units, context


def order_key(key):
    for i, prefix in enumerate(ORDER):
        if key.startswith(prefix):
            # numeric parameters sort numerically
            nums = [int(n) for n in re.findall(r":(\d+)", key)]
            return (i, re.sub(r":\d+", "", key), nums)
    return (len(ORDER), key, [])


def fmt(v):
    if v >= 100000:
        return f"{v / 1000:.0f}k"
    if v >= 1000:
        return f"{v / 1000:.1f}k"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def summary(vals):
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def cell(s):
    if not s:
        return ""
    if s["n"] == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def ratio(samples, impl, key, threads):
    """Per-round ratios impl/go -> summary, or None."""
    a = dict(samples.get((impl, key, threads), []))
    b = dict(samples.get(("go", key, threads), []))
    rs = [a[r] / b[r] for r in sorted(set(a) & set(b)) if b[r] > 0]
    if not rs:
        # rounds not paired (e.g. different processes for memory): ratio of medians
        if a and b and statistics.median(b.values()) > 0:
            return summary([statistics.median(a.values()) / statistics.median(b.values())])
        return None
    return summary(rs)


def goal_for(key, threads, impl="gofer"):
    for pat, t, gimpl, limit in GOALS:
        if t == threads and gimpl == impl and re.search(pat, key):
            return limit
    return None


def markdown(samples, units, machine, stem):
    rows = sorted({(k, t) for (_, k, t) in samples}, key=lambda kt: (order_key(kt[0]), kt[1]))
    present = [(k, title) for k, title in IMPLS if any(i == k for (i, _, _) in samples)]
    out = []
    out.append(f"_{DISCLAIMER}_\n")
    out.append("| | |\n| --- | --- |")
    for label, key in [("Date", "date"), ("Host", "host"), ("CPU", "cpu"), ("Cores", "cores"),
                       ("Kernel", "kernel"), ("Compiler", "compiler"), ("Flags", "flags"),
                       ("Boost", "boost"), ("Go", "go"), ("Google Benchmark", "benchmark"),
                       ("Rounds", "rounds"), ("Load average", "load"), ("Your queue", "user")]:
        if machine.get(key):
            out.append(f"| {label} | {machine[key]} |")
    out.append("")
    out.append("### All results\n")
    out.append("| scenario | threads | " + " | ".join(t for _, t in present) + " | gofer ÷ Go |")
    out.append("| --- | ---: | " + " | ".join("---:" for _ in present) + " | ---: |")
    for key, threads in rows:
        cells = [cell(summary([v for _, v in samples[(i, key, threads)]]) if (i, key, threads) in samples else None)
                 for i, _ in present]
        r = ratio(samples, "gofer", key, threads)
        rtxt = ""
        if r:
            rtxt = f"{r['median']:.2f}" + (f" ({r['min']:.2f}–{r['max']:.2f})" if r["n"] > 1 else "")
        unit = "" if units.get(key) == "ns/op" else f" [{units.get(key)}]"
        out.append(f"| `{key}`{unit} | {threads} | " + " | ".join(cells) + f" | {rtxt} |")
    out.append("")
    out.append("### Goals (ratio to Go in the same run)\n")
    out.append("| scenario | threads | implementation | gofer | Go | ratio (spread over rounds) | goal | |")
    out.append("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    goals = []
    for key, threads in rows:
        for impl in ("gofer", "worker_pool"):
            limit = goal_for(key, threads, impl)
            if limit is None or (impl, key, threads) not in samples or ("go", key, threads) not in samples:
                continue
            r = ratio(samples, impl, key, threads)
            met = r["median"] <= limit
            goals.append({"scenario": key, "threads": threads, "impl": impl, "ratio": r, "goal": limit, "met": met})
            g = summary([v for _, v in samples[(impl, key, threads)]])
            go = summary([v for _, v in samples[("go", key, threads)]])
            spread = f" ({r['min']:.2f}–{r['max']:.2f})" if r["n"] > 1 else ""
            out.append(f"| `{key}` | {threads} | {impl} | {fmt(g['median'])} | {fmt(go['median'])} | "
                       f"{r['median']:.2f}{spread} | ≤ {limit} | {'met' if met else '**missed**'} |")
    out.append("")
    out.append(f"Charts: [`{stem}-threads1.svg`]({stem}-threads1.svg), "
               f"[`{stem}-threads2.svg`]({stem}-threads2.svg), [`{stem}-scaling.svg`]({stem}-scaling.svg).\n")
    out.append("### Legend\n")
    legend = LEGEND
    if not any(k == "user" for k, _ in present):  # no --impl: no "yours" entry
        legend = re.sub(r"- \*\*yours\*\*.*?\n(?=- )", "", legend, flags=re.S)
    out.append(legend)
    out.append("")
    return "\n".join(out), goals


def gnuplot(script):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, "stderr", "") or str(e)
        print(f"report: gnuplot failed, no charts: {err.strip()[:500]}", file=sys.stderr)
        return False


# One colour per implementation in every chart.
COLORS = ["#1f77b4", "#2ca02c", "#17becf", "#9467bd", "#ff7f0e", "#d62728", "#8c564b", "#e377c2", "#7f7f7f"]


def color(impl):
    keys = [k for k, _ in IMPLS]
    return f"rgb '{COLORS[keys.index(impl) % len(COLORS)]}'"


def med(samples, impl, key, threads):
    s = samples.get((impl, key, threads))
    return statistics.median(v for _, v in s) if s else None


def bar_chart(samples, units, threads, path):
    keys = sorted({k for (_, k, t) in samples if t == threads and units.get(k) == "ns/op"}, key=order_key)
    impls = [(i, t) for i, t in IMPLS if any((i, k, threads) in samples for k in keys)]
    if not keys or not impls:
        return
    data = []
    for k in keys:
        vals = [med(samples, i, k, threads) for i, _ in impls]
        data.append('"' + k + '" ' + " ".join("NaN" if v is None else f"{v:.3f}" for v in vals))
    width = max(900, 28 * len(keys) * max(1, len(impls)) // 2)
    script = f"""
set terminal svg size {width},560 dynamic font 'sans,10' background '#ffffff'
set output '{path}'
set title "ns/op per scenario, {threads} thread{'s' if threads > 1 else ''} (median over processes; log scale; lower is better)"
set datafile missing 'NaN'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set ylabel 'ns/op'
set grid ytics
set xtics rotate by -35 left noenhanced
set key outside right top vertical noenhanced
set bmargin 10
$data << EOD
{chr(10).join(data)}
EOD
plot {", ".join(f"$data using {n + 2}:xtic(1) lc {color(i)} title '{t}'" for n, (i, t) in enumerate(impls))}
"""
    gnuplot(script)


def scaling_chart(samples, path):
    threads_key = "mpmc_balanced/pairs:4"
    pair_keys = sorted({k for (_, k, t) in samples if k.startswith("mpmc_balanced/pairs:")}, key=order_key)
    impls = [(i, t) for i, t in IMPLS if any(i == s[0] and s[1].startswith("mpmc") for s in samples)]
    if not impls:
        return
    blocks, plots1, plots2 = [], [], []
    for n, (impl, title) in enumerate(impls):
        rows = [(t, med(samples, impl, threads_key, t)) for t in (1, 2, 3, 4)]
        rows = [(t, v) for t, v in rows if v is not None]
        if rows:
            blocks.append(f"$t{n} << EOD\n" + "\n".join(f"{t} {v:.3f}" for t, v in rows) + "\nEOD")
            plots1.append(f"$t{n} using 1:2 with linespoints lw 2 lc {color(impl)} pt {n + 1} title '{title}'")
        rows = [(int(k.split(":")[1]), med(samples, impl, k, 2)) for k in pair_keys]
        rows = [(p, v) for p, v in rows if v is not None]
        if rows:
            blocks.append(f"$p{n} << EOD\n" + "\n".join(f"{p} {v:.3f}" for p, v in rows) + "\nEOD")
            plots2.append(f"$p{n} using 1:2 with linespoints lw 2 lc {color(impl)} pt {n + 1} title '{title}'")
    script = f"""
set terminal svg size 1100,460 dynamic font 'sans,10' background '#ffffff'
set output '{path}'
{chr(10).join(blocks)}
set multiplot layout 1,2 title "mpmc\\\\_balanced: ns per item (median over processes; log scale; lower is better)"
set logscale y
set grid
set key top left noenhanced
set title 'pairs:4 (4 producers x 4 consumers) against threads'
set xlabel 'scheduler threads (thread queues: CPUs)'
set xtics 1
set xrange [0.8:4.2]
plot {", ".join(plots1)}
set title 'pairs sweep at 2 threads'
set xlabel 'producer/consumer pairs'
set logscale x 2
set xrange [0.8:20]
set xtics (1,2,4,8,16)
plot {", ".join(plots2)}
unset multiplot
"""
    gnuplot(script)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="directory with the raw results")
    ap.add_argument("--out", required=True, help="directory for NAME.json, NAME.md and the SVGs")
    ap.add_argument("--stem", required=True, help="NAME: <date>-<host>")
    args = ap.parse_args()

    samples, units, context = load(args.work)
    if not samples:
        sys.exit("report: no results in " + args.work)
    with open(os.path.join(args.work, "machine.json")) as f:
        machine = json.load(f)
    machine.setdefault("boost", context.get("boost", ""))
    machine.setdefault("benchmark", context.get("library_version", ""))
    if not machine.get("compiler"):
        machine["compiler"] = context.get("compiler", "")
    os.makedirs(args.out, exist_ok=True)
    md, goals = markdown(samples, units, machine, args.stem)
    with open(os.path.join(args.out, args.stem + ".md"), "w") as f:
        f.write(f"# gofer benchmarks: {args.stem}\n\n" + md)
    results = []
    for (impl, key, threads), vals in sorted(samples.items()):
        results.append({"impl": impl, "scenario": key, "threads": threads, "unit": units[key],
                        "samples": [{"round": r, "value": v} for r, v in vals],
                        **summary([v for _, v in vals])})
    with open(os.path.join(args.out, args.stem + ".json"), "w") as f:
        json.dump({"machine": machine, "results": results, "goals": goals}, f, indent=1)
        f.write("\n")
    for t in (1, 2):
        bar_chart(samples, units, t, os.path.join(args.out, f"{args.stem}-threads{t}.svg"))
    scaling_chart(samples, os.path.join(args.out, f"{args.stem}-scaling.svg"))
    print(os.path.join(args.out, args.stem + ".md"))


if __name__ == "__main__":
    main()
