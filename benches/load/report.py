#!/usr/bin/env python3
"""Summarise a benches/load/compare.sh run as markdown tables.

Usage: report.py RUN_DIR [EDGECACHE_MEMORY_BYTES]

Reads RUN_DIR/results.csv (one row per round, scenario and cache) and
RUN_DIR/fill.csv, writes RUN_DIR/results.json and prints markdown to stdout.
"""

import csv
import json
import os
import sys

from report_common import fmt, med, num

SCENARIO_TEXT = {
    "hot1k": "hot 1 KiB hit",
    "hit16k": "16 KiB hit",
    "hit1m": "1 MiB hit",
    "spread100k": "hits over 100k keys",
    "full1m": "full cache: Zipf keys over 1M URLs (steady state, evicting)",
    "pass": "pass-through (no-store)",
    "h2c": "h2c 1 KiB hits",
    "churn": "connection churn (1 KiB hit, Connection: close)",
    "rate20k": "fixed rate, 1 KiB hit",
}
CACHE_ORDER = ["edgecache", "nginx", "varnish"]


def main():
    run = sys.argv[1]
    mem_bytes = int(sys.argv[2]) if len(sys.argv) > 2 else None
    rate = int(sys.argv[3]) if len(sys.argv) > 3 else None
    with open(os.path.join(run, "results.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    fills = []
    fill_path = os.path.join(run, "fill.csv")
    if os.path.exists(fill_path):
        with open(fill_path, newline="") as f:
            fills = list(csv.DictReader(f))

    scenarios = []
    for r in rows:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    caches = [c for c in CACHE_ORDER if any(r["cache"] == c for r in rows)]
    rounds = sorted({int(r["round"]) for r in rows})
    by = {(int(r["round"]), r["scenario"], r["cache"]): r for r in rows}

    summary = {"rounds": len(rounds), "scenarios": {}}
    for s in scenarios:
        entry = {}
        for c in caches:
            rs = [by[(k, s, c)] for k in rounds if (k, s, c) in by]
            if not rs:
                continue
            fails = [r for r in rs if r["origin_check"] == "FAIL"]
            entry[c] = {
                "rps": med(num(r["rps"]) for r in rs),
                "cpu_us_per_req": med(num(r["cpu_us_per_req"]) for r in rs),
                "user_us_per_req": med(num(r.get("user_us_per_req")) for r in rs),
                "cpu_pct": med(num(r["cpu_pct"]) for r in rs),
                "p50_ms": med(num(r["p50_ms"]) for r in rs),
                "p99_ms": med(num(r["p99_ms"]) for r in rs),
                "peak_rss_mib": med((num(r["peak_rss_kb"]) or 0) / 1024 for r in rs),
                # CPU 0 time not spent by the cache: other processes interfering.
                "cpu0_other_pct": med(
                    (num(r.get("cpu0_busy_pct")) - num(r["cpu_pct"]))
                    if num(r.get("cpu0_busy_pct")) is not None and num(r["cpu_pct"]) is not None
                    else None
                    for r in rs),
                "cpu1_busy_pct": med(num(r.get("cpu1_busy_pct")) for r in rs),
                "errors": sum(int(num(r["errors"]) or 0) for r in rs),
                "non2xx": sum(int(num(r["non2xx"]) or 0) for r in rs),
                "origin_requests_max": max(int(num(r["origin_requests"]) or 0) for r in rs),
                # Share of requests answered without the origin.
                "hit_ratio": med(
                    1 - (num(r["origin_requests"]) or 0) / num(r["requests"])
                    if num(r["requests"]) else None
                    for r in rs),
                "origin_fail_rounds": len(fails),
                "n": len(rs),
                "warm_verdicts": sorted({r["warm_verdict2"] for r in rs}),
            }
            if "nginx" in caches and c != "nginx":
                rr, cr = [], []
                for k in rounds:
                    a, b = by.get((k, s, c)), by.get((k, s, "nginx"))
                    if not a or not b:
                        continue
                    ar, br = num(a["rps"]), num(b["rps"])
                    if ar is not None and br:
                        rr.append(ar / br)
                    ac, bc = num(a["cpu_us_per_req"]), num(b["cpu_us_per_req"])
                    if ac is not None and bc:
                        cr.append(ac / bc)
                entry[c]["rps_ratio_to_nginx"] = med(rr)
                entry[c]["cpu_ratio_to_nginx"] = med(cr)
        summary["scenarios"][s] = entry
    summary["fill"] = fills

    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump({"rows": rows, "summary": summary}, f, indent=1)

    out = []
    others = [c for c in caches if c != "nginx"]
    n_rounds = len(rounds)
    out.append(f"## Load comparison ({n_rounds} round{'s' if n_rounds != 1 else ''}, run dir {run})")
    out.append("")
    if "nginx" in caches and others:
        out.append("### Same-round ratios to nginx (median over rounds)")
        out.append("")
        out.append("req/s ratio above 1 and CPU ratio below 1 favour the cache named first.")
        out.append("")
        head = ["scenario"]
        head += [f"{c}/nginx req/s" for c in others]
        head += [f"{c}/nginx CPU µs/req" for c in others]
        head += ["origin check"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for s in scenarios:
            e = summary["scenarios"][s]
            cells = [SCENARIO_TEXT.get(s, s)]
            cells += [fmt(e.get(c, {}).get("rps_ratio_to_nginx")) for c in others]
            cells += [fmt(e.get(c, {}).get("cpu_ratio_to_nginx")) for c in others]
            cells.append(check_text(s, e))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")

    out.append("### Absolute medians")
    out.append("")
    head = ["scenario", "cache", "req/s", "CPU µs/req", "of which user µs", "kernel µs", "cache CPU %", "CPU 0 other %",
            "CPU 1 busy %", "p50 ms", "p99 ms", "peak RSS MiB", "errors", "non-2xx",
            "origin reqs (max)", "hit ratio", "warm-up verdict"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for s in scenarios:
        for c in caches:
            v = summary["scenarios"][s].get(c)
            if not v:
                continue
            origin = str(v["origin_requests_max"])
            if v["origin_fail_rounds"]:
                origin += f" FAIL ({v['origin_fail_rounds']}/{v['n']} rounds)"
            out.append("| " + " | ".join([
                SCENARIO_TEXT.get(s, s), c, fmt(v["rps"]), fmt(v["cpu_us_per_req"]),
                fmt(v["user_us_per_req"]),
                fmt(v["cpu_us_per_req"] - v["user_us_per_req"]
                    if v["cpu_us_per_req"] is not None and v["user_us_per_req"] is not None
                    else None),
                fmt(v["cpu_pct"]), fmt(v["cpu0_other_pct"]), fmt(v["cpu1_busy_pct"]),
                fmt(v["p50_ms"], 3), fmt(v["p99_ms"], 3),
                fmt(v["peak_rss_mib"]), str(v["errors"]), str(v["non2xx"]), origin,
                fmt(v["hit_ratio"], 3), ",".join(v["warm_verdicts"]),
            ]) + " |")
    out.append("")
    notes = []
    noisy = sorted({c for s in scenarios for c, v in summary["scenarios"][s].items()
                    if (v["cpu0_other_pct"] or 0) > 5})
    if noisy:
        notes.append("WARNING: CPU 0 was more than 5% busy with work other than the cache "
                     f"under test ({', '.join(noisy)}): the machine was not quiet.")
    if rate and "rate20k" in summary["scenarios"]:
        for c, v in summary["scenarios"]["rate20k"].items():
            if v["rps"] is not None and v["rps"] < 0.97 * rate:
                notes.append(f"WARNING: fixed-rate scenario: {c} reached {fmt(v['rps'])} req/s "
                             f"of the {rate:,} target; its latencies are not at the target rate.")
    if notes:
        out.extend(notes)
        out.append("")

    if fills:
        out.append("### Memory for the 100k-key fill (1 KiB objects)")
        out.append("")
        out.append("| cache | fill s | non-200 | origin reqs | RSS before MiB | RSS after MiB "
                   "| RSS growth per object (bytes) | RSS after − configured memory tier MiB "
                   "| memory tier in use MiB |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for f in fills:
            before, after = num(f["rss_before_kb"]), num(f["rss_after_kb"])
            keys = num(f["keys"]) or 1
            per_obj = (after - before) * 1024 / keys if before is not None and after is not None else None
            minus_tier = "-"
            tier_used = "-"
            if f["cache"] == "edgecache":
                if mem_bytes and after is not None:
                    minus_tier = fmt(after / 1024 - mem_bytes / 1048576)
                used = num(f.get("ec_store_memory_bytes"))
                if used is not None:
                    tier_used = fmt(used / 1048576)
            out.append("| " + " | ".join([
                f["cache"], f["fill_s"], f["non_200"], f["origin_requests"],
                fmt(before / 1024 if before is not None else None),
                fmt(after / 1024 if after is not None else None),
                fmt(per_obj), minus_tier, tier_used,
            ]) + " |")
        out.append("")
    print("\n".join(out))


def check_text(s, e):
    if s == "pass":
        return "n/a (pass-through)"
    if s == "full1m":
        ratios = ", ".join(f"{c} {fmt(v['hit_ratio'], 3)}" for c, v in e.items())
        return f"n/a (full cache; hit ratio {ratios})"
    bad = [f"{c} FAIL ({v['origin_requests_max']} origin reqs)"
           for c, v in e.items() if v["origin_fail_rounds"]]
    return "; ".join(bad) if bad else "ok (0 origin reqs)"


if __name__ == "__main__":
    main()
