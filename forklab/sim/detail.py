"""What the model shows beyond the observables, as frozen records: the lesson player's detail.

The observables (:mod:`forklab.observe`) are what both backends can show. The
model knows more: what each thread waits for, what each fd points at, who
owns each mutex, where in a mapping its pages are exclusive or shared. The
lesson player draws that from a :class:`ModelDetail`, made from a frozen copy
of the kernel by :func:`describe`, never from the kernel's objects. Its page
runs are classified by :func:`forklab.sim.snapshot.page_states`, the rule the
``present``, ``zero`` and ``exclusive`` observables are counted by, so a bar
never disagrees with an expectation.
"""
from __future__ import annotations

from dataclasses import dataclass

from forklab.observe import World
from forklab.sim.files import DevNull, Directory, MQueue, OpenFile, PidFd, Pipe, RegularFile
from forklab.sim.kernel import Kernel
from forklab.sim.memory import Mapping, PhysicalMemory
from forklab.sim.snapshot import ABSENT, EXCLUSIVE, SHARED, ZERO_PAGE, SimQueries, page_states
from forklab.sim.tasks import Process, Thread
from forklab.sim.waitfor import stuck

__all__ = [
    "ABSENT", "EXCLUSIVE", "SHARED", "ZERO_PAGE", "Collector", "DevNullTarget",
    "DirectoryTarget", "FdDetail", "FileTarget", "MappingDetail", "ModelDetail",
    "MutexDetail", "PageRun", "PidFdTarget", "PipeEnd", "ProcessDetail", "StdioDetail",
    "Target", "ThreadDetail", "WaitDetail", "describe", "of_world",
]


# --- memory --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRun:
    """Pages [start, end) of a mapping, all in one state (ABSENT, ZERO_PAGE, SHARED, EXCLUSIVE)."""

    start: int
    end: int
    state: str


@dataclass(frozen=True)
class MappingDetail:
    name: str
    pages: int
    share: str  # "private" or "shared"
    prot: str  # "rw", "ro", "rx", "none"
    file_backed: bool
    thp: bool
    dontfork: bool
    wipeonfork: bool
    runs: tuple[PageRun, ...]  # cover [0, pages), neighbours in different states

    def count(self, state: str) -> int:
        return sum(r.end - r.start for r in self.runs if r.state == state)


def _runs(m: Mapping, memory: PhysicalMemory) -> tuple[PageRun, ...]:
    """The mapping's page states, neighbouring runs of one state merged (a huge
    region is classified per 2 MiB: merging keeps a large one a few runs)."""
    out: list[PageRun] = []
    for a, b, state in page_states(m, memory):
        if out and out[-1].state == state and out[-1].end == a:
            out[-1] = PageRun(out[-1].start, b, state)
        else:
            out.append(PageRun(a, b, state))
    return tuple(out)


def _mapping(m: Mapping, memory: PhysicalMemory) -> MappingDetail:
    return MappingDetail(m.name, m.pages, m.share, m.prot, m.file_backed, m.thp, m.dontfork,
                         m.wipeonfork, _runs(m, memory))


# --- fds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipeEnd:
    pipe: int  # which pipe, numbered in this detail
    end: str  # "r" or "w"
    fill: int  # bytes waiting in the pipe
    write_ends: tuple[tuple[str, int], ...]  # (process, fd) of every open write end


@dataclass(frozen=True)
class Collector:
    """The pipe forklab reads a scenario's stdout or stderr from."""

    stream: str  # "stdout" or "stderr"


@dataclass(frozen=True)
class FileTarget:
    path: str
    size: int


@dataclass(frozen=True)
class DirectoryTarget:
    path: str


@dataclass(frozen=True)
class DevNullTarget:
    pass


@dataclass(frozen=True)
class PidFdTarget:
    process: str


Target = PipeEnd | Collector | FileTarget | DirectoryTarget | DevNullTarget | PidFdTarget


@dataclass(frozen=True)
class FdDetail:
    fd: int
    cloexec: bool
    open_file: int  # which open file description, numbered in this detail (dup and fork share)
    readable: bool
    writable: bool
    append: bool
    offset: int
    target: Target


@dataclass(frozen=True)
class StdioDetail:
    """libc's stdout FILE in the process's memory."""

    mode: str  # "full", "line", "none"
    buffer: str  # written to the stream, not yet to fd 1


# --- threads and locks ------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitDetail:
    what: str  # "mutex 'm'", "room in the pipe", "child 'c' to end"
    line_text: str  # the script line that made the thread wait
    line: int


@dataclass(frozen=True)
class ThreadDetail:
    name: str  # the scenario's name for it; "" for the main thread
    tid: int
    mask: frozenset[str]  # blocked signals
    pending: frozenset[str]  # signals sent to this thread, not yet delivered
    suspended: bool  # waits in vfork until its child execs or exits
    waiting: WaitDetail | None


@dataclass(frozen=True)
class MutexDetail:
    name: str
    owner_tid: int | None  # None: free
    owner: tuple[str, str] | None  # (process, thread name) holding it; None if free or no
    # live thread sharing this memory has that tid (fork did not copy the thread)


# --- processes and the whole model ---------------------------------------------------------


