"""The model's memory computed per run equals the same computed page by page.

Small random address spaces (a few 2 MiB regions, every kind of mapping) get
random accesses, forks, protection changes and advice. After every op:

- each page's state (absent, zero, exclusive, shared) equals what its own PTE
  and its frame's map count say, read page by page (for a huge page, pagemap
  repeats its first page's answer);
- a read or write of a range took the faults, and left the pages, that the
  same access made one page at a time takes and leaves (a range is a sequence
  of page accesses, which is all the kernel sees);
- a read of a file or shmem mapping took the faults that a page-at-a-time
  walk with fault-around over plain sets of pages counts;
- a writable page of a private mapping maps a frame nobody else maps.
"""
from __future__ import annotations

import copy
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from forklab.sim.files import RegularFile
from forklab.sim.memory import (
    FAULT_AROUND_PAGES,
    PAGES_PER_PTE_TABLE,
    AddressSpace,
    Mapping,
    PhysicalMemory,
    SegFault,
    SharedObject,
)
from forklab.sim.runs import Linear
from forklab.sim.snapshot import ABSENT, EXCLUSIVE, SHARED, ZERO_PAGE, page_states
from forklab.vocabulary import PAGE

PAGES = 3 * PAGES_PER_PTE_TABLE + 40  # three whole regions and a part of a fourth
KINDS = ("anon", "thp", "shm", "file-private", "file-shared")


def _make(memory: PhysicalMemory, kind: str) -> Mapping:
    obj = None
    if kind == "shm":
        obj = SharedObject(memory, PAGES, populated=False)
    elif kind.startswith("file"):
        file = RegularFile("data")
        file.truncate(PAGES * PAGE)
        obj = SharedObject(memory, PAGES, populated=False, file=file)
        obj.frames(0, PAGES)
    share = "shared" if kind in ("shm", "file-shared") else "private"
    return Mapping("m", 1 << 44, PAGES, share=share, obj=obj,
                   file_backed=kind.startswith("file"), thp=kind == "thp")


page_range = st.tuples(st.integers(0, PAGES - 1), st.integers(1, PAGES)).map(
    lambda r: (r[0], min(PAGES, r[0] + r[1])))
ops = st.one_of(
    st.tuples(st.sampled_from(["read", "write"]), st.integers(0, 3), page_range,
              st.integers(1, 255)),
    st.tuples(st.just("fork"), st.integers(0, 3)),
    st.tuples(st.just("mprotect"), st.integers(0, 3), st.sampled_from(["ro", "rw"]), page_range),
    st.tuples(st.just("dontneed"), st.integers(0, 3), page_range),
)


def _page_state(m: Mapping, memory: PhysicalMemory, page: int) -> str:
    """The definition, for one page."""
    v = m.ptes.get(page)
    if v is None:
        return ABSENT
    if not isinstance(v, Linear):
        return ZERO_PAGE
    if v.tag.huge:
        page -= page % PAGES_PER_PTE_TABLE
    return EXCLUSIVE if memory.mapcount.get(v.at(page)) == 1 else SHARED


def _pages(spaces: list[AddressSpace]) -> list[list[tuple[str, Any]]]:
    """Each space's pages: state, and which earlier page of any space maps the same frame."""
    first_of: dict[int, tuple[int, int]] = {}
    out = []
    for s, space in enumerate(spaces):
        m = space.mappings["m"]
        row = []
        for page in range(PAGES):
            v = m.ptes.get(page)
            same = None
            if isinstance(v, Linear):
                same = first_of.setdefault(v.at(page), (s, page))
            row.append((_page_state(m, space.memory, page), same, getattr(v, "tag", v)))
        out.append(row)
    return out


def _apply(spaces: list[AddressSpace], op: tuple) -> int | str | None:
    kind, who = op[0], op[1] % len(spaces)
    space = spaces[who]
    if kind in ("read", "write"):
        lo, hi = op[2]
        try:
            if kind == "write":
                return space.write("m", lo, hi, op[3])
            return space.read("m", lo, hi)
        except SegFault:
            return "SIGSEGV"
    if kind == "fork":
        spaces.append(space.fork_copy(None))
    elif kind == "mprotect":
        space.mprotect("m", *op[3], op[2])
    else:
        space.dontneed("m", *op[2])
    return None


def _one_page_at_a_time(spaces: list[AddressSpace], op: tuple) -> int | str:
    faults = 0
    for page in range(*op[2]):
        result = _apply(spaces, (op[0], op[1], (page, page + 1), *op[3:]))
        if isinstance(result, str):
            return result
        faults += result or 0
    return faults


def _fault_around_reference(m: Mapping, lo: int, hi: int) -> int:
    """Read faults on a file or shmem mapping, page by page over sets: a missing page
    faults, comes into the cache, and maps every cached page of the 16 pages from its
    aligned window's start, or from its VMA's start if that is later, that its VMA and
    its page table hold (``do_fault_around``)."""
    assert m.obj is not None
    mapped = {p for p in range(PAGES) if m.ptes.get(p) is not None}
    cached = {p for p in range(PAGES) if m.obj.pages.get(p) is not None}
    faults = 0
    for page in range(lo, hi):
        if page in mapped:
            continue
        faults += 1
        cached.add(page)
        vma = m.vmas.at(page)  # fault-around stays inside the VMA and its page table
        assert vma is not None
        start = max(page - page % FAULT_AROUND_PAGES, vma.start)
        table_end = page - page % PAGES_PER_PTE_TABLE + PAGES_PER_PTE_TABLE
        mapped.update(p for p in range(start, min(start + FAULT_AROUND_PAGES, table_end,
                                                  vma.end))
                      if p in cached)
    return faults


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KINDS), st.lists(ops, max_size=8))
@example("thp", [("write", 0, (0, PAGES), 1), ("fork", 0), ("write", 1, (0, 1), 2),
                 ("write", 0, (0, PAGES), 3)])  # a huge page that one 4 KiB copy left shared
@example("file-private", [("mprotect", 0, "ro", (0, 34)), ("read", 0, (43, 50), 1)])
# a VMA from page 34: one fault maps pages 34-49, 48 and 49 included
def test_run_computations_equal_page_by_page(kind: str, script: list[tuple]) -> None:
    memory = PhysicalMemory()
    spaces = [AddressSpace(memory, None)]
    spaces[0].mmap(_make(memory, kind))
    for op in script:
        if op[0] == "read" and spaces[op[1] % len(spaces)].mappings["m"].obj is not None:
            m = spaces[op[1] % len(spaces)].mappings["m"]
            expected_faults = _fault_around_reference(m, *op[2]) if m.prot != "none" else None
        else:
            expected_faults = None
        reference = copy.deepcopy(spaces)
        result = _apply(spaces, op)
        if op[0] in ("read", "write"):
            assert result == _one_page_at_a_time(reference, op), op
            if expected_faults is not None:
                assert result == expected_faults, op
            assert _pages(spaces) == _pages(reference), op
        for space in spaces:
            m = space.mappings["m"]
            for page in range(PAGES) if m.share == "private" else ():
                v = m.ptes.get(page)  # a writable private page is this process's alone
                if isinstance(v, Linear) and v.tag.writable:
                    assert memory.mapcount.get(v.at(page)) == 1, (op, page)
            by_runs = [state for a, b, state in page_states(m, memory) for _ in range(a, b)]
            assert by_runs == [_page_state(m, memory, p) for p in range(PAGES)], op
