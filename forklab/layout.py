"""Where scenario mappings live in a process's address space.

Both backends place the n-th ``mmap`` of a scenario at the same address, in a
region of its own: each mapping starts on a fresh 1 GiB boundary, with at least
1 GiB of unmapped space after it. So the kernel never merges two mappings, no
page-table page below the PUD level is ever shared between two mappings or
with forklab's own runtime, and page-table counts follow from the layout.

The probe reads the same region from csrc/protocol.h (FL_REGION_BASE,
FL_REGION_END, FL_SLOT_SHIFT); the simulator needs it without the C extension,
so it is written here too, and tests/real/test_protocol.py holds the two equal.
"""
from __future__ import annotations

PTE_SPAN = 2 << 20  # memory one page-table (PTE) page maps
PMD_SPAN = 1 << 30  # memory one PMD page maps; also a mapping's slot in the region
PUD_SPAN = 512 << 30  # memory one PUD page maps

REGION_BASE = 0x1000_0000_0000  # 16 TiB: 512 GiB-aligned, far from libc and the stack
REGION_END = 0x5000_0000_0000  # 80 TiB: below where the kernel loads a PIE (85.3-86.3 TiB)
USER_SPACE = 128 << 40  # x86-64's user address space (47 bits: 4-level page tables)
MAX_MAPPING = USER_SPACE  # the largest single mapping a scenario may ask for
SIM_REGION_END = REGION_BASE + USER_SPACE
"""Where the simulator's region ends: a scenario's mappings may together take a
whole user address space there (a learner may model a process of 100 TiB).
The real backend places mappings the same way but only up to REGION_END, and
refuses, before anything runs, a scenario whose mappings go past it."""


def align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def slot_room(size: int) -> int:
    """The largest size a mapping made with ``size`` bytes can grow to in place: up to
    where the next mapping's slot starts."""
    return align_up(size, PMD_SPAN) + PMD_SPAN
