"""The observation schema: what a backend shows of the world after a step.

A :class:`World` is one consistent snapshot of every process of a scenario.
Plain values cover the default observation set (docs/scenario-language.md); the observables
that take arguments (``shared_with``, ``byte``, ``same_file``, ``offset``,
``pipe_fill``, ``locks``, ``libc_text_same``, ``libc_relro_same``, ``same_ns``) and those too
costly to read at every step on the kernel (``commit``, ``committed``,
``locked``, which walk /proc/PID/smaps) are answered by the backend through a :class:`Queries`
object, valid until the next op, and compared only when an expression reads
them.
:func:`default_observations` flattens a World into ``{"parent.heap.present":
4096, ...}`` so that verify can compare two backends key by key.

The schema names every observable once: the fields of :class:`ProcessObs`,
:class:`ThreadObs` and :class:`MappingObs` (their metadata says how an expression reads a field, and
whether verify compares it after every step) and the :class:`Queries`.
:data:`PROCESS_OBSERVABLES`, :data:`THREAD_OBSERVABLES`, :data:`MAPPING_OBSERVABLES`
and :data:`RUN_OBSERVABLES` are derived from them for the parser, the expression
language, verify and the tests.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol


class _Unavailable:
    """An observable the backend cannot show this user (never a guess)."""

    _instance: _Unavailable | None = None

    def __new__(cls) -> _Unavailable:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "unavailable"


UNAVAILABLE: Any = _Unavailable()

STATES = ("running", "suspended", "stopped", "blocked", "zombie", "reaped")
ENDED_STATES = ("zombie", "reaped")

# Field metadata of the observation records.
NOT_READ = {"read_as": None}
"""Not an observable of its own (the record's key, or what ``P.NAME`` reads)."""
NOT_COMPARED = {"compared": False}
"""Read only when an expression asks: verify does not compare it after every step."""


@dataclass(frozen=True)
class MappingObs:
    mapped: bool  # whether any page of the mapping's range is still mapped
    present: int = 0
    exclusive: int = 0
    zero: int = 0
    vmas: int = 0  # the VMAs the kernel has over the mapping's range


@dataclass(frozen=True)
class ThreadObs:
    """What belongs to one thread of a process rather than to the process: read as
    ``T.NAME`` for a thread T the scenario created (the main thread's are ``P.NAME``)."""

    errno: str | None = None
    sig_blocked: frozenset[str] = frozenset()
    sig_pending: frozenset[str] = frozenset()  # its own and the process's
    pdeathsig: str | None = None  # its parent-death signal (PR_SET_PDEATHSIG)
    leader: str | None = None  # the process whose pid is its thread group id (tgid)
    nice: int | None = None  # its scheduling and prctl values, as the process's
    sched: str | None = None
    cpus: tuple[int, ...] = ()
    comm: str | None = None
    no_new_privs: bool | None = None
    caps: frozenset[str] = frozenset()  # its effective capabilities
    altstack: int | None = None  # its alternate signal stack, bytes (0: none)
    exit_signal: str | None = None  # none: a thread's end is told to nobody (the kernel's -1)


@dataclass(frozen=True)
class ProcessObs:
    name: str = field(metadata=NOT_READ)
    state: str
    exit_code: int | None = None
    term_signal: str | None = None
    errno: str | None = None
    parent: str | None = field(default=None, metadata=NOT_COMPARED)
    children: tuple[str, ...] = field(default=(), metadata=NOT_COMPARED)
    threads: int = 1
    faults: int = 0
    minflt: int = 0
    vm_pte: int = 0
    fds: tuple[int, ...] = ()
    cloexec_fds: frozenset[int] = field(default=frozenset(),
                                        metadata={"read_as": "cloexec(FD)"})
    last_read: str | None = field(default=None, metadata=NOT_COMPARED)
    last_result: int | None = None
    last_waited: str | None = None
    last_wait_status: str | None = None
    lock_result: int | str | None = None
    mutexes_locked: frozenset[str] = frozenset()  # the scenario's mutexes locked in its memory
    stdout_buffered: int | None = None  # bytes waiting in stdout's buffer; None: not the probe
    sig_ignored: frozenset[str] = frozenset()
    sig_caught: frozenset[str] = frozenset()
    sig_blocked: frozenset[str] = frozenset()
    sig_pending: frozenset[str] = frozenset()
    sig_received: Mapping[str, int] = field(default_factory=dict,
                                            metadata={"read_as": "sig_received(SIG)"})
    leader: str | None = None  # the process whose pid is its tgid: itself, while it lives
    pgrp: str | None = None  # the leader of its process group, if a process of the scenario
    session: str | None = None  # the leader of its session, likewise
    cwd: str | None = None  # its working directory, a scratch path ("." the scratch dir)
    root: str | None = None  # its root directory: "/" the machine's, or a scratch path
    umask: str | None = None  # as /proc/PID/status shows it: "0022"
    cgroup: str | None = None  # its control group: "" forklab's, else the run's group's name
    pdeathsig: str | None = None  # the main thread's parent-death signal
    exit_signal: str | None = None  # what its parent is sent as it ends; None: none, or ended
    spawn_us: float | None = field(default=None, metadata=NOT_COMPARED)
    nice: int | None = None  # of the main thread, as every scheduling and prctl value
    sched: str | None = None
    cpus: tuple[int, ...] = ()
    comm: str | None = None
    dumpable: int | None = None  # the address space's; None unless it runs the probe
    timer_slack: int | None = field(default=None, metadata=NOT_COMPARED)  # a user other
    # than root may not read it: compared where an expression reads it, not at every step
    no_new_privs: bool | None = None
    uids: tuple[int, ...] = ()  # of the main thread: real, effective, saved
    gids: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    caps: frozenset[str] = frozenset()  # the main thread's effective capabilities
    # timers, the alternate stack and exit handlers; None: not the probe's image (a
    # program's own), or the process has ended
    alarm: int | None = None  # ITIMER_REAL's whole seconds left, rounded as alarm(2)
    itimer_virtual: int | None = None
    itimer_prof: int | None = None
    timers: int = 0  # POSIX timers (timer_create)
    altstack: int | None = None  # the main thread's alternate signal stack, bytes (0: none)
    atexit: int | None = None  # handlers atexit registered
    atfork: int | None = None  # handlers pthread_atfork registered
    mappings: Mapping[str, MappingObs] = field(default_factory=dict, metadata=NOT_READ)
    thread_obs: Mapping[str, ThreadObs] = field(default_factory=dict, metadata=NOT_READ)


class Queries(Protocol):
    """The observables with arguments, answered by the backend that ran the step."""

    def shared_with(self, process: str, mapping: str, other: str) -> int: ...

    def byte(self, process: str, mapping: str, offset: int) -> int | None: ...

    def same_file(self, process: str, fd: int, other: str, other_fd: int) -> bool: ...

    def offset(self, process: str, fd: int) -> int | None:
        """The offset of the open file description fd refers to; None if fd is not open."""
        ...

    def pipe_fill(self, process: str, fd: int) -> int | None:
        """Bytes waiting in the pipe fd is an end of; None if fd is not open or not a pipe."""
        ...

    def committed(self, process: str, mapping: str) -> int:
        """Bytes of the mapping charged to the commit limit (VM_ACCOUNT), 0 if none."""
        ...

    def commit(self, process: str) -> int:
        """``committed`` summed over every scenario mapping the process has."""
        ...

    def locked(self, process: str, mapping: str) -> int:
        """Pages of the mapping in VMAs the kernel marks VM_LOCKED, 0 if none."""
        ...

    def rlimit(self, process: str, resource: str) -> int | str | None:
        """The soft limit of the resource (one of ops.RLIMITS): a number, or "unlimited";
        None once the process has ended."""
        ...

    def env(self, process: str, variable: str) -> str | None:
        """The value of the variable in the process's environment (glibc's environ);
        None if it is not set, or the process does not run forklab's probe."""
    def locks(self, process: str, fd: int) -> frozenset[str]:
        """The file locks the process holds through fd's open file description:
        "posix read|write", "ofd read|write", "flock sh|ex"."""
        ...

    def libc_same(self, process: str, other: str, part: str) -> bool | None:
        """Whether the pages of libc's PART ("text" or "relro") present in both
        processes map the same frames; None unless both run forklab's probe."""
        ...

    def semval(self, process: str, semaphore: str) -> int | None:
        """The value of the run's semaphore set ``semaphore`` (semctl GETVAL); None if
        the process has ended, its main thread is not in the IPC namespace the set lives
        in, or the set was never made."""
        ...

    def same_ns(self, process: str, kind: str, other: str,
                thread: str | None = None) -> bool | None:
        """Whether both are in the same namespace of KIND (/proc/PID/ns/KIND): process's
        main thread, or its thread ``thread`` (/proc/PID/task/TID/ns/KIND), and other's
        main thread; None unless both are alive (an ended process is in none)."""
        ...


@dataclass(frozen=True)
class Observable:
    """One name an expression reads after ``P.`` (a process) or ``P.NAME.`` (a mapping)."""

    name: str
    call: str | None  # how it is called if it takes arguments: "cloexec(FD)"; None: a value
    attr: str | None  # the record's field holding it; None: a Queries method answers it
    compared: bool  # whether verify compares it after every step (default_observations)


def _fields_read(record: type) -> tuple[Observable, ...]:
    out = []
    for f in fields(record):
        read_as = f.metadata.get("read_as", f.name)
        if read_as is not None:
            name, paren, _ = read_as.partition("(")
            out.append(Observable(name, read_as if paren else None, f.name,
                                  f.metadata.get("compared", True)))
    return tuple(out)


def _queried(name: str, call: str | None = None) -> Observable:
    return Observable(name, call, None, False)


PROCESS_OBSERVABLES: tuple[Observable, ...] = (
    *_fields_read(ProcessObs),
    _queried("commit"),
    _queried("same_file", "same_file(FD, Q, FD2)"),
    _queried("offset", "offset(FD)"),
    _queried("pipe_fill", "pipe_fill(FD)"),
    _queried("env", "env(NAME)"),
    _queried("rlimit", "rlimit(RES)"),
    _queried("locks", "locks(FD)"),
    _queried("libc_text_same", "libc_text_same(Q)"),
    _queried("libc_relro_same", "libc_relro_same(Q)"),
    _queried("same_ns", "same_ns(KIND, Q)"),
    _queried("semval", "semval(S)"),
)
MAPPING_OBSERVABLES: tuple[Observable, ...] = (
    *_fields_read(MappingObs),
    _queried("committed"),
    _queried("locked"),
    _queried("shared_with", "shared_with(Q)"),
    _queried("byte", "byte(OFFSET)"),
)
THREAD_OBSERVABLES: tuple[Observable, ...] = (
    *_fields_read(ThreadObs),
    _queried("same_ns", "same_ns(KIND, Q)"),
)
RUN_OBSERVABLES = ("stdout", "processes")
"""What an expression reads of the whole run (World.stdout, World.process_names)."""

STDOUT_KEPT = 1 << 20
"""How much of the scenario's stdout a run keeps (characters): `stdout` is its start.
A /bin/cat of a large file would otherwise copy all of it into forklab."""


def alarm_seconds(left: float) -> int:
    """Seconds a timer has left as alarm(2) returns them: to the nearest second, and
    1 for less than a second (kernel/time/itimer.c, alarm_setitimer)."""
    whole = int(max(left, 0.0))
    fraction = left - whole
    return whole + 1 if (whole == 0 and fraction > 0) or fraction >= 0.5 else whole


@dataclass(frozen=True)
class World:
    processes: Mapping[str, ProcessObs]
    stdout: str
    fd_names: Mapping[str, int]  # fd name -> the number the kernel chose
    mapping_names: frozenset[str]  # every mapping name the scenario has bound so far
    queries: Queries

    @property
    def process_names(self) -> list[str]:
        return list(self.processes)


def default_observations(world: World) -> dict[str, Any]:
    """The observables verify compares after every step, as flat comparable keys.

    A mapping shows its values where the process has it, and only ``mapped``
    False where a live process lacks it; an ended process has no memory to
    show. So the set grows with what the processes hold, not with every
    process ever made times every mapping name ever bound.
    """
    out: dict[str, Any] = {"stdout": world.stdout}
    mapping_names = sorted(world.mapping_names)
    for name, p in world.processes.items():
        for key, attr in _COMPARED_OF_PROCESS:
            if key == "cloexec":
                for fd in p.fds:
                    out[f"{name}.cloexec({fd})"] = fd in p.cloexec_fds
            elif key == "sig_received":
                for sig, count in sorted(p.sig_received.items()):
                    out[f"{name}.sig_received({sig!r})"] = count
            else:
                out[f"{name}.{key}"] = _comparable(getattr(p, attr))
        if p.state in ENDED_STATES:
            continue
        for tname, t in p.thread_obs.items():
            for key, attr in _COMPARED_OF_THREAD:
                out[f"{name}/{tname}.{key}"] = _comparable(getattr(t, attr))
        for mname in mapping_names:
            m = p.mappings.get(mname)
            if m is None or not m.mapped:
                out[f"{name}.{mname}.mapped"] = False
                continue
            for key, attr in _COMPARED_OF_MAPPING:
                out[f"{name}.{mname}.{key}"] = getattr(m, attr)
    return out


_COMPARED_OF_PROCESS = tuple((o.name, o.attr) for o in PROCESS_OBSERVABLES
                             if o.compared and o.attr is not None)
_COMPARED_OF_THREAD = tuple((o.name, o.attr) for o in THREAD_OBSERVABLES
                            if o.compared and o.attr is not None)
_COMPARED_OF_MAPPING = tuple((o.name, o.attr) for o in MAPPING_OBSERVABLES
                             if o.compared and o.attr is not None)


_PLAIN = frozenset({int, str, bool, type(None)})


def _comparable(value: Any) -> Any:
    """A value as verify compares and JSON shows it: sets sorted, tuples as lists."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value
