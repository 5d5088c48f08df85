"""Which pages two processes share, told without page-frame numbers.

/proc/PID/pagemap shows frame numbers only to root (CAP_SYS_ADMIN), but shows
anyone who may read a process whether each page is present, whether its frame is
mapped by this process alone (bit 56, "exclusive") and whether it is a file or
shared-memory page (bit 61); PAGEMAP_SCAN (Linux 6.7) also names the zero page.
From these, two processes A and B map the same frame at a page when:

- A and B are one address space (vfork, clone vm; kcmp says so): every present page;
- both pages are file or shared-memory pages of the same object at the same offset
  (the page cache holds one frame per offset) and neither is exclusive;
- both are the zero page;
- both are anonymous, not exclusive, not the zero page, and no other process of the
  run has a page like that there: an anonymous frame is mapped only by the fork
  family that copied it, at the same address, so a frame that is not exclusive is
  mapped by another process of the run, and if A and B are the only candidates, by
  each other.

A page where three or more address spaces have a non-exclusive anonymous page is
ambiguous, and so is a mapping that any of them maps with huge pages (pagemap
reports a huge page's exclusive bit from its first page for all 512): then the
answer is None, for the caller to report as unavailable, never a guess.
"""
from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from forklab.real import procfs
from forklab.real._native import ffi, lib

PAGE = 4096
CHUNK = 1 << 16  # pagemap entries read at once
EXCLUSIVE, FILE = 1 << 56, 1 << 61


@dataclass(frozen=True)
class Span:
    """Pages [start, start + pages * PAGE) of one process."""

    pid: int
    start: int
    pages: int


def one_address_space(a: int, b: int) -> bool:
    """Whether two processes share one mm (kcmp KCMP_VM)."""
    return a == b or lib.fl_kcmp_vm(a, b) == 0


_PRESENT_BYTE = bytes(1 if b & 0x80 else 0 for b in range(256))  # bit 63: the top byte's


