"""The regime: how cold a scenario's creating calls find the CPU's caches on the kernel.

forklab-bench times a call repeated in a loop of its own, with the caches warm
from the call before. A scenario's call on the real backend runs after
forklab's own work (the driver reading the probe's replies and /proc), which
leaves the caches partly cold: an empty fork measured there takes 70-130 us
where the loop's takes 45. The regime of a kind is that part, from 0 (as warm
as the loop) to 1 (as cold as after writing twice the last-level cache), and
the simulator starts every call's coldness there (forklab.sim.cost.coldness).

It is measured by running one scenario of creating calls from an empty parent
on the kernel and on the model (with no regime), and dividing how much slower
the kernel's median call is by what cold caches cost that kind.
"""
from __future__ import annotations

import statistics
from dataclasses import replace

from forklab.backend import Backend
from forklab.bench.measure import BenchError
from forklab.runner import run_scenario
from forklab.scenario.model import ScenarioError
from forklab.scenario.parse import parse_text
from forklab.sim import cost
from forklab.sim.backend import SimBackend

REPS, ROUNDS = 7, 3
CALLS = {"fork": "f", "vfork": "v", "spawn": "s"}
"""The kinds measured, and the name prefix of the children their calls make."""


def script() -> str:
    """REPS calls of each kind from a parent with nothing mapped, every child ended."""
    lines = [f"repeat {REPS}: parent: fork -> f"]
    lines += [f"f_{i}: _exit" for i in range(1, REPS + 1)]
    for i in range(1, REPS + 1):
        lines += [f"parent: vfork -> v_{i}", f"v_{i}: _exit"]
    lines.append(f"repeat {REPS}: parent: spawn /bin/true -> s")
    return ('id = "regime"\ntitle = "regime"\nsummary = "creating calls from an empty parent"\n'
            '[[step]]\ndo = """\n' + "\n".join(lines) + '\n"""\n')


def medians(backend: Backend) -> dict[str, float]:
    """The median spawn_us of each kind's calls over ROUNDS runs of the script (a burst
    of load then slows one run, not every call)."""
    scenario = parse_text(script(), "<regime>")
    times: dict[str, list[float]] = {kind: [] for kind in CALLS}
    for _ in range(ROUNDS):
        try:
            result = run_scenario(backend, scenario)
        except ScenarioError as err:
            raise BenchError(
                f"forklab: measuring the real backend's calls failed: {err.message}") from None
        if result.error is not None or not result.steps or result.steps[-1].world is None:
            why = result.error.message if result.error else "no result"
            raise BenchError(f"forklab: measuring the real backend's calls failed: {why}")
        processes = result.steps[-1].world.processes
        for kind, prefix in CALLS.items():
            times[kind] += [float(processes[f"{prefix}_{i}"].spawn_us or 0.0)
                            for i in range(1, REPS + 1)]
    return {kind: statistics.median(values) for kind, values in times.items()}


def regime(kernel_us: float, warm_us: float, cold_us: float) -> float:
    """The part of the cold cost the kernel's calls pay, from 0 to 1."""
    if cold_us <= 0:
        return 0.0
    return min(1.0, max(0.0, (kernel_us - warm_us) / cold_us))


def with_regime(coefficients: dict[str, cost.Coefficients],
                real: Backend) -> dict[str, cost.Coefficients]:
    """The coefficients, each measured kind given the regime the real backend shows."""
    warm = {kind: replace(c, regime=0.0) for kind, c in coefficients.items()}
    model = medians(SimBackend(warm))
    kernel = medians(real)
    return {**coefficients, **{
        kind: replace(coefficients[kind],
                      regime=regime(kernel[kind], model[kind], coefficients[kind].cold))
        for kind in CALLS}}
