"""The memory calls: mmap, munmap, madvise, mprotect, mlock, munlock, loads and stores.

What an address space does is :mod:`forklab.sim.memory`'s; this module is
the calls that reach it, and the page cache of the scratch files that
``mmap file=`` maps and ``open`` with ``O_TRUNC`` cuts.
"""
from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import Range
from forklab.sim import cost, fdops, mlockall, signal_calls
from forklab.sim.files import RegularFile
from forklab.sim.memory import AddressSpace, Mapping, SegFault, SharedObject
from forklab.sim.namespaces import INITIAL
from forklab.sim.rlimits import has_capability, memlock_pages
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.sim.vmas import Vma
from forklab.vocabulary import PAGE

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Mmap)
def op_mmap(k: Kernel, proc: Process, thread: Thread, op: ops.Mmap) -> None:
    """A new mapping; ENOMEM (nothing mapped) if the commit charge it asks for is more
    than the machine's overcommit policy lets one call have (:mod:`.overcommit`)."""
    assert proc.mm is not None
    pages = op.size // PAGE
    obj = None
    if op.backing == "fd":
        obj = fdops.mappable(k, proc, thread, op)
        if obj is None:
            return
    noreserve = op.noreserve and k.overcommit.honours_noreserve()
    if not k.overcommit.allows(_charge_at_mmap(op, noreserve)):
        set_errno(proc, thread, "ENOMEM")
        return
    if op.backing == "sysv" and op.prot == "rx" and not _owns_ipc(k, thread, "CAP_IPC_OWNER"):
        # shmat SHM_EXEC asks to execute a 0600 segment: only CAP_IPC_OWNER over
        # the IPC namespace overrides that
        set_errno(proc, thread, "EACCES")
        return
    if op.backing == "file":
        assert op.path is not None
        obj = file_cache(k, op.path, op.size)
    elif op.share == "shared" and op.backing != "fd":  # shared anonymous memory, or sysv
        obj = SharedObject(k.memory, pages, populated=False)
    mapping = Mapping(
        op.name, k.addresses[op.name], pages, share=op.share, prot=op.prot,
        obj=obj, file_backed=op.backing in ("file", "fd"), thp=op.thp,
        noreserve=noreserve, maywrite=_may_write(k, proc, op),
        sysv=op.backing == "sysv")
    mapping.charge_at_mmap()
    proc.mm.mmap(mapping)
    mlockall.mapped(k, proc, mapping)


def _charge_at_mmap(op: ops.Mmap, noreserve: bool) -> int:
    """The pages an mmap charges, and so asks the overcommit policy for: a private
    writable mapping's (``accountable_mapping``), shared memory's object, whatever
    its protection (``shmem_acct_size``); none with ``noreserve`` (as honoured)."""
    if noreserve:
        return 0
    if op.share == "private":
        return op.size // PAGE if op.prot == "rw" else 0
    return op.size // PAGE if op.backing in ("anon", "sysv") else 0


def _owns_ipc(k: Kernel, thread: Thread, capability: str) -> bool:
    """``ns_capable`` over thread's IPC namespace (``ipcperms``): the capability, held
    in the user namespace that owns that IPC namespace (the one it was made in)."""
    owner = k.namespaces.ipc_owner.get(thread.ns.of("ipc"), INITIAL)
    return thread.creds.capable(capability) and owner == thread.ns.of("user")


def _may_write(k: Kernel, proc: Process, op: ops.Mmap) -> bool:
    """VM_MAYWRITE: whether mprotect may make the mapping writable. A shared mapping
    of an fd not open for writing may never be (``do_mmap`` clears it); shmat(2)
    attaches a segment SHM_RDONLY (ro, rx) without it; a private mapping may always
    be, as its writes go to copies."""
    if op.backing == "sysv":
        return op.prot == "rw"
    if op.backing == "fd" and op.share == "shared":
        assert proc.mm is not None and op.fd is not None
        return proc.files.fds[k.names.fd_number(op.fd)].file.writable
    return True


