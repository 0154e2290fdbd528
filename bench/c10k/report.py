#!/usr/bin/env python3
"""bench/c10k/report.py — the table of `./gofer bench c10k` from run.sh's JSON lines.

  report.py --runs runs.jsonl --json out.json --md out.md [--meta key=value ...]
  report.py --line '<one JSON line>'      one short line, for run.sh's progress
"""
import argparse
import json


def errors(r):
    return sum(r["wrk"]["errors"].values())


def rps(r):
    return r["wrk"]["requests"] / (r["wrk"]["duration_us"] / 1e6)


def line(r):
    lat = r["wrk"]["latency_us"]
    return (f"{r['server']:<9} {r['case']:<30} c={r['conns']:<6} {rps(r):9.0f} req/s  "
            f"p50 {lat['p50'] / 1000:7.2f} ms  p99 {lat['p99'] / 1000:8.2f} ms  errors {errors(r)}  "
            f"rss {r['rss_kib'] / 1024:.0f} MiB  threads {r['threads']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs")
    ap.add_argument("--json")
    ap.add_argument("--md")
    ap.add_argument("--meta", action="append", default=[])
    ap.add_argument("--line")
    a = ap.parse_args()
    if a.line:
        print(line(json.loads(a.line)))
        return
    runs = [json.loads(l) for l in open(a.runs) if l.strip()]
    meta = dict(m.split("=", 1) for m in a.meta)
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "runs": runs}, f, indent=1)
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
    out.append("")
    out.append("errors: wrk's connect/read/write/timeout socket errors plus answers with status >= 400. "
               "RSS and threads: the server's, sampled in the middle of the run.")
    with open(a.md, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
