"""A bound on the model's work, so that no scenario runs forever.

A program can keep the model busy without end, as it keeps the kernel busy:
a ``/bin/cat`` that reads the pipe it writes copies the same bytes forever,
on Linux too. The real backend stops such a run at its wall-clock bound; the
model has the same kind of bound, and one on the rounds of work one op may
set off (a round lets every waiter and every program go as far as it can).
"""
from __future__ import annotations

import time

from forklab.scenario.model import ScenarioError

MAX_ROUNDS = 10_000
"""Rounds of work one op may set off; the lessons and tests need 4 at most."""
MAX_SECONDS = 60.0
"""Seconds a run may spend applying ops (the real backend's bound too)."""


class OverBudget(Exception):
    """The op set off more work than the bound allows; the message says which bound."""


class BoundExceeded(ScenarioError):
    """What the run reports for an OverBudget: a ScenarioError at the op, of a kind
    its callers can tell apart (the fuzzer's generator discards such a move)."""


class Budget:
    """Rounds left for the op being applied, and seconds spent over the run."""

    def __init__(self, rounds: int = MAX_ROUNDS, seconds: float = MAX_SECONDS) -> None:
        self.rounds = rounds
        self.seconds = seconds
        self.spent = 0.0  # seconds spent in ops before the current one
        self._left = rounds
        self._started: float | None = None

    def start(self) -> None:
        """An op begins: its rounds are counted afresh, its time is added to the run's."""
        self._left = self.rounds
        self._started = time.monotonic()

    def stop(self) -> None:
        if self._started is not None:
            self.spent += time.monotonic() - self._started
            self._started = None

    def charge(self) -> None:
        """One more round of work; OverBudget once either bound is passed."""
        self._left -= 1
        if self._left < 0:
            raise OverBudget(
                f"the model did more than {self.rounds} rounds of work for this op without "
                "coming to rest: a program never stops (a /bin/cat that reads the pipe it "
                "writes copies forever, on Linux too)")
        now = self.spent + (time.monotonic() - self._started if self._started else 0.0)
        if now > self.seconds:
            raise OverBudget(f"the run took longer than its bound of {self.seconds:g} s")
