#!/usr/bin/env python3
"""bench/http/report.py — turns bench/http/run.sh's runs into the results JSON and table.

  report.py --line '<one run as JSON>'          one human-readable line (progress output)
  report.py --runs runs.jsonl --json out.json --md out.md [--meta key=value]...

Every run is one JSON object per line, written by run.sh:
  {"server": "gofer"|"go", "threads": T, "conns": C, "rep": R,
   "wrk": {requests, duration_us, bytes, errors{connect,read,write,timeout,status},
           latency_us{min,mean,p50,p90,p99,max}},
   "server_cpu_s": s, "server_peak_rss_kib": k, "wrk_cpu_s": s, "server_exit": "0"}
The table shows, per (connections, threads, server), the median over the repetitions and
the min-max range of requests/s; the median p50/p99; the sum of the errors.
"""
import argparse
import json
import statistics
import sys


def rps(run):
    return run["wrk"]["requests"] / (run["wrk"]["duration_us"] / 1e6)


def errors(run):
    return sum(run["wrk"]["errors"].values())


def fmt_us(us):
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:.2f} ms"
    return f"{us:.0f} µs"


def line(run):
    w = run["wrk"]
    e = w["errors"]
    err = ", ".join(f"{k} {v}" for k, v in e.items() if v) or "0 errors"
    return (f"{run['server']:5} threads {run['threads']} conns {run['conns']:>5} rep {run['rep']}: "
            f"{rps(run):9.0f} req/s  p50 {fmt_us(w['latency_us']['p50'])}  p99 {fmt_us(w['latency_us']['p99'])}  "
            f"{err}  server cpu {run['server_cpu_s']} s, exit {run['server_exit']}")


def aggregate(runs):
    groups = {}
    for r in runs:
        groups.setdefault((r["conns"], r["threads"], r["server"]), []).append(r)
    points = []
    for (conns, threads, server), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "gofer")):
        rates = [rps(r) for r in rs]
        reqs = sum(r["wrk"]["requests"] for r in rs)
        cpu = sum(r["server_cpu_s"] for r in rs)
        err = {k: sum(r["wrk"]["errors"][k] for r in rs) for k in rs[0]["wrk"]["errors"]}
        points.append({
            "conns": conns, "threads": threads, "server": server, "reps": len(rs),
            "rps_median": statistics.median(rates), "rps_min": min(rates), "rps_max": max(rates),
            "p50_us_median": statistics.median(r["wrk"]["latency_us"]["p50"] for r in rs),
            "p99_us_median": statistics.median(r["wrk"]["latency_us"]["p99"] for r in rs),
            "max_us": max(r["wrk"]["latency_us"]["max"] for r in rs),
            "errors": err, "errors_total": sum(err.values()),
            "server_cpu_us_per_request": cpu * 1e6 / reqs if reqs else None,
            "server_peak_rss_mib": max(r["server_peak_rss_kib"] for r in rs) / 1024,
            "wrk_cpu_share": statistics.median(r["wrk_cpu_s"] / (r["wrk"]["duration_us"] / 1e6) for r in rs),
            "server_exits": sorted({r["server_exit"] for r in rs}),
        })
    return points