@dataclass(frozen=True)
class ProcessDetail:
    name: str
    pid: int
    program: str | None  # the program it runs, if not forklab's probe
    memory: int | None  # which address space, numbered in this detail (vfork and clone(vm)
    # share one); None once it ended or runs a program forklab cannot see into
    threads: tuple[ThreadDetail, ...]
    fds: tuple[FdDetail, ...]
    mutexes: tuple[MutexDetail, ...]  # in its memory, by name
    stdout: StdioDetail | None
    mappings: tuple[MappingDetail, ...]


@dataclass(frozen=True)
class ModelDetail:
    processes: tuple[ProcessDetail, ...]  # in the order they were created
    mapping_names: tuple[str, ...]  # in address order
    stuck: tuple[str, ...]  # why each thread that waits forever does (the wait-for graph)

    def process(self, name: str) -> ProcessDetail | None:
        return next((p for p in self.processes if p.name == name), None)


class _Numbering:
    """Small numbers for objects that have no name: first seen, first numbered."""

    def __init__(self) -> None:
        self._numbers: dict[int, int] = {}

    def __call__(self, obj: object) -> int:
        return self._numbers.setdefault(id(obj), len(self._numbers) + 1)


def describe(kernel: Kernel) -> ModelDetail:
    """Everything the panels show beyond the observables, read from a kernel that is
    not stepped while this runs (a snapshot's copy). O(processes + fds + runs)."""
    live = [p for p in kernel.processes.values() if not p.ended]
    files, pipes, memories = _Numbering(), _Numbering(), _Numbering()
    write_ends: dict[int, list[tuple[str, int]]] = {}  # id(pipe) -> (process, fd)
    for proc in live:
        for number, slot in sorted(proc.files.fds.items()):
            obj = slot.file.obj
            if isinstance(obj, Pipe) and not obj.collector:
                pipes(obj)
                if slot.file.writable:
                    write_ends.setdefault(id(obj), []).append((proc.name, number))

    def target(f: OpenFile) -> Target:
        obj = f.obj
        if isinstance(obj, Pipe):
            if obj.collector:
                return Collector("stdout" if obj is kernel.stdout else "stderr")
            return PipeEnd(pipes(obj), f.end, sum(len(data) for data, _ in obj.bufs),
                           tuple(write_ends.get(id(obj), ())))
        if isinstance(obj, RegularFile):
            return FileTarget(obj.path, obj.size)
        if isinstance(obj, Directory):
            return DirectoryTarget(obj.path)
        if isinstance(obj, PidFd):
            return PidFdTarget(obj.process)
        if isinstance(obj, MQueue):
            return FileTarget("(a message queue)", obj.size)
        assert isinstance(obj, DevNull)
        return DevNullTarget()

    processes = []
    for proc in kernel.processes.values():
        if proc.ended:
            processes.append(ProcessDetail(proc.name, proc.pid, _program(proc), None, (), (),
                                           (), None, ()))
            continue
        fds = tuple(FdDetail(number, slot.cloexec, files(slot.file), slot.file.readable,
                             slot.file.writable, slot.file.append, slot.file.offset,
                             target(slot.file))
                    for number, slot in sorted(proc.files.fds.items()))
        mm = proc.mm
        stdout: StdioDetail | None = None
        mutexes: tuple[MutexDetail, ...] = ()
        mappings: tuple[MappingDetail, ...] = ()
        if mm is not None:
            stdout = StdioDetail(mm.user.stdout.mode, mm.user.stdout.buffer)
            mutexes = tuple(_mutex(name, mutex.owner, proc, live)
                            for name, mutex in sorted(mm.user.mutexes.items()))
            mappings = tuple(_mapping(m, kernel.memory) for m in mm.mappings.values())
        processes.append(ProcessDetail(
            proc.name, proc.pid, _program(proc), memories(mm) if mm is not None else None,
            tuple(_thread(t) for t in proc.threads.values()), fds, mutexes, stdout, mappings))
    return ModelDetail(tuple(processes), tuple(kernel.addresses),
                       tuple(str(s) for s in stuck(kernel)))


def of_world(world: World) -> ModelDetail | None:
    """The detail of a simulator World (None for the kernel's: it has no model behind it)."""
    if isinstance(world.queries, SimQueries):
        return describe(world.queries.kernel)
    return None


def _program(proc: Process) -> str | None:
    return str(proc.program) if proc.program is not None else None


def _thread(t: Thread) -> ThreadDetail:
    waiting = None
    if t.waiting is not None:
        op = t.waiting.op
        waiting = WaitDetail(t.waiting.what, op.text.strip(), op.where.line)
    return ThreadDetail(t.name, t.tid, frozenset(t.mask), frozenset(t.pending), t.suspended,
                        waiting)


def _mutex(name: str, tid: int | None, proc: Process, live: list[Process]) -> MutexDetail:
    """A mutex in proc's memory: its owner is a thread of a live process sharing that memory."""
    owner = None
    if tid is not None:
        owner = next(((p.name, t.name) for p in live if p.mm is proc.mm
                      for t in p.threads.values() if t.tid == tid), None)
    return MutexDetail(name, tid, owner)
