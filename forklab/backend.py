"""The protocol both backends implement: start a scenario, apply ops, observe."""
from __future__ import annotations

from types import TracebackType
from typing import Protocol

from forklab.observe import World
from forklab.scenario.model import Op, Scenario


class Run(Protocol):
    """One running scenario. A context manager: closing it ends every process."""

    def apply(self, op: Op) -> None:
        """Run one op; raise ScenarioError if the language refuses it."""

    def observe(self) -> World:
        """Every process, every observable, one consistent snapshot."""

    def close(self) -> None: ...

    def __enter__(self) -> "Run": ...

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Backend(Protocol):
    name: str

    def start(self, scenario: Scenario) -> Run: ...