def markdown(points, meta):
    m = meta
    out = []
    out.append(f"### HTTP hello world: gofer's hello-server vs Go's net/http (wrk, loopback), {m.get('date', '')}\n")
    out.append(f"- **Machine:** {m.get('cpu')}, {m.get('cores')} cores, Linux {m.get('kernel')}, "
               f"load average {m.get('load_before')} before / {m.get('load_after')} after")
    out.append(f"- **Software:** {m.get('compiler')}, Boost {m.get('boost')}, Go {m.get('go')}, wrk {m.get('wrk')}; "
               f"gofer {m.get('gofer_commit')}" + (" (lib/ had uncommitted changes)" if m.get('gofer_tree_dirty') == 'yes' else "")
               + f", Release build ({m.get('server_bin')})")
    out.append(f"- **Runs:** {m.get('duration_s')} s per point (3× that from 5,000 connections: the connect storm), "
               f"{m.get('reps')} repetition(s), interleaved "
               f"(gofer, Go, gofer, Go...); a fresh server per run; open-files limit {m.get('fd_limit')}, "
               f"somaxconn {m.get('somaxconn')}")
    out.append(f"- **Pinning:** {m.get('pinning')}")
    out.append("")
    out.append("| conns | threads | server | requests/s: median (min–max) | vs Go | p50 | p99 | max | errors | server CPU/req | peak RSS | wrk CPU |")
    out.append("|---:|---:|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
    go = {(p["conns"], p["threads"]): p for p in points if p["server"] == "go"}
    for p in points:
        ratio = ""
        g = go.get((p["conns"], p["threads"]))
        if p["server"] == "gofer" and g and g["rps_median"]:
            ratio = f"{p['rps_median'] / g['rps_median']:.2f}×"
        err = ", ".join(f"{k} {v}" for k, v in p["errors"].items() if v) or "0"
        cpu = f"{p['server_cpu_us_per_request']:.1f} µs" if p["server_cpu_us_per_request"] else "–"
        exits = "" if p["server_exits"] == ["0"] else f" (exit {'/'.join(p['server_exits'])})"
        out.append(f"| {p['conns']:,} | {p['threads']} | {p['server']}{exits} | "
                   f"{p['rps_median']:,.0f} ({p['rps_min']:,.0f}–{p['rps_max']:,.0f}) | {ratio} | "
                   f"{fmt_us(p['p50_us_median'])} | {fmt_us(p['p99_us_median'])} | {fmt_us(p['max_us'])} | {err} | "
                   f"{cpu} | {p['server_peak_rss_mib']:.0f} MiB | {p['wrk_cpu_share'] * 100:.0f} % |")
    out.append("")
    out.append("Legend: *conns* — wrk's keep-alive connections, all open for the whole run; *threads* — gofer's "
               "scheduler threads (`--threads`) = Go's GOMAXPROCS; *requests/s* — completed requests per second, "
               "median over the repetitions and their range; *vs Go* — gofer's median / Go's at the same point; "
               "*p50/p99* — wrk's latency percentiles (median over repetitions), *max* the worst single request; "
               "*errors* — wrk's connect/read/write/timeout socket errors and responses ≥ 400 (`status`), summed "
               "over the repetitions; *server CPU/req* — the server process's user+system CPU time during the wrk "
               "run divided by the requests; *peak RSS* — the server's VmHWM; *wrk CPU* — wrk's CPU time / "
               "duration (near 100 % means the load generator itself was the limit). A server that did not exit "
               "0 on SIGTERM (graceful shutdown) is marked with its exit status.")
    out.append("")
    out.append("Disclaimer: wrk and the server share the machine's cores (wrk: one thread on the last CPU; "
               "1-thread servers pinned to CPU 0, 2-thread servers unpinned, sharing wrk's CPU); the machine "
               "also runs other work (see the load average), so absolute numbers are rough and only the "
               "interleaved gofer/Go comparison at the same point is meaningful. Loopback only: no network, "
               "no TLS, a 6-byte body.")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--line")
    ap.add_argument("--runs")
    ap.add_argument("--json")
    ap.add_argument("--md")
    ap.add_argument("--meta", action="append", default=[])
    a = ap.parse_args()
    if a.line:
        print(line(json.loads(a.line)))
        return 0
    runs = [json.loads(l) for l in open(a.runs) if l.strip()]
    meta = dict(kv.split("=", 1) for kv in a.meta)
    points = aggregate(runs)
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "points": points, "runs": runs}, f, indent=1)
        f.write("\n")
    with open(a.md, "w") as f:
        f.write(markdown(points, meta))
    sys.stdout.write(markdown(points, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
