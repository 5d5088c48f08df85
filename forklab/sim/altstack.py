"""The alternate signal stack (sigaltstack(2)): a thread's own.

Linux keeps it in the task: a new thread has none (pthread_create(3)), a child made
by fork or vfork gets its creator's, a child that shares the memory without vfork
(clone with CLONE_VM) gets none, for it would run its handlers on its parent's stack,
and execve takes it away (tests/kernel_facts/proc_timers.c). The model sets a child's
in :func:`forklab.sim.fork.clone` and an image's in :func:`forklab.sim.execve.execve`
by :func:`inherited`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim.syscall import HANDLERS

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Sigaltstack)
def op_sigaltstack(k: Kernel, proc: Process, thread: Thread, op: ops.Sigaltstack) -> None:
    thread.altstack = op.stack_size


def inherited(creator: Thread, flags: frozenset[str]) -> int:
    """The new task's alternate stack (copy_process: ``sas_ss_reset`` when CLONE_VM
    comes without CLONE_VFORK; a thread is such a task)."""
    if "thread" in flags or ("vm" in flags and "vfork" not in flags):
        return 0
    return creator.altstack
