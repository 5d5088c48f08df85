"""System V semaphores: the run's sets, and each task's undo list (``semop`` SEM_UNDO).

A ``semop`` with SEM_UNDO records the opposite of its change in the calling task's
undo list, which the kernel applies when the last task holding that list ends
(``exit_sem``), leaving the value within 0..SEMVMX. The list is a task's:
``pthread_create`` and ``clone sysvsem`` (CLONE_SYSVSEM) share the creator's;
fork, vfork, a clone without it, posix_spawn and the what-if creators start one
of their own, empty; execve keeps it. ``unshare ipc`` applies the caller's list
at once (if no other task holds it) and starts an empty one, and the sets are
out of its reach from then on. CLONE_SYSVSEM with a new IPC namespace is
``EINVAL``. Every ``semop`` is IPC_NOWAIT: what would sleep is ``EAGAIN``. All of
it was seen in tests/kernel_facts/proc_semadj.c.

The run's sets live in forklab's own IPC namespace (where forklab reads and
removes them): a ``semget`` or ``semop`` from an IPC namespace the run made is
refused, since a set's id there names another set, or none, as the machine decides.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from forklab.scenario import ops
from forklab.scenario.contract import semaphore_elsewhere
from forklab.sim.namespaces import INITIAL
from forklab.sim.syscall import HANDLERS, set_errno

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread

SEMVMX = 32767  # the largest value a semaphore may hold
SEMAEM = 32767  # the largest adjustment either way (down to -SEMAEM - 1)


@dataclass(frozen=True)
class SemSet:
    """One set of one semaphore."""

    value: int = 0


@dataclass
class UndoList:
    """A task's adjustments: set name -> what its end adds to the value. Tasks that
    share the list point at one object."""

    adjustments: dict[str, int] = field(default_factory=dict)

    def __deepcopy__(self, memo: dict[int, Any]) -> UndoList:
        new = UndoList(dict(self.adjustments))
        memo[id(self)] = new
        return new


def in_reach(thread: Thread) -> bool:
    """Whether the run's sets are in the thread's IPC namespace (forklab's own)."""
    return thread.ns.of("ipc") == INITIAL


@HANDLERS.handles(ops.Semget)
def op_semget(k: Kernel, proc: Process, thread: Thread, op: ops.Semget) -> None:
    if not in_reach(thread):
        raise semaphore_elsewhere(op)
    k.semaphores[op.binds[0]] = SemSet()


@HANDLERS.handles(ops.Semop)
def op_semop(k: Kernel, proc: Process, thread: Thread, op: ops.Semop) -> None:
    """perform_atomic_semop: the value may not pass SEMVMX (ERANGE), nor go below 0
    (EAGAIN, as IPC_NOWAIT); a change of 0 waits for zero; an undo past SEMAEM is ERANGE."""
    if not in_reach(thread):
        raise semaphore_elsewhere(op)
    held = k.semaphores.get(op.name)
    if held is None:  # semget failed: the id is -1
        set_errno(proc, thread, "EINVAL")
        return
    value = held.value + op.delta
    if (op.delta == 0 and held.value != 0) or value < 0:
        set_errno(proc, thread, "EAGAIN")
        return
    if value > SEMVMX:
        set_errno(proc, thread, "ERANGE")
        return
    if op.undo:
        undo = thread.semundo.adjustments.get(op.name, 0) - op.delta
        if not -SEMAEM - 1 <= undo <= SEMAEM:
            set_errno(proc, thread, "ERANGE")
            return
        thread.semundo.adjustments[op.name] = undo
    k.semaphores[op.name] = replace(held, value=value)


def for_child(thread: Thread, flags: frozenset[str]) -> UndoList:
    """copy_semundo: the creator's list for a thread or CLONE_SYSVSEM, else a new one."""
    return thread.semundo if flags & {"thread", "sysvsem"} else UndoList()


def task_ended(k: Kernel, thread: Thread) -> None:
    """exit_sem: a task is gone (no longer among its process's threads)."""
    release(k, thread.semundo)


def release(k: Kernel, undo: UndoList) -> None:
    """A task let go of ``undo``: if no live task holds it, it is applied."""
    if any(t.semundo is undo for p in k.processes.values() if not p.ended
           for t in p.threads.values()):
        return
    for name, adjustment in undo.adjustments.items():
        held = k.semaphores.get(name)
        if held is not None:
            value = min(max(held.value + adjustment, 0), SEMVMX)
            k.semaphores[name] = replace(held, value=value)
    undo.adjustments.clear()


def left_ipc_namespace(k: Kernel, thread: Thread) -> None:
    """unshare(CLONE_NEWIPC) implies CLONE_SYSVSEM: the caller lets go of its list (applied
    if it held it alone) and starts an empty one."""
    old, thread.semundo = thread.semundo, UndoList()
    release(k, old)
