"""The cost model: how long a creating call takes, from what the model copied.

A call also costs more when it finds the CPU's caches full of other data:
right after the caller wrote twice the last-level cache of fresh memory, an
empty fork costs 154 us instead of 43 in a loop, posix_spawn 230 instead of
125 (measured on a 32 MiB-cache VM); and a scenario's calls on the real backend
run between forklab's own work, which leaves the caches partly cold. The
``cold`` term is that extra at fully cold caches; how cold a call finds them
(:func:`coldness`) is the kind's ``regime`` (what the real backend's calls
find, measured) plus the memory the scenario touched since the last creating
call.

fork's time grows with what ``dup_mmap`` copies: one unit per mapping, per
present PTE copied, per writable PTE it must write-protect in the parent (a
parent forking again, its pages still read-only from the last fork, skips that:
64 MiB written fork in 870 us, in 1220 us once rewritten), per huge-page entry,
per page-table page allocated, plus the fd table it duplicates. One term is not
linear: ``crowd``, the square of the page-table pages copied, because once the
tables fork reads and the ones it fills no longer fit in the CPU's caches each
page costs more (250 written one-page mappings fork in 0.9 ms, 4000 in 21-25 ms:
half as much again per mapping). vfork and posix_spawn copy no page tables, so
their time does not grow with the parent. exec's time grows with what it tears
down: a fork child's exec frees the page tables fork just copied.

The coefficients are the model's parameter (``Kernel(scenario, coefficients)``):
the ones that ship with the package (``DEFAULTS``, measured on a 2-core VM), or
the ones measured on this machine (``forklab.sim.calibration``), which the
command line and the lesson player load once.
"""
from __future__ import annotations

from dataclasses import dataclass

from forklab.sim.memory import HUGE_ZERO, PAGES_PER_PTE_TABLE, AddressSpace, Mapping
from forklab.sim.runs import Linear

RUNTIME_MAPPINGS = 24  # the mappings every process has before a scenario adds any
STANDARD_FDS = 3  # stdin, stdout, stderr

TERMS = ("base", "image", "mapping", "pte", "wrprotect", "huge", "table", "crowd", "fd", "thread",
         "cold")
"""The terms of every prediction, in the order of ForkStats.terms()."""

CACHE_LINE = 64

COLD_BYTES = 384 << 20
"""Fresh memory written since the last creating call that leaves the next one fully
cold, on the real backend. Measured here (medians of 8 runs, a warm call of the same
kind after it): posix_spawn costs 3 us more after 4 MiB were written, 11 after 16,
25 after 32 or 64, 67 after 256 and 83-100 after 496 MiB; vfork 7, 13, 20, 23 and
36 us more. (In forklab-bench's own loop the same extra is complete once the
last-level cache has been written; between a scenario's ops it keeps growing.)"""


def coldness(touched_bytes: int, regime: float = 0.0) -> float:
    """How cold a call finds the caches, from 0 (a call repeated in a loop) to 1:
    the kind's regime, plus the memory touched since the last creating call."""
    return min(1.0, regime + touched_bytes / COLD_BYTES)


def _huge_entries(m: Mapping) -> int:
    """Entries that map a huge page (or the huge zero page): one PMD entry per 2 MiB."""
    return sum((b - a) // PAGES_PER_PTE_TABLE for a, b, v in m.ptes.runs()
               if v == HUGE_ZERO or (isinstance(v, Linear) and v.tag.huge))


@dataclass(frozen=True)
class ForkStats:
    """What a creating call copies (fork) or an exec tears down, from the model's state."""

    mappings: int  # VMAs: a mapping split by a call on part of it counts each piece
    ptes: int  # 4 KiB page-table entries copied
    writable: int = 0  # of those, entries fork write-protects in the parent (copy on write)
    huge: int = 0  # huge-page entries copied (each one PMD entry)
    tables: int = 0  # page-table pages fork allocates in the child
    fds: int = STANDARD_FDS
    threads: int = 1
    image: int = 1  # 1: the process frees (exec) or copies (fork) a runtime image of its own
    cold: float = 0.0  # how cold the call finds the CPU's caches (coldness())

    @classmethod
    def of(cls, mm: AddressSpace, fds: int = STANDARD_FDS, threads: int = 1) -> ForkStats:
        copied = [m for m in mm.mappings.values() if m.anon_vma and not m.dontfork
                  and not m.wipeonfork]
        entries = sum(m.entries() for m in copied)
        huge = sum(_huge_entries(m) for m in copied)
        return cls(
            mappings=sum(len(m.vmas) for m in mm.mappings.values()) + RUNTIME_MAPPINGS,
            ptes=entries - huge,
            writable=sum(m.writable_entries() for m in copied),
            huge=huge,
            tables=sum(m.table_pages() for m in copied),
            fds=fds,
            threads=threads,
        )

    @classmethod
    def empty(cls) -> ForkStats:
        return cls(RUNTIME_MAPPINGS, 0)

    @classmethod
    def borrowed(cls, fds: int = STANDARD_FDS) -> ForkStats:
        """An exec that frees no memory: the vfork child's image is its parent's."""
        return cls(0, 0, fds=fds, image=0)

    def terms(self) -> tuple[float, ...]:
        """The value of each of TERMS: 1 for the fixed part, then the counts."""
        return (1.0, self.image, self.mappings, self.ptes, self.writable, self.huge,
                self.tables, self.tables ** 2, self.fds, self.threads, self.cold)


