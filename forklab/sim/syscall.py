"""The simulator's entry points: one handler per verb, and errno.

Each module of the model (``fork``, ``execve``, ``exit_wait``, ``fdops``,
``mman``, ``signal_calls``, ``libc_calls``, ``programs``, ``whatif``)
registers its verbs here with ``@HANDLERS.handles(ops.X)``; a handler is
``handler(kernel, process, thread, op)``. :meth:`forklab.sim.kernel.Kernel.apply`
looks the op's class up in this table.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario.verbs import Handlers

if TYPE_CHECKING:
    from forklab.sim.tasks import Process, Thread

HANDLERS = Handlers("the simulator")
"""The simulator's handler for each verb: ``handler(kernel, process, thread, op)``."""


def set_result(proc: Process, thread: Thread, value: int) -> None:
    """What a call that returns a count or an offset returned (-1: it failed), as
    ``P.last_result`` shows it: only the calls of the main thread count."""
    if thread is proc.main:
        proc.last_result = value


def set_errno(proc: Process, thread: Thread, errno: str) -> None:
    """A failed call sets errno in the calling thread's TLS (in user memory)."""
    if proc.mm is not None:
        proc.mm.user.errno[thread.tls] = errno
