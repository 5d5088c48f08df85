"""The real backend's cost: per-op overhead, and forklab verify on the catalog.

1. Per-op overhead: the median wall time of one `apply` of a cheap op (`block`
   and `unblock` of a signal: one system call in the probe) and of `observe`,
   over repeated ops in one run.
2. The wall time of `forklab verify` on the whole lesson catalog (median of a
   few runs; goal: under 20 s on a 2-core machine).

Run: python benchmarks/bench_real.py [--ops N] [--verify-runs N]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from forklab.real import RealBackend, real_backend_status
from forklab.scenario.parse import parse_text

SCENARIO = """
id = "overhead"
title = "cheap ops"
summary = "benchmark"

[[step]]
do = '''
repeat {n}: parent: block SIGUSR1
'''
"""


def per_op(n: int) -> tuple[float, float]:
    scenario = parse_text(SCENARIO.format(n=n), "bench")
    applies, observes = [], []
    with RealBackend().start(scenario) as run:
        for op in scenario.ops:
            start = time.perf_counter()
            run.apply(op)
            applies.append(time.perf_counter() - start)
        for _ in range(max(10, n // 10)):
            start = time.perf_counter()
            run.observe()
            observes.append(time.perf_counter() - start)
    return statistics.median(applies) * 1e6, statistics.median(observes) * 1e6


def verify_catalog(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "forklab", "verify"],
                              capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            print(done.stdout[-2000:], file=sys.stderr)
            raise SystemExit("forklab verify did not pass on the catalog")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ops", type=int, default=500)
    ap.add_argument("--verify-runs", type=int, default=3)
    args = ap.parse_args()
    ok, why = real_backend_status()
    if not ok:
        raise SystemExit(f"the real backend is unavailable: {why}")
    apply_us, observe_us = per_op(args.ops)
    print(f"apply of a cheap op: median {apply_us:.0f} us over {args.ops} ops")
    print(f"observe of one process: median {observe_us:.0f} us")
    times = verify_catalog(args.verify_runs)
    print(f"forklab verify on the catalog: median {statistics.median(times):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)}; goal < 20 s)")


if __name__ == "__main__":
    main()
