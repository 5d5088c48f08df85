"""The C library's calls that live in user memory: stdio, mutexes, atfork, malloc.

Their state is :mod:`forklab.sim.libc`'s (in the address space, so fork copies
it and exec loses it); only stdio's writes reach the kernel, through fd 1.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import ScenarioError
from forklab.sim import exit_handlers, exit_wait, fdops
from forklab.sim.files import MQueue, PidFd, Pipe
from forklab.sim.libc import BUFSIZ, STDOUT_BUFFER, Mutex, Stdio, Write
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.sim.waits import OnMutex, OnPipeRoom

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
    writes = proc.mm.user.stdout.put(op.data, failing=_writes_fail(proc))
    _stdio_allocated(proc, thread, fresh)
    write_stdout(k, proc, thread, op, writes)


@HANDLERS.handles(ops.Fflush)
def op_fflush(k: Kernel, proc: Process, thread: Thread, op: ops.Fflush) -> None:
    assert proc.mm is not None
    write_stdout(k, proc, thread, op, proc.mm.user.stdout.flush(failing=_writes_fail(proc)))


@HANDLERS.handles(ops.Setvbuf)
def op_setvbuf(k: Kernel, proc: Process, thread: Thread, op: ops.Setvbuf) -> None:
    assert proc.mm is not None
    fresh = _stdio_allocates(proc)
    writes = proc.mm.user.stdout.setvbuf(op.mode, failing=_writes_fail(proc))
    # unbuffered takes glibc's one-byte buffer inside the FILE: no fstat, no errno
    _stdio_allocated(proc, thread, fresh and op.mode != "none")
    write_stdout(k, proc, thread, op, writes)


def _writes_fail(proc: Process) -> bool:
    """Whether a write(2) to fd 1 fails now, which stops libio short: fd 1 closed or
    read-only (EBADF), a pidfd (EINVAL), a pipe nobody reads (EPIPE, or SIGPIPE
    ends the process in the first write). Nothing a call does changes it before
    its last write (tests/scenarios/exit-flush-broken-pipe.toml)."""
    slot = proc.files.fds.get(1)
    if slot is None or not slot.file.writable:
        return True
    obj = slot.file.obj
    return isinstance(obj, (PidFd, MQueue)) or (isinstance(obj, Pipe) and not obj.collector
                                      and obj.readers == 0)


def exit_flush(k: Kernel, proc: Process, thread: Thread, op: ops.Exit) -> None:
    """exit(): the atexit handlers, then ``_IO_cleanup``: flush stdout, and end the
    process once that is out."""
    assert proc.mm is not None
    failing = _writes_fail(proc)
    writes = exit_handlers.run(proc, failing) + [
        replace(w, exit=exit_handlers.AFTER_HANDLERS)
        for w in proc.mm.user.stdout.flush(failing=failing)]
    write_stdout(k, proc, thread, op, writes, exit_code=op.code)


def write_stdout(k: Kernel, proc: Process, thread: Thread, op: ops.Op, writes: list[Write],
                 exit_code: int | None = None) -> None:
    """stdio's write(2)s of one call; with ``exit_code``, exit() ends the process once
    they are out. One that finds a full pipe leaves the thread waiting for the rest."""
    assert proc.mm is not None
    left = stdio_writes(k, proc, thread, tuple(writes), proc.mm.user.stdout, exit_code)
    if left is not None:
        k.block(proc, thread, op, left)


def stdio_writes(k: Kernel, proc: Process, thread: Thread, writes: tuple[Write, ...],
                 file_after: Stdio, exit_code: int | None) -> OnPipeRoom | None:
    """Make stdio's write(2)s in order, each to whatever fd 1 is then, until one finds
    a full pipe (return what it and the rest wait for); once all are out, the FILE is
    as the call leaves it (``file_after``), and exit() (``exit_code``) unbuffers the
    streams and ends the process.

    While a write(2) is under way the FILE is as it stood just before it: libio moves
    its pointers only once the write returns. So a process asleep in a write to a
    full pipe still holds those bytes in its buffer, and one killed inside it
    (SIGPIPE) never returns to libio: its memory keeps them, and a vfork parent that
    shares it goes on with them (tests/scenarios/exit-flush-broken-pipe.toml,
    stdio-pipe-full.toml)."""
    user = proc.mm.user if proc.mm is not None else None
    for i, written in enumerate(writes):
        if user is not None:
            user.stdout = written.before
            if written.exit is not None:
                user.atexit = list(written.exit.left)
                user.exit_funcs_done = written.exit.done
        slot = proc.files.fds.get(1)
        if slot is None:
            set_errno(proc, thread, "EBADF")
            continue
        obj = slot.file.obj
        if slot.file.writable and isinstance(obj, Pipe) and not obj.collector:
            left = fdops.pipe_write(k, proc, thread, OnPipeRoom(obj, written.text.encode()))
            if left is not None:
                return replace(left, after=writes[i + 1:], file_after=file_after,
                               exit_code=exit_code)
        else:
            fdops.write(k, proc, thread, slot.file, written.text)
        if proc.ended:
            return None
    if user is not None:
        user.stdout = file_after
    if exit_code is not None:
        file_after.unbuffer()  # nothing to write: exit() has just flushed
        exit_wait.die(k, proc, code=exit_code)
    return None


def stdio_write_failed(k: Kernel, proc: Process, thread: Thread, wait: OnPipeRoom) -> None:
    """stdio's write(2) failed with nothing written (EINTR): libio empties the buffer
    all the same and writes nothing more of the call; exit() goes on to end the
    process (tests/scenarios/stdio-interrupted.toml)."""
    assert proc.mm is not None
    proc.mm.user.stdout = proc.mm.user.stdout.after_failed_write()
    if wait.exit_code is not None:
        proc.mm.user.stdout.unbuffer()
        exit_wait.die(k, proc, code=wait.exit_code)


@HANDLERS.handles(ops.Lock)
def op_lock(k: Kernel, proc: Process, thread: Thread, op: ops.Lock) -> None:
    """pthread_mutex_lock: waits while another thread holds it; an errorcheck mutex
    its caller holds already is EDEADLK at once."""
    assert proc.mm is not None
    if proc.mm.user.mutex(op.name).relock(thread.libc_tid):
        proc.lock_result = "EDEADLK"
        return
    k.block(proc, thread, op, OnMutex(op.name))


def take_mutex(proc: Process, thread: Thread, wait: OnMutex) -> OnMutex | None:
    assert proc.mm is not None
    if not proc.mm.user.mutex(wait.name).take(thread.tid, thread.libc_tid):
        return wait
    proc.lock_result = 0
    return None


@HANDLERS.handles(ops.Trylock)
def op_trylock(k: Kernel, proc: Process, thread: Thread, op: ops.Trylock) -> None:
    assert proc.mm is not None
    proc.lock_result = proc.mm.user.mutex(op.name).try_take(thread.tid, thread.libc_tid)


@HANDLERS.handles(ops.Unlock)
def op_unlock(k: Kernel, proc: Process, thread: Thread, op: ops.Unlock) -> None:
    assert proc.mm is not None
    proc.lock_result = proc.mm.user.unlock(op.name, thread.libc_tid)


@HANDLERS.handles(ops.Mutex)
def op_mutex(k: Kernel, proc: Process, thread: Thread, op: ops.Mutex) -> None:
    """pthread_mutex_init with the kind asked for (the mutex is not in use yet: the
    parser sees to that)."""
    assert proc.mm is not None
    proc.mm.user.mutexes[op.name] = Mutex(kind=op.kind)


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
