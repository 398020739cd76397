#!/usr/bin/env python3
"""Adds criterion's results to the bench results JSON.

  scripts/bench/criterion.py --results .bench/results.json --status ok|absent|failed \
      --since EPOCH_SECONDS [--criterion-dir target/criterion] [--log FILE] [--command CMD]

Reads every <criterion-dir>/**/new/estimates.json written after --since
(older ones belong to earlier runs and are ignored), with the benchmark's
id from benchmark.json beside it, and stores the median (and its 95%
confidence interval) and mean per benchmark under "criterion".
Standard library only.
"""
import argparse
import json
import os
import sys


def collect(root, since):
    out = []
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        est_path = os.path.join(dirpath, "estimates.json")
        if os.path.getmtime(est_path) < since:
            continue
        with open(est_path) as f:
            est = json.load(f)
        bench_id = os.path.relpath(os.path.dirname(dirpath), root)
        throughput = None
        bpath = os.path.join(dirpath, "benchmark.json")
        if os.path.exists(bpath):
            with open(bpath) as f:
                b = json.load(f)
            bench_id = b.get("full_id") or bench_id
            throughput = b.get("throughput")
        med = est["median"]
        out.append({
            "id": bench_id,
            "median_ns": med["point_estimate"],
            "median_ci_ns": [med["confidence_interval"]["lower_bound"],
                             med["confidence_interval"]["upper_bound"]],
            "mean_ns": est["mean"]["point_estimate"],
            "throughput": throughput,
        })
    return sorted(out, key=lambda r: r["id"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--status", required=True, choices=["ok", "absent", "failed", "skipped"])
    p.add_argument("--since", type=float, default=0)
    p.add_argument("--criterion-dir", default="target/criterion")
    p.add_argument("--log")
    p.add_argument("--command")
    a = p.parse_args()
    with open(a.results) as f:
        results = json.load(f)
    entry = {"status": a.status, "command": a.command, "log": a.log, "benchmarks": []}
    if a.status in ("ok", "failed") and os.path.isdir(a.criterion_dir):
        entry["benchmarks"] = collect(a.criterion_dir, a.since)
    if a.status == "failed" and a.log and os.path.exists(a.log):
        with open(a.log, errors="replace") as f:
            entry["log_tail"] = f.read().splitlines()[-15:]
    results["criterion"] = entry
    tmp = a.results + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, a.results)
    print(f"criterion: {a.status}, {len(entry['benchmarks'])} benchmark(s)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
