"""A process ends, and its parent waits for it: Linux's ``do_exit`` and ``do_wait``.

Ending drops the threads, closes the fd table and leaves the memory (each
only if no other live process shares it), lets a vfork parent's thread go,
hands orphans to init (which reaps them), and tells the parent with
``SIGCHLD`` — or, if the parent ignores ``SIGCHLD``, is reaped at once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim import libc_calls, signal_calls
from forklab.sim.files import FdTable
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.sim.waits import OnChild

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Exit)
def op_exit(k: Kernel, proc: Process, thread: Thread, op: ops.Exit) -> None:
    """libc exit(): flush stdio (waiting while a pipe is full), leave every stream
    unbuffered, then end; a flush into a pipe nobody reads ends it by SIGPIPE first.

    The unbuffering shows only where the memory is shared: a parent whose
    vfork child called exit() finds its own stdout unbuffered afterwards.
    """
    assert proc.mm is not None
    libc_calls.exit_flush(k, proc, thread, op)


@HANDLERS.handles(ops.SysExit)
def op__exit(k: Kernel, proc: Process, thread: Thread, op: ops.SysExit) -> None:
    die(k, proc, code=op.code)


@HANDLERS.handles(ops.ThreadExit)
def op_thread_exit(k: Kernel, proc: Process, thread: Thread, op: ops.ThreadExit) -> None:
    del proc.threads[thread.name]


def die(k: Kernel, proc: Process, code: int | None = None, signal: str | None = None) -> None:
    """The process ends: threads, fds and memory go; the parent is told."""
    if proc.ended:
        return
    proc.exit_code, proc.term_signal = (None, signal) if signal else (code, None)
    proc.threads = {}
    files, proc.files = proc.files, FdTable()
    if not any(p.files is files for p in k.processes.values()
               if p is not proc and not p.ended):
        files.close_all()
    leave_mm(k, proc)
    proc.program = None
    proc.state = "zombie"
    release_vfork_parent(k, proc)
    for child_name in proc.children:  # orphans: init (or forklab, the subreaper) reaps
        child = k.processes[child_name]
        child.parent = None
        if child.state == "zombie":
            child.state = "reaped"
    proc.children = []
    parent = k.processes.get(proc.parent) if proc.parent else None
    if parent is None or parent.ended:
        proc.state = "reaped"
        return
    if parent.sighand.reaps_children():
        proc.state = "reaped"  # SIGCHLD ignored, or SA_NOCLDWAIT: the kernel reaps at once
        proc.exit_code, proc.term_signal = None, None  # and discards the status
        parent.children.remove(proc.name)  # still its parent's child, as one reaped by wait
        if parent.sighand.get("SIGCHLD") == "ignore":
            return  # a handler (SA_NOCLDWAIT) is still sent SIGCHLD
    # to the thread that made it, if it can take it (the kernel's tsk->parent)
    signal_calls.send(k, parent, "SIGCHLD", prefer=parent.threads.get(proc.parent_thread))


def leave_mm(k: Kernel, proc: Process) -> None:
    """Drop proc's hold on its mm (``mmput``); the last user releases every mapping."""
    mm, proc.mm = proc.mm, None
    if mm is None:
        return
    if not any(p.mm is mm for p in k.processes.values() if not p.ended):
        mm.release()


def release_vfork_parent(k: Kernel, proc: Process) -> None:
    """The vfork child execs or ends: the thread that called vfork runs again."""
    if proc.vfork_parent is not None and proc.vfork_thread is not None:
        parent, waiter = k.processes[proc.vfork_parent], proc.vfork_thread
        if waiter.suspended:
            waiter.suspended = False
            signal_calls.deliver(k, parent)
        proc.vfork_parent, proc.vfork_thread = None, None


@HANDLERS.handles(ops.Wait)
def op_wait(k: Kernel, proc: Process, thread: Thread, op: ops.Wait) -> None:
    """waitpid: only a child not yet reaped can be waited for; any other is ECHILD
    (one already reaped, by an earlier wait or by the kernel, included)."""
    name = op.child
    child = k.processes.get(name)
    if child is None or name not in proc.children:
        set_errno(proc, thread, "ECHILD")
        return
    k.block(proc, thread, op, OnChild(name))


def reap(k: Kernel, proc: Process, thread: Thread, wait: OnChild) -> OnChild | None:
    if wait.child not in proc.children:
        set_errno(proc, thread, "ECHILD")
        return None
    child = k.processes[wait.child]
    if child.state != "zombie":
        return wait
    child.state = "reaped"
    proc.children.remove(child.name)
    return None
