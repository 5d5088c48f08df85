"""execve: the caller becomes the only thread of a fresh image.

As ``begin_new_exec``: the other threads go (``de_thread``), the memory is
left (the last user of an mm releases it), a shared fd table or handler table
is unshared, close-on-exec fds close (the model's ``Rules.close_on_exec``),
caught signals reset to default, the alternate signal stack and POSIX
timers go (the interval timers stay), and a vfork parent's thread is let go. The new
image's environment is the old one's ``environ``: forklab's exec passes it, as
``execv`` does (tests/kernel_facts/proc_identity.c: the kernel gives the new
image exactly the envp it is passed).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import Program
from forklab.sim import (
    creds,
    exit_signals,
    exit_wait,
    namespaces,
    rlimits,
    roots,
    sched_prctl,
    sysvsem,
    timers,
)
from forklab.sim.libc import UserMemory
from forklab.sim.memory import AddressSpace
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.sim.tasks import MAIN, CatInputs

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Exec)
def op_exec(k: Kernel, proc: Process, thread: Thread, op: ops.Exec) -> None:
    execve(k, proc, thread, op.program)


def execve(k: Kernel, proc: Process, thread: Thread, program: Program) -> bool:
    """A fresh image, or ENOENT for a missing program. True if it ran."""
    error = roots.exec_error(k, proc.fs.root, program)
    if error is not None:
        set_errno(proc, thread, error)
        return False
    for other in list(proc.threads.values()):  # de_thread: only the caller survives,
        if other is not thread:  # and gets the children of the threads that end
            del proc.threads[other.name]
            sysvsem.task_ended(k, other)
            exit_wait.parent_thread_gone(k, proc, other.name)
            exit_wait.hand_over_children(k, proc, other.name, thread.name)
    exit_wait.hand_over_children(k, proc, thread.name, MAIN, keep_place=True)
    thread.name, thread.waiting = MAIN, None
    proc.threads = {MAIN: thread}
    environ = dict(proc.mm.user.environ) if proc.mm is not None else {}  # execve's envp
    exit_wait.leave_mm(k, proc)
    if _shared(k, proc, "files"):
        proc.files = k.rules.copy_files(proc.files)  # unshare_files
    k.rules.close_on_exec(proc.files)
    if _shared(k, proc, "sighand"):
        proc.sighand = proc.sighand.copy()
    proc.sighand.reset_caught()
    namespaces.after_exec(thread)
    thread.altstack = 0
    timers.on_exec(proc)
    thread.tls, thread.descriptor_tid = next(k._tls), None
    proc.execed = True  # its cwd, umask, group and session stay (the fs_struct is kept)
    exit_signals.on_exec(proc)
    sched_prctl.on_exec(thread, program)
    dumpable = creds.on_exec(k, proc, thread)
    if program.kind == "probe":
        proc.mm = AddressSpace(k.memory, UserMemory(environ=environ))
        proc.rlimits["core"] = rlimits.PROBE_CORE  # the probe sets it when it starts
        proc.mm.dumpable = dumpable
    else:
        proc.mm = None
        proc.program = program
        if program.path == "/bin/sleep":
            proc.program_until = k.now + float(program.args[0])
        if program.path == "/bin/cat":
            proc.cat = CatInputs()
    exit_wait.release_vfork_parent(k, proc)
    return True


def _shared(k: Kernel, proc: Process, part: str) -> bool:
    """Whether another live process points at proc's ``files`` or ``sighand``."""
    mine = getattr(proc, part)
    return any(getattr(p, part) is mine for p in k.processes.values()
               if p is not proc and not p.ended)
