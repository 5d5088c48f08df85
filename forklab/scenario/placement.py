"""Where each mapping of a scenario lives: one rule for the parser, both backends and
the lesson player's sandbox.

Mappings are placed in the order they are made, each at a fresh 1 GiB boundary
with at least 1 GiB of unmapped space after it (forklab.layout says why), so a
mapping's address follows from the ``mmap`` lines before it.
"""
from __future__ import annotations

from collections.abc import Iterable

from forklab.layout import PMD_SPAN, REGION_BASE, SIM_REGION_END, align_up
from forklab.scenario.ops import Mmap, Op


class Placement:
    """The address and size of every mapping name; a new one goes after all the others."""

    def __init__(self, addresses: dict[str, int] | None = None,
                 sizes: dict[str, int] | None = None) -> None:
        """Continue a placement (``addresses`` is updated in place by :meth:`add`)."""
        self.addresses = {} if addresses is None else addresses
        self.sizes = {} if sizes is None else sizes
        self._next = max((address + self._span(self.sizes.get(name, PMD_SPAN))
                          for name, address in self.addresses.items()), default=REGION_BASE)

    @classmethod
    def of(cls, ops: Iterable[Op]) -> Placement:
        """The placement of every ``mmap`` among ``ops``."""
        placement = cls()
        for op in ops:
            if isinstance(op, Mmap):
                placement.add(op.name, op.size)
        return placement

    @staticmethod
    def _span(size: int) -> int:
        return align_up(size, PMD_SPAN) + PMD_SPAN

    def fits(self, size: int) -> bool:
        """Whether a new mapping of ``size`` bytes fits in the simulator's region."""
        return self._next + align_up(size, PMD_SPAN) <= SIM_REGION_END

    def end(self, name: str) -> int:
        """The address where mapping ``name``'s 1 GiB slots end."""
        return self.addresses[name] + align_up(self.sizes[name], PMD_SPAN)

    def add(self, name: str, size: int) -> int:
        """The address of mapping ``name``: where it is already, or after every other one."""
        if name not in self.addresses:
            self.addresses[name] = self._next
            self.sizes[name] = size
            self._next += self._span(size)
        return self.addresses[name]
