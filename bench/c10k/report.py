#!/usr/bin/env python3
"""bench/c10k/report.py — the table and charts of `./gofer bench c10k` from run.sh's JSON lines.

  report.py --runs runs.jsonl --json out.json --md out.md [--meta key=value ...]
  report.py --from-json out.json --md out.md    redo the table and charts from a saved run
  report.py --line '<one JSON line>'      one short line, for run.sh's progress
  ... --results-md bench/RESULTS.md        also replace the block between the markers
                                          <!-- c10k-latest:begin --> and <!-- c10k-latest:end -->
                                          there with this run's summary (route × connections)

Charts (gnuplot, like the book's figures; skipped with a note if gnuplot is missing), beside
the .md: <stem>-latency.svg (p50 and p99 against connections, log scales, one line per
server and case) and <stem>-rps.svg (requests/s against connections).
"""
import argparse
import json
import os
import subprocess
import sys


def errors(r):
    return sum(r["wrk"]["errors"].values())


def rps(r):
    return r["wrk"]["requests"] / (r["wrk"]["duration_us"] / 1e6)


def line(r):
    lat = r["wrk"]["latency_us"]
    return (f"{r['server']:<9} {r['case']:<30} c={r['conns']:<6} {rps(r):9.0f} req/s  "
            f"p50 {lat['p50'] / 1000:7.2f} ms  p99 {lat['p99'] / 1000:8.2f} ms  errors {errors(r)}  "
            f"rss {r['rss_kib'] / 1024:.0f} MiB  threads {r['threads']}")


def series(runs):
    """{(server, case): [(conns, run), ...]} in first-seen order."""
    out = {}
    for r in runs:
        out.setdefault((r["server"], r["case"]), []).append((r["conns"], r))
    return out


def gnuplot(script):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, "stderr", "") or str(e)
        print(f"report: gnuplot failed, no charts: {err.strip()[:300]}", file=sys.stderr)
        return False


def charts(runs, stem):
    """Writes stem-latency.svg and stem-rps.svg; returns their file names (empty on failure)."""
    ser = series(runs)
    blocks, plots_lat, plots_rps = [], [], []
    for n, ((server, case), pts) in enumerate(ser.items()):
        rows = []
        for c, r in sorted(pts, key=lambda p: p[0]):
            if r["wrk"]["requests"] == 0:
                continue  # nothing answered: no latency to draw
            lat = r["wrk"]["latency_us"]
            rows.append(f"{c} {lat['p50'] / 1000:.3f} {lat['p99'] / 1000:.3f} {rps(r):.1f}")
        if not rows:
            continue
        blocks.append(f"$d{n} << EOD\n" + "\n".join(rows) + "\nEOD")
        title = f"{server}: {case}"
        dash = "" if server == "gofer" else (" dt 2" if server == "go" else " dt 3")
        plots_lat.append(f"$d{n} using 1:3 with linespoints lw 2{dash} title '{title} p99'")
        plots_lat.append(f"$d{n} using 1:2 with points pt 6 notitle")
        plots_rps.append(f"$d{n} using 1:4 with linespoints lw 2{dash} title '{title}'")
    if not blocks:
        return []
    head = "\n".join(blocks)
    common = ("set logscale x\nset xtics (100, 1000, 10000)\nset xlabel 'concurrent connections'\n"
              "set grid\nset key outside right top vertical noenhanced\n")
    lat_path, rps_path = stem + "-latency.svg", stem + "-rps.svg"
    ok = gnuplot(f"""{head}
set terminal svg size 1100,520 dynamic font 'sans,10' background '#ffffff'
set output '{lat_path}'
set title "latency against connections: p99 (lines) and p50 (circles), ms, log scale; lower is better"
{common}set logscale y
set ylabel 'ms'
plot {", ".join(plots_lat)}
""") and gnuplot(f"""{head}
set terminal svg size 1100,520 dynamic font 'sans,10' background '#ffffff'
set output '{rps_path}'
set title "requests per second against connections; higher is better"
{common}set ylabel 'requests/s'
plot {", ".join(plots_rps)}
""")
    return [os.path.basename(lat_path), os.path.basename(rps_path)] if ok else []


def goals(runs):
    """Issue 18's goals, from this run alone: gofer >= Go (requests/s) on every static and
    template row, and 0 errors at 10,000 connections (with requests answered)."""
    by = {(r["server"], r["case"], r["conns"]): r for r in runs}
    rows, met = [], True
    for (server, case, c), g in by.items():
        if server != "gofer" or case not in ("static", "template"):
            continue
        go = by.get(("go", case, c))
        if go is None:
            continue
        ratio = rps(g) / rps(go) if rps(go) > 0 else float("inf")
        ok = rps(g) >= rps(go)
        met = met and ok
        p99g, p99o = g["wrk"]["latency_us"]["p99"] / 1000, go["wrk"]["latency_us"]["p99"] / 1000
        rows.append(f"| {case} | {c} | {rps(g):.0f} | {rps(go):.0f} | {ratio:.2f} | {p99g:.0f} / {p99o:.0f} | "
                    f"{'yes' if ok else '**no**'} |")
    if not rows:
        return []
    out = ["", "Goal (issue 18): gofer >= Go on every static and template row (requests/s, this run):", "",
           "| route | connections | gofer req/s | Go req/s | gofer ÷ Go | p99 ms gofer / Go | met |",
           "|---|---:|---:|---:|---:|---|---|"] + rows
    big = [r for r in runs if r["conns"] >= 10000]
    if big:
        def bad(r):
            return errors(r) or r["wrk"]["requests"] == 0
        def why(r):
            return " (nothing answered)" if r["wrk"]["requests"] == 0 else f" ({errors(r)} errors)"
        goal_rows = [r for r in big if r["server"] == "gofer" and r["case"] in ("static", "template")]
        others = [f"{r['server']} {r['case']}" + why(r) for r in big if bad(r) and r not in goal_rows]
        failed = [f"{r['case']}" + why(r) for r in goal_rows if bad(r)]
        met = met and not failed
        out += ["", "At 10,000 connections, gofer's static and template rows: " +
                ("0 errors, answered." if not failed else "**" + "; ".join(failed) + "**.") +
                (" Other rows with errors: " + "; ".join(others) + "." if others else "")]
    out += ["", "Goal " + ("met" if met else "**not met**") + " on requests/s in this run (one repetition: "
            "compare ratios across runs before concluding)."]
    return out


