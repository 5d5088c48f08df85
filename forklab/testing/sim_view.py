"""What the generator reads from a running simulator, and the one thing it sets.

The generator (:mod:`forklab.testing.generator`) drives a simulator kernel in
step with the script it writes, and asks it what exists. Every read of the
simulator's internals is here, so a change in how the simulator stores waits,
ops or fds is adapted to in this module alone. The views are plain frozen
data, taken fresh for each move.
"""
from __future__ import annotations

from dataclasses import dataclass

from forklab.scenario.placement import Placement
from forklab.sim.fdops import DIRECTORY_END
from forklab.sim.files import PIPE_SLOTS, DevNull, Directory, MQueue, PidFd, Pipe, RegularFile
from forklab.sim.kernel import Kernel
from forklab.sim.tasks import MAIN
from forklab.sim.waitfor import stuck
from forklab.sim.waits import OnAtforkLocks, OnChild, OnMutex, OnPipeData, OnPipeRoom, Wait

GONE = "<gone>"
"""The owner of a mutex whose owning thread does not exist in the process."""
ANY = "<any>"
"""What a wait for any child waits on."""


@dataclass(frozen=True)
class FdView:
    number: int
    kind: str  # pipe_r, pipe_w, collector, file, null, dir, pidfd
    cloexec: bool
    readable: bool
    writable: bool
    pipe: int | None  # which pipe (an id valid for this kernel), for pipe_r and pipe_w


@dataclass(frozen=True)
class ThreadView:
    name: str  # "" for the main thread
    waits_for: str | None  # the verb of the op it waits in (lock, readfd, wait, ...)
    resource: object  # what it waits on: a pipe id, a mutex name, a child name, fork's locks
    suspended: bool  # in vfork until its child execs or ends

    @property
    def free(self) -> bool:
        return self.waits_for is None and not self.suspended


@dataclass(frozen=True)
class MapView:
    name: str
    pages: int
    shared: bool
    file: bool
    prot: str


@dataclass(frozen=True)
class ProcView:
    name: str
    ended: bool
    program: str | None  # None: the probe (scriptable); else the program's path
    parent: str | None
    children: tuple[str, ...]
    threads: dict[str, ThreadView]
    fds: dict[int, FdView]
    mappings: dict[str, MapView]
    dispositions: dict[str, str]  # signal -> ignore | catch | exit
    mask: frozenset[str]  # every thread's (the generator keeps them equal)
    atfork: tuple[str, ...]
    allocations: tuple[str, ...]
    mutexes: dict[str, str | None]  # name -> its owner (``P`` or ``P/T``), GONE, or None (free)
    shares_memory_with: tuple[str, ...]  # other live processes on the same address space
    errorcheck: frozenset[str] = frozenset()  # its error-checking mutexes
    stopped: bool = False  # by a stop signal, until SIGCONT

    @property
    def scriptable(self) -> bool:
        return not self.ended and self.program is None and not self.stopped


@dataclass(frozen=True)
class PipeView:
    buffered: int  # bytes waiting in it
    slots: int  # page buffers in use (a pipe has PIPE_SLOTS)
    readers: int  # open descriptions of each end
    writers: int
    read_holders: frozenset[str]  # live processes holding a read end
    write_holders: frozenset[str]


SLOTS = PIPE_SLOTS


def _kind(obj: object, end: str) -> str:
    if isinstance(obj, Pipe):
        return "collector" if obj.collector else f"pipe_{end}"
    if isinstance(obj, RegularFile):
        return "file"
    if isinstance(obj, DevNull):
        return "null"
    if isinstance(obj, Directory):
        return "dir"
    if isinstance(obj, PidFd):
        return "pidfd"
    if isinstance(obj, MQueue):
        return "mqueue"
    raise TypeError(f"an fd to {type(obj).__name__}")


def _waited_on(on: Wait) -> object:
    if isinstance(on, OnMutex):
        return on.name
    if isinstance(on, (OnPipeData, OnPipeRoom)):
        return id(on.pipe)
    if isinstance(on, OnChild):
        return ANY if on.child is None else on.child
    if isinstance(on, OnAtforkLocks):
        return on.locks
    return None


