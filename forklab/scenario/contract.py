"""The rules of a running scenario that are the language's, the same on every backend.

The parser checks what it can see in the text; some refusals depend on what
has happened so far (a child that was never created because its fork failed, a
process that has ended, a thread suspended in vfork). Each backend says how
its actor stands (:class:`Standing`) and these functions decide and word the
refusal, so that both backends refuse the same ops with the same messages.
Both keep what the script's names stand for in one record (:class:`Names`),
and both ask :func:`timed_enders` whether a waiting op is blocked or only
waits for a timed program.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from forklab.scenario.model import FdRef, ScenarioError, Where
from forklab.scenario.ops import Op


@dataclass(frozen=True)
class Standing:
    """How the actor of an op stands when the op comes (all False/None: free to act)."""

    ended: str | None = None  # "zombie" or "reaped" once the process has ended
    program: str | None = None  # the program the process runs instead of forklab's probe
    thread_gone: bool = False  # the thread named ended, or is not the process's any more
    suspended: bool = False  # the thread waits in vfork
    stopped: bool = False  # the process is stopped (a stop signal, until SIGCONT)
    blocked_in: str | None = None  # the op the thread is blocked in, as written
    blocked_line: int | None = None  # the line of that op, where the backend knows it
    blocked_for: str | None = None  # what it waits for, where the backend knows it


def check_actor(op: Op, standing: Standing) -> None:
    """Refuse an op whose actor cannot act (the language's rule, not the kernel's)."""
    actor, name = op.actor, op.actor.process
    if standing.ended is not None:
        raise ScenarioError(f"'{name}' has ended ({standing.ended}); it can run no more ops",
                            op.where)
    if standing.program is not None:
        raise ScenarioError(f"'{name}' now runs {standing.program}; it can only be observed",
                            op.where)
    if standing.thread_gone:
        raise ScenarioError(f"'{actor}' is not a thread of '{name}' (any more)", op.where)
    if standing.stopped:  # every thread stops with the process
        raise ScenarioError(f"'{name}' is stopped; it runs no op until a SIGCONT "
                            f"(kill {name} SIGCONT)", op.where)
    if standing.suspended:  # vfork stops only its caller: the other threads run on
        raise ScenarioError(f"'{actor}' is suspended until its vfork child execs or exits",
                            op.where)
    if standing.blocked_in is not None:
        line = f" (line {standing.blocked_line})" if standing.blocked_line is not None else ""
        what = f", waiting for {standing.blocked_for}" if standing.blocked_for else ""
        raise ScenarioError(f"'{actor}' is blocked in `{standing.blocked_in}`{line}{what}",
                            op.where)


@dataclass
class Names:
    """What the names a script binds stand for so far.

    ``fd_names``: an fd name -> the number the kernel chose for it; ``failed``:
    a name whose creating call failed (fork, spawn, open...) -> its errno.
    """

    fd_names: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def copy(self) -> Names:
        return Names(dict(self.fd_names), dict(self.failed))

    def fd_number(self, ref: FdRef | None) -> int:
        """The number an fd written in a script stands for (-1: a name bound to no fd,
        as when the call that was to bind it failed)."""
        if isinstance(ref, int):
            return int(ref)
        if ref is None:
            return -1
        return self.fd_names.get(ref, -1)

    def no_such_process(self, name: str, where: Where) -> ScenarioError:
        """The refusal of an op that needs process ``name`` when the run has none by
        that name."""
        if name in self.failed:
            return ScenarioError(
                f"'{name}' was never created: the call failed with {self.failed[name]}", where)
        return ScenarioError(
            f"'{name}' does not exist yet (its creating op has not completed)", where)


def semaphore_elsewhere(op: Op) -> ScenarioError:
    """The refusal of a ``semget`` or ``semop`` by a task in an IPC namespace the run
    made: the run's sets live in forklab's own, where it reads and removes them, and an
    id names another set there, or none, as the machine decides."""
    return ScenarioError(f"{op.verb}: '{op.actor}' is in an IPC namespace the run made; "
                         "the run's semaphore sets live in forklab's own, out of its reach",
                         op.where)


# -- a wait that only a timed program can end is not blocked ---------------------------

P = TypeVar("P")
W = TypeVar("W")


class Programs(Protocol[P, W]):
    """What a backend knows of the programs (not forklab's probe) of a run.

    ``P`` is how the backend names a process, ``W`` what it knows of a wait
    (the model's wait record, the kernel's system call and arguments).
    """

    def enders(self, waiter: P, wait: W) -> Iterable[P] | None:
        """The live programs, other than ``waiter``, whose end (or output) could end
        ``wait``: the child waited for, every holder of the pipe read. None when the
        backend cannot tell."""

    def timed(self, program: P) -> bool:
        """Whether the program sleeps for a set time (``/bin/sleep``)."""

    def wait_of(self, program: P) -> W | None:
        """What the program itself waits for, or None while it runs."""


@dataclass
class Enders(Generic[P]):
    """Who may end a wait without another op: programs in a timed sleep, and whether
    some program that runs (or one forklab cannot follow) may end it too."""

    timed: list[P] = field(default_factory=list)
    running: bool = False

    def __bool__(self) -> bool:
        return bool(self.timed) or self.running


def timed_enders(waiter: P, wait: W, programs: Programs[P, W], depth: int = 4) -> Enders[P]:
    """Who could end ``waiter``'s ``wait`` with no op of the script.

    A probe never acts on its own, so only programs can: one in a timed sleep
    that ends, or one that such a sleeper sets going (a ``/bin/cat`` reading a
    pipe the sleeper holds, ``depth`` links deep at most). A wait that someone
    may end this way is not blocked: on the kernel the sleep runs out and the op
    completes, so both backends let time pass instead of calling it blocked
    (tests/scenarios/timed-programs.toml).
    """
    found: Enders[P] = Enders()
    if depth <= 0:
        found.running = True
        return found
    targets = programs.enders(waiter, wait)
    if targets is None:
        found.running = True
        return found
    for target in targets:
        if programs.timed(target):
            found.timed.append(target)
            continue
        own = programs.wait_of(target)
        if own is None:
            found.running = True
            continue
        deeper = timed_enders(target, own, programs, depth - 1)
        found.timed += deeper.timed
        found.running |= deeper.running
    return found
