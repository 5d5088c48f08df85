"""The VMAs of one mapping: how a call on part of it splits it, and when they merge.

A scenario's mapping starts as one VMA. ``mprotect``, ``madvise`` and ``mlock``
on a range split it where the range starts and ends and change the pieces
inside; ``munmap`` of a range leaves a hole. After a change the kernel tries
to merge each changed VMA with its neighbours (``vma_merge_existing_range``):
they merge when their flags are equal and their anon_vmas compatible — the
same one, or one of them has none and the other's is its own (not inherited
through fork). So ``mprotect`` back to the old protection merges the pieces
again, in the process that split them, but not in a child that inherited
them: fork gives each of the child's VMAs an anon_vma of its own
(tests/kernel_facts/mem_ranges.c). A VMA whose ``vm_ops`` has a ``close`` hook
(a System V segment's ``shm_close``) may not be merged away
(``can_merge_remove_vma``): a call that changes such a VMA whole leaves it as
it is, however like its neighbours it becomes; a call on part of it still
merges that part into the neighbour it touches, which only moves the boundary
between the two (tests/kernel_facts/mem_edges.c). Pages are counted from the
mapping's start.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

_anon_vma_ids = itertools.count(1)


@dataclass(frozen=True)
class Vma:
    """One VMA: pages [start, end) of the mapping and the flags the calls set."""

    start: int
    end: int
    prot: str  # rw, ro, rx, none
    thp: bool = False  # VM_HUGEPAGE (else VM_NOHUGEPAGE: forklab maps that way)
    dontfork: bool = False  # VM_DONTCOPY
    wipeonfork: bool = False  # VM_WIPEONFORK
    locked: bool = False  # VM_LOCKED
    accounted: bool = False  # VM_ACCOUNT: charged to the commit limit
    anon_vma: int = 0  # which anon_vma it has; 0: none yet (nothing anonymous mapped)
    inherited: bool = False  # its anon_vma was made by fork (it chains to the parent's)

    @property
    def pages(self) -> int:
        return self.end - self.start

    def flags(self) -> tuple[str, bool, bool, bool, bool, bool]:
        return (self.prot, self.thp, self.dontfork, self.wipeonfork, self.locked,
                self.accounted)


def _mergeable(left: Vma, right: Vma) -> bool:
    """``is_mergeable_vma`` and ``is_mergeable_anon_vma`` for two neighbours."""
    if left.end != right.start or left.flags() != right.flags():
        return False
    if left.anon_vma == right.anon_vma:
        return True
    if not left.anon_vma:
        return not right.inherited
    return not right.anon_vma and not left.inherited


class Vmas:
    """A mapping's VMAs, sorted, with holes where parts were unmapped."""

    def __init__(self, first: Vma, removable: bool = True) -> None:
        self.list: list[Vma] = [first]
        self.removable = removable  # no close hook: a merge may remove a whole VMA

    def copy(self) -> Vmas:
        new = object.__new__(Vmas)
        new.list, new.removable = list(self.list), self.removable
        return new

    def __len__(self) -> int:
        return len(self.list)

    def runs(self, lo: int, hi: int) -> Iterator[tuple[int, int, Vma | None]]:
        """(start, end, VMA or None for a hole) covering [lo, hi) in order."""
        at = lo
        for v in self.list:
            if v.end <= at:
                continue
            if v.start >= hi:
                break
            if v.start > at:
                yield at, v.start, None
            yield max(at, v.start), min(hi, v.end), v
            at = min(hi, v.end)
        if at < hi:
            yield at, hi, None

    def at(self, page: int) -> Vma | None:
        return next((v for v in self.list if v.start <= page < v.end), None)

    def mapped(self) -> int:
        return sum(v.pages for v in self.list)

    def first_hole(self, lo: int, hi: int) -> int | None:
        """The first page of [lo, hi) that no VMA maps, or None."""
        return next((a for a, _, v in self.runs(lo, hi) if v is None), None)

    def _split(self, at: int) -> list[int]:
        """Make a VMA boundary at page ``at``; returns [at] if that cut a VMA."""
        for i, v in enumerate(self.list):
            if v.start < at < v.end:
                self.list[i:i + 1] = [replace(v, end=at), replace(v, start=at)]
                return [at]
        return []

    def change(self, lo: int, hi: int, how: Callable[[Vma], Vma]) -> list[int]:
        """Give the VMAs over [lo, hi) the flags ``how`` makes of theirs, splitting
        where the range cuts one whose flags change, merging as the kernel does.
        Returns the pages where it cut a VMA."""
        page, cuts = lo, []
        while page < hi:
            v = next((w for w in self.list if w.end > page), None)
            if v is None or v.start >= hi:
                break
            page, end = max(page, v.start), min(hi, v.end)
            if how(v) != v:
                whole = (page, end) == (v.start, v.end)
                cuts += self._split(page) + self._split(end)
                i = next(i for i, w in enumerate(self.list) if w.start == page)
                self.list[i] = how(self.list[i])
                if self.removable or not whole:
                    self._merge_around(i)
            page = end
        return cuts

    def _merge_around(self, i: int) -> None:
        if i + 1 < len(self.list) and _mergeable(self.list[i], self.list[i + 1]):
            self.list[i:i + 2] = [_merged(self.list[i], self.list[i + 1])]
        if i > 0 and _mergeable(self.list[i - 1], self.list[i]):
            self.list[i - 1:i + 1] = [_merged(self.list[i - 1], self.list[i])]

    def unmap(self, lo: int, hi: int) -> list[int]:
        """Take pages [lo, hi) out; returns the pages where it cut a VMA."""
        cuts = self._split(lo) + self._split(hi)
        self.list = [v for v in self.list if v.end <= lo or v.start >= hi]
        return cuts

    def give_anon_vma(self, lo: int, hi: int) -> None:
        """A fault mapped anonymous pages in [lo, hi): each VMA there without an
        anon_vma gets one (``anon_vma_prepare``), a neighbour's if the two differ only
        in protection and the neighbour's is its own (``find_mergeable_anon_vma``)."""
        for i, v in enumerate(self.list):
            if v.end <= lo or v.start >= hi or v.anon_vma:
                continue
            shared = 0
            for j in (i - 1, i + 1):
                if 0 <= j < len(self.list):
                    w = self.list[j]
                    touching = w.end == v.start or v.end == w.start
                    if touching and w.anon_vma and not w.inherited \
                            and w.flags()[1:] == v.flags()[1:]:
                        shared = w.anon_vma
                        break
            self.list[i] = replace(v, anon_vma=shared or next(_anon_vma_ids))

    def forked(self) -> Vmas:
        """The child's VMAs at fork (``dup_mmap``): the same pieces, none merged, but for
        VM_DONTCOPY ones; VM_LOCKED cleared; a new anon_vma for each that had one,
        none for a VM_WIPEONFORK one."""
        child = object.__new__(Vmas)
        child.list, child.removable = [], self.removable
        for v in self.list:
            if v.dontfork:
                continue
            if v.wipeonfork or not v.anon_vma:
                child.list.append(replace(v, locked=False, anon_vma=0, inherited=False))
            else:
                child.list.append(replace(v, locked=False, anon_vma=next(_anon_vma_ids),
                                          inherited=True))
        return child


def _merged(left: Vma, right: Vma) -> Vma:
    keeper = left if left.anon_vma else right
    return replace(keeper, start=left.start, end=right.end)
