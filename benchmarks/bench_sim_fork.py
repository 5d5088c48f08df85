"""How the simulator's cost grows with process size (it must not).

Two figures, medians over repeated runs in one process:
1. the simulated fork of a process with 64 GiB written (goal: under 5 ms);
2. `forklab run` of a scenario that maps, writes and forks SIZE, at 64 GiB
   against 64 MiB (goal: ratio at most 1.5).

Run: python benchmarks/bench_sim_fork.py [--repeat N]
"""
from __future__ import annotations

import argparse
import statistics
import time

from forklab.runner import run_scenario
from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend
from forklab.sim.kernel import Kernel

SCENARIO = """
id = "big"
title = "map, write and fork {size}"
summary = "benchmark"

[[step]]
do = '''
parent: mmap heap {size}
parent: write heap
parent: fork -> child
child: write heap[0:16p]
'''
expect = ["child.heap.shared_with(parent) == parent.heap.present - 16"]
"""


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def fork_only(size: str, repeat: int) -> float:
    scenario = parse_text(SCENARIO.format(size=size), "bench")
    samples = []
    for _ in range(repeat):
        kernel = Kernel(scenario)
        ops = scenario.steps[0].ops
        kernel.apply(ops[0])
        kernel.apply(ops[1])
        start = time.perf_counter()
        kernel.apply(ops[2])
        samples.append(time.perf_counter() - start)
    return median_ms(samples)


def whole_run(size: str, repeat: int) -> float:
    scenario = parse_text(SCENARIO.format(size=size), "bench")
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run_scenario(SimBackend(), scenario)
        samples.append(time.perf_counter() - start)
        assert result.ok, "the benchmark scenario's expectation must hold"
    return median_ms(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=51)
    repeat = ap.parse_args().repeat
    fork_64g = fork_only("64GiB", repeat)
    small, big = whole_run("64MiB", repeat), whole_run("64GiB", repeat)
    print(f"simulated fork, 64 GiB written: median {fork_64g:.3f} ms (goal < 5 ms)")
    print(f"forklab run, 64 MiB: median {small:.3f} ms")
    print(f"forklab run, 64 GiB: median {big:.3f} ms")
    print(f"ratio 64 GiB / 64 MiB: {big / small:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
