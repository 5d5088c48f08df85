"""mlockall(2) and munlockall(2): every mapping of an address space locked at once.

``MCL_CURRENT`` locks (VM_LOCKED) and faults in every mapping there is, as
``mlock`` does one range; ``MCL_FUTURE`` sets VM_LOCKED in the mm's default flags,
so each later ``mmap`` (and ``shmat``) is locked and faulted in as it is made.
Both belong to the mm: a vfork child, a ``clone vm`` sibling and the threads share
them; a fork child's copies are unlocked and its mm has no default lock; exec's
new mm has neither. ``munlockall`` unlocks every mapping and clears the default
(tests/kernel_facts/proc_mlockall.c).

Only where no limit counts: with ``CAP_IPC_LOCK`` (forklab running as root) or no
limit, and in forklab's user namespace. Elsewhere the kernel counts forklab's own runtime
against ``RLIMIT_MEMLOCK`` (its whole address space for ``MCL_CURRENT``, and its
thread stacks and allocations for ``MCL_FUTURE``), which the model does not know:
such a call is refused before it runs, on both backends.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import ScenarioError
from forklab.scenario.validate import MLOCKALL_COUNTED
from forklab.sim.namespaces import INITIAL
from forklab.sim.syscall import HANDLERS
from forklab.vocabulary import PAGE

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.memory import AddressSpace, Mapping
    from forklab.sim.tasks import Process, Thread

@HANDLERS.handles(ops.Mlockall)
def op_mlockall(k: Kernel, proc: Process, thread: Thread, op: ops.Mlockall) -> None:
    assert proc.mm is not None
    if k.memlock_limit is not None or thread.ns.of("user") != INITIAL:
        raise ScenarioError(MLOCKALL_COUNTED, op.where)
    if "future" in op.flags:
        proc.mm.lock_future = True
    if "current" in op.flags:
        for mapping in list(proc.mm.mappings.values()):
            _lock(k, proc, proc.mm, mapping)


@HANDLERS.handles(ops.Munlockall)
def op_munlockall(k: Kernel, proc: Process, thread: Thread, op: ops.Munlockall) -> None:
    assert proc.mm is not None
    proc.mm.lock_future = False
    for mapping in proc.mm.mappings.values():
        for vma in list(mapping.vmas.list):
            proc.mm.munlock(mapping.name, vma.start, vma.end)


def mapped(k: Kernel, proc: Process, mapping: Mapping) -> None:
    """A new mapping of proc's: locked and faulted in if its mm locks what comes."""
    assert proc.mm is not None
    if proc.mm.lock_future:
        _lock(k, proc, proc.mm, mapping)


def _lock(k: Kernel, proc: Process, mm: AddressSpace, mapping: Mapping) -> None:
    """Lock each VMA of the mapping and fault it in (``mm_populate``, whose errors
    mlockall ignores: a PROT_NONE VMA, a page past the file's end stop that VMA)."""
    for vma in list(mapping.vmas.list):
        faults, _ = mm.mlock(mapping.name, vma.start, vma.end)
        proc.faults += faults
        proc.minflt += faults
        k.cache_touched += faults * PAGE
