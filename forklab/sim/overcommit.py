"""Whether the kernel lets one call charge pages to the commit limit (``__vm_enough_memory``).

A call that charges memory asks first: mmap of private writable memory (not
``noreserve``) for the mapping, of shared memory (``anon shared``, ``sysv``:
``shmem_acct_size``, whatever the protection; not ``noreserve``) for its
object, mprotect that makes a private VMA writable for that VMA, mremap that
grows a charged VMA for the new pages, fork for each charged VMA the child
gets, whole. Under ``vm.overcommit_memory`` 0 (the
heuristic, the default) a call fails with ENOMEM when it alone asks for more
pages than the machine has RAM and swap, whatever is charged already; under 1
every call succeeds (tests/kernel_facts/mem_edges.c). Mode 2 (strict) compares
with what the whole machine has charged, which no scenario can know: the model
answers as under 1 there; but it follows mode 2 in charging ``noreserve``
mappings as any other (``do_mmap``, ``newseg`` ignore MAP_NORESERVE and
SHM_NORESERVE under mode 2).
"""
from __future__ import annotations

from dataclasses import dataclass

from forklab.vocabulary import PAGE

HEURISTIC, ALWAYS, NEVER = 0, 1, 2  # the values of vm.overcommit_memory


@dataclass(frozen=True)
class Overcommit:
    """The machine's overcommit policy, read once per run."""

    mode: int
    total_pages: int  # RAM and swap (MemTotal + SwapTotal), in pages

    @classmethod
    def read(cls) -> Overcommit:
        """This machine's values; the default policy with no limit if they cannot be read."""
        try:
            with open("/proc/sys/vm/overcommit_memory", encoding="ascii") as f:
                mode = int(f.read())
            with open("/proc/meminfo", encoding="ascii") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            kib = int(fields["MemTotal"].split()[0]) + int(fields["SwapTotal"].split()[0])
        except (OSError, ValueError, KeyError):
            return cls(ALWAYS, 0)
        return cls(mode, kib * 1024 // PAGE)

    def honours_noreserve(self) -> bool:
        """Whether MAP_NORESERVE and SHM_NORESERVE keep a mapping uncharged."""
        return self.mode != NEVER

    def allows(self, pages: int) -> bool:
        """Whether one call may charge ``pages``."""
        return self.mode != HEURISTIC or pages <= self.total_pages