def section(runs, meta, md_name):
    """The RESULTS.md block: one row per server and case, the three connection counts side
    by side, then the goal table; links to the full .md and charts beside it."""
    conns = sorted({r["conns"] for r in runs})
    head = (f"#### Latest `./gofer bench c10k`: {meta.get('date', '?')}, {meta.get('gofer_commit', '?')}, "
            f"{meta.get('cores', '?')} cores, gofer {meta.get('threads', '?')} threads = GOMAXPROCS, "
            f"load average {meta.get('load_before', '?')} before / {meta.get('load_after', '?')} after")
    out = [head, "",
           f"Written by the script (`bench/c10k/report.py --results-md`); wrk 1 thread, keep-alive, "
           f"{meta.get('duration_s', '?')} s per point"
           + (f" ({meta['long_duration_s']} s at 10,000 connections or more)" if 'long_duration_s' in meta else "")
           + f", one repetition, somaxconn {meta.get('somaxconn', '?')}, "
           f"open files {meta.get('fd_limit', '?')}. Full table and charts: [results/{md_name}](results/{md_name}).", "",
           "| server | case | " + " | ".join(f"{c:,} conns: req/s · p50 · p99 ms · errors" for c in conns) +
           " | RSS MiB |",
           "|---|---|" + "---|" * len(conns) + "---|"]
    for (server, case), pts in series(runs).items():
        d = dict(pts)
        cells = []
        for c in conns:
            r = d.get(c)
            if r is None:
                cells.append("–")
                continue
            lat = r["wrk"]["latency_us"]
            cells.append(f"{rps(r):.0f} · {lat['p50'] / 1000:.0f} · {lat['p99'] / 1000:.0f} · {errors(r)}")
        rss = " / ".join(f"{d[c]['rss_kib'] / 1024:.0f}" if c in d else "–" for c in conns)
        out.append(f"| {server} | {case} | " + " | ".join(cells) + f" | {rss} |")
    out += goals(runs)
    return out


def replace_block(path, lines):
    begin, end = "<!-- c10k-latest:begin -->", "<!-- c10k-latest:end -->"
    text = open(path).read()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        print(f"report: no {begin} ... {end} block in {path}; left it alone", file=sys.stderr)
        return False
    text = text[:i + len(begin)] + "\n" + "\n".join(lines) + "\n" + text[j:]
    with open(path, "w") as f:
        f.write(text)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs")
    ap.add_argument("--json")
    ap.add_argument("--md")
    ap.add_argument("--meta", action="append", default=[])
    ap.add_argument("--line")
    ap.add_argument("--from-json")
    ap.add_argument("--results-md")
    a = ap.parse_args()
    if a.line:
        print(line(json.loads(a.line)))
        return
    if a.from_json:
        saved = json.load(open(a.from_json))
        runs, meta = saved["runs"], saved["meta"]
    else:
        runs = [json.loads(l) for l in open(a.runs) if l.strip()]
        meta = dict(m.split("=", 1) for m in a.meta)
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "runs": runs}, f, indent=1)
    drawn = charts(runs, os.path.splitext(a.md)[0])
    out = ["# ./gofer bench c10k", ""]
    out += [f"- {k}: {v}" for k, v in meta.items()]
    out += ["", "| server | case | connections | requests/s | p50 ms | p99 ms | errors | RSS MiB | threads |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        lat = r["wrk"]["latency_us"]
        e = r["wrk"]["errors"]
        err = str(errors(r))
        if errors(r):
            err += " (" + ", ".join(f"{k} {v}" for k, v in e.items() if v) + ")"
        out.append(f"| {r['server']} | {r['case']} | {r['conns']} | {rps(r):.0f} | {lat['p50'] / 1000:.2f} | "
                   f"{lat['p99'] / 1000:.2f} | {err} | {r['rss_kib'] / 1024:.0f} | {r['threads']} |")
    out += goals(runs)
    out.append("")
    out.append("errors: wrk's connect/read/write/timeout socket errors plus answers with status >= 400. "
               "RSS and threads: the server's, sampled in the middle of the run.")
    if drawn:
        out.append("")
        out.append("Charts: " + ", ".join(f"[`{d}`]({d})" for d in drawn) + ".")
    with open(a.md, "w") as f:
        f.write("\n".join(out) + "\n")
    if a.results_md:
        replace_block(a.results_md, section(runs, meta, os.path.basename(a.md)))


if __name__ == "__main__":
    main()
