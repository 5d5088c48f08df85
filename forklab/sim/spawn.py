"""glibc's posix_spawn: ``clone(vm, vfork)``, then the child's set-up, then exec.

In the child: caught signals reset to default, the ``sigdefault`` signals
too, the file actions in order, the signal mask, and ``exec``. A failure is
reported to the caller and the child is gone: no child remains. The file
actions also configure the what-if APIs' blank processes
(:mod:`forklab.sim.whatif`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import Program, SpawnAction
from forklab.sim import execve, exit_wait, fdops, fork, roots, signal_calls
from forklab.sim.fs_struct import DEV_NULL
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.vocabulary import UNCATCHABLE

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Spawn)
def op_spawn(k: Kernel, proc: Process, thread: Thread, op: ops.Spawn) -> None:
    stats = fork.fork_stats(proc)
    spawn(k, proc, thread, op.binds[0], op.program, op.actions,
          k.spawn_cost("spawn", stats))


def spawn(k: Kernel, proc: Process, thread: Thread, name: str, program: Program,
          actions: tuple[SpawnAction, ...], spawn_us: float) -> Process | None:
    """posix_spawn of ``program`` as ``name``: the child, or None if the call failed."""
    child = fork.clone(k, proc, thread, name, frozenset({"vm", "vfork"}))
    if child is None:  # (a PID namespace whose init is gone: ENOMEM)
        return None
    child.spawn_us = spawn_us
    child.sighand.reset_caught()
    mask = set(thread.mask)
    defaults: frozenset[str] = frozenset()
    for action in actions:  # attributes: a later one replaces an earlier one
        if action.kind == "sigdefault":
            defaults = action.signals
        elif action.kind == "sigmask":
            mask = set(action.signals - UNCATCHABLE)
    for sig in defaults:
        child.sighand.set(sig, "default")
    error = None
    kinds = {action.kind for action in actions}
    if {"setsid", "setpgroup"} <= kinds:
        # glibc sets both before the file actions; a session leader cannot change
        # its group, nor a group leader make a session: EPERM either way
        error = "EPERM"
    for action in actions if error is None else ():  # in the child, in order
        if action.kind in ("close", "open") and \
                k.names.fd_number(action.fd if action.kind == "close" else action.num) \
                not in child.files.fds:
            # glibc closes the fd first (open= too) and ignores EBADF, but the child
            # shares the caller's memory and thread pointer: its errno is left EBADF
            set_errno(proc, thread, "EBADF")
        error = file_action(k, child, child, action)
        if error:
            break
    child.main.mask = mask
    if error is None:
        error = roots.exec_error(k, child.fs.root, program)
    if error is not None:
        set_errno(proc, thread, error)
        child.files.close_all()
        exit_wait.leave_mm(k, child)
        exit_wait.release_vfork_parent(k, child)
        del k.processes[name]
        proc.children.remove(name)
        k.names.failed[name] = error
        # glibc's child existed and exited (glibc reaps it): the caller got SIGCHLD
        if proc.sighand.get("SIGCHLD") != "ignore":
            signal_calls.send(k, proc, "SIGCHLD")
        if proc.sighand.reaps_children():  # the kernel reaped it: glibc's waitpid
            set_errno(proc, thread, "ECHILD")  # fails (tests/kernel_facts/proc_sigaction.c)
        return None
    if "setsid" in kinds:  # a session of its own, and a process group
        child.session = child.pgrp = name
    elif "setpgroup" in kinds:
        child.pgrp = name
    execve.execve(k, child, child.main, program)
    return child


def file_action(k: Kernel, owner: Process, target: Process, action: SpawnAction) -> str | None:
    """One posix_spawn file action (or a `configure` of a blank process); an errno
    name if it fails."""
    files = target.files
    fd = k.names.fd_number(action.fd)
    if action.kind == "close":
        files.close(fd)
    elif action.kind == "dup2":
        src = owner.files.fds.get(fd) if owner is not target else files.fds.get(fd)
        if src is None:
            return "EBADF"
        assert action.num is not None
        if owner is target and fd == action.num:
            files.fds[action.num].cloexec = False
        else:
            files.install(action.num, src.file)
    elif action.kind == "open":
        assert action.num is not None and action.path is not None
        write = action.num != 0
        unreachable = roots.spawn_path_error(k, target, action.path)
        if unreachable:
            return unreachable
        file = fdops.open_file(k, target.fs.looked_up(action.path), write=write,
                               create=write, truncate=write,
                               read=not write)  # O_RDONLY, or O_WRONLY|O_CREAT|O_TRUNC
        if isinstance(file, str):
            return file
        files.install(action.num, file)
    elif action.kind == "closefrom":
        assert action.num is not None
        for number in [n for n in files.numbers() if n >= action.num]:
            files.close(number)
    elif action.kind == "chdir":
        assert action.path is not None
        unreachable = roots.spawn_path_error(k, target, action.path)
        if unreachable:
            return unreachable
        path = target.fs.looked_up(action.path)
        # /dev/null is a device, not a directory (the kernel says ENOTDIR)
        kind = "file" if path == DEV_NULL else fdops.resolve(k, path)[0]
        if kind != "dir":
            return {"file": "ENOTDIR", "missing": "ENOENT"}.get(kind, kind)
        target.fs.cwd = path
    return None
