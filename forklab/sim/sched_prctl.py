"""A task's scheduling and prctl attributes: nice, policy, CPU affinity, comm, timer
slack, no_new_privs, and the address space's dumpable flag.

Linux keeps all but ``dumpable`` per task (``task_struct``), so a thread has its own
and a new task starts with a copy of its creator's (``sched_fork``, ``copy_process``):
with ``SCHED_RESET_ON_FORK`` a negative nice goes back to 0 and the flag is cleared,
and the new task's default timer slack (what ``PR_SET_TIMERSLACK 0`` returns to) is
its creator's current slack. ``dumpable`` is a flag of the mm: fork copies it, vfork
and threads share it, exec's new mm starts at 1. exec keeps the rest and names the
task after the program's file (tests/kernel_facts/proc_sched_prctl.c).

What a process of the run starts with depends on forklab's own process and user
(:class:`Machine`, read once per run): the real backend's first probe inherits it,
pinned to the first CPU forklab may use (csrc/probe.c, ``pin_to_one_cpu``).
"""
from __future__ import annotations

import os
import resource
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import Program
from forklab.sim import creds
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.vocabulary import parse_cpu_list

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread

PROBE_COMM = "forklab-probe"
"""The name exec gives a task running forklab's probe: its file's base name."""
TASK_COMM_LEN = 16  # comm holds 15 bytes and a NUL
POLICIES = {0: "other", 3: "batch", 5: "idle"}  # SCHED_OTHER, SCHED_BATCH, SCHED_IDLE


@dataclass(frozen=True)
class TaskAttrs:
    """One task's values (frozen: a copy is a new record)."""

    nice: int = 0
    policy: str = "other"
    reset_on_fork: bool = False
    cpus: frozenset[int] = frozenset({0})
    comm: str = PROBE_COMM
    timer_slack: int = 50_000
    default_slack: int = 50_000
    no_new_privs: bool = False

    def forked(self) -> TaskAttrs:
        """What ``copy_process`` gives a new task of this one's."""
        new = replace(self, default_slack=self.timer_slack, reset_on_fork=False)
        if self.reset_on_fork and self.nice < 0:
            new = replace(new, nice=0)
        return new


@dataclass(frozen=True)
class Machine:
    """What forklab's process and user give a run: the first task's values and
    credentials (those forklab's exec of the probe gives), its dumpable flag, the CPUs
    its cpuset lets a task take (whatever forklab's own mask), RLIMIT_NICE's soft
    limit and fs.suid_dumpable."""

    first: TaskAttrs
    creds: creds.Creds
    first_dumpable: int
    allowed_cpus: frozenset[int]
    rlimit_nice: int
    suid_dumpable: int

    @classmethod
    def read(cls) -> Machine:
        own_cpus = os.sched_getaffinity(0)
        policy = os.sched_getscheduler(0)
        slack = _own_timer_slack()
        own, no_new_privs = creds.Creds.own()
        first = TaskAttrs(nice=os.getpriority(os.PRIO_PROCESS, 0),
                          policy=POLICIES.get(policy, str(policy)),
                          cpus=frozenset({min(own_cpus)}), timer_slack=slack,
                          default_slack=slack, no_new_privs=no_new_privs)
        soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
        suid = creds.suid_dumpable()
        probe = creds.exec_creds(own, no_new_privs)
        return cls(first, probe, creds.exec_dumpable(own, probe, suid),
                   _cpuset_cpus() or frozenset(own_cpus),
                   40 if soft == resource.RLIM_INFINITY else soft, suid)

    def can_nice(self, thread: Thread, nice: int) -> bool:
        """``can_nice``: whether the thread may have this nice value however it has it
        now (20 - nice within RLIMIT_NICE, or CAP_SYS_NICE)."""
        return creds.capable(thread, "CAP_SYS_NICE") or 20 - nice <= self.rlimit_nice


