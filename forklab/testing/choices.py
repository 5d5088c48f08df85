"""Where a generated scenario's choices come from.

The generator (:mod:`forklab.testing.generator`) asks only for integers in a
range. Hypothesis answers them for the strategies a course uses in its tests
(:class:`HypothesisChoices`); ``forklab fuzz`` answers them from a seeded
random stream and keeps what it chose (:class:`Recorded`), so that a scenario
that disagrees can be made again from a shorter or smaller list of choices:
that is how the fuzz shrinks, without hypothesis's engine, whose mutations
mostly overrun a generator this stateful (a third of its draws were thrown
away) and whose bookkeeping cost more than the draws.
"""
from __future__ import annotations

import random
from typing import Any, Protocol

from hypothesis import strategies as st


class Choices(Protocol):
    def integer(self, lo: int, hi: int) -> int:
        """An integer in ``lo..hi`` (both included); ``lo`` is the simplest."""

    def boolean(self) -> bool:
        """False is the simpler."""


class MoveRefused(Exception):
    """The model refused a move the generator made (a program that would never stop,
    a repeat that blocks partway): the choices made no valid scenario."""


class HypothesisChoices:
    """Choices drawn by hypothesis (``draw`` of an ``@st.composite``)."""

    def __init__(self, draw: Any) -> None:
        self._draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return int(self._draw(st.integers(lo, hi)))

    def boolean(self) -> bool:
        return bool(self._draw(st.booleans()))


class Recorded:
    """Choices replayed from ``prefix``, then drawn from ``rng`` (or, without one, the
    simplest: each range's low end), each kept in :attr:`made`.

    A choice is kept as its offset from its range's low end, and a replayed offset
    is clipped to the range asked for now: so a prefix that an edit shortened or
    lowered still makes a scenario, the one nearest to what it made before.
    """

    def __init__(self, prefix: list[int] | None = None, rng: random.Random | None = None) -> None:
        self.prefix = prefix or []
        self.rng = rng
        self.made: list[int] = []

    def integer(self, lo: int, hi: int) -> int:
        at = len(self.made)
        if at < len(self.prefix):
            offset = min(self.prefix[at], hi - lo)
        elif self.rng is not None:
            offset = self.rng.randint(0, hi - lo)
        else:
            offset = 0
        self.made.append(offset)
        return lo + offset

    def boolean(self) -> bool:
        return self.integer(0, 1) == 1
