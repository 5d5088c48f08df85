"""What-if APIs: process-creation designs Linux does not ship, simulator only.

Spawn templates (prepare once, start many), a blank process configured
through a pidfd before it runs, and Windows' CreateProcess with an explicit
list of inherited fds. Each creates its process with :func:`forklab.sim.fork.clone`
(``blank``: nothing of the caller's memory is copied), then execs. Each design's
process starts in its caller's working directory with its caller's umask (a
copy: CreateProcess's default current directory is its caller's; a blank
process's `chdir=` action changes its own), and in its caller's process group
and session.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import Program, SpawnAction
from forklab.sim import cost, execve, fork, roots, spawn
from forklab.sim.files import FdTable, OpenFile, PidFd
from forklab.sim.fs_struct import FsStruct
from forklab.sim.rlimits import fd_limit
from forklab.sim.signals import SigHand
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.sim.tasks import MAIN, Process
from forklab.vocabulary import UNCATCHABLE

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Thread

BLANK = frozenset({"blank"})


@HANDLERS.handles(ops.SpawnTemplate)
def op_spawn_template(k: Kernel, proc: Process, thread: Thread, op: ops.SpawnTemplate) -> None:
    k.templates[op.binds[0]] = (op.program, op.actions)


@HANDLERS.handles(ops.SpawnFrom)
def op_spawn_from(k: Kernel, proc: Process, thread: Thread, op: ops.SpawnFrom) -> None:
    program, actions = k.templates[op.template]
    spawn.spawn(k, proc, thread, op.binds[0], program, actions,
                k.spawn_cost("spawn_template", cost.ForkStats.empty()))


@HANDLERS.handles(ops.PidfdEmpty)
def op_pidfd_empty(k: Kernel, proc: Process, thread: Thread, op: ops.PidfdEmpty) -> None:
    """A blank process: no memory, no fds, default signals, not yet running."""
    blank = Process(op.binds[0], 0, None, FdTable(), SigHand(),
                    {MAIN: fork.new_thread(k, MAIN)}, proc.fs.copy(), parent=proc.name,
                    rlimits=dict(proc.rlimits), cgroup=proc.cgroup)
    k.blanks[op.binds[0]] = blank
    number = proc.files.lowest_free(fd_limit(proc))
    if number is not None:
        proc.files.install(number, OpenFile(PidFd(op.binds[0]), True, True), cloexec=True)
        k.names.fd_names[op.binds[0]] = number


@HANDLERS.handles(ops.Configure)
def op_configure(k: Kernel, proc: Process, thread: Thread, op: ops.Configure) -> None:
    blank = k.blanks[op.blank]
    action: SpawnAction = op.action
    if action.kind == "sigmask":
        blank.main.mask = set(action.signals - UNCATCHABLE)
    elif action.kind == "sigdefault":
        pass  # a blank process has every signal at its default already
    else:
        error = spawn.file_action(k, proc, blank, action)
        if error:
            set_errno(proc, thread, error)


@HANDLERS.handles(ops.PidfdExec)
def op_pidfd_exec(k: Kernel, proc: Process, thread: Thread, op: ops.PidfdExec) -> None:
    blank = k.blanks.pop(op.blank)
    _create(k, proc, thread, op.binds[0], op.program, blank.files, blank.sighand,
            blank.main.mask, blank.fs)


@HANDLERS.handles(ops.CreateProcess)
def op_create_process(k: Kernel, proc: Process, thread: Thread, op: ops.CreateProcess) -> None:
    """CreateProcess style: the child inherits exactly the fds listed."""
    files = FdTable()
    for ref in op.inherit:
        number = k.names.fd_number(ref)
        slot = proc.files.fds.get(number)
        if slot is None:
            _failed(k, proc, thread, op.binds[0], "EBADF", files)
            return
        files.install(number, slot.file)
    _create(k, proc, thread, op.binds[0], op.program, files, SigHand(), set(), proc.fs.copy())


def _create(k: Kernel, proc: Process, thread: Thread, name: str, program: Program,
            files: FdTable, sighand: SigHand, mask: set[str], fs: FsStruct) -> None:
    """A process made from nothing of the caller's but the fds, handlers and fs_struct
    given, running ``program`` at once."""
    error = roots.exec_error(k, fs.root, program)
    if error is not None:
        _failed(k, proc, thread, name, error, files)
        return
    child = fork.clone(k, proc, thread, name, BLANK, files=files, sighand=sighand, fs=fs)
    if child is None:  # (a PID namespace whose init is gone: ENOMEM)
        files.close_all()
        return
    child.main.mask = set(mask)
    child.spawn_us = k.spawn_cost("blank", cost.ForkStats.empty())
    execve.execve(k, child, child.main, program)


def _failed(k: Kernel, proc: Process, thread: Thread, name: str, errno: str,
            files: FdTable) -> None:
    set_errno(proc, thread, errno)
    k.names.failed[name] = errno
    files.close_all()
