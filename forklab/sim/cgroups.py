"""Control groups: which cgroup v2 group a process is in, and ``cgroup NAME``.

A new process starts in its creator's group (fork, vfork, clone, posix_spawn and
the what-if creators), keeps it across execve, and shares it with its threads: a
thread that writes to a group's ``cgroup.procs`` moves its whole process, and a
child moved later leaves its parent where it was (tests/kernel_facts/
proc_cgroup.c); ``clone into=NAME`` (``CLONE_INTO_CGROUP``) starts the child in the
run's group NAME instead. ``Process.cgroup`` is "" for the group forklab runs in,
else the name of a group the run made. The run's groups live below forklab's own group:
where forklab may not make groups there, every move fails with the errno its
mkdir met (:func:`forklab.hostcgroup.own_group`). A move needs write access to
the group's files, which root owns: an effective uid of 0, or CAP_DAC_OVERRIDE
in the first user namespace (a namespace's own capabilities do not reach files
of the first one).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab import hostcgroup
from forklab.scenario import ops
from forklab.sim.namespaces import INITIAL
from forklab.sim.syscall import HANDLERS, set_errno

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Cgroup)
def op_cgroup(k: Kernel, proc: Process, thread: Thread, op: ops.Cgroup) -> None:
    refused = refusal(thread)
    if refused is not None:
        set_errno(proc, thread, refused)
    else:
        proc.cgroup = op.name


def refusal(thread: Thread) -> str | None:
    """Why the thread may not put a process into one of the run's groups (moving one,
    or ``clone into=``), if it may not: the errno."""
    _, refused = hostcgroup.own_group()
    if refused is None and not _may_write(thread):
        refused = "EACCES"
    return refused


def _may_write(thread: Thread) -> bool:
    creds = thread.creds
    return creds.uids[1] == 0 or (creds.capable("CAP_DAC_OVERRIDE")
                                  and thread.ns.of("user") == INITIAL)
