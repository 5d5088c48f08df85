"""The throughput of `forklab fuzz`, and where its time goes.

1. Where the time goes: one worker runs --profile-n scenarios in this process
   with timers around each part: generating (the generator, which runs the
   model in step and snapshots it after each step), parsing the text, the
   kernel's run, the model's run (only for scenarios that disagree, and while
   shrinking), comparing, and the rest (reading the model's observations,
   shrinking).
2. The whole command: `forklab fuzz --n N --jobs J` in a subprocess, timed;
   prints scenarios/s; goal: 10,000 scenarios in 60 s on a 2-core machine.
   It also prints the CPU time of the whole process tree (the workers, the
   probes, the programs), which other work on a shared machine disturbs much
   less than the wall time: divided by the cores, the least wall time the
   run could take on an idle machine.

Disagreements found along the way are shrunk (that time is in the total, and
the summary says how much); their files go to a temporary directory.

Run: python benchmarks/bench_fuzz.py [--n 10000] [--jobs 2] [--profile-n 500] [--seed 0]
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def profile(n: int, seed: int) -> None:
    import forklab.scenario.parse as parse
    import forklab.testing.strategies as strategies
    import forklab.verify as verify
    from forklab import fuzz

    spent: collections.defaultdict[str, float] = collections.defaultdict(float)

    def timed(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return f(*args, **kw)
            finally:
                spent[name] += time.perf_counter() - start
        return wrapper

    run_guarded = verify.run_guarded

    def guarded(backend: Any, scenario: Any, on_step: Any = None) -> Any:
        start = time.perf_counter()
        try:
            return run_guarded(backend, scenario, on_step)
        finally:
            spent[f"verify: the {'model' if backend.name == 'sim' else 'kernel'} runs it"] += \
                time.perf_counter() - start

    verify.run_guarded = guarded
    strategies.generate = timed("generate: draw the script, the model in step",
                                strategies.generate)
    verify.compare = timed("verify: compare the two runs", verify.compare)
    fuzz_parse = timed("verify: parse the scenario", parse.parse_text)
    parse.parse_text = fuzz_parse
    found: list[Any] = []
    worker = fuzz._Worker(n, seed, dict(fuzz.STRATEGY),
                          lambda kind, value: found.append(value) if kind == "finding" else None)
    start = time.perf_counter()
    worker.run()
    total = time.perf_counter() - start
    print(f"one worker, {worker.ran} scenarios in {total:.1f} s: {worker.ran / total:.1f}/s "
          f"({len(found)} new disagreement(s) shrunk along the way)")
    accounted = 0.0
    for name, seconds in sorted(spent.items()):
        note = ""
        print(f"  {name:48s} {seconds:6.1f} s  {seconds / worker.ran * 1000:6.2f} ms/scenario"
              f"{note}")
        accounted += seconds
    rest = total - accounted
    print(f"  {'the rest: observations, shrinking':48s} {rest:6.1f} s  "
          f"{rest / worker.ran * 1000:6.2f} ms/scenario")


def whole(n: int, jobs: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "forklab", "fuzz", "--n", str(n),
                               "--jobs", str(jobs), "--seed", str(seed), "--out", out],
                              capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(done.stdout.rstrip())
    if done.returncode not in (0, 1):
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"forklab fuzz exited {done.returncode}")
    shrink = re.search(r"shrinking took ([0-9.]+) s", done.stdout)
    print(f"wall time {wall:.1f} s for {n} scenarios with {jobs} job(s): {n / wall:.1f}/s; "
          f"10,000 would take {10_000 / (n / wall):.0f} s (goal: 60)")
    if shrink:
        print(f"(of which shrinking, summed over the workers: {shrink.group(1)} s)")
    cores = len(os.sched_getaffinity(0))
    print(f"CPU time {cpu:.1f} s ({cpu / n * 1000:.1f} ms a scenario): at best "
          f"{cpu / cores:.1f} s on {cores} idle core(s); load average now "
          f"{os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--profile-n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from forklab.real import real_backend_status
    ok, why = real_backend_status()
    if not ok:
        raise SystemExit(f"the real backend is unavailable: {why}")
    print(f"{os.cpu_count()} CPUs; {why}")
    if args.profile_n:
        profile(args.profile_n, args.seed)
    if args.n:
        whole(args.n, args.jobs, args.seed)


if __name__ == "__main__":
    main()
