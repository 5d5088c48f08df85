"""A World from the simulated kernel: the observables (docs/scenario-language.md, "Expressions").

The snapshot owns a copy of the kernel (:meth:`Kernel.copy`: what changes is
copied, what never changes is shared), so its queries stay true to the step it
was taken at (the TUI's time travel relies on that).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from forklab.observe import MappingObs, ProcessObs, ThreadObs, World
from forklab.sim import filelocks, image, namespaces, sysvsem
from forklab.sim.files import Fd, Pipe
from forklab.sim.kernel import Kernel
from forklab.sim.memory import Mapping, PhysicalMemory, huge_page_counts
from forklab.sim.runs import Linear
from forklab.sim.tasks import Process
from forklab.vocabulary import PAGE


class SimQueries:
    """The observables answered on demand, from a frozen copy of the kernel."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def _mapping(self, process: str, name: str) -> Mapping | None:
        proc = self.kernel.processes.get(process)
        if proc is None or proc.mm is None:
            return None
        return proc.mm.mappings.get(name)

    def shared_with(self, process: str, mapping: str, other: str) -> int:
        mine, theirs = self._mapping(process, mapping), self._mapping(other, mapping)
        if mine is None or theirs is None:
            return 0
        shared = 0
        for a, b, v in mine.ptes.runs():
            if v is None:
                continue
            for c, d, w in theirs.ptes.runs(a, b):
                if isinstance(v, str) and v == w:  # the zero page, or the huge zero page
                    shared += d - c
                elif isinstance(v, Linear) and isinstance(w, Linear) and v.base == w.base:
                    shared += d - c
        return shared

    def locks(self, process: str, fd: int) -> frozenset[str]:
        proc = self.kernel.processes.get(process)
        return filelocks.held_through(proc, fd) if proc is not None else frozenset()

    def byte(self, process: str, mapping: str, offset: int) -> int | None:
        m = self._mapping(process, mapping)
        if m is None or not 0 <= offset < m.size or m.vmas.at(offset // PAGE) is None:
            return None
        page, at = divmod(offset, 4096)
        value = m.ptes.get(page)
        file = m.obj.file if m.obj is not None else None
        memory = self.kernel.memory
        if isinstance(value, Linear) and value.tag.anon:
            frame = value.at(page)
            if at == 0:
                return memory.content.get(frame)
            tail = memory.tails.get(frame)  # a copy of a file page keeps the file's bytes
            return tail[at - 1] if tail is not None else 0
        if (isinstance(value, Linear) or value is None) and file is not None:
            if offset < file.size:  # the page cache: the file's bytes
                return file.byte(offset)
            # past the end of the file: the rest of its last page reads 0; a page wholly
            # past it has no byte (touching it is SIGBUS)
            return 0 if page < file.pages else None
        cached = value if isinstance(value, Linear) else (
            m.obj.pages.get(page) if value is None and m.obj is not None else None)
        if isinstance(cached, Linear) and at == 0:  # shared memory: what a read would see
            return memory.content.get(cached.at(page))
        return 0  # the zero page; scenarios store only a page's first byte

    def same_file(self, process: str, fd: int, other: str, other_fd: int) -> bool:
        a, b = self.kernel.processes.get(process), self.kernel.processes.get(other)
        if a is None or b is None:
            return False
        x, y = a.files.fds.get(fd), b.files.fds.get(other_fd)
        return x is not None and y is not None and x.file is y.file

    def offset(self, process: str, fd: int) -> int | None:
        slot = self._fd(process, fd)
        return None if slot is None else slot.file.offset

    def pipe_fill(self, process: str, fd: int) -> int | None:
        """A pipe a reader empties holds what its buffers hold; forklab's own stdout
        and stderr are read as they come, so nothing waits in them."""
        slot = self._fd(process, fd)
        if slot is None or not isinstance(slot.file.obj, Pipe):
            return None
        return sum(len(data) for data, _ in slot.file.obj.bufs)

    def _fd(self, process: str, fd: int) -> Fd | None:
        proc = self.kernel.processes.get(process)
        return None if proc is None else proc.files.fds.get(fd)

    def committed(self, process: str, mapping: str) -> int:
        m = self._mapping(process, mapping)
        return m.accounted_pages() * PAGE if m is not None else 0

    def commit(self, process: str) -> int:
        proc = self.kernel.processes.get(process)
        if proc is None or proc.mm is None:
            return 0
        return sum(m.accounted_pages() for m in proc.mm.mappings.values()) * PAGE

    def locked(self, process: str, mapping: str) -> int:
        m = self._mapping(process, mapping)
        return m.locked() if m is not None else 0

    def rlimit(self, process: str, resource: str) -> int | str | None:
        proc = self.kernel.processes.get(process)
        if proc is None or proc.ended:
            return None
        soft = proc.rlimits[resource][0]
        return "unlimited" if soft is None else soft

    def env(self, process: str, variable: str) -> str | None:
        proc = self.kernel.processes.get(process)
        if proc is None or proc.ended or proc.mm is None:
            return None
        return proc.mm.user.environ.get(variable)

    def libc_same(self, process: str, other: str, part: str) -> bool | None:
        a, b = self.kernel.processes.get(process), self.kernel.processes.get(other)
        if a is None or b is None or a.mm is None or b.mm is None:
            return None
        return image.same(a.mm.user.libc, b.mm.user.libc, part)

    def semval(self, process: str, semaphore: str) -> int | None:
        proc = self.kernel.processes.get(process)
        held = self.kernel.semaphores.get(semaphore)
        if proc is None or proc.ended or held is None or not sysvsem.in_reach(proc.main):
            return None
        return held.value

    def same_ns(self, process: str, kind: str, other: str,
                thread: str | None = None) -> bool | None:
        a, b = self.kernel.processes.get(process), self.kernel.processes.get(other)
        if a is None or b is None:
            return None
        return namespaces.same(a, kind, b, thread)


def _state(proc: Process, kernel: Kernel) -> str:
    if proc.ended:
        return proc.state
    if proc.suspended:
        return "suspended"
    if proc.stopped:
        return "stopped"
    if proc.blocked or kernel.program_stalled(proc):
        return "blocked"
    return "running"


def _process_obs(proc: Process, kernel: Kernel) -> ProcessObs:
    if proc.ended:
        return ProcessObs(proc.name, proc.state, proc.exit_code, proc.term_signal,
                          parent=proc.parent, threads=0, faults=proc.faults,
                          minflt=proc.minflt, spawn_us=proc.spawn_us,
                          last_read=proc.last_read, last_result=proc.last_result,
                          last_waited=proc.last_waited,
                          last_wait_status=proc.last_wait_status,
                          lock_result=proc.lock_result)
    main = proc.main
    mappings = {}
    errno = None
    if proc.mm is not None:
        errno = proc.mm.user.errno.get(main.tls)
        for name, m in proc.mm.mappings.items():
            pages = Counter[str]()
            for a, b, state in page_states(m, kernel.memory):
                pages[state] += b - a
            mappings[name] = MappingObs(mapped=True, present=m.pages - pages[ABSENT],
                                        zero=pages[ZERO_PAGE], exclusive=pages[EXCLUSIVE],
                                        vmas=len(m.vmas))
    return ProcessObs(
        name=proc.name, state=_state(proc, kernel), exit_code=proc.exit_code,
        term_signal=proc.term_signal, errno=errno, parent=proc.parent,
        children=tuple(proc.children), threads=len(proc.threads), faults=proc.faults,
        minflt=proc.minflt, vm_pte=proc.mm.vm_pte_kib() if proc.mm else 0,
        fds=tuple(proc.files.numbers()),
        cloexec_fds=frozenset(n for n, s in proc.files.fds.items() if s.cloexec),
        last_read=proc.last_read, last_result=proc.last_result,
        last_waited=proc.last_waited,
        last_wait_status=proc.last_wait_status, lock_result=proc.lock_result,
        mutexes_locked=frozenset(name for name, m in proc.mm.user.mutexes.items()
                                 if m.owner is not None) if proc.mm is not None else frozenset(),
        stdout_buffered=len(proc.mm.user.stdout.buffer) if proc.mm is not None else None,
        sig_ignored=proc.sighand.names("ignore"), sig_caught=proc.sighand.caught(),
        sig_blocked=frozenset(main.mask),
        sig_pending=frozenset(main.pending | proc.shared_pending),
        sig_received=dict(proc.mm.user.received) if proc.mm is not None else {},
        leader=proc.name, pgrp=proc.pgrp, session=proc.session or None, cwd=proc.fs.cwd,
        root=None if proc.ended else proc.fs.root or "/",
        umask=f"{proc.fs.umask:04o}", cgroup=proc.cgroup,
        pdeathsig=main.pdeathsig if proc.mm is not None else None, spawn_us=proc.spawn_us,
        exit_signal=None if proc.ended else proc.exit_signal, mappings=mappings,
        **_probe_attributes(proc, kernel),
        thread_obs={name: ThreadObs(
            errno=proc.mm.user.errno.get(t.tls) if proc.mm is not None else None,
            sig_blocked=frozenset(t.mask), sig_pending=frozenset(t.pending | proc.shared_pending),
            pdeathsig=t.pdeathsig if proc.mm is not None else None, leader=proc.name,
            nice=t.attrs.nice, sched=t.attrs.policy, cpus=tuple(sorted(t.attrs.cpus)),
            comm=t.attrs.comm, no_new_privs=t.attrs.no_new_privs, caps=t.creds.effective,
            altstack=t.altstack if proc.mm is not None else None)
            for name, t in proc.threads.items() if t is not main},
        nice=main.attrs.nice, sched=main.attrs.policy, cpus=tuple(sorted(main.attrs.cpus)),
        comm=main.attrs.comm, dumpable=proc.mm.dumpable if proc.mm is not None else None,
        timer_slack=main.attrs.timer_slack, no_new_privs=main.attrs.no_new_privs,
        uids=main.creds.uids, gids=main.creds.gids, groups=main.creds.groups,
        caps=main.creds.effective,
    )


def _probe_attributes(proc: Process, kernel: Kernel) -> dict[str, Any]:
    """Timers, the alternate stack and exit handlers; those the kernel shows only to the
    probe (its own calls read them) are None for a program's image."""
    out: dict[str, Any] = {"timers": len(proc.timers.posix)}
    if proc.mm is not None:
        timers = proc.timers
        out.update(alarm=timers.seconds("real", kernel.now),
                   itimer_virtual=timers.seconds("virtual", kernel.now),
                   itimer_prof=timers.seconds("prof", kernel.now),
                   altstack=proc.main.altstack, atexit=len(proc.mm.user.atexit),
                   atfork=len(proc.mm.user.atfork))
    return out


ABSENT, ZERO_PAGE, SHARED, EXCLUSIVE = "absent", "zero", "shared", "exclusive"
"""The states of a mapping's page, as :func:`page_states` classifies them."""


def page_states(m: Mapping, memory: PhysicalMemory) -> Iterator[tuple[int, int, str]]:
    """(start, end, state) runs covering the mapping's pages, O(runs).

    The one rule behind the ``present``, ``zero`` and ``exclusive`` observables
    (and the lesson player's memory bars): a page is absent (no PTE), maps the
    zero page (or the huge zero page), or maps a frame that is exclusive when
    exactly one PTE maps it (pagemap's exclusive bit) and shared otherwise. For
    a huge page mapped by one PMD entry, pagemap repeats the answer for its
    first (head) page on all 512 entries.
    """
    counts = memory.mapcount
    for a, b, v in m.ptes.runs():
        if v is None:
            yield a, b, ABSENT
        elif not isinstance(v, Linear):  # ZERO or HUGE_ZERO
            yield a, b, ZERO_PAGE
        elif v.tag.huge:
            for c, d, head, _ in huge_page_counts(memory, v, a, b):
                yield c, d, EXCLUSIVE if head == 1 else SHARED
        else:
            for c, d, n in counts.runs(v.at(a), v.at(b)):
                yield c - v.base, d - v.base, EXCLUSIVE if n == 1 else SHARED


def snapshot(kernel: Kernel) -> World:
    frozen = kernel.copy()
    return World(
        processes={name: _process_obs(p, frozen) for name, p in frozen.processes.items()},
        stdout=frozen.stdout.collected,
        fd_names=dict(frozen.fd_names),
        mapping_names=frozenset(frozen.addresses),
        queries=SimQueries(frozen),
    )
