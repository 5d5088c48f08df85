"""Signals sent and delivered, and the calls that set them up (Linux's kernel/signal.c).

A signal whose disposition discards it is dropped when it is sent, unless
blocked; a pending signal that some thread does not block is acted on at once:
a caught one runs its handler (the recording one, or one that calls ``_exit``),
a fatal default ends the process. A handler that runs on a thread blocked in a
call ends or restarts the call as signal(7) says (:func:`run_handler`). The
handler table itself is :class:`forklab.sim.signals.SigHand`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim import exit_wait, jobctl, libc_calls, namespaces
from forklab.sim.syscall import HANDLERS, set_errno, set_result
from forklab.sim.waits import OnAtforkLocks, OnChild, OnMutex, OnPipeRoom, OnTime
from forklab.vocabulary import (
    DUMPS_CORE,
    IGNORED_BY_DEFAULT,
    SIGNAL_NUMBERS,
    STOPPING,
    UNCATCHABLE,
)

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Signal)
def op_signal(k: Kernel, proc: Process, thread: Thread, op: ops.Signal) -> None:
    """glibc's signal(): sigaction with SA_RESTART (no `norestart` flag)."""
    set_action(proc, thread, op.signal, op.action)


@HANDLERS.handles(ops.Sigaction)
def op_sigaction(k: Kernel, proc: Process, thread: Thread, op: ops.Sigaction) -> None:
    set_action(proc, thread, op.signal, op.action, op.flags, op.code)


def set_action(proc: Process, thread: Thread, sig: str, action: str,
               flags: frozenset[str] = frozenset(), code: int = 0) -> None:
    if sig in UNCATCHABLE:
        set_errno(proc, thread, "EINVAL")
        return
    proc.sighand.set(sig, action, flags, code)
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
    send(k, proc, op.signal, thread, sender=proc)


@HANDLERS.handles(ops.Kill)
def op_kill(k: Kernel, proc: Process, thread: Thread, op: ops.Kill) -> None:
    """pidfd_send_signal to the process, or tgkill to one of its threads: a thread
    that has ended (or whose process has) is ESRCH. pidfd_send_signal checks that the
    sender's PID namespace sees the pid before it looks for the process: a process
    outside is EINVAL even once reaped."""
    target = k.processes.get(op.target)
    if target is None:
        set_errno(proc, thread, "ESRCH")
        return
    visible = namespaces.sees(k, proc, target)  # its pid means nothing to a process outside
    if op.thread is None and not visible:  # its PID namespace and the ones above
        set_errno(proc, thread, "EINVAL")
        return
    if target.state == "reaped":
        set_errno(proc, thread, "ESRCH")
        return
    if op.thread is None:
        send(k, target, op.signal, sender=proc)
        return
    to = target.threads.get(op.thread)
    if to is None or not visible:
        set_errno(proc, thread, "ESRCH")
        return
    send(k, target, op.signal, to, sender=proc)


def send(k: Kernel, proc: Process, sig: str, thread: Thread | None = None,
         prefer: Thread | None = None, sender: Process | None = None) -> None:
    """Generate a signal (to a thread, or to the process) and deliver what can be.

    A signal to the process goes to ``prefer`` if that thread can take it, as the
    kernel's ``complete_signal`` tries the task it was sent to first (a child's
    SIGCHLD goes to the thread that made it), else to its main thread. ``sender``:
    the process that sent it (None: the kernel, on the process's own behalf).
    """
    if proc.ended:
        return
    jobctl.on_send(k, proc, sig)
    if proc.ended:  # continued, it died of a signal that was waiting
        return
    target = thread or proc.main
    if namespaces.drops(k, proc, sig, sender, sig in target.mask):
        return
    if sig not in target.mask and proc.sighand.discards(sig) and sig != "SIGKILL":
        return
    if thread is not None:
        thread.pending.add(sig)
    else:
        proc.shared_pending.add(sig)
    deliver(k, proc, prefer)


def fault(k: Kernel, proc: Process, thread: Thread, sig: str) -> None:
    """A faulting access raises sig on thread, forced (force_sig_fault): an `exit`
    handler runs if the thread does not block sig; otherwise, or with any other
    disposition, the process dies of it (tests/kernel_facts/proc_sigaction.c)."""
    disposition = proc.sighand.disposition(sig)
    if disposition.action == "exit" and sig not in thread.mask:
        exit_wait.die(k, proc, code=disposition.code)
    else:
        exit_wait.die(k, proc, signal=sig)


