"""Directory streams: glibc's opendir and readdir (tests/kernel_facts/proc_dirstream.c).

A stream is two things in two places: an fd (close-on-exec: glibc opens it with
O_CLOEXEC), whose open file description holds the directory's offset, and a
buffer in the process's memory (:class:`forklab.sim.libc.UserMemory` ``dirs``).
The first readdir fills the buffer with one getdents64 of 32 KiB, the whole of a
scratch directory, and moves the offset to the end (ext4's, ``DIRECTORY_END``);
the next ones take entries from the buffer. So fork copies what is buffered but
shares the offset: a child forked before its parent's first readdir finds the
directory at its end once the parent has read it, and reads nothing. exec drops
the buffer and closes the fd.

The model counts entries, never names them (their order is the file system's
hash order): a directory holds ``.``, ``..`` and what the scenario made in it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import ScenarioError
from forklab.sim import fdops
from forklab.sim.files import Directory
from forklab.sim.syscall import HANDLERS, set_errno, set_result

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Opendir)
def op_opendir(k: Kernel, proc: Process, thread: Thread, op: ops.Opendir) -> None:
    """open(PATH, O_RDONLY | O_DIRECTORY | O_CLOEXEC), then an empty buffer."""
    assert proc.mm is not None
    path = op.path or "."
    kind, _ = fdops.resolve(k, path)
    errno = {"file": "ENOTDIR", "missing": "ENOENT"}.get(kind, kind if kind != "dir" else None)
    if errno is not None:
        set_errno(proc, thread, errno)
        k.names.failed[op.binds[0]] = errno
        return
    number = fdops.open_directory(k, proc, thread, path, op.binds[0])
    if number is not None:
        proc.mm.user.dirs[number] = 0


@HANDLERS.handles(ops.Readdir)
def op_readdir(k: Kernel, proc: Process, thread: Thread, op: ops.Readdir) -> None:
    """1 for an entry, 0 for none: the end, or a failure (errno: EBADF if FD is no
    stream of this memory or is closed, ENOTDIR if its number now holds another file)."""
    assert proc.mm is not None
    streams = proc.mm.user.dirs
    number = k.names.fd_number(op.fd)
    if number not in streams:
        set_errno(proc, thread, "EBADF")
        set_result(proc, thread, 0)
        return
    if streams[number] == 0:
        streams[number] = _getdents(k, proc, thread, number, op)
    if streams[number] == 0:
        set_result(proc, thread, 0)
        return
    streams[number] -= 1
    set_result(proc, thread, 1)


def _getdents(k: Kernel, proc: Process, thread: Thread, number: int, op: ops.Op) -> int:
    """What one getdents64 of the stream's fd puts in the buffer: every entry from the
    start, none at the end; 0 after errno."""
    slot = proc.files.fds.get(number)
    if slot is None:
        set_errno(proc, thread, "EBADF")
        return 0
    file = slot.file
    if not isinstance(file.obj, Directory):
        set_errno(proc, thread, "ENOTDIR")
        return 0
    if file.offset == fdops.DIRECTORY_END:
        return 0
    if file.offset != 0:
        raise ScenarioError("a directory stream read from an offset lseek set, not its "
                            "start or end, is not modelled (the file system's hash order)",
                            op.where)
    file.offset = fdops.DIRECTORY_END
    return 2 + len(fdops.entries(k, file.obj.path))
