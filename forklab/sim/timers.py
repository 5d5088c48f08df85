"""Timers of a process: alarm(2) and the interval timers (setitimer(2)), and POSIX
timers (timer_create(2)).

Linux keeps them in the thread group's ``signal_struct``: every thread of the process
sees and changes the same ones, a new process (fork, vfork, clone, posix_spawn) starts
with none, and execve keeps the interval timers but deletes the POSIX timers
(tests/kernel_facts/proc_timers.c). An armed timer lasts at least MIN_TIMER seconds,
longer than a run may take on the kernel, so none fires within a kernel run; when the
model's time passes one (a long run of `sleep`s), it sends SIGALRM
(:func:`forklab.sim.programs.op_sleep`). The virtual and profiling timers count the
process's CPU time, which the model does not spend: they stay where they were set.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from forklab.observe import alarm_seconds
from forklab.scenario import ops
from forklab.sim.syscall import HANDLERS

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@dataclass(frozen=True)
class Timers:
    """``real_until``: when ITIMER_REAL expires, in scenario time (None: disarmed);
    ``virtual`` and ``prof``: seconds left (0: disarmed); ``posix``: when each POSIX
    timer expires (None: not armed)."""

    real_until: float | None = None
    virtual: float = 0.0
    prof: float = 0.0
    posix: tuple[float | None, ...] = ()

    def next_expiry(self) -> float | None:
        armed = [t for t in (self.real_until, *self.posix) if t is not None]
        return min(armed, default=None)

    def expire(self, now: float) -> tuple[Timers, int]:
        """The timers once those due at ``now`` have fired (each once: no interval),
        and how many fired (each sends SIGALRM)."""
        def due(until: float | None) -> bool:
            return until is not None and now + 1e-9 >= until

        fired = due(self.real_until) + sum(map(due, self.posix))
        return replace(self, real_until=None if due(self.real_until) else self.real_until,
                       posix=tuple(None if due(t) else t for t in self.posix)), fired

    def seconds(self, which: str, now: float) -> int:
        """What the timer has left in whole seconds, rounded as alarm(2) rounds them
        (to the nearest second, and a timer with less than a second left is 1)."""
        if which == "real":
            left = 0.0 if self.real_until is None else max(0.0, self.real_until - now)
        else:
            left = self.virtual if which == "virtual" else self.prof
        return alarm_seconds(left)


def arm(proc: Process, which: str, seconds: int, now: float) -> None:
    timers = proc.timers
    if which == "real":
        proc.timers = replace(timers, real_until=now + seconds if seconds else None)
    elif which == "virtual":
        proc.timers = replace(timers, virtual=float(seconds))
    else:
        proc.timers = replace(timers, prof=float(seconds))


@HANDLERS.handles(ops.Alarm)
def op_alarm(k: Kernel, proc: Process, thread: Thread, op: ops.Alarm) -> None:
    arm(proc, "real", op.timer_seconds, k.now)


@HANDLERS.handles(ops.Setitimer)
def op_setitimer(k: Kernel, proc: Process, thread: Thread, op: ops.Setitimer) -> None:
    arm(proc, op.which, op.timer_seconds, k.now)


@HANDLERS.handles(ops.TimerCreate)
def op_timer_create(k: Kernel, proc: Process, thread: Thread, op: ops.TimerCreate) -> None:
    until = k.now + op.timer_seconds if op.timer_seconds else None
    proc.timers = replace(proc.timers, posix=(*proc.timers.posix, until))


def on_exec(proc: Process) -> None:
    """execve keeps the interval timers; POSIX timers are "disarmed and deleted"."""
    proc.timers = replace(proc.timers, posix=())


def next_expiry(k: Kernel) -> float | None:
    """When the next timer of a live process expires, in scenario time."""
    return min((t for p in k.processes.values() if not p.ended
                if (t := p.timers.next_expiry()) is not None), default=None)


def fire(k: Kernel) -> list[Process]:
    """Disarm the timers due now; a process once for each that fired (the caller sends
    each its SIGALRM: this module holds no signal code, which imports the tasks)."""
    out = []
    for proc in k.processes.values():
        if not proc.ended and proc.timers.next_expiry() is not None:
            proc.timers, fired = proc.timers.expire(k.now)
            out += [proc] * fired
    return out
