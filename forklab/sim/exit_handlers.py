"""atexit(3): handlers that exit() runs, last registered first, before stdio's flush.

glibc keeps the list in the address space: fork copies it, vfork and a thread share
it, execve drops it with the memory, and ``_exit`` runs nothing. Each handler the
language registers prints its text through stdio (printf), so what it prints is in
the run's stdout once the flush that follows writes it out. Once an exit() has run
the handlers of a memory (a vfork child's exit() runs its parent's), glibc refuses
any more there (``__exit_funcs_done``): the parent's later atexit fails.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim.libc import ExitProgress, Write
from forklab.sim.syscall import HANDLERS

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Atexit)
def op_atexit(k: Kernel, proc: Process, thread: Thread, op: ops.Atexit) -> None:
    assert proc.mm is not None
    if not proc.mm.user.exit_funcs_done:  # else glibc's __new_exitfn refuses: atexit is -1
        proc.mm.user.atexit.append(op.data)


def run(proc: Process, failing: bool) -> list[Write]:
    """exit()'s handlers, each taken off the list before it runs (a vfork child's
    exit() runs, and so empties, its parent's list): the writes their printf made,
    each with the list as it stands while that write is under way, so that a write
    that waits on a full pipe leaves the handlers not yet run on the list
    (glibc's ``__run_exit_handlers``; tests/scenarios/atexit-blocked-exit.toml)."""
    assert proc.mm is not None
    user = proc.mm.user
    writes: list[Write] = []
    while user.atexit:
        text = user.atexit.pop()
        during = ExitProgress(tuple(user.atexit), done=False)
        writes += [replace(w, exit=during) for w in user.stdout.put(text, failing=failing)]
    user.exit_funcs_done = True
    return writes


AFTER_HANDLERS = ExitProgress((), done=True)
"""exit() once its handlers have all run: what its flush writes are made in."""
