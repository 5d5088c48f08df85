"""The simulator as a backend: the same protocol the real kernel backend speaks."""
from __future__ import annotations

from types import TracebackType

from forklab.backend import Capabilities
from forklab.observe import World
from forklab.scenario.model import Scenario
from forklab.scenario.ops import Op
from forklab.sim.cost import DEFAULTS, Coefficients
from forklab.sim.kernel import Kernel
from forklab.sim.rules import KERNEL, Rules
from forklab.sim.snapshot import snapshot


class SimRun:
    """One scenario in the model. Faults count from one observation to the next."""

    def __init__(self, scenario: Scenario,
                 coefficients: dict[str, Coefficients] = DEFAULTS, rules: Rules = KERNEL) -> None:
        self.kernel = Kernel(scenario, coefficients, rules)

    def apply(self, op: Op) -> None:
        self.kernel.apply(op)

    def observe(self) -> World:
        world = snapshot(self.kernel)
        for proc in self.kernel.processes.values():
            proc.faults = 0
        return world

    def close(self) -> None:
        """Nothing to end: the model's processes are data."""

    def __enter__(self) -> SimRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class SimBackend:
    """The model; its cost coefficients are the shipped ones unless given (a calibration),
    its rules the kernel's unless given (an exercise's solution)."""

    name = "sim"
    capabilities = Capabilities(sim_only_verbs=True)

    def __init__(self, coefficients: dict[str, Coefficients] = DEFAULTS,
                 rules: Rules = KERNEL) -> None:
        self.coefficients = coefficients
        self.rules = rules

    def start(self, scenario: Scenario) -> SimRun:
        return SimRun(scenario, self.coefficients, self.rules)
