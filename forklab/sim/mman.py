"""The memory calls: mmap, munmap, madvise, mprotect, and loads and stores.

What an address space does is :mod:`forklab.sim.memory`'s; this module is
the calls that reach it, and the page cache of the scratch files that
``mmap file=`` maps and ``open`` with ``O_TRUNC`` cuts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim import cost, fdops, signal_calls
from forklab.sim.files import RegularFile
from forklab.sim.memory import Mapping, SegFault, SharedObject
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.vocabulary import PAGE

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Mmap)
def op_mmap(k: Kernel, proc: Process, thread: Thread, op: ops.Mmap) -> None:
    assert proc.mm is not None
    pages = op.size // PAGE
    obj = None
    if op.backing == "file":
        assert op.path is not None
        obj = file_cache(k, op.path, op.size)
    elif op.backing == "fd":
        obj = fdops.mappable(k, proc, thread, op)
        if obj is None:
            return
    elif op.share == "shared":
        obj = SharedObject(k.memory, pages, populated=False)
    mapping = Mapping(
        op.name, k.addresses[op.name], pages, share=op.share, prot=op.prot,
        obj=obj, file_backed=op.backing != "anon", thp=op.thp, noreserve=op.noreserve)
    mapping.charge_at_mmap()
    proc.mm.mmap(mapping)


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


@HANDLERS.handles(ops.Munmap)
def op_munmap(k: Kernel, proc: Process, thread: Thread, op: ops.Munmap) -> None:
    assert proc.mm is not None
    if op.name in proc.mm.mappings:
        proc.mm.munmap(op.name)
    # munmap of a range with nothing mapped succeeds, as in the kernel


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
    lo, hi = (x // PAGE for x in rng.bounds(mapping.size))
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
    assert proc.mm is not None
    m = proc.mm.mappings.get(op.name)
    if m is None:
        set_errno(proc, thread, "ENOMEM")
        return
    advice = op.advice
    if advice == "wipeonfork" and m.obj is not None:
        # madvise_vma_behavior: WIPEONFORK only on private anonymous memory (no
        # vm_file, not VM_SHARED); KEEPONFORK just clears the flag, on any mapping
        set_errno(proc, thread, "EINVAL")
    elif advice == "dontneed":
        proc.mm.dontneed(m.name)
    elif advice in ("dontfork", "dofork"):
        m.dontfork = advice == "dontfork"
    elif advice in ("wipeonfork", "keeponfork"):
        m.wipeonfork = advice == "wipeonfork"
    elif advice in ("hugepage", "nohugepage"):
        m.thp = advice == "hugepage"


@HANDLERS.handles(ops.Mprotect)
def op_mprotect(k: Kernel, proc: Process, thread: Thread, op: ops.Mprotect) -> None:
    assert proc.mm is not None
    m = proc.mm.mappings.get(op.name)
    if m is None:
        set_errno(proc, thread, "ENOMEM")
    else:
        m.charge_at_mprotect(op.prot)
        proc.mm.mprotect(m.name, op.prot)
