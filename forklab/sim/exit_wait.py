"""A process ends, and its parent waits for it: Linux's ``do_exit`` and ``do_wait``.

Ending drops the threads, closes the fd table and leaves the memory (each
only if no other live process shares it), lets a vfork parent's thread go,
hands orphans to init (which reaps them), and tells the parent with its
exit signal (``SIGCHLD`` but for a ``clone exitsig=`` child:
:mod:`forklab.sim.exit_signals`) — or, if that is ``SIGCHLD`` and the parent
ignores it, is reaped at once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim import exit_signals, libc_calls, namespaces, signal_calls, sysvsem
from forklab.sim.files import FdTable
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.sim.tasks import MAIN
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
    sysvsem.task_ended(k, thread)
    parent_thread_gone(k, proc, thread.name)
    hand_over_children(k, proc, thread.name, MAIN)  # the first live thread: the main one


def parent_thread_gone(k: Kernel, proc: Process, thread: str | None) -> None:
    """``forget_original_parent``: the live children that ``thread`` of proc made (every
    child, for None) are sent the parent-death signal each of their threads set, as the
    kernel does when that thread ends, even while another thread of proc lives on
    (tests/kernel_facts/proc_identity.c)."""
    for name in list(proc.children):
        child = k.processes[name]
        if child.ended or (thread is not None and child.parent_thread != thread):
            continue
        for sig in {t.pdeathsig for t in child.threads.values() if t.pdeathsig}:
            signal_calls.send(k, child, sig)


def die(k: Kernel, proc: Process, code: int | None = None, signal: str | None = None) -> None:
    """The process ends: threads, fds and memory go; the parent is told."""
    if proc.ended:
        return
    proc.exit_code, proc.term_signal = (None, signal) if signal else (code, None)
    ended, proc.threads = proc.threads.values(), {}
    for thread in ended:
        sysvsem.task_ended(k, thread)
    files, proc.files = proc.files, FdTable()
    if not any(p.files is files for p in k.processes.values()
               if p is not proc and not p.ended):
        files.close_all()
    leave_mm(k, proc)
    proc.program = None
    proc.state = "zombie"
    release_vfork_parent(k, proc)
    ns_init = namespaces.is_init(k, proc)
    ended_before = {name for name in proc.children if k.processes[name].ended}
    if ns_init:  # its PID namespace dies with it
        for member in namespaces.members(k, proc):
            die(k, member, signal="SIGKILL")
    parent_thread_gone(k, proc, None)
    heir = namespaces.reaper(k, proc)
    if heir is not None:
        adopt(k, k.processes[heir], proc.children)
    for child_name in proc.children if heir is None else ():
        child = k.processes[child_name]  # orphans: init (or forklab, the subreaper) reaps
        child.parent = None
        exit_signals.orphaned(child)
        if ns_init and child_name not in ended_before:
            # killed with its namespace and reaped by the dying init at once: its
            # status is never seen outside (a zombie from before keeps what it showed)
            child.state, child.exit_code, child.term_signal = "reaped", None, None
        elif child.state == "zombie":
            child.state = "reaped"
    proc.children = []
    parent = k.processes.get(proc.parent) if proc.parent else None
    if parent is None or parent.ended:
        proc.state = "reaped"
        return
    sig = exit_signals.sent(proc, parent)
    if sig == exit_signals.CHILD and parent.sighand.reaps_children():
        proc.state = "reaped"  # SIGCHLD ignored, or SA_NOCLDWAIT: the kernel reaps at once
        proc.exit_code, proc.term_signal = None, None  # and discards the status
        parent.children.remove(proc.name)  # still its parent's child, as one reaped by wait
        if parent.sighand.get("SIGCHLD") == "ignore":
            return  # a handler (SA_NOCLDWAIT) is still sent SIGCHLD
    if sig is not None:  # to the thread that made it, if it can take it (tsk->parent)
        signal_calls.send(k, parent, sig, prefer=parent.threads.get(proc.parent_thread))


def adopt(k: Kernel, heir: Process, orphans: list[str]) -> None:
    """The init of a PID namespace the run made takes the orphans of a process that ends
    in it, at the tail of its children; a zombie among them tells it (SIGCHLD), and is
    reaped at once if it does not want its children's statuses."""
    for name in orphans:
        child = k.processes[name]
        child.parent, child.parent_thread, child.sibling = heir.name, MAIN, next(k._order)
        exit_signals.orphaned(child)
        heir.children.append(name)
        if child.state == "zombie":
            if heir.sighand.reaps_children():
                child.state = "reaped"
                child.exit_code, child.term_signal = None, None
                heir.children.remove(name)
                if heir.sighand.get("SIGCHLD") == "ignore":
                    continue
            signal_calls.send(k, heir, "SIGCHLD")


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
    """waitpid(C or -1): reaps a child that has ended (or, ``untraced``, reports one
    that stopped); only a child not yet reaped can be waited for, any other is ECHILD
    (one already reaped, by an earlier wait or by the kernel, included)."""
    _wait(k, proc, thread, op,
          OnChild(op.child, untraced=op.untraced, all_children=op.all_children), op.nohang)


