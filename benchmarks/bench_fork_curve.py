"""The fork curve on this machine, and whether forklab's numbers can be trusted.

1. `forklab bench` at 0, 64 MiB, 256 MiB and 1 GiB for every method: the
   medians, the model's predictions and their errors, and fork at 1 GiB
   against posix_spawn at 1 GiB (goal: fork at least 10x slower).
2. The harness adds nothing: bench's fork median at each size against a plain
   C loop that times fork() (benchmarks/fork_loop.c), run alternately, both
   pinned to one CPU, so that both see the same machine (goal: within 5%).
3. The noise of one measurement (what verify compares): for each method and
   size, the largest ratio of a single run to the median, among the middle
   90% of runs.

Run: python benchmarks/bench_fork_curve.py [--reps N] [--rounds N] [--png PATH]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from forklab.bench.cases import Case
from forklab.bench.measure import measure
from forklab.bench.report import plot, table, write_png
from forklab.bench.run import bench

SIZES = [0, 64 << 20, 256 << 20, 1 << 30]


def c_loop(size: int, reps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "fork_loop"
        subprocess.run(["cc", "-O2", "-o", str(exe), str(Path(__file__).with_name("fork_loop.c"))],
                       check=True)
        return float(subprocess.run([str(exe), str(size), str(reps)], check=True,
                                    capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()

    rows = bench(SIZES, reps=args.reps,
                 on_progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(table(rows), "\n", plot(rows), sep="\n")
    if args.png:
        write_png(rows, args.png)
    at = {(r.method, r.size): r.samples.median for r in rows}
    ratio = at[("fork", 1 << 30)] / at[("posix_spawn", 1 << 30)]
    print(f"\nfork / posix_spawn at 1 GiB: {at[('fork', 1 << 30)]:.0f} / "
          f"{at[('posix_spawn', 1 << 30)]:.0f} us = {ratio:.0f}x (goal >= 10x)")
    worst = max(rows, key=lambda r: abs(r.error))
    print(f"model vs measured: {sum(abs(r.error) <= 0.25 for r in rows)}/{len(rows)} within 25%, "
          f"{sum(r.agrees for r in rows)}/{len(rows)} within the tolerance; worst "
          f"{worst.method} at {worst.size >> 20} MiB {worst.error:+.0%}")

    # Both on one CPU, so neither gains from where the scheduler puts the child.
    cpu = min(os.sched_getaffinity(0))
    everywhere = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    print(f"\nbench's fork vs a plain C loop (medians of {args.rounds} rounds, alternating, "
          f"both on CPU {cpu}):")
    for size in SIZES:
        ours, plain = [], []
        for _ in range(args.rounds):
            ours.append(measure("fork", Case(size=size), args.reps).median)
            plain.append(c_loop(size, args.reps))
        a, b = statistics.median(ours), statistics.median(plain)
        print(f"  {size >> 20:>5} MiB  bench {a:9.1f} us  C loop {b:9.1f} us  "
              f"{(a - b) / b:+.1%}")
    os.sched_setaffinity(0, everywhere)

    print("\none measurement against its median (middle 90% of runs):")
    for r in rows:
        values = sorted(r.samples.values)
        cut = len(values) // 20
        middle = values[cut:len(values) - cut] or values
        med = r.samples.median
        spread = max(max(middle) / med, med / min(middle))
        print(f"  {r.method:<15} {r.size >> 20:>5} MiB  x{spread:.2f}  "
              f"(all: {min(values):.0f}-{max(values):.0f} us)")


if __name__ == "__main__":
    main()
