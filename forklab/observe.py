"""The observation schema: what a backend shows of the world after a step.

A :class:`World` is one consistent snapshot of every process of a scenario.
Plain values cover SCENARIOS.md §5's default observation set; the observables
that take arguments (``shared_with``, ``byte``, ``same_file``, ``libc_text_same``,
``libc_relro_same``) and those too
costly to read at every step on the kernel (``commit``, ``committed``, which
walk /proc/PID/smaps) are answered by the backend through a :class:`Queries`
object, valid until the next op, and compared only when an expression reads
them.
:func:`default_observations` flattens a World into ``{"parent.heap.present":
4096, ...}`` so that verify can compare two backends key by key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol


class _Unavailable:
    """An observable the backend cannot show this user (never a guess)."""

    _instance: "_Unavailable | None" = None

    def __new__(cls) -> "_Unavailable":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "unavailable"


UNAVAILABLE: Any = _Unavailable()

STATES = ("running", "suspended", "blocked", "zombie", "reaped")


@dataclass(frozen=True)
class MappingObs:
    mapped: bool
    present: int = 0
    exclusive: int = 0
    zero: int = 0


@dataclass(frozen=True)
class ProcessObs:
    name: str
    state: str
    exit_code: int | None = None
    term_signal: str | None = None
    errno: str | None = None
    parent: str | None = None
    children: tuple[str, ...] = ()
    threads: int = 1
    faults: int = 0
    minflt: int = 0
    vm_pte: int = 0
    fds: tuple[int, ...] = ()
    cloexec_fds: frozenset[int] = frozenset()
    last_read: str | None = None
    sig_ignored: frozenset[str] = frozenset()
    sig_caught: frozenset[str] = frozenset()
    sig_blocked: frozenset[str] = frozenset()
    sig_pending: frozenset[str] = frozenset()
    spawn_us: float | None = None
    mappings: Mapping[str, MappingObs] = field(default_factory=dict)


class Queries(Protocol):
    """The observables with arguments, answered by the backend that ran the step."""

    def shared_with(self, process: str, mapping: str, other: str) -> int: ...

    def byte(self, process: str, mapping: str, offset: int) -> int | None: ...

    def same_file(self, process: str, fd: int, other: str, other_fd: int) -> bool: ...

    def committed(self, process: str, mapping: str) -> int:
        """Bytes of the mapping charged to the commit limit (VM_ACCOUNT), 0 if none."""
        ...

    def commit(self, process: str) -> int:
        """``committed`` summed over every scenario mapping the process has."""
        ...

    def libc_same(self, process: str, other: str, part: str) -> bool | None:
        """Whether the pages of libc's PART ("text" or "relro") present in both
        processes map the same frames; None unless both run forklab's probe."""
        ...


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
    """The default observation set of SCENARIOS.md §5, as flat comparable keys."""
    out: dict[str, Any] = {"stdout": world.stdout}
    for name, p in world.processes.items():
        for key in ("state", "exit_code", "term_signal", "errno", "threads",
                    "faults", "minflt", "vm_pte"):
            out[f"{name}.{key}"] = getattr(p, key)
        out[f"{name}.fds"] = list(p.fds)
        for fd in p.fds:
            out[f"{name}.cloexec({fd})"] = fd in p.cloexec_fds
        for key in ("sig_ignored", "sig_caught", "sig_blocked", "sig_pending"):
            out[f"{name}.{key}"] = sorted(getattr(p, key))
        for mname in sorted(world.mapping_names):
            m = p.mappings.get(mname, MappingObs(mapped=False))
            for key in ("mapped", "present", "exclusive", "zero"):
                out[f"{name}.{mname}.{key}"] = getattr(m, key)
    return out
