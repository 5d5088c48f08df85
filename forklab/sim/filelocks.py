"""File locks: record locks (fcntl F_SETLK), open file description locks (F_OFD_SETLK)
and flock(2), each taken over the whole file and never waited for.

Linux gives each kind a different owner (tests/kernel_facts/proc_locks.c), and the
model keeps each lock with its owner:

- a record lock belongs to the fd table (``FdTable.record_locks``): a thread's lock is
  its process's, a fork child has none of its parent's, execve keeps them, and the
  table's ANY close of an fd of the file releases them, whichever fd set them;
- an OFD lock and a flock lock belong to the open file description
  (``OpenFile.ofd_lock``, ``OpenFile.flock``): a fork child's copy of the fd refers to
  the same description, so it holds the lock too and its change is its parent's; they
  go when the last fd of the description closes.

OFD and record locks conflict with each other (a write lock with any other lock of
another owner); flock locks see only flock locks. A read lock needs an fd open for
reading, a write lock one open for writing (EBADF otherwise); a conflict is EAGAIN.
A lock on /dev/null or a pidfd is refused (validate.SHARED_FILE_LOCK): on the kernel
it would be on an object the whole machine shares. A record lock set again in the
same mode stays on the description it was set through; in the other mode it moves to
the new one (posix_lock_inode keeps or replaces the lock), which is what
/proc/PID/fdinfo shows.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from forklab.scenario import ops
from forklab.scenario.model import ScenarioError
from forklab.scenario.validate import SHARED_FILE_LOCK
from forklab.sim.files import DevNull, Fd, FdTable, OpenFile, PidFd, lock_key
from forklab.sim.syscall import HANDLERS, set_errno

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


def _tables(k: Kernel) -> Iterator[FdTable]:
    """Every fd table of the run, once each (tables shared by CLONE_FILES once)."""
    seen: set[int] = set()
    for proc in [*k.processes.values(), *k.blanks.values()]:
        if not proc.ended and id(proc.files) not in seen:
            seen.add(id(proc.files))
            yield proc.files


def _descriptions(k: Kernel, key: Any) -> Iterator[OpenFile]:
    """Every open file description of the file ``key``, once each."""
    seen: set[int] = set()
    for table in _tables(k):
        for slot in table.fds.values():
            if id(slot.file) not in seen and lock_key(slot.file.obj) == key:
                seen.add(id(slot.file))
                yield slot.file


def _clash(a: str, b: str) -> bool:
    return "write" in (a, b) or "ex" in (a, b)


def _fcntl_conflict(k: Kernel, key: Any, mode: str, owner: object) -> bool:
    """Whether a record or OFD lock of another owner stops ``mode`` on the file."""
    for table in _tables(k):
        held = table.record_locks.get(key)
        if table is not owner and held is not None and _clash(held[0], mode):
            return True
    return any(f is not owner and f.ofd_lock is not None and _clash(f.ofd_lock, mode)
               for f in _descriptions(k, key))


def _slot(k: Kernel, proc: Process, op: ops.FcntlLock | ops.Flock) -> Fd | None:
    slot = proc.files.fds.get(k.names.fd_number(op.fd))
    if slot is not None and isinstance(slot.file.obj, (DevNull, PidFd)):
        raise ScenarioError(SHARED_FILE_LOCK, op.where)
    return slot


@HANDLERS.handles(ops.FcntlLock)
def op_fcntl_lock(k: Kernel, proc: Process, thread: Thread, op: ops.FcntlLock) -> None:
    slot = _slot(k, proc, op)
    if slot is None:
        set_errno(proc, thread, "EBADF")
        return
    file, key = slot.file, lock_key(slot.file.obj)
    if (op.mode == "read" and not file.readable) or (op.mode == "write" and not file.writable):
        set_errno(proc, thread, "EBADF")
        return
    owner: object = file if op.ofd else proc.files
    if op.mode != "unlock" and _fcntl_conflict(k, key, op.mode, owner):
        set_errno(proc, thread, "EAGAIN")
        return
    if op.ofd:
        file.ofd_lock = None if op.mode == "unlock" else op.mode
    elif op.mode == "unlock":
        proc.files.record_locks.pop(key, None)
    else:
        held = proc.files.record_locks.get(key)
        via = held[1] if held is not None and held[0] == op.mode else file
        proc.files.record_locks[key] = (op.mode, via)


@HANDLERS.handles(ops.Flock)
def op_flock(k: Kernel, proc: Process, thread: Thread, op: ops.Flock) -> None:
    slot = _slot(k, proc, op)
    if slot is None:
        set_errno(proc, thread, "EBADF")
        return
    file = slot.file
    if op.mode == "un":
        file.flock = None
        return
    key = lock_key(file.obj)
    if any(f is not file and f.flock is not None and _clash(f.flock, op.mode)
           for f in _descriptions(k, key)):
        set_errno(proc, thread, "EAGAIN")
        return
    file.flock = op.mode


def held_through(proc: Process, number: int) -> frozenset[str]:
    """The locks ``proc`` holds through fd ``number``'s open file description, as
    /proc/PID/fdinfo/FD lists them ("posix write", "ofd read", "flock ex")."""
    slot = proc.files.fds.get(number)
    if slot is None:
        return frozenset()
    file = slot.file
    out = set()
    record = proc.files.record_locks.get(lock_key(file.obj))
    if record is not None and record[1] is file:
        out.add(f"posix {record[0]}")
    if file.ofd_lock is not None:
        out.add(f"ofd {file.ofd_lock}")
    if file.flock is not None:
        out.add(f"flock {file.flock}")
    return frozenset(out)
