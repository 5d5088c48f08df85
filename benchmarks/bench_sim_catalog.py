"""How long the simulator takes over the lesson catalog and tests/scenarios.

Every file in lessons/ and tests/scenarios/ is parsed once, then run on the
simulator as `forklab run --backend sim` runs it (every step, every
expectation and answer judged, the default observations taken). One pass runs
them all; the figure is the median of N passes, parsing excluded. With
--profile, one more pass runs under cProfile and the costliest functions are
printed.

Run: python benchmarks/bench_sim_catalog.py [--passes N] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from pathlib import Path

from forklab.scenario.model import Scenario
from forklab.scenario.parse import parse_file
from forklab.sim import SimBackend
from forklab.verify import run_guarded

ROOT = Path(__file__).resolve().parent.parent
DIRECTORIES = (ROOT / "lessons", ROOT / "tests" / "scenarios")


def load() -> list[Scenario]:
    return [parse_file(path) for d in DIRECTORIES for path in sorted(d.glob("*.toml"))]


def one_pass(scenarios: list[Scenario]) -> float:
    """Seconds to run every scenario; a scenario the model refuses is a failed benchmark."""
    backend = SimBackend()
    start = time.perf_counter()
    for scenario in scenarios:
        result = run_guarded(backend, scenario)
        if result.error is not None:
            raise SystemExit(f"{scenario.id}: the model refused it: {result.error}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    scenarios = load()
    one_pass(scenarios)  # warm-up: imports, caches
    samples = [one_pass(scenarios) for _ in range(args.passes)]
    print(f"{len(scenarios)} scenarios, {args.passes} passes: median "
          f"{statistics.median(samples):.3f} s (min {min(samples):.3f}, "
          f"max {max(samples):.3f})")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(one_pass, scenarios)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
