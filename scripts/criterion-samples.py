#!/usr/bin/env python3
"""Fastest and median time per iteration of criterion benchmarks, from their raw samples.

On a shared machine the mean drifts with other tenants' load; the fastest sample is the
closest to the code's own speed, the median says how far the rest were from it.

    scripts/criterion-samples.py page100/bare_scan page100/parse_normalize [--per 100]

Reads target/criterion/<name>/new/sample.json (the last run). With --per N, also prints
N / time as items per second (criterion's Throughput::Elements of the bench).
"""
import json
import sys
from pathlib import Path

args = sys.argv[1:]
per = None
if "--per" in args:
    i = args.index("--per")
    per = int(args[i + 1])
    del args[i : i + 2]
if not args:
    sys.exit(__doc__)
for name in args:
    path = Path("target/criterion") / name / "new" / "sample.json"
    data = json.loads(path.read_text())
    times = sorted(t / n for t, n in zip(data["times"], data["iters"]))
    fastest, median = times[0], times[len(times) // 2]
    line = f"{name}: fastest {fastest / 1e6:.3f} ms, median {median / 1e6:.3f} ms ({len(times)} samples)"
    if per:
        line += f"; {per / fastest * 1e9:,.0f}/s fastest, {per / median * 1e9:,.0f}/s median"
    print(line)
