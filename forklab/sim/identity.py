"""The calls on a process's place, identity and environment: ``chdir``, ``umask``,
``setpgid``, ``setsid``, ``setenv``, ``unsetenv``, and ``pdeathsig``
(``PR_SET_PDEATHSIG``: a thread's, sent when the thread that made its process ends,
by :func:`forklab.sim.exit_wait.parent_thread_gone`).

The working directory and umask live in the fs_struct (:mod:`forklab.sim.fs_struct`);
the process group and session in the process (Linux's ``signal_struct``: a thread's
are its process's). A group or session is named by its leader, the process whose pid
is its id. ``setpgid`` and ``setsid`` refuse as ``sys_setpgid`` and ``sys_setsid`` do
(tests/kernel_facts/proc_identity.c). The environment is glibc's, in the process's
memory (:class:`~forklab.sim.libc.UserMemory`): vfork and ``clone vm`` share it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim import fdops, namespaces
from forklab.sim.fs_struct import DEV_NULL
from forklab.sim.syscall import HANDLERS, set_errno

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Chdir)
def op_chdir(k: Kernel, proc: Process, thread: Thread, op: ops.Chdir) -> None:
    path = proc.fs.looked_up(op.path)
    # /dev/null is a device, not a directory
    kind = "file" if path == DEV_NULL else fdops.resolve(k, path)[0]
    if kind == "dir":
        proc.fs.cwd = path
    else:
        set_errno(proc, thread, {"file": "ENOTDIR", "missing": "ENOENT"}.get(kind, kind))


@HANDLERS.handles(ops.Umask)
def op_umask(k: Kernel, proc: Process, thread: Thread, op: ops.Umask) -> None:
    proc.fs.umask = op.mask


@HANDLERS.handles(ops.Pdeathsig)
def op_pdeathsig(k: Kernel, proc: Process, thread: Thread, op: ops.Pdeathsig) -> None:
    thread.pdeathsig = op.signal


@HANDLERS.handles(ops.Setenv)
def op_setenv(k: Kernel, proc: Process, thread: Thread, op: ops.Setenv) -> None:
    assert proc.mm is not None
    proc.mm.user.environ[op.variable] = op.value


@HANDLERS.handles(ops.Unsetenv)
def op_unsetenv(k: Kernel, proc: Process, thread: Thread, op: ops.Unsetenv) -> None:
    assert proc.mm is not None
    proc.mm.user.environ.pop(op.variable, None)


def _group_exists(k: Kernel, leader: str, session: str) -> bool:
    """Whether a process group of that id (its leader's name) has a member not yet
    reaped in the session (a zombie stays in its group until it is reaped)."""
    return any(p.state != "reaped" and p.pgrp == leader and p.session == session
               for p in k.processes.values())


def _names(k: Kernel, caller: Process, leader: str) -> bool:
    """Whether the caller can name the group's id, its leader's pid: a process of a PID
    namespace above the caller's has no number in it (setpgid finds no such group)."""
    process = k.processes.get(leader)
    return process is not None and namespaces.sees(k, caller, process)


@HANDLERS.handles(ops.Setpgid)
def op_setpgid(k: Kernel, proc: Process, thread: Thread, op: ops.Setpgid) -> None:
    target = k.processes.get(op.target)
    errno = None
    if target is None or target.state == "reaped":
        errno = "ESRCH"
    elif target is not proc:
        if target.parent != proc.name:
            errno = "ESRCH"  # only the caller or a child of it
        elif target.session != proc.session:
            errno = "EPERM"
        elif target.execed:
            errno = "EACCES"  # a child that has run execve
    if errno is None and target is not None:
        if target.session == target.name:
            errno = "EPERM"  # a session leader stays in its group
        elif op.group != op.target and (not _group_exists(k, op.group, proc.session)
                                        or not _names(k, proc, op.group)):
            errno = "EPERM"  # no such group in the session, or none the caller can name
        else:
            target.pgrp = op.group
            return
    assert errno is not None
    set_errno(proc, thread, errno)


@HANDLERS.handles(ops.Setsid)
def op_setsid(k: Kernel, proc: Process, thread: Thread, op: ops.Setsid) -> None:
    if proc.session == proc.name or any(p.state != "reaped" and p.pgrp == proc.name
                                        for p in k.processes.values()):
        set_errno(proc, thread, "EPERM")  # a session or group leader already
        return
    proc.session = proc.pgrp = proc.name
