"""The model's invariants, checked after every op by the property tests and the
state machine (:class:`forklab.testing.machine.ModelVsKernel`).

They hold for any run of the simulator, whatever the ops: map counts equal the
PTEs that map each frame, no mapped frame is free, ``exclusive <= present`` and
``zero <= present``, open-file reference counts equal the fds that hold them,
and a thread that can never be woken is reported ``blocked`` (its process, if
it is the main thread). When every process has ended, nothing remains.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from forklab.sim.exit_wait import die
from forklab.sim.kernel import Kernel
from forklab.sim.runs import Counts
from forklab.sim.snapshot import snapshot
from forklab.sim.waitfor import stuck

__all__ = ["address_spaces", "check_invariants", "end_everything", "memory_is_empty"]


def address_spaces(kernel: Kernel) -> list[Any]:
    seen = {}
    for proc in kernel.processes.values():
        if proc.mm is not None and not proc.ended:
            seen[id(proc.mm)] = proc.mm
    return list(seen.values())


def check_invariants(kernel: Kernel) -> None:
    memory = kernel.memory
    expected = Counts(memory.mapcount.size)
    for mm in address_spaces(kernel):
        for m in mm.mappings.values():
            for a, b, v in m.frame_runs():
                expected.add(v.at(a), v.at(b), +1)
                assert all(o is not None for _, _, o in memory.owner.runs(v.at(a), v.at(b))), \
                    "a mapped frame is free"
    assert list(expected.runs()) == list(memory.mapcount.runs()), "map counts != PTEs"
    world = snapshot(kernel)
    for observed in world.processes.values():
        for mapping in observed.mappings.values():
            assert 0 <= mapping.exclusive <= mapping.present
            assert mapping.zero <= mapping.present
    tables = {}
    for process in kernel.processes.values():
        if not process.ended:
            tables[id(process.files)] = process.files
    for blank in kernel.blanks.values():
        tables[id(blank.files)] = blank.files
    refs: Counter = Counter()
    files = {}
    for table in tables.values():
        for slot in table.fds.values():
            refs[slot.file.id] += 1
            files[slot.file.id] = slot.file
    for fid, file in files.items():
        assert file.refs == refs[fid], "open-file refcount != fds that point at it"
    for s in stuck(kernel):
        name = s.thread.split("/")[0]
        thread = s.thread.split("/")[1] if "/" in s.thread else ""
        proc = kernel.processes[name]
        assert proc.threads[thread].waiting is not None
        if thread == "":  # (a stopped process shows that first)
            assert world.processes[name].state in ("blocked", "stopped")


def end_everything(kernel: Kernel) -> None:
    """SIGKILL every process still alive (the way a run ends)."""
    for proc in list(kernel.processes.values()):
        die(kernel, proc, signal="SIGKILL")
    for blank in kernel.blanks.values():
        blank.files.close_all()
    kernel.blanks.clear()


def memory_is_empty(kernel: Kernel) -> bool:
    anon = kernel.memory.allocated_anon()
    mapped = sum(b - a for a, b, v in kernel.memory.mapcount.runs() if v)
    open_files = sum(len(p.files.fds) for p in kernel.processes.values())
    return anon == 0 and mapped == 0 and open_files == 0
