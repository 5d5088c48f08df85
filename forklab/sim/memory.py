"""Address spaces: mappings of page runs, frames with map counts, page tables.

The shape follows Linux's ``mm``: an :class:`AddressSpace` holds mappings
(VMAs); each mapping holds page-table entries as runs (not present, the shared
zero page, or a run of frames with its writable bit); :class:`PhysicalMemory`
counts how many PTEs map each frame. ``fork`` copies the entries of a mapping
only where the kernel does (a private mapping that has been written), and
write-protects private frames on both sides; the first writer takes a fault
and copies, unless nobody else maps the frame any more, in which case the
kernel reuses it. Page-table pages are counted per 2 MiB (PTE), 1 GiB (PMD)
and 512 GiB (PUD) region, which is what the kernel's ``VmPTE`` adds up.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from forklab.layout import PMD_SPAN, PTE_SPAN, PUD_SPAN
from forklab.sim.runs import Counts, Linear, RunMap
from forklab.sim.vmas import Vma, Vmas
from forklab.vocabulary import PAGE

ZERO = "zero"
"""A PTE that maps the shared zero page (read-only; never counted as a frame)."""
HUGE_ZERO = "hugezero"
"""A 2 MiB region mapped by one PMD entry to the huge zero page."""

FRAME_SPACE = 1 << 62
PAGES_PER_PTE_TABLE = PTE_SPAN // PAGE
PAGES_PER_PMD_TABLE = PMD_SPAN // PAGE
FAULT_AROUND_PAGES = 16  # fault_around_bytes (64 KiB): file read faults map a window


@dataclass(frozen=True)
class Pte:
    """What a run of present PTEs carries besides its frames."""

    writable: bool
    anon: bool  # an anonymous frame (True) or a page-cache frame of a file/shmem (False)
    owned: bool = False  # PageAnonExclusive: set when a fault gave the page to one process,
    # cleared by fork on both sides; only owned pages become writable again on mprotect
    huge: bool = False  # mapped by a PMD entry: a transparent huge page, 2 MiB at once
    dirty: bool = False  # written through since it was mapped; for a shared file page this
    # says the file system was told of the write, so mprotect may make it writable again


WRITABLE_ANON = Pte(writable=True, anon=True, owned=True)

REUSE = "reuse"
COPY = "copy"


@dataclass(frozen=True)
class WriteFault:
    """A write to write-protected pages [first_page, first_page + pages) of a mapping,
    whose frames all have the same users: what ``do_wp_page`` decides on."""

    process: str  # who wrote
    mapping: str
    first_page: int
    pages: int
    shared: bool  # MAP_SHARED
    anon: bool  # an anonymous frame (False: the page cache of a file, or shared memory)
    mapcount: int  # page-table entries that map the frame, this one included


WriteFaultRule = Callable[[WriteFault], str]
"""Decides a write-protect fault: REUSE the frame, or COPY the page to a new one."""


def decide_write_fault(fault: WriteFault) -> str:
    """The kernel's decision (``do_wp_page``): a shared mapping writes its frame
    (``wp_page_shared``); a private page of the page cache is copied; an anonymous
    page is reused when nobody else maps it (``wp_can_reuse_anon_folio``), copied
    otherwise."""
    if fault.shared:
        return REUSE
    if not fault.anon:
        return COPY
    return REUSE if fault.mapcount == 1 else COPY


class SegFault(Exception):
    """The access is not allowed: the process takes SIGSEGV."""

    signal = "SIGSEGV"

    def __init__(self, name: str, faults: int = 0) -> None:
        super().__init__(name)
        self.faults = faults  # faults the access took (on the pages before the bad one)


class BusError(SegFault):
    """An access to a page of a file mapping past the end of the file: SIGBUS."""

    signal = "SIGBUS"


class PhysicalMemory:
    """Every frame: who owns it (anon, a page cache) and how many PTEs map it."""

    def __init__(self) -> None:
        self.mapcount = Counts(FRAME_SPACE)
        self.owner = RunMap(FRAME_SPACE)  # None: free; "anon"; or the SharedObject
        self.content = RunMap(FRAME_SPACE, 0)  # the first byte of each frame
        self.tails: dict[int, bytes] = {}  # an anonymous frame's bytes 1..4095, if not zero
        self._next = 1

    def __deepcopy__(self, memo: dict[int, Any]) -> PhysicalMemory:
        """A copy whose page caches are the copies of this one's (the owners)."""
        new = object.__new__(PhysicalMemory)
        memo[id(self)] = new
        new.mapcount, new.content = self.mapcount.copy(), self.content.copy()
        new.owner = self.owner.copy(
            lambda v: copy.deepcopy(v, memo) if isinstance(v, SharedObject) else v)
        new.tails, new._next = dict(self.tails), self._next
        return new

    def alloc(self, pages: int, owner: Any) -> int:
        base = self._next
        self._next += pages
        self.owner.set(base, base + pages, owner)
        return base

    def map(self, lo: int, hi: int) -> None:
        self.mapcount.add(lo, hi, +1)

    def unmap(self, lo: int, hi: int) -> None:
        """Drop one mapping of frames [lo, hi); anonymous frames nobody maps are freed."""
        for a, b in self.mapcount.add(lo, hi, -1):
            for c, d, owner in list(self.owner.runs(a, b)):
                if owner == "anon":
                    self.owner.set(c, d, None)

    def copy_content(self, src: int, dst: int, pages: int, file: Any = None,
                     first_page: int = 0) -> None:
        """What a copy-on-write copy does: frames dst.. get the bytes of src..

        When src.. are page-cache frames of a file (its pages first_page..),
        the bytes past the first of each page are the file's.
        """
        for a, b, value in list(self.content.runs(src, src + pages)):
            self.content.set(dst + a - src, dst + b - src, value)
        if file is not None:
            for page in file.pages_with_tails(first_page, first_page + pages):
                self.tails[dst + page - first_page] = file.tails[page]
            return
        for frame, tail in [(f, t) for f, t in self.tails.items() if src <= f < src + pages]:
            self.tails[dst + frame - src] = tail

    def allocated_anon(self) -> int:
        return self.owner.count(lambda v: v == "anon")


