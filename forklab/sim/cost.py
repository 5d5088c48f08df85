"""The cost model: how long a creating call takes, from what the model copied.

fork's time grows with what ``dup_mmap`` copies: one unit per mapping, per
present PTE copied, per huge-page entry, per page-table page allocated, plus
the fd table it duplicates. One term is not linear: ``crowd``, the square of
the page-table pages copied, because once the tables fork reads and the ones
it fills no longer fit in the CPU's caches each page costs more (250 written
one-page mappings fork in 0.9 ms, 4000 in 21-25 ms: half as much again per
mapping). vfork and posix_spawn copy no page tables, so their time does not
grow with the parent. exec's time grows with what it tears down: a fork child's exec
frees the page tables fork just copied.

The coefficients are the model's parameter (``Kernel(scenario, coefficients)``):
the ones that ship with the package (``DEFAULTS``, measured on a 2-core VM), or
the ones measured on this machine (``forklab.sim.calibration``), which the
command line and the lesson player load once.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from forklab.sim.memory import HUGE_ZERO, PAGES_PER_PTE_TABLE, AddressSpace, Mapping
from forklab.sim.runs import Linear

RUNTIME_MAPPINGS = 24  # the mappings every process has before a scenario adds any
STANDARD_FDS = 3  # stdin, stdout, stderr

TERMS = ("base", "image", "mapping", "pte", "huge", "table", "crowd", "fd", "thread")
"""The terms of every prediction, in the order of ForkStats.terms()."""


def _huge_entries(m: Mapping) -> int:
    """Entries that map a huge page (or the huge zero page): one PMD entry per 2 MiB."""
    return sum((b - a) // PAGES_PER_PTE_TABLE for a, b, v in m.ptes.runs()
               if v == HUGE_ZERO or (isinstance(v, Linear) and v.tag.huge))


@dataclass(frozen=True)
class ForkStats:
    """What a creating call copies (fork) or an exec tears down, from the model's state."""

    mappings: int
    ptes: int  # 4 KiB page-table entries copied
    huge: int = 0  # huge-page entries copied (each one PMD entry)
    tables: int = 0  # page-table pages fork allocates in the child
    fds: int = STANDARD_FDS
    threads: int = 1
    image: int = 1  # 1: the process frees (exec) or copies (fork) a runtime image of its own

    @classmethod
    def of(cls, mm: AddressSpace, fds: int = STANDARD_FDS, threads: int = 1) -> ForkStats:
        copied = [m for m in mm.mappings.values() if m.anon_vma and not m.dontfork
                  and not m.wipeonfork]
        entries = sum(m.entries() for m in copied)
        huge = sum(_huge_entries(m) for m in copied)
        return cls(
            mappings=len(mm.mappings) + RUNTIME_MAPPINGS,
            ptes=entries - huge,
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
        return (1.0, self.image, self.mappings, self.ptes, self.huge, self.tables,
                self.tables ** 2, self.fds, self.threads)


@dataclass(frozen=True)
class Coefficients:
    """Microseconds: a fixed part, for an image of its own, then per mapping, PTE, huge
    entry, table page, squared table page, fd, thread."""

    base: float
    image: float = 0.0
    mapping: float = 0.0
    pte: float = 0.0
    huge: float = 0.0
    table: float = 0.0
    crowd: float = 0.0
    fd: float = 0.0
    thread: float = 0.0

    def __call__(self, stats: ForkStats) -> float:
        return sum(c * t for c, t in zip(self.values(), stats.terms()))

    def values(self) -> tuple[float, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    @classmethod
    def from_values(cls, values: list[float] | tuple[float, ...]) -> Coefficients:
        return cls(*values)


KINDS = ("fork", "vfork", "spawn", "exec", "spawn_template", "blank")
"""fork (and clone without vm); vfork (and clone vm: until the child runs);
spawn (posix_spawn of a program, the whole call); exec (execve, until the
old image is gone); and the what-if APIs, which have no kernel to measure."""

# Shipped defaults: the fit of `forklab calibrate --reps 21` (medians per point, every
# process on one CPU as on the real backend) on a quiet 2-core x86-64 Linux 6.18 VM
# with 24 GiB: fork of 0 / 64 MiB / 1 GiB written = 66 us / 1.3 ms / 19 ms, of 1 GiB
# in huge pages 0.57 ms; exec of /bin/true by a fork child of 1 GiB 25 ms, by a vfork
# child 50-80 us; posix_spawn 135-155 us at any size. See docs/model.md ("Costs").
DEFAULTS: dict[str, Coefficients] = {
    "fork": Coefficients(base=47.6, mapping=0.640, pte=0.0658, table=0.944, fd=0.0198,
                         thread=3.12),
    "vfork": Coefficients(base=13.3, mapping=0.0074, fd=0.0082),
    "spawn": Coefficients(base=150.5, fd=0.0034),
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
