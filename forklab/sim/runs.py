"""Run-length maps: the model's memory is runs of pages, never page objects.

A :class:`RunMap` maps every integer of ``[0, size)`` to a value, stored as
sorted runs. A value may be *linear* (a :class:`Linear` says "frame = base +
index"), so a run of 16 M pages backed by 16 M consecutive frames is one entry.
Every operation costs O(runs touched), never O(pages).
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Self


@dataclass(frozen=True)
class Linear:
    """A value that shifts with the index: at index i it stands for ``base + i``."""

    base: int
    tag: Any = None  # what else the value carries (e.g. a PTE's writable bit)

    def at(self, index: int) -> int:
        return self.base + index


class RunMap:
    """Integers ``[0, size)`` to values, as sorted runs of equal (or linear) values."""

    def __init__(self, size: int, value: Any = None) -> None:
        self.size = size
        self._starts: list[int] = [0]
        self._values: list[Any] = [value]

    def copy(self, convert: Callable[[Any], Any] | None = None) -> Self:
        """The same runs; the values are shared (they are immutable), or ``convert``ed."""
        other = object.__new__(type(self))
        other.size = self.size
        other._starts = list(self._starts)
        other._values = list(self._values) if convert is None else \
            [convert(v) for v in self._values]
        return other

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.copy()

    def __len__(self) -> int:
        return len(self._starts)

    def _split(self, at: int) -> int:
        """Make a run start at ``at``; return its position in the lists."""
        if at >= self.size:
            return len(self._starts)
        i = bisect_right(self._starts, at) - 1
        if self._starts[i] == at:
            return i
        value = self._values[i]
        self._starts.insert(i + 1, at)
        self._values.insert(i + 1, value)
        return i + 1

    def set(self, lo: int, hi: int, value: Any) -> None:
        """Give ``[lo, hi)`` the value (a Linear value is anchored at index 0)."""
        if lo >= hi:
            return
        i = self._split(lo)
        j = self._split(hi)
        self._starts[i:j] = [lo]
        self._values[i:j] = [value]
        self._merge_around(i)

    def _same(self, left: Any, right: Any) -> bool:
        return left == right

    def _merge_around(self, i: int) -> None:
        for k in (i + 1, i):
            if 0 < k < len(self._starts) and self._same(self._values[k - 1], self._values[k]):
                del self._starts[k]
                del self._values[k]

    def runs(self, lo: int = 0, hi: int | None = None) -> Iterator[tuple[int, int, Any]]:
        """The runs overlapping ``[lo, hi)``, clipped to it: (start, end, value)."""
        hi = self.size if hi is None else min(hi, self.size)
        if lo >= hi:
            return
        i = bisect_right(self._starts, lo) - 1
        while i < len(self._starts) and self._starts[i] < hi:
            end = self._starts[i + 1] if i + 1 < len(self._starts) else self.size
            yield max(lo, self._starts[i]), min(hi, end), self._values[i]
            i += 1

    def get(self, index: int) -> Any:
        i = bisect_right(self._starts, index) - 1
        return self._values[i]

    def count(self, predicate: Any, lo: int = 0, hi: int | None = None) -> int:
        """How many indices in ``[lo, hi)`` have a value satisfying ``predicate``."""
        return sum(b - a for a, b, v in self.runs(lo, hi) if predicate(v))


class Counts(RunMap):
    """Frame numbers to reference counts; ``None`` is a frame nobody holds."""

    def add(self, lo: int, hi: int, delta: int) -> list[tuple[int, int]]:
        """Add delta to every count in ``[lo, hi)``; return the ranges that reached 0."""
        freed: list[tuple[int, int]] = []
        for a, b, v in list(self.runs(lo, hi)):
            new = (v or 0) + delta
            if new < 0:
                raise AssertionError(f"frame refcount below zero at {a}")
            self.set(a, b, new if new > 0 else None)
            if new == 0:
                freed.append((a, b))
        return freed
