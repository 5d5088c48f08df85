"""What a blocked op waits for, as plain data.

An op that cannot finish yet (a held mutex, an empty or full pipe, a child
still running, the locks of fork's atfork handlers, a sleep) leaves its thread with a
:class:`Waiting` record. The record says what the op waits for and how far it
got; the kernel tries it again after every change of the world
(:meth:`forklab.sim.kernel.Kernel.settle`). Being data, a wait is copied with
the kernel that holds it and acts only on that kernel, and the wait-for graph
(:mod:`forklab.sim.waitfor`) reads it without knowing the op's arguments.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from forklab.scenario.ops import Op
from forklab.sim.files import Pipe
from forklab.sim.libc import Stdio, Write


@dataclass(frozen=True)
class OnMutex:
    """``lock NAME``: the mutex of that name, in the waiter's memory, is held."""

    name: str

    @property
    def what(self) -> str:
        return f"mutex '{self.name}'"


@dataclass(frozen=True)
class OnAtforkLocks:
    """libc ``fork`` before the clone: each atfork prepare handler takes its lock in
    turn, keeping the ones it took while it waits for the next."""

    child: str  # the name fork binds
    locks: tuple[str, ...]  # the locks still to take, in the order they are taken

    @property
    def what(self) -> str:
        return "the atfork handlers' locks"


@dataclass(frozen=True)
class OnChild:
    """``wait``/``waitid``: no child it waits for has a status to report yet."""

    child: str | None  # None: any child
    untraced: bool = False  # WUNTRACED: a stop is reported too
    keep: bool = False  # WNOWAIT: the child reported stays a zombie
    all_children: bool = False  # __WALL: whatever the child's exit signal

    @property
    def what(self) -> str:
        return "a child to end" if self.child is None else f"child '{self.child}' to end"


@dataclass(frozen=True, eq=False)
class OnPipeData:
    """``readfd`` of a pipe: it is empty and some write end is still open."""

    pipe: Pipe

    @property
    def what(self) -> str:
        return "data or end-of-file on the pipe"


@dataclass(frozen=True, eq=False)
class OnPipeRoom:
    """A write(2) to a pipe (``writefd``, stdio's writes of stdout, ``/bin/cat``'s
    copy): what did not fit waits for a reader to make room.

    stdio may have more write(2)s to make in the same call (``after``), leaving the
    FILE as ``file_after`` once all are out, and ``exit()`` ends the process once its
    flush is out (``exit_code``).
    """

    pipe: Pipe
    data: bytes  # the whole write
    done: int = 0  # how much of it is in the pipe
    started: bool = False  # the first attempt ran (only it may merge into the last page)
    after: tuple[Write, ...] = ()  # stdio's later write(2)s of this call, each to fd 1 then
    file_after: Stdio | None = None  # stdio: the FILE as the call leaves it
    exit_code: int | None = None  # exit(): the status the process ends with once they are out
    returns: bool = False  # writefd: the caller sees what write(2) returned (P.last_result)

    @property
    def what(self) -> str:
        return "room in the pipe"


@dataclass(frozen=True)
class OnTime:
    """``sleep``: nanosleep until the scenario's clock reaches ``until`` (seconds)."""

    until: float

    @property
    def what(self) -> str:
        return "time to pass"


Wait = OnMutex | OnAtforkLocks | OnChild | OnPipeData | OnPipeRoom | OnTime


@dataclass(frozen=True)
class Waiting:
    """A thread's blocked op: the op, what it waits for, and its place in the queue."""

    op: Op
    on: Wait
    order: int  # threads that blocked earlier get the resource first

    @property
    def what(self) -> str:
        """For explanations: "mutex 'm'", "room in the pipe", "child 'c' to end"."""
        return self.on.what

    def __deepcopy__(self, memo: dict[int, Any]) -> Waiting:
        """The op is shared (it never changes); a pipe waited on is the copy's pipe."""
        on = self.on
        if isinstance(on, (OnPipeData, OnPipeRoom)):
            on = replace(on, pipe=copy.deepcopy(on.pipe, memo))
        return Waiting(self.op, on, self.order)
