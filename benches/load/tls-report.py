#!/usr/bin/env python3
"""Summarise a benches/load/tls.sh run as markdown tables.

Usage: tls-report.py RUN_DIR

Reads RUN_DIR/results.csv (one row per round, scenario and server) and
RUN_DIR/idle.csv (idle10k), writes RUN_DIR/results.json and prints markdown.
"""

import csv
import json
import os
import sys

from report_common import fmt, med, num

SCENARIO_TEXT = {
    "handshake": "full TLS 1.3 handshake + 1 KiB hit per connection (X25519)",
    "handshake_mlkem": "the same with X25519MLKEM768",
    "tls1k": "1 KiB hit, HTTP/1.1 over TLS, keep-alive",
    "h2tls1k": "1 KiB hit, h2 over TLS",
    "h3_1k": "1 KiB hit, HTTP/3",
}
UNIT = {"handshake": "conn/s", "handshake_mlkem": "conn/s"}
SERVERS = ["edgecache", "nginx"]


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def same_round_ratios(by, rounds, s, key, invert=False):
    out = []
    for k in rounds:
        a, b = by.get((k, s, "edgecache")), by.get((k, s, "nginx"))
        if not a or not b:
            continue
        x, y = num(a[key]), num(b[key])
        if x is not None and y:
            out.append(x / y)
    return med(out)


