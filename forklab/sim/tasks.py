"""Processes and threads: a task points at separately shared kernel objects.

As in Linux, a process does not *contain* its memory, fd table or signal
handlers; it points at them, and ``clone`` flags decide which the child shares
and which it gets a copy of (:mod:`forklab.sim.kernel`). Copying a process
(for a snapshot of the kernel) keeps that sharing: what two tasks point at,
their copies point at one copy of.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from forklab.scenario.model import Program
from forklab.sim.creds import Creds
from forklab.sim.files import FdTable
from forklab.sim.fs_struct import FsStruct
from forklab.sim.memory import AddressSpace
from forklab.sim.namespaces import Membership
from forklab.sim.sched_prctl import TaskAttrs
from forklab.sim.signals import Pending, SigHand
from forklab.sim.sysvsem import UndoList
from forklab.sim.timers import Timers
from forklab.sim.waits import Waiting

MAIN = ""  # the main thread's key in Process.threads


class Numbers:
    """The next pid, tid or TLS block: a counter that a copy of the kernel continues
    from where it stands (itertools.count cannot be copied from Python 3.14 on)."""

    def __init__(self, start: int = 0) -> None:
        self.value = start

    def __next__(self) -> int:
        self.value += 1
        return self.value - 1

    def __deepcopy__(self, memo: dict[int, Any]) -> Numbers:
        return Numbers(self.value)


@dataclass
class Thread:
    name: str
    tid: int
    tls: int  # which TLS block (and so which errno) in the address space it uses
    mask: set[str] = field(default_factory=set)
    pending: Pending = field(default_factory=Pending)
    waiting: Waiting | None = None
    suspended: bool = False  # in vfork until the child execs or exits; other threads run on
    descriptor_tid: int | None = None  # the thread id in the glibc descriptor it runs on,
    # if not its own: a vfork or raw clone child runs on (a copy of) its creator's
    ns: Membership = field(default_factory=Membership)  # its namespaces (frozen: no copy)
    pdeathsig: str | None = None  # PR_SET_PDEATHSIG: every new task starts without one
    attrs: TaskAttrs = field(default_factory=TaskAttrs)  # nice, policy, comm... (its own)
    creds: Creds = field(default_factory=Creds)  # ids and capabilities (its own)
    altstack: int = 0  # the alternate signal stack's size (sigaltstack), 0: none
    semundo: UndoList = field(default_factory=UndoList)  # System V semaphore adjustments:
    # shared by threads and CLONE_SYSVSEM

    @property
    def libc_tid(self) -> int:
        """The thread id glibc reads from the thread's descriptor (a mutex's owner)."""
        return self.tid if self.descriptor_tid is None else self.descriptor_tid

    def __deepcopy__(self, memo: dict[int, Any]) -> Thread:
        new = copy.copy(self)
        memo[id(self)] = new
        new.mask, new.pending = set(self.mask), self.pending.copy()
        new.waiting = copy.deepcopy(self.waiting, memo)
        new.semundo = copy.deepcopy(self.semundo, memo)
        return new


@dataclass
class CatInputs:
    """GNU cat's walk through its inputs (src/cat.c ``main``): the one it is on
    (``argind``), the fd it opened for it (None: its stdin, or none yet), whether that
    input was checked (opened, fstat, "input file is output file"), and whether every
    input so far went well (its exit status)."""

    index: int = 0
    fd: int | None = None
    started: bool = False
    ok: bool = True


@dataclass
class Process:
    name: str
    pid: int
    mm: AddressSpace | None  # None once it runs a program forklab cannot see into
    files: FdTable
    sighand: SigHand
    threads: dict[str, Thread]
    fs: FsStruct  # cwd and umask: shared by threads and CLONE_FS, copied otherwise
    parent: str | None = None
    parent_thread: str = MAIN  # the thread of the parent that made it, which its SIGCHLD seeks
    children: list[str] = field(default_factory=list)
    shared_pending: Pending = field(default_factory=Pending)
    state: str = "running"  # running, zombie, reaped ("suspended", "blocked", "stopped" are
    # derived)
    exit_code: int | None = None
    term_signal: str | None = None
    program: Program | None = None  # None: the probe (scriptable)
    program_until: float | None = None  # when a /bin/sleep ends, in scenario time
    cat: CatInputs | None = None  # a /bin/cat's progress through its inputs
    vfork_parent: str | None = None  # the process whose thread waits until this one execs/exits
    vfork_thread: Thread | None = None  # that thread: vfork suspends only its caller
    faults: int = 0
    minflt: int = 0
    spawn_us: float | None = None
    last_read: str | None = None
    last_result: int | None = None  # what the main thread's last counting call returned
    last_waited: str | None = None  # the child whose status the last wait returned
    last_wait_status: str | None = None  # that status: "exited 0", "stopped SIGSTOP"...
    lock_result: int | str | None = None  # what the last lock/trylock/unlock returned
    sibling: int = 0  # its place in its parent thread's children list (lower: older)
    stopped: bool = False  # a stop signal stopped it (group stop) until a SIGCONT
    stop_report: str | None = None  # the stop signal, until a WUNTRACED wait reports it
    pgrp: str = ""  # its process group: its leader's name (the first process leads one)
    session: str = ""  # its session: "" forklab's, else its leader's name
    pid_ns: int = 0  # its PID namespace, for life (namespaces.INITIAL: forklab's)
    cgroup: str = ""  # its control group: "" forklab's, else a group the run made (cgroups)
    execed: bool = False  # it has run execve since it was made (setpgid by its parent: EACCES)
    exit_signal: str | None = "SIGCHLD"  # what its parent is sent when it ends; None: nothing
    self_exec_id: int = 0  # how many execs it has run (the kernel's self_exec_id)
    parent_exec_id: int = 0  # its parent's self_exec_id when it was made
    rlimits: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    # resource -> (soft, hard), None unlimited (:mod:`forklab.sim.rlimits`)
    timers: Timers = field(default_factory=Timers)  # the thread group's (signal_struct);
    # immutable, so a copy of the process shares it until a call replaces it

    def __deepcopy__(self, memo: dict[int, Any]) -> Process:
        """What the process points at is copied once per kernel copy (memo), so a
        shared mm, fd table or handler table stays shared; its program is shared."""
        new = copy.copy(self)
        memo[id(self)] = new
        new.mm = copy.deepcopy(self.mm, memo)
        new.files = copy.deepcopy(self.files, memo)
        new.sighand = copy.deepcopy(self.sighand, memo)
        new.fs = copy.deepcopy(self.fs, memo)
        new.rlimits = dict(self.rlimits)
        new.threads = {name: copy.deepcopy(t, memo) for name, t in self.threads.items()}
        new.children = list(self.children)
        new.shared_pending = self.shared_pending.copy()
        new.vfork_thread = copy.deepcopy(self.vfork_thread, memo)
        new.cat = copy.copy(self.cat)
        return new

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
