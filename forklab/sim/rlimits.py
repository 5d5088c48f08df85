"""Resource limits (``setrlimit``): per process, as Linux keeps them in the
``signal_struct``: a thread shares its process's, ``fork``, ``vfork``, ``clone`` and
``posix_spawn`` copy them, ``execve`` keeps them (tests/kernel_facts/proc_identity.c).

The first process starts with the limits forklab runs with (every process of a
real run inherits them), except ``core``: forklab's probe sets its own core limit to
0 (soft and hard) whenever it starts, so that a scenario that faults leaves no core
file, and the model does the same for every probe image. Two limits change what the
model does: ``nofile`` bounds the fds a process can open (EMFILE), ``memlock`` the
pages it can lock (unless forklab runs with CAP_IPC_LOCK).
"""
from __future__ import annotations

import resource
from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.ops import RLIMITS
from forklab.sim.namespaces import INITIAL
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.vocabulary import PAGE

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread

Limit = int | None  # None: RLIM_INFINITY
Limits = dict[str, tuple[Limit, Limit]]  # resource -> (soft, hard)

_RESOURCE = {"nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC,
             "core": resource.RLIMIT_CORE, "stack": resource.RLIMIT_STACK,
             "as": resource.RLIMIT_AS, "memlock": resource.RLIMIT_MEMLOCK}
assert set(_RESOURCE) == set(RLIMITS)
PROBE_CORE = (0, 0)
"""The core limit every image of forklab's probe gives itself when it starts."""
CAP_SYS_RESOURCE = 24


def _value(raw: int) -> Limit:
    return None if raw == resource.RLIM_INFINITY else raw


def own_limits(fd_limit: int, memlock_pages: int | None) -> Limits:
    """forklab's own limits, as the first process of a real run inherits them; the
    model's fd and memlock limits (a test may give its own) as the soft ones."""
    limits = {name: (_value(soft), _value(hard)) for name, (soft, hard) in
              ((name, resource.getrlimit(number)) for name, number in _RESOURCE.items())}
    limits["nofile"] = (fd_limit, limits["nofile"][1])
    if memlock_pages is not None:
        limits["memlock"] = (memlock_pages * PAGE, limits["memlock"][1])
    limits["core"] = PROBE_CORE
    return limits


def _nr_open() -> int:
    """fs.nr_open: the highest RLIMIT_NOFILE even root may set."""
    try:
        with open("/proc/sys/fs/nr_open", encoding="ascii") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1 << 20


def _above(a: Limit, b: Limit) -> bool:
    """Whether limit a is above limit b (None, unlimited, is above every number)."""
    return (a is None and b is not None) or (a is not None and b is not None and a > b)


@HANDLERS.handles(ops.Setrlimit)
def op_setrlimit(k: Kernel, proc: Process, thread: Thread, op: ops.Setrlimit) -> None:
    """``do_prlimit``: EINVAL if the soft limit is above the hard one; EPERM if the hard
    limit goes up without CAP_SYS_RESOURCE (in the initial user namespace: a task in
    one the run made never has it), or RLIMIT_NOFILE's above fs.nr_open."""
    soft, old_hard = op.soft, proc.rlimits[op.resource][1]
    hard = old_hard if op.keep_hard else op.hard
    may_raise = k.may_raise_limits and thread.ns.of("user") == INITIAL
    if _above(soft, hard):
        set_errno(proc, thread, "EINVAL")
    elif (_above(hard, old_hard) and not may_raise) or \
            (op.resource == "nofile" and _above(hard, k.nr_open)):
        set_errno(proc, thread, "EPERM")
    else:
        proc.rlimits[op.resource] = (soft, hard)


def fd_limit(proc: Process) -> int:
    """The fds proc may have open: its RLIMIT_NOFILE soft limit."""
    soft = proc.rlimits["nofile"][0]
    return 1 << 31 if soft is None else soft


def memlock_pages(k: Kernel, proc: Process) -> int | None:
    """The pages proc may lock: None (no limit) with CAP_IPC_LOCK, else its soft
    RLIMIT_MEMLOCK in whole pages."""
    if k.memlock_limit is None:
        return None
    soft = proc.rlimits["memlock"][0]
    return None if soft is None else soft // PAGE


def kernel_limits() -> tuple[bool, int]:
    """(whether forklab may raise a hard limit: CAP_SYS_RESOURCE, fs.nr_open)."""
    return has_capability(CAP_SYS_RESOURCE), _nr_open()


def has_capability(cap: int) -> bool:
    """Whether forklab runs with the capability (every process of a real run has it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except OSError:
        pass
    return False