def process(kernel: Kernel, name: str) -> ProcView:
    """One process as the generator needs it."""
    proc = kernel.processes[name]
    threads = {}
    for key, t in proc.threads.items():
        waiting = t.waiting
        threads[key] = ThreadView(key, waiting.op.verb if waiting else None,
                                  _waited_on(waiting.on) if waiting else None, t.suspended)
    fds = {number: FdView(number, _kind(slot.file.obj, slot.file.end), slot.cloexec,
                          slot.file.readable, slot.file.writable,
                          id(slot.file.obj) if isinstance(slot.file.obj, Pipe) else None)
           for number, slot in proc.files.fds.items()}
    mm = proc.mm
    mappings, mutexes, atfork, allocations = {}, {}, (), ()
    sharing: tuple[str, ...] = ()
    errorcheck: frozenset[str] = frozenset()
    if mm is not None:
        mappings = {n: MapView(n, m.pages, m.share == "shared", m.file_backed, m.prot)
                    for n, m in mm.mappings.items()}
        users = [p for p in kernel.processes.values() if not p.ended and p.mm is mm]
        by_tid = {t.tid: f"{p.name}/{t.name}" if t.name else p.name
                  for p in users for t in p.threads.values()}
        for lock, mutex in mm.user.mutexes.items():
            owner = mutex.owner
            mutexes[lock] = None if owner is None else by_tid.get(owner, GONE)
        errorcheck = frozenset(n for n, m in mm.user.mutexes.items() if m.kind == "errorcheck")
        atfork = tuple(mm.user.atfork)
        allocations = tuple(mm.user.allocations)
        sharing = tuple(p.name for p in users if p is not proc)
    main = proc.threads.get(MAIN)
    return ProcView(
        name=name, ended=proc.ended,
        program=proc.program.path if proc.program is not None else None,
        parent=proc.parent, children=tuple(proc.children), threads=threads, fds=fds,
        mappings=mappings,
        dispositions={sig: d.action for sig, d in proc.sighand.actions.items()},
        mask=frozenset(main.mask) if main is not None else frozenset(),
        atfork=atfork, allocations=allocations, mutexes=mutexes,
        shares_memory_with=sharing, errorcheck=errorcheck, stopped=proc.stopped)


def relocks(kernel: Kernel, process: str, thread: str, lock: str) -> bool:
    """Whether ``lock`` by that thread returns EDEADLK at once (an error-checking mutex
    it holds, as glibc tells: by the thread id in its descriptor)."""
    proc = kernel.processes[process]
    task = proc.threads.get(thread)
    return proc.mm is not None and task is not None and lock in proc.mm.user.mutexes \
        and proc.mm.user.mutexes[lock].relock(task.libc_tid)


def processes(kernel: Kernel) -> dict[str, ProcView]:
    return {name: process(kernel, name) for name in kernel.processes}


def pipe(kernel: Kernel, pipe_id: int) -> PipeView:
    """A pipe by the id an FdView gave."""
    obj: Pipe | None = None
    readers: set[str] = set()
    writers: set[str] = set()
    for p in kernel.processes.values():
        if p.ended:
            continue
        for slot in p.files.fds.values():
            if id(slot.file.obj) == pipe_id:
                obj = slot.file.obj  # type: ignore[assignment]
                (readers if slot.file.end == "r" else writers).add(p.name)
    if obj is None:
        return PipeView(0, 0, 0, 0, frozenset(), frozenset())
    return PipeView(sum(len(buf[0]) for buf in obj.bufs), len(obj.bufs), obj.readers,
                    obj.writers, frozenset(readers), frozenset(writers))


def waiting_forever(kernel: Kernel) -> set[str]:
    """Threads (``P`` or ``P/T``) that nothing can ever wake, by the simulator's own graph."""
    return {s.thread for s in stuck(kernel)}


def timed_programs(kernel: Kernel) -> list[str]:
    """Live processes running a program that ends on its own after a while (/bin/sleep)."""
    return [p.name for p in kernel.processes.values()
            if not p.ended and p.program_until is not None]


def failed(kernel: Kernel, name: str) -> bool:
    """Whether the call that was to create ``name`` failed (the name is never bound)."""
    return name in kernel.failed


def fd_number(kernel: Kernel, name: str) -> int | None:
    """The number an fd name was bound to (None: its creating call failed)."""
    return kernel.fd_names.get(name)


def placement(kernel: Kernel) -> Placement:
    """Where a kernel started with no mappings places the ones made in step.

    A kernel places every mapping of its scenario when it starts; the generator
    starts its kernel before the script exists, so it places each one as it is
    written (a mapping's address follows from the ``mmap`` lines before it); the
    placement adds to the kernel's own table of addresses.
    """
    return Placement(kernel.addresses)


def dir_streams(kernel: Kernel, process: str) -> tuple[int, ...]:
    """The fds of the process's directory streams whose next readdir the model answers:
    its buffer holds entries, or its fd is at the directory's start or end, or is no
    directory's (an error); not one lseek left inside the directory."""
    proc = kernel.processes[process]
    if proc.mm is None:
        return ()
    out = []
    for number, left in proc.mm.user.dirs.items():
        slot = proc.files.fds.get(number)
        if left or slot is None or not isinstance(slot.file.obj, Directory) \
                or slot.file.offset in (0, DIRECTORY_END):
            out.append(number)
    return tuple(sorted(out))
