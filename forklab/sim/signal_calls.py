"""Signals sent and delivered, and the calls that set them up (Linux's kernel/signal.c).

A signal whose disposition discards it is dropped when it is sent, unless
blocked; a pending signal that some thread does not block is acted on at once:
a caught one runs its (recording) handler, a fatal default ends the process.
A handler that runs on a thread blocked in a call ends or restarts the call
as signal(7) says (:func:`run_handler`). The handler table itself is
:class:`forklab.sim.signals.SigHand`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim import exit_wait
from forklab.sim.syscall import HANDLERS, set_errno, set_result
from forklab.sim.waits import OnAtforkLocks, OnMutex, OnPipeRoom, OnTime
from forklab.vocabulary import DUMPS_CORE, IGNORED_BY_DEFAULT, UNCATCHABLE

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Signal)
def op_signal(k: Kernel, proc: Process, thread: Thread, op: ops.Signal) -> None:
    sig, action = op.signal, op.action
    if sig in UNCATCHABLE:
        set_errno(proc, thread, "EINVAL")
        return
    proc.sighand.set(sig, action)
    if proc.sighand.discards(sig):  # setting SIG_IGN discards what is pending
        proc.shared_pending.discard(sig)
        for t in proc.threads.values():
            t.pending.discard(sig)


@HANDLERS.handles(ops.Block)
def op_block(k: Kernel, proc: Process, thread: Thread, op: ops.Block) -> None:
    if op.signal not in UNCATCHABLE:
        thread.mask.add(op.signal)


@HANDLERS.handles(ops.Unblock)
def op_unblock(k: Kernel, proc: Process, thread: Thread, op: ops.Unblock) -> None:
    thread.mask.discard(op.signal)
    deliver(k, proc)


@HANDLERS.handles(ops.Raise)
def op_raise(k: Kernel, proc: Process, thread: Thread, op: ops.Raise) -> None:
    send(k, proc, op.signal, thread)


@HANDLERS.handles(ops.Kill)
def op_kill(k: Kernel, proc: Process, thread: Thread, op: ops.Kill) -> None:
    target = k.processes.get(op.target)
    if target is None or target.state == "reaped":
        set_errno(proc, thread, "ESRCH")
        return
    send(k, target, op.signal)


def send(k: Kernel, proc: Process, sig: str, thread: Thread | None = None,
         prefer: Thread | None = None) -> None:
    """Generate a signal (to a thread, or to the process) and deliver what can be.

    A signal to the process goes to ``prefer`` if that thread can take it, as the
    kernel's ``complete_signal`` tries the task it was sent to first (a child's
    SIGCHLD goes to the thread that made it), else to its main thread.
    """
    if proc.ended:
        return
    target = thread or proc.main
    if sig not in target.mask and proc.sighand.discards(sig) and sig != "SIGKILL":
        return
    if thread is not None:
        thread.pending.add(sig)
    else:
        proc.shared_pending.add(sig)
    deliver(k, proc, prefer)


def deliver(k: Kernel, proc: Process, prefer: Thread | None = None) -> None:
    """Act on every pending signal that some thread does not block, ``prefer`` first."""
    if proc.ended:
        return
    threads = list(proc.threads.values())
    if prefer in threads:
        threads.remove(prefer)
        threads.insert(0, prefer)
    for thread in threads:
        for pending in (thread.pending, proc.shared_pending):
            for sig in sorted(pending):
                if sig in thread.mask and sig not in UNCATCHABLE:
                    continue
                # a thread in vfork waits killably; a signal sent to the process
                # goes to its main thread (or the thread preferred), and waits
                # with it if that thread is in vfork
                waits = thread.suspended or (pending is proc.shared_pending
                                             and proc.suspended and thread is not prefer)
                if waits and not _kills_at_once(proc, sig):
                    continue
                pending.discard(sig)
                if _fatal(proc, sig):
                    exit_wait.die(k, proc, signal=sig)
                    return
                if proc.sighand.get(sig) == "catch":
                    run_handler(proc, thread)


def run_handler(proc: Process, thread: Thread) -> None:
    """A caught signal's handler runs on thread; a call it was blocked in goes on as
    the kernel decides for a handler installed with SA_RESTART, as `catch` installs
    it (signal(7); tests/kernel_facts/proc_eintr.c): a sleep fails with EINTR, a
    pipe write that has written some bytes returns them, and everything else
    waits again (read, wait, a write with nothing written are restarted; a mutex
    lock is never interrupted)."""
    waiting = thread.waiting
    if waiting is None:
        return
    match waiting.on:
        case OnTime():
            thread.waiting = None
            set_errno(proc, thread, "EINTR")
        case OnMutex(name=name) | OnAtforkLocks(locks=(name, *_)) if proc.mm is not None:
            proc.mm.user.mutex(name).sleepers.discard(thread.tid)  # out of futex_wait:
            # glibc looks at the mutex again, and takes it if it is free
        case OnPipeRoom(done=done) if done > 0 and isinstance(waiting.op, ops.Writefd):
            thread.waiting = None
            set_result(proc, thread, done)


def _kills_at_once(proc: Process, sig: str) -> bool:
    """What wakes a killable wait: SIGKILL, or a default action that only
    terminates (a core-dumping default waits until the vfork child lets go)."""
    return sig == "SIGKILL" or (_fatal(proc, sig) and sig not in DUMPS_CORE)


def _fatal(proc: Process, sig: str) -> bool:
    action = proc.sighand.get(sig)
    return sig == "SIGKILL" or (action == "default" and sig not in IGNORED_BY_DEFAULT)