def _present(pid: int, start: int, pages: int) -> dict[int, int] | None:
    """The pagemap entry of each present page, by index; None if it cannot be read.
    A mapping may be terabytes and sparse: ranges larger than a chunk are halved only
    where PAGEMAP_SCAN counts a present page, and only chunks that have one are decoded."""
    out: dict[int, int] = {}
    try:
        fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    counts = ffi.new("struct fl_counts *")
    try:
        todo = [(0, pages)]
        while todo:
            lo, hi = todo.pop()
            if hi - lo > CHUNK:
                if lib.fl_scan(fd, -1, start + lo * PAGE, hi - lo, counts) < 0:
                    return None
                if counts.present:
                    middle = (lo + hi) // 2
                    todo += [(middle, hi), (lo, middle)]
                continue
            data = os.pread(fd, (hi - lo) * 8, (start // PAGE + lo) * 8)
            if len(data) != (hi - lo) * 8:
                return None
            flags = data[7::8].translate(_PRESENT_BYTE)
            i = flags.find(1)
            entries = array("Q", data) if i >= 0 else array("Q")
            while i >= 0:
                out[lo + i] = entries[i]
                i = flags.find(1, i + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return out


def _zero_pages(pid: int, start: int, pages: int) -> set[int] | None:
    """Indexes of the pages mapped to the zero page (PAGEMAP_SCAN), found by halving
    the range where the count is neither 0 nor all; None without PAGEMAP_SCAN."""
    try:
        fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    counts = ffi.new("struct fl_counts *")

    def count(lo: int, hi: int) -> int:
        if lib.fl_scan(fd, -1, start + lo * PAGE, hi - lo, counts) < 0:
            return -1
        return int(counts.zero_scan)

    found: set[int] = set()
    try:
        todo = [(0, pages)]
        while todo:
            lo, hi = todo.pop()
            n = count(lo, hi)
            if n < 0:
                return None
            if n == hi - lo:
                found.update(range(lo, hi))
            elif n:
                middle = (lo + hi) // 2
                todo += [(lo, middle), (middle, hi)]
    finally:
        os.close(fd)
    return found


def _huge_mapped(pid: int, start: int, end: int) -> bool | None:
    """Whether any page of [start, end) is mapped by a huge page (smaps)."""
    try:
        with open(f"/proc/{pid}/smaps", "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    inside = False
    for line in text.splitlines():
        head, _, rest = line.partition(" ")
        lo, dash, hi = head.partition("-")
        if dash and not head.endswith(":"):
            try:
                inside = int(lo, 16) < end and int(hi, 16) > start
            except ValueError:
                inside = False
        elif inside and head in ("AnonHugePages:", "ShmemPmdMapped:", "FilePmdMapped:"):
            if rest.split()[0] != "0":
                return True
    return False


def _object_of(pid: int) -> Callable[[int], tuple[str, str, int] | None] | None:
    """What a file or shared page at an address belongs to, and its offset there:
    (device, inode, offset) from /proc/PID/maps."""
    try:
        with open(f"/proc/{pid}/maps", "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    vmas = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        lo, _, hi = fields[0].partition("-")
        try:
            vmas.append((int(lo, 16), int(hi, 16), int(fields[2], 16), fields[3], fields[4]))
        except ValueError:
            continue

    def object_at(address: int) -> tuple[str, str, int] | None:
        for vstart, vend, offset, device, inode in vmas:
            if vstart <= address < vend:
                return device, inode, offset + address - vstart
        return None
    return object_at


def shared_pages(a: Span, b: Span, others: Sequence[int]) -> int | None:
    """How many pages of A's span map the same frame as the page at the same index of
    B's span; ``others``: the run's other live processes. None when it cannot be told
    without frame numbers."""
    if a.pages != b.pages:
        return None
    if one_address_space(a.pid, b.pid):
        present = _present(a.pid, a.start, a.pages) if a.start == b.start else None
        return None if present is None else len(present)
    pa, pb = _present(a.pid, a.start, a.pages), _present(b.pid, b.start, b.pages)
    if pa is None or pb is None:
        return None
    both = [i for i, e in pa.items() if i in pb and not (e | pb[i]) & EXCLUSIVE]
    if not both:
        return 0
    # Each address space once: a vfork child or a clone vm shares its parent's.
    spaces: list[int] = [a.pid, b.pid]
    for pid in others:
        if not any(one_address_space(pid, seen) for seen in spaces):
            spaces.append(pid)
    for pid, lo in [(a.pid, a.start), (b.pid, b.start), *((p, a.start) for p in spaces[2:])]:
        if _huge_mapped(pid, lo, lo + a.pages * PAGE) is not False:
            return None
    shared = 0
    files = [i for i in both if pa[i] & FILE and pb[i] & FILE]
    if files:
        oa, ob = _object_of(a.pid), _object_of(b.pid)
        if oa is None or ob is None:
            return None
        shared += sum(1 for i in files
                      if oa(a.start + i * PAGE) is not None
                      and oa(a.start + i * PAGE) == ob(b.start + i * PAGE))
    anon = [i for i in both if not (pa[i] | pb[i]) & FILE]
    if not anon:
        return shared
    za, zb = _zero_pages(a.pid, a.start, a.pages), _zero_pages(b.pid, b.start, b.pages)
    if za is not None and zb is not None:
        shared += sum(1 for i in anon if i in za and i in zb)
        rest = [i for i in anon if i not in za and i not in zb]
    else:
        rest = anon
    if not rest or a.start != b.start:
        return shared  # an anonymous frame sits at one address in all who map it
    for pid in spaces[2:]:
        present = _present(pid, a.start, a.pages)
        if present is None:
            return None
        zero = _zero_pages(pid, a.start, a.pages) if any(i in present for i in rest) else set()
        for i in rest:
            e = present.get(i, 0)
            if e and not e & (EXCLUSIVE | FILE) and (zero is None or i not in zero):
                return None  # a third candidate: only frame numbers could tell
    return shared + len(rest)


def libc_same(a: int, b: int, part: str, others: Sequence[int]) -> bool | None:
    """Whether the pages of glibc's text or RELRO that both have present map the same
    frames (and there is one); None when it cannot be told without frame numbers."""
    mine, theirs = procfs.libc_parts(a), procfs.libc_parts(b)
    if mine is None or theirs is None:
        return None
    (sa, enda), (sb, endb) = mine[part], theirs[part]
    if enda - sa != endb - sb:
        return False
    pages = (enda - sa) // PAGE
    pa, pb = _present(a, sa, pages), _present(b, sb, pages)
    if pa is None or pb is None:
        return None
    in_both = sum(1 for i in pa if i in pb)
    if not in_both:
        return False
    same = shared_pages(Span(a, sa, pages), Span(b, sb, pages), others)
    return None if same is None else same == in_both
