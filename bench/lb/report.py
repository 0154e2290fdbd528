#!/usr/bin/env python3
"""bench/lb/report.py — turns bench/lb/run.sh's runs into the results JSON and table.

  report.py --runs runs.jsonl --json out.json --md out.md [--meta key=value]...

The runs have bench/http/report.py's format (server is gofer, nginx or go; threads is the
balancer's threads/workers); its aggregate() computes the points. The table shows, per
(connections, balancer), the median requests/s over the repetitions with their range, the
ratios to Go's ReverseProxy and to nginx, the median p50/p99 and the errors.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
from report import aggregate, fmt_us  # noqa: E402  (bench/http/report.py)

ORDER = {"gofer": 0, "nginx": 1, "go": 2}
NAMES = {"gofer": "gofer loadbalancer", "nginx": "nginx upstream", "go": "Go ReverseProxy"}


def markdown(points, m):
    out = [f"### Load balancer: gofer vs nginx vs Go's ReverseProxy (wrk, loopback), {m.get('date', '')}\n",
           f"- **Machine:** {m.get('cpu')}, {m.get('cores')} cores, Linux {m.get('kernel')}, load average "
           f"{m.get('load_before')} before / {m.get('load_after')} after",
           f"- **Software:** gofer {m.get('gofer_commit')} (Release), nginx {m.get('nginx')}, Go {m.get('go')}, "
           f"wrk {m.get('wrk')}",
           f"- **Runs:** {m.get('duration_s')} s per point, {m.get('reps')} repetition(s), interleaved (gofer, "
           f"nginx, Go); a fresh balancer per run with {m.get('threads')} threads (gofer --threads, nginx "
           f"worker_processes, GOMAXPROCS); three Go back ends (GOMAXPROCS=1) answering \"hello\"; wrk -t2; "
           f"nothing pinned", ""]
    out.append("| conns | balancer | requests/s: median (min–max) | vs Go | vs nginx | p50 | p99 | max | errors | "
               "balancer CPU/req | peak RSS |")
    out.append("|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|")
    by = {(p["conns"], p["server"]): p for p in points}
    for p in sorted(points, key=lambda p: (p["conns"], ORDER.get(p["server"], 9))):
        ratio = lambda other: (f"{p['rps_median'] / by[(p['conns'], other)]['rps_median']:.2f}×"
                               if p["server"] != other and (p["conns"], other) in by
                               and by[(p["conns"], other)]["rps_median"] else "")
        err = ", ".join(f"{k} {v}" for k, v in p["errors"].items() if v) or "0"
        cpu = f"{p['server_cpu_us_per_request']:.1f} µs" if p["server_cpu_us_per_request"] else "–"
        exits = "" if p["server_exits"] == ["0"] else f" (exit {'/'.join(p['server_exits'])})"
        out.append(f"| {p['conns']:,} | {NAMES.get(p['server'], p['server'])}{exits} | "
                   f"{p['rps_median']:,.0f} ({p['rps_min']:,.0f}–{p['rps_max']:,.0f}) | {ratio('go')} | "
                   f"{ratio('nginx')} | {fmt_us(p['p50_us_median'])} | {fmt_us(p['p99_us_median'])} | "
                   f"{fmt_us(p['max_us'])} | {err} | {cpu} | {p['server_peak_rss_mib']:.0f} MiB |")
    out.append("")
    out.append("Legend: *conns* — wrk's keep-alive connections to the balancer; *vs Go / vs nginx* — this "
               "balancer's median requests/s over theirs at the same point; *p50/p99* — wrk's latency "
               "percentiles (median over repetitions), *max* the worst request; *errors* — wrk's socket errors "
               "and responses ≥ 400; *balancer CPU/req* — CPU time of the balancer's process tree (nginx: master "
               "and workers) during the run, per request; *peak RSS* — summed over that tree.")
    out.append("")
    out.append("Disclaimer: wrk, the balancer and the three back ends share the machine's cores, and the machine "
               "runs other work (see the load average): compare balancers at the same point, not across runs.")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--meta", action="append", default=[])
    a = ap.parse_args()
    runs = [json.loads(l) for l in open(a.runs) if l.strip()]
    meta = dict(kv.split("=", 1) for kv in a.meta)
    points = aggregate(runs)
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "points": points, "runs": runs}, f, indent=1)
        f.write("\n")
    md = markdown(points, meta)
    with open(a.md, "w") as f:
        f.write(md)
    sys.stdout.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
