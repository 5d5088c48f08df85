"""Helpers for the real-kernel tests: run a scenario of step scripts on the kernel."""
from __future__ import annotations

from collections.abc import Iterator

from scenario_text import scenario_text

from forklab.observe import World, default_observations

NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]
"""setpriv's arguments to run a command as the user nobody (tests run as root)."""


def run_with(*steps: str, first: str = "parent", timeout: float = 30.0):
    """Run a scenario of these step scripts on the kernel, yielding (run, World)
    after each step (the World's queries answer until the next step runs)."""
    from forklab.real.backend import RealBackend
    from forklab.scenario.parse import parse_text

    scenario = parse_text(scenario_text(*steps, first=first))
    with RealBackend(timeout=timeout).start(scenario) as run:
        for step in scenario.steps:
            for op in step.ops:
                run.apply(op)
            yield run, run.observe()


def run_steps(*steps: str, **kw) -> Iterator[World]:
    """Like run_with, yielding only each step's World."""
    for _, world in run_with(*steps, **kw):
        yield world


def observations(*steps: str, **kw) -> list[dict]:
    """The default observation set after each step."""
    return [default_observations(w) for w in run_steps(*steps, **kw)]
