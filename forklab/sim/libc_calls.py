"""The C library's calls that live in user memory: stdio, mutexes, atfork, malloc.

Their state is :mod:`forklab.sim.libc`'s (in the address space, so fork copies
it and exec loses it); only stdio's writes reach the kernel, through fd 1.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import ScenarioError
from forklab.sim import fdops
from forklab.sim.libc import BUFSIZ, STDOUT_BUFFER
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.sim.waits import OnMutex

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


def _stdio_allocates(proc: Process) -> bool:
    """Before a stdio call that may allocate stdout's buffer: glibc fstat()s fd 1 to
    size it (st_blksize, 4096 here); with fd 1 closed fstat fails, leaving errno
    EBADF and a BUFSIZ buffer (tests/scenarios/stdout-closed.toml). True if the
    buffer is not allocated yet."""
    assert proc.mm is not None
    stdio = proc.mm.user.stdout
    stdio.alloc_size = STDOUT_BUFFER if 1 in proc.files.fds else BUFSIZ
    return stdio.size == 0


def _stdio_allocated(proc: Process, thread: Thread, before: bool) -> None:
    assert proc.mm is not None
    if before and proc.mm.user.stdout.size and 1 not in proc.files.fds:
        set_errno(proc, thread, "EBADF")


@HANDLERS.handles(ops.Printf)
def op_printf(k: Kernel, proc: Process, thread: Thread, op: ops.Printf) -> None:
    assert proc.mm is not None
    fresh = _stdio_allocates(proc)
    chunks = proc.mm.user.stdout.put(op.data)
    _stdio_allocated(proc, thread, fresh)
    for chunk in chunks:
        write_stdout(k, proc, thread, chunk)


@HANDLERS.handles(ops.Fflush)
def op_fflush(k: Kernel, proc: Process, thread: Thread, op: ops.Fflush) -> None:
    assert proc.mm is not None
    write_stdout(k, proc, thread, proc.mm.user.stdout.flush())


@HANDLERS.handles(ops.Setvbuf)
def op_setvbuf(k: Kernel, proc: Process, thread: Thread, op: ops.Setvbuf) -> None:
    assert proc.mm is not None
    fresh = _stdio_allocates(proc)
    out = proc.mm.user.stdout.setvbuf(op.mode)
    # unbuffered takes glibc's one-byte buffer inside the FILE: no fstat, no errno
    _stdio_allocated(proc, thread, fresh and op.mode != "none")
    write_stdout(k, proc, thread, out)


def write_stdout(k: Kernel, proc: Process, thread: Thread, text: str) -> None:
    """stdio writes its buffer to whatever fd 1 is now."""
    if not text:
        return
    slot = proc.files.fds.get(1)
    if slot is None:
        set_errno(proc, thread, "EBADF")
        return
    fdops.write(k, proc, thread, slot.file, text)


@HANDLERS.handles(ops.Lock)
def op_lock(k: Kernel, proc: Process, thread: Thread, op: ops.Lock) -> None:
    k.block(proc, thread, op, OnMutex(op.name))


def take_mutex(proc: Process, thread: Thread, wait: OnMutex) -> OnMutex | None:
    assert proc.mm is not None
    mutex = proc.mm.user.mutex(wait.name)
    if mutex.owner is not None:
        return wait
    mutex.owner = thread.tid
    return None


@HANDLERS.handles(ops.Unlock)
def op_unlock(k: Kernel, proc: Process, thread: Thread, op: ops.Unlock) -> None:
    assert proc.mm is not None
    proc.mm.user.mutex(op.name).owner = None  # a normal mutex checks no owner


@HANDLERS.handles(ops.Atfork)
def op_atfork(k: Kernel, proc: Process, thread: Thread, op: ops.Atfork) -> None:
    assert proc.mm is not None
    proc.mm.user.atfork.append(op.name)


@HANDLERS.handles(ops.Malloc)
def op_malloc(k: Kernel, proc: Process, thread: Thread, op: ops.Malloc) -> None:
    assert proc.mm is not None
    proc.mm.user.allocations[op.binds[0]] = op.size


@HANDLERS.handles(ops.Free)
def op_free(k: Kernel, proc: Process, thread: Thread, op: ops.Free) -> None:
    assert proc.mm is not None
    if op.name not in proc.mm.user.allocations:
        raise ScenarioError(
            f"'{op.name}' is not an allocation in {proc.name}'s memory "
            "(freed already, or made before an exec)", op.where)
    del proc.mm.user.allocations[op.name]