@dataclass(frozen=True)
class Coefficients:
    """Microseconds: a fixed part, for an image of its own, then per mapping, PTE,
    writable PTE, huge entry, table page, squared table page, fd, thread, and at
    fully cold caches.

    ``regime`` is not a term: it is how cold the real backend's calls of this kind
    find the caches (0 to 1), measured by a calibration; the simulator starts
    every call's coldness there (:func:`coldness`)."""

    base: float
    image: float = 0.0
    mapping: float = 0.0
    pte: float = 0.0
    wrprotect: float = 0.0
    huge: float = 0.0
    table: float = 0.0
    crowd: float = 0.0
    fd: float = 0.0
    thread: float = 0.0
    cold: float = 0.0
    regime: float = 0.0

    def __call__(self, stats: ForkStats) -> float:
        return sum(c * t for c, t in zip(self.values(), stats.terms()))

    def values(self) -> tuple[float, ...]:
        """The coefficient of each of TERMS."""
        return tuple(getattr(self, term) for term in TERMS)

    @classmethod
    def from_values(cls, values: list[float] | tuple[float, ...],
                    regime: float = 0.0) -> Coefficients:
        return cls(**dict(zip(TERMS, values)), regime=regime)


KINDS = ("fork", "vfork", "spawn", "exec", "spawn_template", "blank")
"""fork (and clone without vm); vfork (and clone vm: until the child runs);
spawn (posix_spawn of a program, the whole call); exec (execve, until the
old image is gone); and the what-if APIs, which have no kernel to measure."""

# Shipped defaults: the fit of `forklab calibrate --reps 21` (medians per point, every
# process on one CPU as on the real backend) on a quiet 2-core x86-64 Linux 6.18 VM
# with 24 GiB: fork of 0 / 64 MiB / 1 GiB written = 66 us / 1.3 ms / 19 ms, of 1 GiB
# in huge pages 0.57 ms; exec of /bin/true by a fork child of 1 GiB 25 ms, by a vfork
# child 50-80 us; posix_spawn 135-155 us at any size. See docs/model.md ("Costs").
# The later terms were measured on the same VM with forklab-bench (medians of 21):
# wrprotect from a 64 MiB fork, rewritten or not before each call (1244 / 907 us);
# cold from an empty parent's calls after 64 MiB of fresh writes (fork 154 / 43 us,
# vfork 71 / 11, posix_spawn 230 / 125); the regimes are what quick calibrations
# there found between loads (fork 0.4-0.8, vfork 0.15-0.45, posix_spawn 0-0.2).
DEFAULTS: dict[str, Coefficients] = {
    "fork": Coefficients(base=47.6, mapping=0.640, pte=0.0658, wrprotect=0.021, table=0.944,
                         fd=0.0198, thread=3.12, cold=111.0, regime=0.5),
    "vfork": Coefficients(base=13.3, mapping=0.0074, fd=0.0082, cold=60.0, regime=0.3),
    "spawn": Coefficients(base=150.5, fd=0.0034, cold=105.0, regime=0.1),
    "exec": Coefficients(base=70.8, image=93.2, mapping=0.290, pte=0.0843, huge=0.0832,
                         table=0.591),
    "spawn_template": Coefficients(base=150.5),
    "blank": Coefficients(base=150.5),
}


MEDIAN_ERROR = 0.25
"""How far the model's prediction may stray from the median of many calls: what
`forklab bench` checks, row by row, after a calibration of the machine, and the
least model error a tolerance assumes."""


@dataclass(frozen=True)
class Tolerance:
    """How far one measured call may stray from the prediction and still agree.

    ``low`` and ``high`` bound the spread of a single call around its median, as
    measured by repeating calls on this machine (the 2nd and 98th percentiles
    of sample / median over a calibration's points); ``error`` is how far the
    model was off a measured median there (at least MEDIAN_ERROR), which widens
    that band on both sides. ``resolution_us`` is what the cheapest fork measured
    here costs, plus how far such calls stray: a prediction within it of the
    measured value agrees, since one call cannot tell apart a model off by less
    (a 13 µs raw clone measured at 38 µs)."""

    low: float
    high: float
    error: float = MEDIAN_ERROR
    resolution_us: float = 0.0

    def band(self) -> tuple[float, float]:
        """measured / predicted ratios that agree."""
        return self.low / (1 + self.error), self.high * (1 + self.error)

    def agrees(self, predicted_us: float, measured_us: float) -> bool:
        if predicted_us <= 0:
            return measured_us <= 0
        if abs(measured_us - predicted_us) <= self.resolution_us:
            return True
        low, high = self.band()
        return low <= measured_us / predicted_us <= high


def predict(kind: str, stats: ForkStats, coefficients: dict[str, Coefficients]) -> float:
    """Predicted microseconds the creating call takes in the caller."""
    return round(coefficients[kind](stats), 1)
