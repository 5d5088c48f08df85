"""Shrinking a generated scenario by its choices.

A scenario the generator made is a function of the list of choices it was given
(:class:`~forklab.testing.choices.Recorded`). A smaller scenario showing the same
thing is found by asking for fewer and smaller choices — whole runs of them cut
out, each lowered towards its range's low end — and keeping each candidate that
still shows it. Every candidate is a scenario the generator made, so each is
valid and deterministic, which cutting lines out of its text would not ensure.
"""
from __future__ import annotations

from collections.abc import Callable

Attempt = Callable[[list[int]], "list[int] | None"]
"""Makes the scenario of a candidate; the choices it used if it still shows the
thing being shrunk, else None."""


def shrink(choices: list[int], attempt: Attempt, spent: Callable[[], bool]) -> list[int]:
    """The smallest choices found (fewest, then lowest) before ``spent()`` says stop."""
    best = list(choices)
    changed = True
    while changed and not spent():
        changed = False
        for size in (8, 4, 2, 1):
            at = len(best) - size
            while at >= 0 and not spent():
                kept = attempt(best[:at] + best[at + size:])
                if kept is not None and _smaller(kept, best):
                    best, changed = kept, True
                at -= 1
        at = 0
        while at < len(best) and not spent():
            for lower in _lower_values(best[at]):
                kept = attempt(best[:at] + [lower] + best[at + 1:])
                if kept is not None and _smaller(kept, best):
                    best, changed = kept, True
                    break
            at += 1
    return best


def _lower_values(value: int) -> list[int]:
    """Lower values to try in place of ``value``, the lowest first."""
    return sorted({0, value // 2, value - 1} - {value}) if value > 0 else []


def _smaller(a: list[int], b: list[int]) -> bool:
    """Shortlex order: fewer choices, then lower ones."""
    return (len(a), a) < (len(b), b)