class SharedObject:
    """A file's page cache or a shared-memory segment: pages that outlive mappings.

    A file's page cache and the file are one: read(2) and write(2) see what a
    shared mapping stores, and every mapping of a cached page sees what write(2)
    stores (tests/scenarios/page-cache-coherence.toml). ``file`` is that file
    (None for shared memory); the first byte of each page is also kept with
    its frame, as for every frame.
    """

    def __init__(self, memory: PhysicalMemory, pages: int, populated: bool,
                 file: Any = None) -> None:
        self.pages = RunMap(pages)  # page index -> Linear(frame base) or None (a hole)
        self.memory = memory
        self.file = file
        if populated and pages:
            self.frames(0, pages)

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedObject:
        new = object.__new__(SharedObject)
        memo[id(self)] = new
        new.pages = self.pages.copy()
        new.memory = copy.deepcopy(self.memory, memo)
        new.file = copy.deepcopy(self.file, memo)
        return new

    def resize(self, pages: int) -> None:
        """A longer mapping of the file: the same page cache, with room for more pages."""
        if pages > self.pages.size:
            grown = RunMap(pages)
            for a, b, v in self.pages.runs():
                if v is not None:
                    grown.set(a, b, v)
            self.pages = grown

    def truncate(self, first_page: int) -> None:
        """The file was cut: its pages from first_page on leave the page cache."""
        for a, b, v in list(self.pages.runs(min(first_page, self.pages.size))):
            if isinstance(v, Linear):
                self.memory.owner.set(v.at(a), v.at(b), None)
        if first_page < self.pages.size:
            self.pages.set(first_page, self.pages.size, None)

    def file_written(self, at: int, size: int) -> None:
        """write(2) stored bytes [at, at + size) into the file, through the page cache:
        the pages are cached (if they were not) and every mapping of them shows the bytes."""
        hi = min(-(-(at + size) // PAGE), self.pages.size)
        if at // PAGE >= hi:
            return
        self.frames(at // PAGE, hi)
        for page in range(-(-at // PAGE), hi):  # pages whose first byte was written
            frame = self.pages.get(page).at(page)
            self.memory.content.set(frame, frame + 1, self.file.heads.get(page))

    def frames(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """(start, end, frame base) for pages [lo, hi), filling holes first."""
        for a, b, v in list(self.pages.runs(lo, hi)):
            if v is None:
                base = self.memory.alloc(b - a, self)
                self.pages.set(a, b, Linear(base - a))
                if self.file is not None:  # a file's page comes in with the file's bytes
                    for c, d, byte in self.file.heads.runs(a, min(b, self.file.pages)):
                        if byte:
                            self.memory.content.set(base + c - a, base + d - a, byte)
        return [(a, b, v.at(a)) for a, b, v in self.pages.runs(lo, hi)]


class Mapping:
    """One named mapping at a fixed, 1 GiB-aligned address (see forklab.layout): the
    pages of its range, their page-table entries, and the VMAs over them
    (:mod:`forklab.sim.vmas`: one at mmap; calls on part of it split it)."""

    def __init__(self, name: str, address: int, pages: int, *, share: str = "private",
                 prot: str = "rw", obj: SharedObject | None = None, file_backed: bool = False,
                 thp: bool = False, noreserve: bool = False, maywrite: bool = True,
                 sysv: bool = False) -> None:
        self.name = name
        self.address = address
        self.pages = pages
        self.share = share  # "private" or "shared"
        self.obj = obj  # file page cache or shmem; None for private anon
        self.file_backed = file_backed
        self.noreserve = noreserve  # MAP_NORESERVE: never charged to the commit limit
        self.maywrite = maywrite  # VM_MAYWRITE: mprotect may make it writable
        # a System V segment's shm_vm_ops has no map_pages: a read fault maps its page
        # alone (no fault-around); and it has close: a merge may not remove a VMA of it
        self.fault_around = not sysv
        self.vmas = Vmas(Vma(0, pages, prot, thp=thp), removable=not sysv)
        self.ptes = RunMap(pages)
        self.pte_tables = RunMap(-(-pages // PAGES_PER_PTE_TABLE), False)  # per 2 MiB region:
        # True while a PTE page exists
        self.pmd_tables = RunMap(-(-pages // PAGES_PER_PMD_TABLE), False)  # per 1 GiB region

    def __deepcopy__(self, memo: dict[int, Any]) -> Mapping:
        """The mapping as it stands, for a copy of the kernel (fork's copy is fork_copy)."""
        new = copy.copy(self)
        new.obj = copy.deepcopy(self.obj, memo)
        new.vmas = self.vmas.copy()
        new.ptes, new.pte_tables = self.ptes.copy(), self.pte_tables.copy()
        new.pmd_tables = self.pmd_tables.copy()
        return new

    @property
    def size(self) -> int:
        return self.pages * PAGE

    def resize(self, pages: int) -> None:
        """The mapping now spans ``pages`` (mremap): its entries and page tables past
        a new end go (unmapped already), a larger one has room for more."""
        self.pages = pages
        self.ptes = _resized(self.ptes, pages)
        self.pte_tables = _resized(self.pte_tables, -(-pages // PAGES_PER_PTE_TABLE), False)
        self.pmd_tables = _resized(self.pmd_tables, -(-pages // PAGES_PER_PMD_TABLE), False)

    # what the VMAs say, for the views: one word where they agree
    @property
    def prot(self) -> str:
        """The protection; where the VMAs differ, theirs in order ("rw/ro/rw")."""
        prots = [v.prot for v in self.vmas.list]
        return prots[0] if len(set(prots)) == 1 else "/".join(prots)

    @property
    def thp(self) -> bool:
        return any(v.thp for v in self.vmas.list)

    @property
    def dontfork(self) -> bool:
        return any(v.dontfork for v in self.vmas.list)

    @property
    def wipeonfork(self) -> bool:
        return any(v.wipeonfork for v in self.vmas.list)

    @property
    def anon_vma(self) -> bool:
        return any(v.anon_vma for v in self.vmas.list)

    def pud_regions(self) -> range:
        return range(self.address // PUD_SPAN, (self.address + self.size - 1) // PUD_SPAN + 1)

    def table_pages(self) -> int:
        return self.pte_tables.count(bool) + self.pmd_tables.count(bool)

    def present(self) -> int:
        return self.ptes.count(lambda v: v is not None)

    def entries(self) -> int:
        """Present page-table entries, a huge page counting as the one PMD entry it is."""
        total = 0
        for a, b, v in self.ptes.runs():
            if v == HUGE_ZERO or (isinstance(v, Linear) and v.tag.huge):
                total += (b - a) // PAGES_PER_PTE_TABLE
            elif v is not None:
                total += b - a
        return total

    def writable_entries(self) -> int:
        """4 KiB entries a fork must write-protect: writable ones of a private mapping
        (a shared mapping's stay writable on both sides)."""
        if self.share != "private":
            return 0
        return sum(b - a for a, b, v in self.ptes.runs()
                   if isinstance(v, Linear) and v.tag.writable and not v.tag.huge)

    def zero(self) -> int:
        return self.ptes.count(lambda v: v in (ZERO, HUGE_ZERO))

    def locked(self) -> int:
        """Pages in VM_LOCKED VMAs (what ``VmLck`` sums)."""
        return sum(v.pages for v in self.vmas.list if v.locked)

    def accounted_pages(self) -> int:
        return sum(v.pages for v in self.vmas.list if v.accounted)

    def thp_fits(self, region: int) -> bool:
        """Whether a fault in this 2 MiB region can take a huge page: one VMA with THP
        asked for covers it, private anonymous, no page table yet, nothing present."""
        lo, hi = region * PAGES_PER_PTE_TABLE, (region + 1) * PAGES_PER_PTE_TABLE
        vma = self.vmas.at(lo)
        return (vma is not None and vma.thp and vma.end >= hi and self.obj is None
                and hi <= self.pages and not self.pte_tables.get(region)
                and self.ptes.count(lambda v: v is not None, lo, hi) == 0)

    def charge_at_mmap(self) -> None:
        """``accountable_mapping``: a private writable mapping without MAP_NORESERVE is
        charged at mmap; shared memory is charged once for its object, not per mapping."""
        self.vmas.change(0, self.pages, lambda v: replace(
            v, accounted=self.share == "private" and v.prot == "rw" and not self.noreserve))

    def protected(self, vma: Vma, prot: str) -> Vma:
        """``mprotect_fixup`` on one VMA: becoming writable charges a private mapping not
        yet charged (MAP_NORESERVE never); losing write gives the charge back only for
        private anonymous memory whose VMA has no anon_vma (never written: nothing of
        it can need swap); a file mapping or a written one keeps it."""
        accounted = vma.accounted
        if prot == "rw":
            if self.share == "private" and not self.noreserve:
                accounted = True
        elif accounted and self.obj is None and not vma.anon_vma:
            accounted = False
        return replace(vma, prot=prot, accounted=accounted)

    def frame_runs(self, lo: int = 0, hi: int | None = None):
        """(start, end, Linear) for runs of pages that map frames."""
        return [(a, b, v) for a, b, v in self.ptes.runs(lo, hi) if isinstance(v, Linear)]


class AddressSpace:
    """An ``mm``: mappings, their page tables, and libc's state in user memory."""

    def __init__(self, memory: PhysicalMemory, user: Any) -> None:
        self.memory = memory
        self.mappings: dict[str, Mapping] = {}
        self.puds: set[int] = set()
        self.user = user  # libc's state lives in this address space's memory
        self.dumpable = 1  # PR_SET_DUMPABLE: a flag of the mm, as Linux keeps it
        self.lock_future = False  # mlockall(MCL_FUTURE): VM_LOCKED in the mm's def_flags

    def __deepcopy__(self, memo: dict[int, Any]) -> AddressSpace:
        new = object.__new__(AddressSpace)
        memo[id(self)] = new
        new.memory = copy.deepcopy(self.memory, memo)
        new.mappings = {name: copy.deepcopy(m, memo) for name, m in self.mappings.items()}
        new.puds = set(self.puds)
        new.user = copy.deepcopy(self.user, memo)
        new.dumpable = self.dumpable
        new.lock_future = self.lock_future
        return new

    # -- mappings ---------------------------------------------------------

    def mmap(self, mapping: Mapping) -> None:
        self.mappings[mapping.name] = mapping

    def munmap(self, name: str, lo: int = 0, hi: int | None = None) -> None:
        """Unmap pages [lo, hi) (all by default). The page tables of 2 MiB (PTE) and
        1 GiB (PMD) regions left with no VMA go (``free_pgtables``); the mapping goes
        when no page of it is left, and a PUD table with it when no mapping needs it."""
        m = self.mappings[name]
        hi = m.pages if hi is None else min(hi, m.pages)  # nothing of it past its end
        if lo >= hi:
            return
        self._split_huge(m, m.vmas.unmap(lo, hi))
        self._zap(m, lo, hi)
        if m.vmas.list:
            for tables, span in ((m.pte_tables, PAGES_PER_PTE_TABLE),
                                 (m.pmd_tables, PAGES_PER_PMD_TABLE)):
                for region in range(lo // span, (hi - 1) // span + 1):
                    if not any(v for _, _, v in m.vmas.runs(region * span, (region + 1) * span)):
                        tables.set(region, region + 1, False)
            return
        del self.mappings[name]
        for region in m.pud_regions():
            if not any(region in other.pud_regions() for other in self.mappings.values()):
                self.puds.discard(region)

    def release(self) -> None:
        """The last user of this mm is gone (exit, exec): unmap everything."""
        for name in list(self.mappings):
            self.munmap(name)

    # -- accesses ---------------------------------------------------------

    def write(self, name: str, lo: int, hi: int, value: int = 1, *, writer: str = "",
              decide: WriteFaultRule = decide_write_fault) -> int:
        """Store value into every page in [lo, hi); return the faults taken.

        ``decide`` resolves each write-protect fault (an exercise passes its own);
        ``writer`` names the process writing, for the fault it is shown.
        """
        m = self.mappings[name]
        self._check_access(m, lo, hi, "rw", lambda bad: self.write(
            name, lo, bad, value, writer=writer, decide=decide))
        faults = self.write_faults(m, lo, hi, writer, decide)
        for a, b, v in m.frame_runs(lo, hi):
            self.memory.content.set(v.at(a), v.at(b), value)
            file = m.obj.file if m.obj is not None and not v.tag.anon else None
            if file is not None:  # a store into the page cache is a store into the file
                file.store_heads(a, b, value)
        return faults

    def write_faults(self, m: Mapping, lo: int, hi: int, writer: str = "",
                     decide: WriteFaultRule = decide_write_fault) -> int:
        """The write faults a store into pages [lo, hi) takes, before it stores; return
        how many (also what ``mlock`` takes to populate a private writable mapping)."""
        faults = 0
        for a, b, v in list(m.ptes.runs(lo, hi)):
            if v is None or v == ZERO or v == HUGE_ZERO:
                for c, d, huge in self._fault_spans(m, a, b, v):
                    if huge:
                        faults += (d - c) // PAGES_PER_PTE_TABLE
                        self._map_huge(m, c, d)
                    else:
                        faults += d - c
                        self._write_fault_missing(m, c, d)
            elif not v.tag.writable and v.tag.huge:
                faults += self._huge_write_protect_fault(m, a, b, v, writer, decide)
            elif not v.tag.writable:
                faults += b - a
                self._write_protect_fault(m, a, b, v, writer, decide)
        self._alloc_tables(m, lo, hi)
        return faults

    def _check_access(self, m: Mapping, lo: int, hi: int, needs: str,
                      before: Callable[[int], int]) -> None:
        """Raise what the first page of [lo, hi) that may not be accessed gives: SIGSEGV
        for a page no VMA maps or one whose protection forbids it (``needs`` "rw" for a
        store, "ro" for a load), SIGBUS past the end of a file; ``before(page)`` makes the
        accesses to the pages before it, and the faults they took go with the signal."""
        denied = next((a for a, _, v in m.vmas.runs(lo, hi) if v is None or v.prot == "none"
                       or (needs == "rw" and v.prot != "rw")), None)
        eof = self._past_eof(m, lo, denied if denied is not None else hi)
        bad = eof if eof is not None else denied
        if bad is None:
            return
        faults = before(bad) if bad > lo else 0
        raise (BusError if eof is not None else SegFault)(m.name, faults)

    def read(self, name: str, lo: int, hi: int) -> int:
        """Load from every page in [lo, hi); return the faults taken."""
        m = self.mappings[name]
        self._check_access(m, lo, hi, "ro", lambda bad: self.read(name, lo, bad))
        return self.read_faults(m, lo, hi)

    def read_faults(self, m: Mapping, lo: int, hi: int) -> int:
        """The read faults a load from pages [lo, hi) takes; return how many (also what
        ``mlock`` takes to populate any other mapping)."""
        faults = 0
        if m.obj is None:
            for a, b, v in list(m.ptes.runs(lo, hi)):
                for c, d, huge in self._fault_spans(m, a, b, v) if v is None else ():
                    if huge:  # the huge zero page; this path makes an anon_vma
                        faults += (d - c) // PAGES_PER_PTE_TABLE
                        m.vmas.give_anon_vma(c, d)
                        m.ptes.set(c, d, HUGE_ZERO)
                    else:
                        faults += d - c
                        m.ptes.set(c, d, ZERO)
        else:
            faults = sum(self._read_faults_shared_object(m, a, b, vma)
                         for a, b, vma in list(m.vmas.runs(lo, hi)) if vma is not None)
        self._alloc_tables(m, lo, hi)
        return faults

    @staticmethod
    def _past_eof(m: Mapping, lo: int, hi: int) -> int | None:
        """The first page in [lo, hi) that would fault in past the end of m's file, or of
        its shared memory object (made as long as the mapping; mremap grows the mapping,
        not the object): the kernel answers such a fault with SIGBUS and counts no
        fault. None if there is no such page."""
        if m.obj is None:
            return None
        eof = m.obj.file.pages if m.obj.file is not None else m.obj.pages.size
        for a, _, v in m.ptes.runs(max(lo, eof), hi) if hi > eof else ():
            if v is None:
                return a
        return None

    def truncated(self, cache: SharedObject, first_page: int) -> None:
        """The file behind ``cache`` was cut to first_page pages: every page from there
        is unmapped, private copies included (``truncate_pagecache``)."""
        for m in self.mappings.values():
            if m.obj is cache and first_page < m.pages:
                self._zap(m, first_page, m.pages)

    def _write_fault_missing(self, m: Mapping, a: int, b: int) -> None:
        if m.share == "shared":
            assert m.obj is not None
            for c, d, base in m.obj.frames(a, b):
                self._map_frames(m, c, d, base, Pte(writable=True, anon=False, dirty=True))
            return
        if m.obj is None:
            self._map_new_anon(m, a, b)
            return
        for c, d, cache in m.obj.frames(a, b):  # private file page: copy the file's page
            base = self._map_new_anon(m, c, d)
            self.memory.copy_content(cache, base, d - c, m.obj.file, c)

    def _write_protect_fault(self, m: Mapping, a: int, b: int, v: Linear, writer: str,
                             decide: WriteFaultRule) -> None:
        """A write to present, write-protected pages [a, b): for each run of frames
        with the same users, ``decide`` says reuse the frame or copy the page."""
        offset = v.base
        for fa, fb, count in list(self.memory.mapcount.runs(v.at(a), v.at(b))):
            pa, pb = fa - offset, fb - offset
            fault = WriteFault(writer, m.name, pa, pb - pa, m.share == "shared",
                               bool(v.tag.anon), count)
            if decide(fault) == REUSE:  # the writer keeps the frame, whoever else maps it
                bits = replace(v.tag, writable=True, dirty=True) if m.share == "shared" \
                    else replace(v.tag, writable=True, owned=v.tag.anon)
                m.ptes.set(pa, pb, Linear(offset, bits))
            else:  # a new anonymous frame with a copy of the page
                self._copy_on_write(m, pa, pb, fa, cached=not v.tag.anon)

    def _fault_spans(self, m: Mapping, a: int, b: int, v: Any) -> list[tuple[int, int, bool]]:
        """Missing or zero-page pages [a, b) as what their faults map: (start, end, True)
        for whole 2 MiB regions served by a huge page (the huge zero page's, or a
        region where a THP fits, see Mapping.thp_fits), (start, end, False) for 4 KiB
        pages. Regions wholly inside [a, b) fit unless they have a page table, so
        only the two end regions are checked one by one."""
        if v == HUGE_ZERO:  # its runs are whole regions
            return [(_region_floor(a), _region_ceil(b), True)]
        if v is not None or not m.thp or m.obj is not None:
            return [(a, b, False)]
        first, last = a // PAGES_PER_PTE_TABLE, (b - 1) // PAGES_PER_PTE_TABLE
        kinds: list[tuple[int, int, bool]] = []  # (first region, end region, fits)
        for region in sorted({first, last}):
            kinds.append((region, region + 1, m.thp_fits(region)))
        if last - first > 1:
            kinds[1:1] = _middle_regions(m, first + 1, last)
        spans: list[tuple[int, int, bool]] = []
        for c, d, fits in kinds:
            lo = c * PAGES_PER_PTE_TABLE if fits else max(a, c * PAGES_PER_PTE_TABLE)
            hi = d * PAGES_PER_PTE_TABLE if fits else min(b, d * PAGES_PER_PTE_TABLE)
            if spans and spans[-1][2] == fits and spans[-1][1] == lo:
                spans[-1] = (spans[-1][0], hi, fits)
            else:
                spans.append((lo, hi, fits))
        return spans

    def _map_huge(self, m: Mapping, lo: int, hi: int) -> None:
        """A write fault that the kernel serves with whole 2 MiB huge pages, one per
        region of [lo, hi) (region-aligned)."""
        m.vmas.give_anon_vma(lo, hi)
        m.ptes.set(lo, hi, None)
        base = self.memory.alloc(hi - lo, "anon")
        self._map_frames(m, lo, hi, base, replace(WRITABLE_ANON, huge=True))

    def _huge_write_protect_fault(self, m: Mapping, a: int, b: int, v: Linear, writer: str,
                                  decide: WriteFaultRule) -> int:
        """A write to write-protected huge pages: each one nobody else maps is reused
        whole (one fault); every other is split into 512 entries and only the 4 KiB
        pages written are copied, one fault each."""
        faults = 0
        for start, end, head, alone in huge_page_counts(self.memory, v, _region_floor(a),
                                                        _region_ceil(b)):
            if head == 1 and alone:
                m.ptes.set(start, end, Linear(v.base, replace(WRITABLE_ANON, huge=True)))
                faults += (end - start) // PAGES_PER_PTE_TABLE
                continue
            split = Linear(v.base, replace(v.tag, huge=False))
            m.ptes.set(start, end, split)
            c, d = max(a, start), min(b, end)
            self._write_protect_fault(m, c, d, split, writer, decide)
            faults += d - c
        return faults

    def _copy_on_write(self, m: Mapping, a: int, b: int, source: int, cached: bool = False) -> None:
        """Give pages [a, b) fresh frames holding a copy of frames source..
        (``cached``: the sources are the page cache of m's file)."""
        base = self._map_new_anon(m, a, b)
        file = m.obj.file if cached and m.obj is not None else None
        self.memory.copy_content(source, base, b - a, file, a)
        self.memory.unmap(source, source + (b - a))

    def _map_new_anon(self, m: Mapping, a: int, b: int) -> int:
        """New anonymous frames for pages [a, b). An anonymous page is reached
        through its mapping's anon_vma, so every fault that makes one (a write to
        a missing page, a copy of the zero page, of a page-cache page, of a
        shared page) gives the mapping one first, and fork copies it from then on."""
        m.vmas.give_anon_vma(a, b)
        base = self.memory.alloc(b - a, "anon")
        self._map_frames(m, a, b, base, WRITABLE_ANON)
        return base

    def _map_frames(self, m: Mapping, a: int, b: int, base: int, bits: Pte) -> None:
        """Map pages [a, b) of m to frames base.. (base is the frame of page a)."""
        self.memory.map(base, base + (b - a))
        m.ptes.set(a, b, Linear(base - a, bits))

    def _read_faults_shared_object(self, m: Mapping, lo: int, hi: int, vma: Vma) -> int:
        """Read faults on pages [lo, hi) of a file or shmem mapping, all in one VMA,
        with the kernel's fault-around (``do_fault_around``).

        A read of a missing page maps it and every other page of its window already
        in the page cache (read-only for a file, writable for shmem); a shmem page
        never written is not in the cache, so reading it is a fault of its own that
        allocates it. The window is the aligned 16 pages around the page, cut at the
        VMA's end and at the end of the page table, but it starts no lower than the
        VMA and runs 16 pages from where it starts: in a VMA that begins inside an
        aligned window (a split left it there), a fault in that first, partial
        window maps 16 pages from the VMA's start
        (tests/kernel_facts/mem_edges.c). Computed per run: a window's fault is
        counted where its first missing page is, and a hole's page where it is,
        unless that is the same page.
        """
        assert m.obj is not None
        writable = m.share == "shared" and not m.file_backed and vma.prot == "rw"
        bits = Pte(writable, anon=False)
        if not m.fault_around:  # every missing page is a fault of its own, mapping itself
            missing = [(a, b) for a, b, v in m.ptes.runs(lo, hi) if v is None]
            for a, b in missing:
                for c, d, base in m.obj.frames(a, b):
                    self._map_frames(m, c, d, base, bits)
            return sum(b - a for a, b in missing)
        faults = 0
        head_end = -(-vma.start // FAULT_AROUND_PAGES) * FAULT_AROUND_PAGES
        if lo < head_end:  # the VMA starts inside an aligned window, and lo is in it
            window = (vma.start, min(vma.start + FAULT_AROUND_PAGES,
                                     _region_ceil(vma.start), vma.end))
            faults += self._window_read_faults(m, lo, min(hi, head_end), window, bits)
            lo = head_end
        if lo >= hi:
            return faults
        missing = [(a, b) for a, b, v in m.ptes.runs(lo, hi) if v is None]
        last_window = -1
        for a, b in missing:
            first_window, end_window = a // FAULT_AROUND_PAGES, (b - 1) // FAULT_AROUND_PAGES + 1
            new_first = first_window > last_window  # a is the first missing page of its window
            faults += end_window - max(first_window, last_window + 1)
            last_window = end_window - 1
            for c, d, v in m.obj.pages.runs(a, b):
                if v is None:  # each hole page faults, unless it took its window's fault
                    faults += d - c - _multiples(max(c, a + 1), d, FAULT_AROUND_PAGES)
                    faults -= 1 if c == a and new_first else 0
        for a, b in missing:
            m.obj.frames(a, b)  # reading a hole allocates the page
        for w_lo, w_hi in _window_spans(missing, vma.start, vma.end):
            self._map_cached(m, w_lo, w_hi, bits)
        return faults

    def _window_read_faults(self, m: Mapping, lo: int, hi: int, window: tuple[int, int],
                            bits: Pte) -> int:
        """Read faults on pages [lo, hi) whose faults all map the same window: the first
        missing page faults and maps the window's cached pages; every other missing
        page not in the cache then faults on its own."""
        assert m.obj is not None
        missing = [(a, b) for a, b, v in m.ptes.runs(lo, hi) if v is None]
        if not missing:
            return 0
        holes = sum(d - c for a, b in missing
                    for c, d, v in m.obj.pages.runs(a, b) if v is None)
        first_is_hole = m.obj.pages.get(missing[0][0]) is None
        for a, b in missing:
            m.obj.frames(a, b)  # reading a hole allocates the page
        self._map_cached(m, *window, bits)
        return 1 + holes - int(first_is_hole)

    def _map_cached(self, m: Mapping, lo: int, hi: int, bits: Pte) -> None:
        """Map the pages of [lo, hi) in m's page cache that no entry maps yet."""
        assert m.obj is not None
        for a, b, v in list(m.obj.pages.runs(lo, hi)):
            if v is None:
                continue
            for c, d, pte in list(m.ptes.runs(a, b)):
                if pte is None:
                    self._map_frames(m, c, d, v.at(c), bits)

    # -- advice and protection ---------------------------------------------

    def dontneed(self, name: str, lo: int, hi: int) -> None:
        """Zap the PTEs of [lo, hi); free the PTE pages whose whole 2 MiB it covers."""
        m = self.mappings[name]
        self._split_huge(m, [lo, hi])
        self._zap(m, lo, hi)
        m.pte_tables.set(-(-lo // PAGES_PER_PTE_TABLE), hi // PAGES_PER_PTE_TABLE, False)

    def mprotect(self, name: str, lo: int, hi: int, prot: str) -> int:
        """Give pages [lo, hi), all mapped, the protection: their VMAs split, change
        (and their commit charge, :meth:`Mapping.protected`) and merge as the kernel's do.

        Write-protect on the way down. On the way up, a page becomes writable at
        once only where a write fault would not have to do anything: in a private
        mapping, an owned anonymous page (any other needs its copy-on-write check);
        in a shared file mapping, a dirty page (a clean one must fault, so that
        the file system hears of the write: writenotify); in shared memory, every
        page (shmem asks for no notification, so the new protection applies as is).
        Every other page takes a fault on its next write, but in a private locked VMA
        that was not writable: ``mprotect_fixup`` populates that at once with write
        faults (breaking copy-on-write now, as mlock of a writable VMA does), up to
        the end of the file (tests/kernel_facts/mem_edges.c). Returns those faults."""
        m = self.mappings[name]
        populate = [(a, b) for a, b, v in m.vmas.runs(lo, hi) if prot == "rw"
                    and v is not None and v.locked and v.prot != "rw" and m.share == "private"]
        self.change_vmas(m, lo, hi, lambda v: m.protected(v, prot))
        for a, b, v in m.frame_runs(lo, hi):
            if prot != "rw":
                writable = False
            elif m.share == "private":
                writable = v.tag.owned
            else:
                writable = v.tag.dirty or not m.file_backed
            if writable != v.tag.writable:
                m.ptes.set(a, b, Linear(v.base, replace(v.tag, writable=writable)))
        faults = 0
        for a, b in populate:
            eof = self._past_eof(m, a, b)
            faults += self.write_faults(m, a, b if eof is None else eof)
        return faults

    def mlock(self, name: str, lo: int, hi: int) -> tuple[int, bool]:
        """Lock pages [lo, hi), all mapped (VM_LOCKED), and fault them in as
        ``populate_vma_page_range`` does: write faults in a private writable VMA (they
        break copy-on-write), read faults in any other. A PROT_NONE VMA, or a page
        past the end of the file, stops it. Returns (faults, whether it got through)."""
        m = self.mappings[name]
        self.change_vmas(m, lo, hi, lambda v: replace(v, locked=True))
        faults = 0
        for a, b, vma in list(m.vmas.runs(lo, hi)):
            assert vma is not None
            eof = self._past_eof(m, a, b)
            end = eof if eof is not None else b
            if vma.prot == "none":
                return faults, False
            if vma.prot == "rw" and m.share == "private":
                faults += self.write_faults(m, a, end)
            else:
                faults += self.read_faults(m, a, end)
            if eof is not None:
                self._tables_of_failed_fault(m, eof)
                return faults, False
        return faults, True

    def _tables_of_failed_fault(self, m: Mapping, page: int) -> None:
        """A fault past the end of the file still walks down to its page, making the
        tables on the way (``__handle_mm_fault``: the PUD table, the PMD table), though
        no PTE table (seen with mlock: tests/scenarios/memory-edges.toml)."""
        pmd = page // PAGES_PER_PMD_TABLE
        m.pmd_tables.set(pmd, pmd + 1, True)
        self.puds.add((m.address + page * PAGE) // PUD_SPAN)

    def munlock(self, name: str, lo: int, hi: int) -> None:
        m = self.mappings[name]
        self.change_vmas(m, lo, hi, lambda v: replace(v, locked=False))

    def mremap(self, name: str, pages: int,
               may_charge: Callable[[int], bool] = lambda pages: True) -> tuple[str | None, int]:
        """Resize a mapping in place to ``pages`` (``mremap`` of its whole current size;
        forklab's layout always leaves room after it to grow into, up to
        ``slot_room``). Its first page must be mapped (else EFAULT); shrinking unmaps
        the tail, whatever VMAs it holds; growing needs the current size to lie in one
        VMA (else EFAULT), which grows (its flags, its charge) over the new pages,
        faulted in if it is locked; ``may_charge`` refusing the new pages of a charged
        VMA is ENOMEM (``vrm_charge``). Returns (errno or None, faults)."""
        m = self.mappings.get(name)
        first = m.vmas.at(0) if m is not None else None
        if m is None or first is None:
            return "EFAULT", 0
        if pages < m.pages:
            self.munmap(name, pages, m.pages)
            m.resize(pages)
            return None, 0
        if pages == m.pages:
            return None, 0
        if first.end < m.pages:
            return "EFAULT", 0
        if first.accounted and not may_charge(pages - m.pages):
            return "ENOMEM", 0
        old = m.pages
        m.resize(pages)
        m.vmas.list[0] = replace(first, end=pages)
        if not first.locked:
            return None, 0
        faults, _ = self.mlock(name, old, pages)
        return None, faults

    def change_vmas(self, m: Mapping, lo: int, hi: int, how: Callable[[Vma], Vma]) -> None:
        """Change the flags of m's VMAs over [lo, hi) (see :meth:`Vmas.change`); a huge
        page a new VMA boundary cuts is split into 4 KiB entries first, as the kernel's
        ``vma_adjust_trans_huge`` does."""
        self._split_huge(m, m.vmas.change(lo, hi, how))

    def _split_huge(self, m: Mapping, cuts: list[int]) -> None:
        """Map the huge pages (and huge zero pages) that the pages ``cuts`` fall inside
        with 4 KiB entries (``split_huge_pmd``): same frames, 512 entries, in the page
        table the huge page came with (counted from its fault on)."""
        for page in cuts:
            if page % PAGES_PER_PTE_TABLE == 0 or page >= m.pages:
                continue
            region = _region_floor(page)
            for a, b, v in list(m.ptes.runs(region, region + PAGES_PER_PTE_TABLE)):
                if v == HUGE_ZERO:
                    m.ptes.set(a, b, ZERO)
                elif isinstance(v, Linear) and v.tag.huge:
                    m.ptes.set(a, b, Linear(v.base, replace(v.tag, huge=False)))

    # -- fork ---------------------------------------------------------------

    def fork_copy(self, user: Any) -> AddressSpace:
        """The child's mm at fork: what ``dup_mmap`` copies, nothing more: a VMA's
        page-table entries (and tables) only if it has an anon_vma, not for
        VM_WIPEONFORK; no VM_DONTCOPY VMA (see :meth:`Vmas.forked`)."""
        child = AddressSpace(self.memory, user)
        child.dumpable = self.dumpable  # MMF_DUMPABLE is among the flags dup_mm copies
        for name, m in self.mappings.items():
            vmas = m.vmas.forked()
            if not vmas.list:
                continue
            c = copy.copy(m)
            c.vmas = vmas
            c.ptes = RunMap(m.pages)
            c.pte_tables = RunMap(m.pte_tables.size, False)
            c.pmd_tables = RunMap(m.pmd_tables.size, False)
            for vma in m.vmas.list:
                if not vma.anon_vma or vma.wipeonfork or vma.dontfork:
                    continue
                for a, b, v in list(m.ptes.runs(vma.start, vma.end)):
                    if isinstance(v, Linear):
                        self.memory.map(v.at(a), v.at(b))
                        if v.tag.anon:  # both sides write-protected, neither owns it
                            v = Linear(v.base, replace(v.tag, writable=False, owned=False))
                            m.ptes.set(a, b, v)
                    if v is not None:
                        c.ptes.set(a, b, v)
                for tables, span in ((c.pte_tables, PAGES_PER_PTE_TABLE),
                                     (c.pmd_tables, PAGES_PER_PMD_TABLE)):
                    parent = m.pte_tables if span == PAGES_PER_PTE_TABLE else m.pmd_tables
                    for r_lo, r_hi, has in parent.runs(vma.start // span,
                                                       (vma.end - 1) // span + 1):
                        if has:
                            tables.set(r_lo, r_hi, True)
            if c.table_pages():
                child.puds.update(r for r in m.pud_regions() if r in self.puds)
            child.mappings[name] = c
        return child

    # -- page tables ----------------------------------------------------------

    def _alloc_tables(self, m: Mapping, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        m.pte_tables.set(lo // PAGES_PER_PTE_TABLE, (hi - 1) // PAGES_PER_PTE_TABLE + 1, True)
        m.pmd_tables.set(lo // PAGES_PER_PMD_TABLE, (hi - 1) // PAGES_PER_PMD_TABLE + 1, True)
        first = (m.address + lo * PAGE) // PUD_SPAN
        last = (m.address + (hi - 1) * PAGE) // PUD_SPAN
        self.puds.update(range(first, last + 1))

    def _zap(self, m: Mapping, lo: int, hi: int) -> None:
        for a, b, v in m.frame_runs(lo, hi):
            self.memory.unmap(v.at(a), v.at(b))
        m.ptes.set(lo, hi, None)

    def vm_pte_kib(self) -> int:
        pages = sum(m.table_pages() for m in self.mappings.values()) + len(self.puds)
        return pages * PAGE // 1024


def _resized(runs: RunMap, size: int, fill: Any = None) -> RunMap:
    """The same runs over ``size`` indices: cut, or padded with ``fill``."""
    out = RunMap(size, fill)
    for a, b, v in runs.runs(0, size):
        out.set(a, b, v)
    return out


def _multiples(lo: int, hi: int, step: int) -> int:
    """How many multiples of step lie in [lo, hi)."""
    return max(0, -(-hi // step) - -(-lo // step))


def _window_spans(runs: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """The aligned fault-around windows that the sorted runs touch, merged, cut to
    [lo, hi)."""
    spans: list[tuple[int, int]] = []
    for a, b in runs:
        w_lo = max(lo, a - a % FAULT_AROUND_PAGES)
        w_hi = min(hi, -(-b // FAULT_AROUND_PAGES) * FAULT_AROUND_PAGES)
        if spans and spans[-1][1] >= w_lo:
            spans[-1] = (spans[-1][0], max(spans[-1][1], w_hi))
        else:
            spans.append((w_lo, w_hi))
    return spans


def _middle_regions(m: Mapping, first: int, last: int) -> list[tuple[int, int, bool]]:
    """2 MiB regions [first, last) as runs of (first, end, whether a huge page fits):
    the region lies inside one VMA that asks for THP and has no page table yet."""
    span = PAGES_PER_PTE_TABLE
    inside = RunMap(last, False)
    for a, b, vma in m.vmas.runs(first * span, last * span):
        if vma is not None and vma.thp:
            inside.set(-(-a // span), b // span, True)
    return [(e, f, good and not table)
            for c, d, table in m.pte_tables.runs(first, last)
            for e, f, good in inside.runs(c, d)]


def huge_page_counts(memory: PhysicalMemory, v: Linear, lo: int,
                     hi: int) -> list[tuple[int, int, int, bool]]:
    """Region-aligned pages [lo, hi) mapped by v, as runs of 2 MiB regions:
    (start, end, the map count of each region's first page, whether every page of
    each region has that count). Counts of a huge page's frames differ only where
    a copy of a 4 KiB page was made from it, so this is O(count runs)."""
    out: list[tuple[int, int, int, bool]] = []
    done = lo
    for fa, fb, count in memory.mapcount.runs(v.at(lo), v.at(hi)):
        start, end = max(fa - v.base, done), fb - v.base
        if start >= end:
            continue
        pieces = [(start, _region_floor(end), True)]
        if _region_floor(end) < end:  # the count changes inside this region
            pieces.append((_region_floor(end), _region_ceil(end), False))
        for c, d, alone in pieces:
            if c >= d:
                continue
            if out and out[-1][1] == c and out[-1][2:] == (count, alone):
                out[-1] = (out[-1][0], d, count, alone)
            else:
                out.append((c, d, count, alone))
        done = max(done, _region_ceil(end))
    return out


def _region_floor(page: int) -> int:
    """The first page of page's 2 MiB (page-table) region."""
    return page - page % PAGES_PER_PTE_TABLE


def _region_ceil(page: int) -> int:
    """The first region boundary at or after page."""
    return -(-page // PAGES_PER_PTE_TABLE) * PAGES_PER_PTE_TABLE