@HANDLERS.handles(ops.Waitid)
def op_waitid(k: Kernel, proc: Process, thread: Thread, op: ops.Waitid) -> None:
    """waitid(WEXITED): as waitpid; with ``nowait`` the child reported stays a zombie."""
    _wait(k, proc, thread, op, OnChild(op.child, keep=op.nowait), op.nohang)


def _wait(k: Kernel, proc: Process, thread: Thread, op: ops.Wait | ops.Waitid,
          wait: OnChild, nohang: bool) -> None:
    if not nohang:
        k.block(proc, thread, op, wait)
    elif reap(k, proc, thread, wait) is not None:  # WNOHANG: 0, nothing to report
        proc.last_waited = proc.last_wait_status = None


def reap(k: Kernel, proc: Process, thread: Thread, wait: OnChild) -> OnChild | None:
    """``do_wait``: the first child, in the kernel's order, with a status to report
    (an end; a stop not yet reported, for WUNTRACED) reports it; None once done."""
    children = [child for child in _waitable(k, proc, thread, wait.child)
                if exit_signals.waitable(child, wait.all_children)]
    if not children:
        set_errno(proc, thread, "ECHILD")
        proc.last_waited = proc.last_wait_status = None
        return None
    for child in children:
        if child.state == "zombie":
            proc.last_waited, proc.last_wait_status = child.name, _status(child)
            if not wait.keep:
                child.state = "reaped"
                proc.children.remove(child.name)
            return None
        if wait.untraced and child.stop_report is not None:
            proc.last_waited = child.name
            proc.last_wait_status = f"stopped {child.stop_report}"
            child.stop_report = None  # reported once
            return None
    return wait


def _waitable(k: Kernel, proc: Process, thread: Thread, name: str | None) -> list[Process]:
    """The children a wait may report on, in the order ``do_wait`` looks at them: the
    calling thread's children list, then each other thread's in the order the
    threads were made (from the caller on), each list oldest first
    (tests/kernel_facts/proc_wait_any.c)."""
    if name is not None:
        return [k.processes[name]] if name in proc.children else []
    threads = list(proc.threads)
    at = threads.index(thread.name) if thread.name in threads else 0
    turn = {t: i for i, t in enumerate(threads[at:] + threads[:at])}
    children = [k.processes[n] for n in proc.children]
    return sorted(children, key=lambda c: (turn.get(c.parent_thread, len(turn)), c.sibling))


def _status(child: Process) -> str:
    if child.term_signal is not None:
        return f"killed {child.term_signal}"
    return f"exited {child.exit_code}"


def hand_over_children(k: Kernel, proc: Process, gone: str, heir: str,
                       keep_place: bool = False) -> None:
    """A thread that ends hands its children to another live thread of its process,
    at the tail of that thread's list (``forget_original_parent``); ``keep_place``:
    the thread is only renamed (an exec makes it the main one)."""
    for name in proc.children:
        child = k.processes[name]
        if child.parent_thread == gone:
            child.parent_thread = heir
            if not keep_place:
                child.sibling = next(k._order)