def _cpuset_cpus() -> frozenset[int]:
    """The CPUs sched_setaffinity may give a task of this process: its cpuset's (cgroup v2
    or v1), else every online CPU; empty if none of these can be read."""
    places = []
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controllers == "":
                    places.append(f"/sys/fs/cgroup{path}/cpuset.cpus.effective")
                elif "cpuset" in controllers.split(","):
                    places.append(f"/sys/fs/cgroup/cpuset{path}/cpuset.effective_cpus")
    except (OSError, ValueError):
        pass
    for place in (*places, "/sys/devices/system/cpu/online"):
        try:
            with open(place) as f:
                cpus = frozenset(parse_cpu_list(f.read()))
        except (OSError, ValueError):
            continue
        if cpus:
            return cpus
    return frozenset()


def _own_timer_slack() -> int:
    try:
        with open("/proc/self/timerslack_ns") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 50_000  # the kernel's default


def inherited(k: Kernel, creator: TaskAttrs, flags: frozenset[str]) -> TaskAttrs:
    """A new task's values. The what-if creators (``blank``) make a process of nothing of
    the caller's: it starts as the run's first process did, but keeps no_new_privs (a
    design that dropped it would let a process escape its own restriction)."""
    if "blank" in flags:
        return replace(k.machine.first, no_new_privs=creator.no_new_privs)
    return creator.forked()


def on_exec(thread: Thread, program: Program) -> None:
    """exec names the task after the program's file; everything else here is kept."""
    name = os.path.basename(program.path) if program.path is not None else PROBE_COMM
    thread.attrs = replace(thread.attrs, comm=name[:TASK_COMM_LEN - 1])


@HANDLERS.handles(ops.Nice)
def op_nice(k: Kernel, proc: Process, thread: Thread, op: ops.Nice) -> None:
    """``set_one_prio``: a lower value than the thread has needs can_nice (EACCES)."""
    if op.value < thread.attrs.nice and not k.machine.can_nice(thread, op.value):
        set_errno(proc, thread, "EACCES")
        return
    thread.attrs = replace(thread.attrs, nice=op.value)


@HANDLERS.handles(ops.Sched)
def op_sched(k: Kernel, proc: Process, thread: Thread, op: ops.Sched) -> None:
    """``__sched_setscheduler`` for a user without CAP_SYS_NICE: SCHED_IDLE is left only
    if the nice value could be had, reset-on-fork never cleared (EPERM); nice is kept."""
    now = thread.attrs
    if not creds.capable(thread, "CAP_SYS_NICE") and (
            (now.policy == "idle" and op.policy != "idle"
             and not k.machine.can_nice(thread, now.nice))
            or (now.reset_on_fork and not op.reset_on_fork)):
        set_errno(proc, thread, "EPERM")
        return
    thread.attrs = replace(now, policy=op.policy, reset_on_fork=op.reset_on_fork)


@HANDLERS.handles(ops.Affinity)
def op_affinity(k: Kernel, proc: Process, thread: Thread, op: ops.Affinity) -> None:
    """The CPUs asked for that the run may use; none of them: EINVAL."""
    cpus = op.cpus & k.machine.allowed_cpus
    if not cpus:
        set_errno(proc, thread, "EINVAL")
        return
    thread.attrs = replace(thread.attrs, cpus=cpus)


@HANDLERS.handles(ops.Comm)
def op_comm(k: Kernel, proc: Process, thread: Thread, op: ops.Comm) -> None:
    thread.attrs = replace(thread.attrs, comm=op.name[:TASK_COMM_LEN - 1])


@HANDLERS.handles(ops.Dumpable)
def op_dumpable(k: Kernel, proc: Process, thread: Thread, op: ops.Dumpable) -> None:
    assert proc.mm is not None
    proc.mm.dumpable = op.value


@HANDLERS.handles(ops.Timerslack)
def op_timerslack(k: Kernel, proc: Process, thread: Thread, op: ops.Timerslack) -> None:
    now = thread.attrs
    thread.attrs = replace(now, timer_slack=op.ns or now.default_slack)


@HANDLERS.handles(ops.NoNewPrivs)
def op_no_new_privs(k: Kernel, proc: Process, thread: Thread, op: ops.NoNewPrivs) -> None:
    thread.attrs = replace(thread.attrs, no_new_privs=True)
