"""The cost model: how long a creating call takes, from what the model copied.

fork's time grows with what ``dup_mmap`` copies: one unit per mapping, per
present PTE copied, per page-table page allocated; vfork and posix_spawn copy
no page tables, so their time does not grow with the parent.
"""
from __future__ import annotations

from dataclasses import dataclass

from forklab.sim.memory import AddressSpace

RUNTIME_MAPPINGS = 24  # the mappings every process has before a scenario adds any


@dataclass(frozen=True)
class ForkStats:
    """What fork would copy from an address space."""

    mappings: int
    ptes: int  # entries fork copies (a huge page is one PMD entry, not 512)
    tables: int  # page-table pages fork allocates in the child

    @classmethod
    def of(cls, mm: AddressSpace) -> "ForkStats":
        copied = [m for m in mm.mappings.values() if m.anon_vma and not m.dontfork
                  and not m.wipeonfork]
        return cls(
            mappings=len(mm.mappings) + RUNTIME_MAPPINGS,
            ptes=sum(m.entries() for m in copied),
            tables=sum(m.table_pages() for m in copied),
        )

    @classmethod
    def empty(cls) -> "ForkStats":
        return cls(RUNTIME_MAPPINGS, 0, 0)


@dataclass(frozen=True)
class Coefficients:
    """Microseconds: a fixed part, then per mapping, per PTE, per page-table page."""

    base: float
    per_mapping: float
    per_pte: float
    per_table: float

    def __call__(self, stats: ForkStats) -> float:
        return (self.base + self.per_mapping * stats.mappings + self.per_pte * stats.ptes
                + self.per_table * stats.tables)


# Shipped defaults, from medians measured by tests/kernel_facts/mem_cost.c on a
# 2-core x86-64 Linux 6.18 VM: fork of 0 / 64 MiB / 1 GiB written = 91 / 1415 /
# 19500 us; 1000 untouched one-page mappings add ~0.45 us each and written ones
# ~0.9 us (one PTE page and one PMD page each); vfork ~20 us and posix_spawn of
# /bin/true ~110 us at any size. See docs/kernel-facts-memory.md.
DEFAULTS: dict[str, Coefficients] = {
    "fork": Coefficients(base=70.0, per_mapping=0.45, per_pte=0.072, per_table=0.22),
    "vfork": Coefficients(base=20.0, per_mapping=0.0, per_pte=0.0, per_table=0.0),
    "spawn": Coefficients(base=110.0, per_mapping=0.0, per_pte=0.0, per_table=0.0),
    "spawn_template": Coefficients(base=110.0, per_mapping=0.0, per_pte=0.0, per_table=0.0),
    "blank": Coefficients(base=110.0, per_mapping=0.0, per_pte=0.0, per_table=0.0),
}


TOLERANCE_FACTOR = 3.0
TOLERANCE_US = 1000.0


def within_tolerance(predicted_us: float, measured_us: float) -> bool:
    """Whether a measured creation time agrees with the prediction.

    One call's latency on a shared 2-core machine swings by 2-3x with load
    (fork of 512 MiB written: 10-12 ms idle, 25-30 ms beside a test run), and
    a call shorter than a millisecond is within scheduling noise (posix_spawn:
    110-240 us idle, up to 675 us under load). So the shipped coefficients are
    held to a factor of 3, or to 1 ms for the short calls.
    """
    if abs(predicted_us - measured_us) <= TOLERANCE_US:
        return True
    low, high = sorted((abs(predicted_us), abs(measured_us)))
    return low > 0 and high / low <= TOLERANCE_FACTOR


def predict(kind: str, stats: ForkStats) -> float:
    """Predicted microseconds the creating call takes in the caller."""
    return round(DEFAULTS[kind](stats), 1)
