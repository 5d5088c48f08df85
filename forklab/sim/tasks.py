"""Processes and threads: a task points at separately shared kernel objects.

As in Linux, a process does not *contain* its memory, fd table or signal
handlers; it points at them, and ``clone`` flags decide which the child shares
and which it gets a copy of (:mod:`forklab.sim.kernel`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from forklab.scenario.model import Program
from forklab.scenario.ops import Op
from forklab.sim.files import FdTable
from forklab.sim.memory import AddressSpace
from forklab.sim.signals import SigHand

MAIN = ""  # the main thread's key in Process.threads


@dataclass
class Waiting:
    """An op that could not finish yet: retried whenever the world changes."""

    op: Op
    attempt: Callable[[], bool]  # True once the op has completed
    order: int  # threads that blocked earlier get the resource first
    what: str  # for explanations: "mutex m", "read from pipe fd 3", "child c"


@dataclass
class Thread:
    name: str
    tid: int
    tls: int  # which TLS block (and so which errno) in the address space it uses
    mask: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    waiting: Waiting | None = None
    suspended: bool = False  # in vfork until the child execs or exits; other threads run on


@dataclass
class Process:
    name: str
    pid: int
    mm: AddressSpace | None  # None once it runs a program forklab cannot see into
    files: FdTable
    sighand: SigHand
    threads: dict[str, Thread]
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    shared_pending: set[str] = field(default_factory=set)
    state: str = "running"  # running, zombie, reaped ("suspended", "blocked" are derived)
    exit_code: int | None = None
    term_signal: str | None = None
    program: Program | None = None  # None: the probe (scriptable)
    program_until: float | None = None  # when a /bin/sleep ends, in scenario time
    vfork_parent: str | None = None  # the process whose thread waits until this one execs/exits
    vfork_thread: Thread | None = None  # that thread: vfork suspends only its caller
    faults: int = 0
    minflt: int = 0
    spawn_us: float | None = None
    last_read: str | None = None

    @property
    def main(self) -> Thread:
        return self.threads[MAIN]

    @property
    def ended(self) -> bool:
        return self.state in ("zombie", "reaped")

    @property
    def suspended(self) -> bool:
        """Whether the main thread waits in vfork: the process's state is its main
        thread's, as /proc/PID/status shows the leader's."""
        return not self.ended and MAIN in self.threads and self.main.suspended

    @property
    def blocked(self) -> bool:
        return not self.ended and MAIN in self.threads and self.main.waiting is not None