def main():
    run = sys.argv[1]
    rows = read_csv(os.path.join(run, "results.csv"))
    idle = read_csv(os.path.join(run, "idle.csv"))
    scenarios = []
    for r in rows:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    rounds = sorted({int(r["round"]) for r in rows} | {int(r["round"]) for r in idle})
    by = {(int(r["round"]), r["scenario"], r["server"]): r for r in rows}
    servers = [c for c in SERVERS if any(r["server"] == c for r in rows + idle)]

    summary = {"rounds": len(rounds), "scenarios": {}, "idle": {}}
    for s in scenarios:
        entry = {}
        for c in servers:
            rs = [by[(k, s, c)] for k in rounds if (k, s, c) in by]
            if not rs:
                continue
            cpu = med(num(r["cpu_us_each"]) for r in rs)
            entry[c] = {
                "rate": med(num(r["rate"]) for r in rs),
                "cpu_us_each": cpu,
                "user_us_each": med(num(r["user_us_each"]) for r in rs),
                "per_cpu_second": (1e6 / cpu) if cpu else None,
                "cpu_pct": med(num(r["cpu_pct"]) for r in rs),
                "cpu0_other_pct": med(
                    num(r["cpu0_busy_pct"]) - num(r["cpu_pct"])
                    if num(r["cpu0_busy_pct"]) is not None and num(r["cpu_pct"]) is not None else None
                    for r in rs),
                "cpu1_busy_pct": med(num(r["cpu1_busy_pct"]) for r in rs),
                "p50_ms": med(num(r["p50_ms"]) for r in rs),
                "p99_ms": med(num(r["p99_ms"]) for r in rs),
                "errors": sum(int(num(r["errors"]) or 0) for r in rs),
                "non2xx": sum(int(num(r["non2xx"]) or 0) for r in rs),
                "origin_fail_rounds": sum(1 for r in rs if r["origin_check"] == "FAIL"),
                "verdicts": sorted({r["warm_verdict"] for r in rs}),
                "n": len(rs),
                "rates": [num(r["rate"]) for r in rs],
            }
        if "edgecache" in entry and "nginx" in entry:
            entry["ratio"] = {
                "rate": same_round_ratios(by, rounds, s, "rate"),
                "cpu_us_each": same_round_ratios(by, rounds, s, "cpu_us_each"),
            }
        summary["scenarios"][s] = entry

    idle_by = {}
    for r in idle:
        idle_by[(int(r["round"]), r["server"])] = r
    for c in servers:
        rs = [idle_by[(k, c)] for k in rounds if (k, c) in idle_by]
        if rs:
            summary["idle"][c] = {
                "opened": med(num(r["opened"]) for r in rs),
                "errors": sum(int(num(r["errors"]) or 0) for r in rs),
                "established": med(num(r["established"]) for r in rs),
                "alive_after_hold": med(num(r["alive_after_hold"]) for r in rs),
                "rss_before_mib": med((num(r["rss_before_kb"]) or 0) / 1024 for r in rs),
                "rss_with_mib": med((num(r["rss_with_kb"]) or 0) / 1024 for r in rs),
                "rss_after_close_mib": med((num(r["rss_after_close_kb"]) or 0) / 1024 for r in rs),
                "kib_per_conn": med(num(r["kib_per_conn"]) for r in rs),
                "all_kib_per_conn": [num(r["kib_per_conn"]) for r in rs],
            }
    idle_ratio = None
    if "edgecache" in summary["idle"] and "nginx" in summary["idle"]:
        rr = []
        for k in rounds:
            a, b = idle_by.get((k, "edgecache")), idle_by.get((k, "nginx"))
            if a and b and num(a["kib_per_conn"]) is not None and num(b["kib_per_conn"]):
                rr.append(num(a["kib_per_conn"]) / num(b["kib_per_conn"]))
        idle_ratio = med(rr)
    summary["idle_ratio"] = idle_ratio

    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump({"rows": rows, "idle": idle, "summary": summary}, f, indent=1)

    out = []
    n = len(rounds)
    out.append(f"## TLS comparison ({n} round{'s' if n != 1 else ''}, run dir {run})")
    out.append("")

    # Targets of issue 12, same-round ratios edgecache/nginx.
    sc = summary["scenarios"]
    if any("ratio" in sc.get(s, {}) for s in scenarios) or idle_ratio is not None:
        out.append("### Against the targets (median of same-round ratios edgecache/nginx)")
        out.append("")
        out.append("| measurement | edgecache/nginx | target | met |")
        out.append("|---|---|---|---|")

        def row(label, v, target, ok):
            out.append(f"| {label} | {fmt(v)} | {target} | "
                       f"{'-' if v is None else ('yes' if ok(v) else 'NO')} |")

        if "ratio" in sc.get("handshake", {}):
            row("full TLS 1.3 handshakes/s (X25519 both)", sc["handshake"]["ratio"]["rate"],
                "≥ 1.3", lambda v: v >= 1.3)
            cr = sc["handshake"]["ratio"]["cpu_us_each"]
            row("handshakes per CPU-second of the server (1 / CPU µs per connection)",
                (1 / cr) if cr else None, "≥ 1.3", lambda v: v >= 1.3)
        for s in ("tls1k", "h2tls1k"):
            if "ratio" in sc.get(s, {}):
                row(f"{SCENARIO_TEXT[s]}: req/s", sc[s]["ratio"]["rate"], "≥ 1", lambda v: v >= 1)
                row(f"{SCENARIO_TEXT[s]}: CPU µs per request", sc[s]["ratio"]["cpu_us_each"],
                    "≤ 1", lambda v: v <= 1)
        if idle_ratio is not None:
            row("RSS per idle TLS connection", idle_ratio, "≤ 0.5", lambda v: v <= 0.5)
        out.append("")

    out.append("### Absolute medians")
    out.append("")
    out.append("Rate is connections/s for the handshake scenarios and requests/s otherwise; "
               "CPU µs is the server's (all its processes) per connection or request; "
               "per CPU-second = 1e6 / CPU µs, what one fully busy core would do.")
    out.append("")
    head = ["scenario", "server", "rate", "per round", "CPU µs each", "user µs", "kernel µs",
            "per CPU-second", "server CPU %", "CPU 0 other %", "CPU 1 busy %", "p50 ms", "p99 ms",
            "errors", "bad", "origin", "verdict"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for s in scenarios:
        for c in servers:
            v = sc[s].get(c)
            if not v:
                continue
            kern = (v["cpu_us_each"] - v["user_us_each"]
                    if v["cpu_us_each"] is not None and v["user_us_each"] is not None else None)
            origin = "FAIL" if v["origin_fail_rounds"] else "ok"
            out.append("| " + " | ".join([
                SCENARIO_TEXT.get(s, s), c, fmt(v["rate"]),
                " / ".join(fmt(x) for x in v["rates"]),
                fmt(v["cpu_us_each"]), fmt(v["user_us_each"]), fmt(kern),
                fmt(v["per_cpu_second"]), fmt(v["cpu_pct"]), fmt(v["cpu0_other_pct"]),
                fmt(v["cpu1_busy_pct"]), fmt(v["p50_ms"], 3), fmt(v["p99_ms"], 3),
                str(v["errors"]), str(v["non2xx"]), origin, ",".join(v["verdicts"]),
            ]) + " |")
    out.append("")

    if "h3_1k" in sc and "edgecache" in sc["h3_1k"]:
        out.append("### HTTP/3 beside h2 (edgecache)")
        out.append("")
        out.append("| protocol | req/s | CPU µs/req | server CPU % | CPU 1 (client) busy % | p50 ms | p99 ms |")
        out.append("|---|---|---|---|---|---|---|")
        for s, label in (("tls1k", "HTTP/1.1 over TLS"), ("h2tls1k", "h2 over TLS"), ("h3_1k", "HTTP/3")):
            v = sc.get(s, {}).get("edgecache")
            if v:
                out.append(f"| {label} | {fmt(v['rate'])} | {fmt(v['cpu_us_each'])} | {fmt(v['cpu_pct'])} "
                           f"| {fmt(v['cpu1_busy_pct'])} | {fmt(v['p50_ms'], 3)} | {fmt(v['p99_ms'], 3)} |")
        out.append("")

    if summary["idle"]:
        out.append("### Idle TLS connections (idle10k)")
        out.append("")
        out.append("| server | connections | errors | established at sample | alive after hold "
                   "| RSS before MiB | RSS with them MiB | RSS after they closed MiB | KiB per connection | per round |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for c, v in summary["idle"].items():
            out.append("| " + " | ".join([
                c, fmt(v["opened"]), str(v["errors"]), fmt(v["established"]),
                fmt(v["alive_after_hold"]), fmt(v["rss_before_mib"]), fmt(v["rss_with_mib"]),
                fmt(v["rss_after_close_mib"]), fmt(v["kib_per_conn"]),
                " / ".join(fmt(x) for x in v["all_kib_per_conn"]),
            ]) + " |")
        out.append("")

    notes = []
    noisy = sorted({c for s in scenarios for c, v in sc[s].items()
                    if c in SERVERS and (v["cpu0_other_pct"] or 0) > 5})
    if noisy:
        notes.append("WARNING: CPU 0 was more than 5% busy with work other than the server "
                     f"under test ({', '.join(noisy)}): the machine was not quiet.")
    for s in scenarios:
        for c, v in sc[s].items():
            if c in SERVERS and v["cpu_pct"] is not None and v["cpu_pct"] < 90:
                notes.append(f"NOTE: {s} {c}: the server used {fmt(v['cpu_pct'])}% of its core "
                             f"(CPU 1 {fmt(v['cpu1_busy_pct'])}% busy): the rate is bounded by the "
                             "client side, compare CPU µs each / per CPU-second.")
    if notes:
        out.extend(notes)
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
