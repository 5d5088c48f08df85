"""Stopping and continuing a process: job control (Linux's group stop, kernel/signal.c).

A stop signal whose action is the default (``SIGSTOP`` always; ``SIGTSTP``,
``SIGTTIN``, ``SIGTTOU`` unless caught or ignored) stops every thread of the
process once it is delivered: a stopped process runs no op and takes no signal
but ``SIGKILL`` (the others stay pending, fatal ones included), its blocked
calls wait on, and its parent gets ``SIGCHLD`` (unless its SIGCHLD action has
``SA_NOCLDSTOP``) and, from a ``WUNTRACED`` wait, the stop, once. ``SIGCONT``
continues it when it is sent (blocked or not), and discards any pending stop
signal, as a stop signal discards a pending ``SIGCONT``. A ``SIGTSTP``,
``SIGTTIN`` or ``SIGTTOU`` reaching a process of an orphaned process group is
discarded (tests/kernel_facts/proc_stop.c).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim import signal_calls
from forklab.sim.waits import OnAtforkLocks, OnMutex, OnPipeRoom
from forklab.vocabulary import STOPPING

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process

CONTINUE = "SIGCONT"


def on_send(k: Kernel, proc: Process, sig: str) -> None:
    """What sending ``sig`` does before it is queued (``prepare_signal``)."""
    if sig == CONTINUE:
        _discard(proc, STOPPING)
        if proc.stopped:
            proc.stopped, proc.stop_report = False, None
            _tell_parent(k, proc)
            signal_calls.deliver(k, proc)  # what waited while it was stopped
    elif sig in STOPPING:
        _discard(proc, {CONTINUE})


def stop(k: Kernel, proc: Process, sig: str) -> None:
    """A stop signal delivered with the default action: the whole process stops
    (``do_signal_stop``), unless it is a terminal stop and its group is orphaned."""
    if sig != "SIGSTOP" and orphaned(k, proc):
        return
    proc.stopped, proc.stop_report = True, sig
    for thread in proc.threads.values():  # each blocked call is woken to stop: most
        waiting = thread.waiting  # are restarted once continued, but a futex sleeper
        if waiting is None:  # leaves its sleep, and a pipe write that wrote some
            continue  # bytes returns them
        match waiting.on:
            case OnMutex(name=name) | OnAtforkLocks(locks=(name, *_)) if proc.mm:
                proc.mm.user.mutex(name).sleepers.discard(thread.tid)
            case OnPipeRoom(done=done) if done > 0 and isinstance(waiting.op, ops.Writefd):
                thread.waiting = None
    _tell_parent(k, proc)


def orphaned(k: Kernel, proc: Process) -> bool:
    """``is_current_pgrp_orphaned``: no live member of proc's process group has a
    parent in another group of the same session. A process whose parent is
    outside the scenario has forklab's driver for parent (the first process, and
    every orphan: forklab is their subreaper), which sits in its own group of
    forklab's session ("")."""
    for member in k.processes.values():
        if member.ended or member.pgrp != proc.pgrp:
            continue
        parent = k.processes.get(member.parent) if member.parent else None
        if parent is None:
            if member.session == "":
                return False
        elif parent.pgrp != member.pgrp and parent.session == member.session:
            return False
    return True


def _discard(proc: Process, signals: set[str] | frozenset[str]) -> None:
    for sig in signals:
        proc.shared_pending.discard(sig)
        for thread in proc.threads.values():
            thread.pending.discard(sig)


def _tell_parent(k: Kernel, proc: Process) -> None:
    """``do_notify_parent_cldstop``: SIGCHLD to the parent (CLD_STOPPED, CLD_CONTINUED),
    unless the parent ignores SIGCHLD or asked for no such news (``SA_NOCLDSTOP``: the
    parent's own disposition decides, whatever the child's)."""
    parent = k.processes.get(proc.parent) if proc.parent else None
    if parent is None or parent.ended:
        return
    chld = parent.sighand.disposition("SIGCHLD")
    if chld.action != "ignore" and "nocldstop" not in chld.flags:
        signal_calls.send(k, parent, "SIGCHLD", prefer=parent.threads.get(proc.parent_thread))
