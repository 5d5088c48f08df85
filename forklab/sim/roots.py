"""The root directory (chroot(2)): where a process's absolute paths begin.

The root lives in the fs_struct with the cwd (:mod:`forklab.sim.fs_struct`):
``fork``, ``vfork`` and ``posix_spawn`` copy it, a thread and ``clone fs`` share
it, ``exec`` keeps it. forklab passes the scratch paths of its verbs from the
scratch directory, which a chroot does not move, so they keep working; what a
chrooted process loses are its absolute paths, which are looked up below its
root: every program (forklab's probe included: ``ENOENT``), ``/dev/null`` (a
scratch file ROOT/dev/null if there is one), and the paths of a spawn's file
actions, which forklab passes as absolute paths of the machine
(tests/kernel_facts/proc_root.c).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import Program
from forklab.sim import fdops
from forklab.sim.fs_struct import DEV_NULL
from forklab.sim.syscall import HANDLERS, set_errno

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread

@HANDLERS.handles(ops.Chroot)
def op_chroot(k: Kernel, proc: Process, thread: Thread, op: ops.Chroot) -> None:
    """``chroot``: the path is looked up first (ENOENT, ENOTDIR), then the caller needs
    CAP_SYS_CHROOT in its user namespace (EPERM)."""
    path = proc.fs.looked_up(op.path)
    kind = "file" if path == DEV_NULL else fdops.resolve(k, path)[0]
    if kind != "dir":
        set_errno(proc, thread, {"file": "ENOTDIR", "missing": "ENOENT"}.get(kind, kind))
    elif not thread.creds.capable("CAP_SYS_CHROOT"):
        set_errno(proc, thread, "EPERM")
    else:
        proc.fs.root = path


def exec_error(k: Kernel, root: str | None, program: Program) -> str | None:
    """The errno an exec of program gets below root (None: the machine's), if any:
    ENOENT for `missing`; below a scratch directory, ENOENT for the probe, whose path
    never is there, and for a /bin program, ROOT/bin/NAME: missing (ENOENT), through a
    file (ENOTDIR), or not executable, as every file a scenario makes (EACCES)."""
    if program.kind == "missing":
        return "ENOENT"
    if root is None:
        return None
    if program.kind == "probe":
        return "ENOENT"
    kind = fdops.resolve(k, f"{root}{program.path}")[0]
    return {"file": "EACCES", "dir": "EACCES", "missing": "ENOENT"}.get(kind, kind)


def spawn_path_error(k: Kernel, proc: Process, path: str) -> str | None:
    """A spawn file action's path in a chrooted child: forklab passes it as the
    machine's absolute path, which is not below the root (ENOENT); /dev/null is
    looked up below it. None: the path is the model's to open as usual."""
    if proc.fs.root is None or path == DEV_NULL:
        return None
    return "ENOENT"