def deliver(k: Kernel, proc: Process, prefer: Thread | None = None) -> None:
    """Act on every pending signal that some thread does not block, ``prefer`` first,
    lowest number first, each queued instance of a real-time signal in turn."""
    if proc.ended:
        return
    threads = list(proc.threads.values())
    if prefer in threads:
        threads.remove(prefer)
        threads.insert(0, prefer)
    for thread in threads:
        for pending in (thread.pending, proc.shared_pending):
            for sig in sorted(pending, key=SIGNAL_NUMBERS.__getitem__):
                if (sig in thread.mask and sig not in UNCATCHABLE) or \
                        (proc.stopped and sig != "SIGKILL"):  # stopped: all waits but KILL
                    continue
                # a thread in vfork waits killably; a signal sent to the process
                # goes to its main thread (or the thread preferred), and waits
                # with it if that thread is in vfork
                waits = thread.suspended or (pending is proc.shared_pending
                                             and proc.suspended and thread is not prefer)
                if waits and not _kills_at_once(proc, sig):
                    continue
                while sig in pending:
                    pending.take(sig)
                    if namespaces.discards(k, proc, sig):
                        continue
                    if proc.sighand.stops(sig):
                        jobctl.stop(k, proc, sig)
                        break
                    if _fatal(proc, sig):
                        exit_wait.die(k, proc, signal=sig)
                        return
                    disposition = proc.sighand.disposition(sig)
                    if disposition.action == "exit":
                        exit_wait.die(k, proc, code=disposition.code)
                        return
                    if disposition.action == "catch":
                        run_handler(k, proc, thread, sig)


def run_handler(k: Kernel, proc: Process, thread: Thread, sig: str) -> None:
    """The recording handler runs on thread: it counts the signal in the memory's
    variable; SA_RESETHAND sets the disposition back to default as it is delivered.
    A call the thread was blocked in goes on as signal(7) says
    (tests/kernel_facts/proc_eintr.c): a sleep fails with EINTR, a pipe write that
    has written some bytes returns them (stdio then writes the rest: it sleeps
    again), a mutex lock is never interrupted; the rest (read, wait, a write with
    nothing written) wait again under SA_RESTART, and fail with EINTR without it
    (`norestart`): stdio then drops what it was writing
    (tests/scenarios/stdio-interrupted.toml)."""
    disposition = proc.sighand.disposition(sig)
    if "resethand" in disposition.flags:
        proc.sighand.set(sig, "default")
    if proc.mm is not None:
        received = proc.mm.user.received
        received[sig] = received.get(sig, 0) + 1
    waiting = thread.waiting
    if waiting is None:
        return
    restart = "norestart" not in disposition.flags
    match waiting.on:
        case OnTime():
            thread.waiting = None
            set_errno(proc, thread, "EINTR")
        case OnChild() if exit_wait.reap(k, proc, thread, waiting.on) is None:
            thread.waiting = None  # wait4 looks at its children before at signals: a
            # child that ended (or was reaped by the kernel) ends the wait first
        case OnMutex(name=name) | OnAtforkLocks(locks=(name, *_)) if proc.mm is not None:
            proc.mm.user.mutex(name).sleepers.discard(thread.tid)  # out of futex_wait:
            # glibc looks at the mutex again, and takes it if it is free
        case OnPipeRoom(done=done) if done > 0 and isinstance(waiting.op, ops.Writefd):
            thread.waiting = None
            set_result(proc, thread, done)
        case OnPipeRoom(done=done) as wait if done > 0:
            # stdio's write(2) returns what it wrote, and libio writes the rest at once:
            # a new write(2), asleep on the same full pipe
            thread.waiting = replace(waiting, on=replace(
                wait, data=wait.data[done:], done=0, started=False))
        case OnPipeRoom() as wait if not restart and not isinstance(waiting.op, ops.Writefd):
            thread.waiting = None
            set_errno(proc, thread, "EINTR")
            libc_calls.stdio_write_failed(k, proc, thread, wait)
        case _ if not restart:
            thread.waiting = None
            set_errno(proc, thread, "EINTR")
            if isinstance(waiting.op, (ops.Readfd, ops.Writefd)):
                set_result(proc, thread, -1)


def _kills_at_once(proc: Process, sig: str) -> bool:
    """What wakes a killable wait: SIGKILL, or a default action that only
    terminates (a core-dumping default waits until the vfork child lets go)."""
    return sig == "SIGKILL" or (_fatal(proc, sig) and sig not in DUMPS_CORE)


def _fatal(proc: Process, sig: str) -> bool:
    action = proc.sighand.get(sig)
    return sig == "SIGKILL" or (action == "default" and sig not in IGNORED_BY_DEFAULT
                                and sig not in STOPPING)
