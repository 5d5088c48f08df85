"""The protocol both backends implement: start a scenario, apply ops, observe."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from forklab.observe import World
from forklab.scenario.model import Scenario
from forklab.scenario.ops import Op


class Run(Protocol):
    """One running scenario. A context manager: closing it ends every process."""

    def apply(self, op: Op) -> None:
        """Run one op; raise ScenarioError if the language refuses it."""

    def observe(self) -> World:
        """Every process, every observable, one consistent snapshot."""

    def close(self) -> None: ...

    def __enter__(self) -> Run: ...

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@dataclass(frozen=True)
class Capabilities:
    """What a backend can run, so that callers ask it instead of branching on its name."""

    sim_only_verbs: bool  # the designs Linux does not ship (steps and files with real = false)
    hidden: Mapping[str, str] = field(default_factory=dict)
    """Observables this backend may not show this user, each with why (docs/commands.md,
    "What an unprivileged user can check"): an unavailable value's explanation."""


class Backend(Protocol):
    name: str  # for reports: "sim" or "real"
    capabilities: Capabilities

    def start(self, scenario: Scenario) -> Run: ...
