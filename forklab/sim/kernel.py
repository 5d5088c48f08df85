"""The simulated kernel: every process of a scenario, and the objects they point at.

:class:`Kernel` is the model's façade: its state (processes, physical memory,
files, names) is what the snapshot, the lesson player and the tests read, and
:meth:`Kernel.apply` runs one op. The calls themselves live in modules cut
along Linux's own lines: :mod:`~forklab.sim.fork` (one ``clone``, as
``copy_process``), :mod:`~forklab.sim.execve`, :mod:`~forklab.sim.exit_wait`,
:mod:`~forklab.sim.fdops`, :mod:`~forklab.sim.mman`,
:mod:`~forklab.sim.signal_calls`, :mod:`~forklab.sim.libc_calls`,
:mod:`~forklab.sim.spawn`, :mod:`~forklab.sim.programs` and the what-if APIs,
:mod:`~forklab.sim.whatif`. An op that must wait (a held mutex, an empty pipe,
a running child) leaves its thread waiting on a record of what it waits for
(:mod:`forklab.sim.waits`); :meth:`Kernel.settle` tries every waiter again
after every op, within a bound on work (:mod:`forklab.sim.budget`).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

from forklab.scenario.contract import Names, Standing, check_actor
from forklab.scenario.model import Program, Scenario, SpawnAction
from forklab.scenario.ops import Op
from forklab.scenario.placement import Placement
from forklab.sim import (
    altstack,
    cgroups,
    cost,
    creds,
    dirstreams,
    execve,
    exit_handlers,
    exit_wait,
    fdops,
    filelocks,
    fork,
    identity,
    libc_calls,
    mlockall,
    mman,
    namespaces,
    programs,
    rlimits,
    roots,
    sched_prctl,
    signal_calls,
    spawn,
    sysvsem,
    timers,
    whatif,
)
from forklab.sim.budget import BoundExceeded, Budget, OverBudget
from forklab.sim.files import DevNull, FdTable, OpenFile, Pipe, RegularFile, soft_fd_limit
from forklab.sim.fs_struct import FsStruct, own_umask
from forklab.sim.libc import UserMemory
from forklab.sim.memory import AddressSpace, PhysicalMemory, SharedObject
from forklab.sim.overcommit import Overcommit
from forklab.sim.rules import KERNEL, Rules
from forklab.sim.signals import SigHand
from forklab.sim.syscall import HANDLERS
from forklab.sim.tasks import MAIN, Numbers, Process, Thread
from forklab.sim.waits import (
    OnAtforkLocks,
    OnChild,
    OnMutex,
    OnPipeData,
    OnPipeRoom,
    OnTime,
    Wait,
    Waiting,
)

__all__ = ["HANDLERS", "Kernel"]

CALLS = (fork, execve, exit_wait, fdops, mman, signal_calls, libc_calls, spawn, programs, whatif,
         namespaces, dirstreams, identity, rlimits,
         sched_prctl, creds, timers, altstack, filelocks, exit_handlers, cgroups, roots,
         mlockall, sysvsem)
"""The modules of the calls; importing each registers its verbs in HANDLERS."""


class Kernel:
    """Every process of one scenario, and the objects they point at.

    ``coefficients`` are what the cost model predicts ``spawn_us`` with;
    ``rules`` the pieces an exercise may replace (:mod:`forklab.sim.rules`);
    ``budget`` bounds the work of each op and the time of the run; ``fd_limit``
    is the first process's RLIMIT_NOFILE (by default the one forklab runs with, which
    the real backend's processes inherit), ``memlock_limit`` the pages it may
    lock (None: no limit, as with CAP_IPC_LOCK; by default forklab's own); a
    process's own limits are its ``rlimits``; ``machine`` what forklab's process and
    user give the first task (by default read now).
    """

    def __init__(self, scenario: Scenario,
                 coefficients: dict[str, cost.Coefficients] = cost.DEFAULTS,
                 rules: Rules = KERNEL, budget: Budget | None = None,
                 fd_limit: int | None = None,
                 memlock_limit: int | Literal["own"] | None = "own",
                 machine: sched_prctl.Machine | None = None) -> None:
        self.scenario = scenario
        self.machine = machine or sched_prctl.Machine.read()
        self.fd_limit = fd_limit if fd_limit is not None else soft_fd_limit()
        self.memlock_limit = mman.own_memlock_limit() if memlock_limit == "own" \
            else memlock_limit
        self.umask = own_umask()  # the first process's, as the real backend's inherits it
        self.may_raise_limits, self.nr_open = rlimits.kernel_limits()
        self.overcommit = Overcommit.read()
        self.coefficients = coefficients
        self.rules = rules
        self.budget = budget or Budget()
        self.memory = PhysicalMemory()
        self.processes: dict[str, Process] = {}
        self.files: dict[str, RegularFile] = {}
        self.caches: dict[str, SharedObject] = {}  # page cache of scratch files
        self.names = Names()
        self.templates: dict[str, tuple[Program, tuple[SpawnAction, ...]]] = {}
        self.blanks: dict[str, Process] = {}
        self.namespaces = namespaces.Namespaces(namespaces.own_admin(),
                                                namespaces.user_namespaces_allowed())
        self.now = 0.0
        self.cache_touched = 0  # bytes of memory written or read since the last creating call
        self.op: Op | None = None  # the op being applied (a program that blocks waits in it)
        self._pids = Numbers(100)
        self._tids = Numbers(1000)
        self._tls = Numbers(1)
        self._order = Numbers()
        self.addresses = Placement.of(scenario.ops).addresses
        self.stdout = Pipe(collector=True)
        self.stderr = Pipe(collector=True)
        self.semaphores: dict[str, sysvsem.SemSet] = {}  # the run's System V sets
        self._start_first(scenario.first)

    @property
    def fd_names(self) -> dict[str, int]:
        """An fd name -> the number the kernel chose (the run's :class:`Names`)."""
        return self.names.fd_names

    @property
    def failed(self) -> dict[str, str]:
        """A name whose creating call failed -> its errno (the run's :class:`Names`)."""
        return self.names.failed

    def copy(self) -> Kernel:
        """A kernel that goes on from this one's state and shares nothing that changes.

        What the model shares stays shared in the copy (a vfork child's mm, an
        open file in two fd tables, a page cache); what never changes (the
        scenario, its ops, programs, frozen records, the rules) is not copied at
        all. Each class says how it is copied, in its ``__deepcopy__``.
        """
        return copy.deepcopy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Kernel:
        new = copy.copy(self)
        memo[id(self)] = new
        for name in ("memory", "processes", "files", "caches", "blanks", "stdout", "stderr",
                     "_pids", "_tids", "_tls", "_order", "namespaces"):
            setattr(new, name, copy.deepcopy(getattr(self, name), memo))
        new.budget = copy.copy(self.budget)
        new.names, new.templates = self.names.copy(), dict(self.templates)
        new.addresses = dict(self.addresses)
        new.semaphores = dict(self.semaphores)
        return new

    def spawn_cost(self, kind: str, stats: cost.ForkStats) -> float:
        """The predicted spawn_us of a creating call of this kind now: how cold it finds
        the caches counts, and the call warms them for the next one."""
        cold = cost.coldness(self.cache_touched, self.coefficients[kind].regime)
        self.cache_touched = 0
        return cost.predict(kind, replace(stats, cold=cold), self.coefficients)

    def _start_first(self, name: str) -> None:
        files = FdTable()
        files.install(0, OpenFile(DevNull(), readable=True, writable=False))
        files.install(1, OpenFile(self.stdout, readable=False, writable=True, end="w"))
        files.install(2, OpenFile(self.stderr, readable=False, writable=True, end="w"))
        mm = AddressSpace(self.memory, UserMemory())
        main = fork.new_thread(self, MAIN)
        main.ns = self.namespaces.first()
        mm.dumpable = self.machine.first_dumpable
        self.processes[name] = Process(name, next(self._pids), mm, files, SigHand(),
                                       {MAIN: main}, FsStruct(".", self.umask), pgrp=name,
                                       rlimits=rlimits.own_limits(self.fd_limit,
                                                                  self.memlock_limit))

    # -- running ops -------------------------------------------------------------

    def apply(self, op: Op) -> None:
        """Run one op, then let every waiter and program go as far as it can."""
        proc, thread = self._actor(op)
        handler: Callable[[Kernel, Process, Thread, Op], None] = HANDLERS.by_op[type(op)]
        self.op = op
        self.budget.start()
        try:
            handler(self, proc, thread, op)
            self.settle()
            programs.let_timed_programs_end(self, proc, thread, op)
        except OverBudget as err:
            raise BoundExceeded(str(err), op.where) from None
        finally:
            self.budget.stop()

    def _actor(self, op: Op) -> tuple[Process, Thread]:
        proc = self.processes.get(op.actor.process)
        if proc is None:
            raise self.names.no_such_process(op.actor.process, op.where)
        thread = proc.threads.get(op.actor.thread or MAIN)
        waiting = thread.waiting if thread is not None else None
        check_actor(op, Standing(
            ended=proc.state if proc.ended else None,
            program=str(proc.program) if proc.program is not None else None,
            thread_gone=thread is None,
            stopped=proc.stopped,
            suspended=thread is not None and thread.suspended,
            blocked_in=waiting.op.text.strip() if waiting is not None else None,
            blocked_line=waiting.op.where.line if waiting is not None else None,
            blocked_for=waiting.what if waiting is not None else None))
        assert thread is not None
        return proc, thread

    def block(self, proc: Process, thread: Thread, op: Op, wait: Wait) -> None:
        """Try the op now; if it cannot finish, the thread waits, holding what is left."""
        left = self._attempt(proc, thread, wait)
        if left is not None:
            thread.waiting = Waiting(op, left, next(self._order))

    def _attempt(self, proc: Process, thread: Thread, wait: Wait) -> Wait | None:
        """Take a blocked op as far as it can go: None once it has completed, else
        what it still waits for."""
        match wait:
            case OnMutex():
                return libc_calls.take_mutex(proc, thread, wait)
            case OnAtforkLocks():
                return fork.fork_after_prepare(self, proc, thread, wait)
            case OnChild():
                return exit_wait.reap(self, proc, thread, wait)
            case OnPipeData():
                return fdops.pipe_read(proc, thread, wait)
            case OnPipeRoom():
                return fdops.pipe_put(self, proc, thread, wait)
            case OnTime():
                return None if self.now + 1e-9 >= wait.until else wait

    def settle(self) -> None:
        """Retry waiting ops and let programs run until nothing changes."""
        progress = True
        while progress:
            self.budget.charge()
            progress = False
            waiters = sorted(
                ((t.waiting.order, p, t) for p in self.processes.values()
                 if not p.ended and not p.stopped  # a stopped process waits on, stopped
                 for t in p.threads.values() if t.waiting is not None),
                key=lambda item: item[0],
            )
            for _, proc, thread in waiters:
                waiting = thread.waiting
                if waiting is not None and not proc.ended and not proc.stopped:
                    left = self._attempt(proc, thread, waiting.on)
                    if left is None:
                        thread.waiting = None
                        progress = True
                    elif left != waiting.on:  # part of the op is done (some bytes, a lock)
                        thread.waiting = Waiting(waiting.op, left, waiting.order)
            for proc in list(self.processes.values()):
                if not proc.ended and proc.program is not None and not proc.blocked \
                        and not proc.stopped:
                    progress |= programs.run(self, proc)

    def program_stalled(self, proc: Process) -> bool:
        """Whether an exec'd program waits for input that has not come (cat on a pipe)."""
        return programs.stalled(proc)