def file_cache(k: Kernel, path: str, size: int) -> SharedObject:
    """The page cache of the file behind `mmap file=PATH`.

    The backend makes the file SIZE bytes of zeros, written with write(2) (so
    in the page cache), unless it is that long already; making it truncates
    it first, which takes every page of it from every mapping of it.
    """
    file = k.files.get(path)
    if file is None:
        file = k.files[path] = RegularFile(path)
    cache = k.caches.get(path)
    if cache is None:
        cache = k.caches[path] = SharedObject(k.memory, size // PAGE,
                                              populated=False, file=file)
    cache.resize(size // PAGE)
    if file.size < size:
        truncate(k, file, 0)
        file.truncate(size)
        k.cache_touched += size  # the backend writes the file's zeros
    cache.frames(0, min(cache.pages.size, file.pages))
    return cache


def truncate(k: Kernel, file: RegularFile, size: int) -> None:
    """Cut a file to size bytes (O_TRUNC): its pages past the new end leave the page
    cache and every mapping (a later touch there is SIGBUS)."""
    file.truncate(size)
    cache = k.caches.get(file.path)
    if cache is None or cache.file is not file:
        return
    first = -(-size // PAGE)
    spaces = {id(p.mm): p.mm for p in k.processes.values() if p.mm is not None}
    for mm in spaces.values():
        mm.truncated(cache, first)
    cache.truncate(first)


def _pages(proc: Process, rng: Range) -> tuple[Mapping | None, int, int]:
    """The mapping a range names in proc (None if proc has no page of it left) and
    the range's pages (:func:`range_pages`)."""
    assert proc.mm is not None
    m = proc.mm.mappings.get(rng.mapping)
    if m is None:
        return None, 0, 0
    return (m, *range_pages(rng, m.size))


def range_pages(rng: Range, size: int) -> tuple[int, int]:
    """The pages a range names in a mapping now ``size`` bytes long: its bounds as
    written, which may reach past an end an mremap brought in (unmapped pages); a
    range to the end stops at the current end (empty if it starts past it)."""
    end = rng.end if rng.end is not None else max(size, rng.start)
    return rng.start // PAGE, end // PAGE


@HANDLERS.handles(ops.Munmap)
def op_munmap(k: Kernel, proc: Process, thread: Thread, op: ops.Munmap) -> None:
    """Unmap the range; what is left of the mapping stays. Unmapping a range with
    nothing mapped succeeds, as in the kernel; an empty one is EINVAL."""
    assert proc.mm is not None
    m, lo, hi = _pages(proc, op.range)
    if m is not None and lo == hi:  # a range to the end, past an end mremap brought in
        set_errno(proc, thread, "EINVAL")
    elif m is not None:
        proc.mm.munmap(m.name, lo, hi)


@HANDLERS.handles(ops.Write, ops.Read)
def op_touch(k: Kernel, proc: Process, thread: Thread, op: ops.Write | ops.Read) -> None:
    """A store or a load over a range of a mapping; a bad access kills (SIGSEGV, or
    SIGBUS past a file's end), forced: blocked or ignored, it still kills; only an
    `exit` handler the thread does not block turns it into an exit status."""
    assert proc.mm is not None
    rng = op.range
    mapping = proc.mm.mappings.get(rng.mapping)
    if mapping is None:
        signal_calls.fault(k, proc, thread, "SIGSEGV")
        return
    lo, hi = range_pages(rng, mapping.size)
    try:
        if isinstance(op, ops.Write):
            faults = proc.mm.write(rng.mapping, lo, hi, op.value, writer=proc.name,
                                   decide=k.rules.write_fault)
        else:
            faults = proc.mm.read(rng.mapping, lo, hi)
    except SegFault as fault:
        proc.faults += fault.faults
        proc.minflt += fault.faults
        signal_calls.fault(k, proc, thread, fault.signal)
        return
    proc.faults += faults
    proc.minflt += faults
    # a fault fills (zeroes or copies) its whole page; a page already mapped is one line
    k.cache_touched += faults * PAGE + (hi - lo - faults) * cost.CACHE_LINE


@HANDLERS.handles(ops.Madvise)
def op_madvise(k: Kernel, proc: Process, thread: Thread, op: ops.Madvise) -> None:
    """``madvise_walk_vmas``: the advice goes to each VMA of the range in turn; one
    that refuses it ends the call with its error (EINVAL); pages no VMA maps do not
    stop it, but the call then fails with ENOMEM."""
    assert proc.mm is not None
    m, lo, hi = _pages(proc, op.range)
    if m is None:
        set_errno(proc, thread, "ENOMEM")
        return
    for a, b, vma in list(m.vmas.runs(lo, hi)):
        if vma is not None and not _advise(proc.mm, m, vma, a, b, op.advice):
            set_errno(proc, thread, "EINVAL")
            return
    if m.vmas.first_hole(lo, hi) is not None:
        set_errno(proc, thread, "ENOMEM")


def _advise(mm: AddressSpace, m: Mapping, vma: Vma, lo: int, hi: int, advice: str) -> bool:
    """One VMA's part [lo, hi) of a madvise; False if the VMA refuses the advice."""
    anonymous = m.obj is None  # private anonymous: no file, not shared memory
    if advice in ("dontneed", "free") and vma.locked:
        return False  # madvise_dontneed_free_valid_vma: not on VM_LOCKED
    if advice == "dontneed":
        mm.dontneed(m.name, lo, hi)
    elif advice == "free":
        # MADV_FREE only marks the pages lazily freeable: without memory pressure
        # they stay, with their data, and a later write keeps its new data
        return anonymous
    elif advice == "wipeonfork" and not anonymous:
        # WIPEONFORK only on private anonymous memory (no vm_file, not VM_SHARED);
        # KEEPONFORK just clears the flag, on any mapping
        return False
    else:
        mm.change_vmas(m, lo, hi, _ADVICE[advice])
    return True


_ADVICE: dict[str, Callable[[Vma], Vma]] = {
    "dontfork": lambda v: replace(v, dontfork=True),
    "dofork": lambda v: replace(v, dontfork=False),
    "wipeonfork": lambda v: replace(v, wipeonfork=True),
    "keeponfork": lambda v: replace(v, wipeonfork=False),
    "hugepage": lambda v: replace(v, thp=True),
    "nohugepage": lambda v: replace(v, thp=False),
}
"""The VMA flag each advice that only sets a flag sets (``madvise_vma_behavior``)."""


@HANDLERS.handles(ops.Mprotect)
def op_mprotect(k: Kernel, proc: Process, thread: Thread, op: ops.Mprotect) -> None:
    """The range's VMAs, up to the first page no VMA maps, get the protection; such a
    page (even the first) makes the call fail with ENOMEM. Write asked of a mapping
    without VM_MAYWRITE fails at its first VMA with EACCES, changing nothing. A piece
    of a VMA that becoming writable charges asks the overcommit policy first
    (``mprotect_fixup``): refused, the call stops there with ENOMEM."""
    assert proc.mm is not None
    m, lo, hi = _pages(proc, op.range)
    if m is None:
        set_errno(proc, thread, "ENOMEM")
        return
    hole = m.vmas.first_hole(lo, hi)
    if op.prot == "rw" and not m.maywrite:
        set_errno(proc, thread, "ENOMEM" if hole == lo else "EACCES")
        return
    stop = hi if hole is None else hole
    refused = next((a for a, b, vma in m.vmas.runs(lo, stop) if vma is not None
                    and m.protected(vma, op.prot).accounted and not vma.accounted
                    and not k.overcommit.allows(b - a)), None)
    if refused is not None:
        stop = hole = refused
    if stop > lo:
        faults = proc.mm.mprotect(m.name, lo, stop, op.prot)
        proc.faults += faults
        proc.minflt += faults
        k.cache_touched += faults * PAGE  # each fault fills its page
    if hole is not None:
        set_errno(proc, thread, "ENOMEM")


def dup_mmap_refused(k: Kernel, proc: Process) -> bool:
    """Whether a fork of proc fails with ENOMEM: ``dup_mmap`` asks the overcommit
    policy again for each charged VMA the child gets, whole (one that mremap grew
    past what one call may charge is refused; tests/kernel_facts/mem_edges.c)."""
    assert proc.mm is not None
    return any(v.accounted and not v.dontfork and not k.overcommit.allows(v.pages)
               for m in proc.mm.mappings.values() for v in m.vmas.list)


def own_memlock_limit() -> int | None:
    """Pages a process may lock: RLIMIT_MEMLOCK's soft limit of this process (every
    process of a real run inherits it), or None, no limit, with CAP_IPC_LOCK."""
    if has_capability(CAP_IPC_LOCK):
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    return None if soft == resource.RLIM_INFINITY else soft // PAGE


CAP_IPC_LOCK = 14


@HANDLERS.handles(ops.Mremap)
def op_mremap(k: Kernel, proc: Process, thread: Thread, op: ops.Mremap) -> None:
    """Grow or shrink in place (:meth:`AddressSpace.mremap`; growing a charged VMA asks
    the overcommit policy for the new pages). ``maymove`` changes
    nothing here: the parser keeps the size within the room forklab's layout leaves,
    where the kernel grows a mapping in place and never moves it."""
    assert proc.mm is not None
    error, faults = proc.mm.mremap(op.name, op.size // PAGE, k.overcommit.allows)
    proc.faults += faults
    proc.minflt += faults
    k.cache_touched += faults * PAGE
    if error is not None:
        set_errno(proc, thread, error)


@HANDLERS.handles(ops.Mlock)
def op_mlock(k: Kernel, proc: Process, thread: Thread, op: ops.Mlock) -> None:
    """``do_mlock``: EPERM with a limit of 0; ENOMEM if the pages it would lock
    anew take the process past its limit. Then the range's VMAs are locked up to
    the first page no VMA maps (ENOMEM, and nothing faulted in), else every page
    is faulted in (a fault in a PROT_NONE VMA fails the call with ENOMEM)."""
    assert proc.mm is not None
    m, lo, hi = _pages(proc, op.range)
    limit = memlock_pages(k, proc)
    if limit == 0:
        set_errno(proc, thread, "EPERM")
        return
    if limit is not None:
        locked = sum(mapping.locked() for mapping in proc.mm.mappings.values())
        already = 0 if m is None else sum(
            b - a for a, b, v in m.vmas.runs(lo, hi) if v is not None and v.locked)
        if locked + (hi - lo) - already > limit:
            set_errno(proc, thread, "ENOMEM")
            return
    hole = lo if m is None else m.vmas.first_hole(lo, hi)
    if hole is not None:
        if m is not None and hole > lo:
            proc.mm.change_vmas(m, lo, hole, lambda v: replace(v, locked=True))
        set_errno(proc, thread, "ENOMEM")
        return
    assert m is not None
    faults, done = proc.mm.mlock(m.name, lo, hi)
    proc.faults += faults
    proc.minflt += faults
    k.cache_touched += faults * PAGE  # each fault fills its page
    if not done:
        set_errno(proc, thread, "ENOMEM")


@HANDLERS.handles(ops.Munlock)
def op_munlock(k: Kernel, proc: Process, thread: Thread, op: ops.Munlock) -> None:
    """The range's VMAs, up to the first page no VMA maps, are unlocked; such a page
    makes the call fail with ENOMEM."""
    assert proc.mm is not None
    m, lo, hi = _pages(proc, op.range)
    hole = lo if m is None else m.vmas.first_hole(lo, hi)
    if m is not None:
        proc.mm.munlock(m.name, lo, hi if hole is None else hole)
    if hole is not None:
        set_errno(proc, thread, "ENOMEM")
