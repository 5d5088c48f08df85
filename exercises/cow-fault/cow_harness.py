"""Grading support for the copy-on-write exercise: plugs a student's handler
into forklab's model, and records what the reference model decides.

The model's write-protect fault (``AddressSpace._write_protect_fault`` in
forklab/sim/memory.py) is split here into a *decision* (the student's
``handle_write_fault``: REUSE or COPY) and the *actions* that follow from it.
When the student decides as the reference model does, the model's own code
runs, unchanged; when not, the harness carries out the student's decision, so
its consequences show in the observations (a write that reaches another
process's memory, a shared mapping that stops being shared, ...).

The solution graded is ``student.py`` next to this file, or the file named by
the environment variable FORKLAB_SOLUTION (relative to this directory or
absolute): the instructor's tests select solutions/reference.py and
solutions/wrong.py that way. Loading it and comparing the model with the
reference model are forklab.testing.grading's; :data:`EXERCISE` says what is
this exercise's.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from forklab.sim.kernel import Kernel
from forklab.sim.memory import AddressSpace
from forklab.sim.runs import Linear
from forklab.testing.grading import Exercise

REUSE = "reuse"
COPY = "copy"


@dataclass(frozen=True)
class WriteFault:
    """A write to write-protected pages [first_page, first_page + pages) of a mapping,
    whose frames all have the same users."""

    process: str
    mapping: str
    first_page: int
    pages: int
    shared: bool  # MAP_SHARED
    anon: bool  # an anonymous frame (False: the page cache of a file)
    mapcount: int  # page-table entries that map the frame, this one included

    def __str__(self) -> str:
        where = (f"page {self.first_page}" if self.pages == 1
                 else f"pages {self.first_page}-{self.first_page + self.pages - 1}")
        kind = "shared" if self.shared else \
            "private, anonymous" if self.anon else "private, a file's page cache"
        users = "only this process maps" if self.mapcount == 1 else \
            f"{self.mapcount} page-table entries map"
        return f"{self.process} wrote {where} of {self.mapping} ({kind}); {users} its frame"


Handler = Callable[[WriteFault], str]


# --- the model, taken apart -----------------------------------------------------------------

_original = AddressSpace._write_protect_fault
_current = {"process": "?"}


def _pieces(mm: AddressSpace, m: Any, a: int, b: int, v: Linear) -> list[tuple[int, int, int]]:
    """(first page, end page, map count) for runs of pages whose frames have equal users."""
    offset = v.base
    return [(fa - offset, fb - offset, count)
            for fa, fb, count in mm.memory.mapcount.runs(v.at(a), v.at(b))]


def _faults(mm: AddressSpace, m: Any, a: int, b: int, v: Linear) -> list[WriteFault]:
    return [WriteFault(_current["process"], m.name, pa, pb - pa, m.share == "shared",
                       bool(v.tag.anon), count)
            for pa, pb, count in _pieces(mm, m, a, b, v)]


def reference_rule(fault: WriteFault) -> str:
    """What the model decides (checked against the model by the instructor's tests)."""
    if fault.shared:
        return REUSE
    if not fault.anon:
        return COPY
    return REUSE if fault.mapcount == 1 else COPY


def _decide(handler: Handler, fault: WriteFault) -> str:
    decision = handler(fault)
    if decision not in (REUSE, COPY):
        raise AssertionError(f"handle_write_fault returned {decision!r} for: {fault}. "
                             "Return REUSE or COPY.")
    return decision


@contextmanager
def _tracking_actor() -> Iterator[None]:
    original_apply = Kernel.apply

    def apply(self: Kernel, op: Any) -> None:
        _current["process"] = op.actor.process
        original_apply(self, op)

    Kernel.apply = apply  # type: ignore[method-assign]
    try:
        yield
    finally:
        Kernel.apply = original_apply  # type: ignore[method-assign]


@contextmanager
def _installed(fault: Callable[..., None]) -> Iterator[None]:
    """The model's write-protect faults go to ``fault`` (the actor tracked) until exit."""
    AddressSpace._write_protect_fault = fault  # type: ignore[method-assign]
    try:
        with _tracking_actor():
            yield
    finally:
        AddressSpace._write_protect_fault = _original  # type: ignore[method-assign]


@contextmanager
def plugged(handler: Handler) -> Iterator[None]:
    """Run the model with ``handler`` deciding every write-protect fault."""

    def fault(self: AddressSpace, m: Any, a: int, b: int, v: Linear) -> None:
        faults = _faults(self, m, a, b, v)
        decisions = [_decide(handler, f) for f in faults]
        if decisions == [reference_rule(f) for f in faults]:
            _original(self, m, a, b, v)  # the model's own code, unchanged
            return
        for f, decision in zip(faults, decisions):
            pa, pb = f.first_page, f.first_page + f.pages
            if decision == REUSE:  # this process writes the frame it maps, whoever else does
                m.ptes.set(pa, pb, Linear(v.base, replace(v.tag, writable=True,
                                                           owned=f.anon and not f.shared)))
            else:  # a fresh private anonymous frame with a copy of the page
                m.anon_vma = True
                self._copy_on_write(m, pa, pb, v.at(pa), cached=not f.anon)

    with _installed(fault):
        yield


@contextmanager
def recording(log: list[tuple[WriteFault, str]]) -> Iterator[None]:
    """Run the reference model, logging each fault with what the model did to it."""

    def fault(self: AddressSpace, m: Any, a: int, b: int, v: Linear) -> None:
        faults = _faults(self, m, a, b, v)
        copied: list[tuple[int, int]] = []
        real_copy = self._copy_on_write

        def spy(m_: Any, pa: int, pb: int, *args: Any, **kw: Any) -> None:
            copied.append((pa, pb))
            real_copy(m_, pa, pb, *args, **kw)

        self._copy_on_write = spy  # type: ignore[method-assign]
        try:
            _original(self, m, a, b, v)
        finally:
            del self._copy_on_write
        for f in faults:
            hit = any(pa < f.first_page + f.pages and f.first_page < pb for pa, pb in copied)
            log.append((f, COPY if hit else REUSE))

    with _installed(fault):
        yield


def why(fault: WriteFault, expected: str) -> str:
    """The reason, for a student, that ``expected`` is right for this fault."""
    if fault.shared:
        return ("It is a MAP_SHARED mapping: every process that maps it must see every "
                "write, so the writer keeps the frame and its entry just becomes writable "
                "(REUSE). A copy would quietly end the sharing.")
    if not fault.anon:
        return ("The frame is a page of the file's page cache, mapped read-only into a "
                "private mapping. Writing to it in place would change the file (and every "
                "other mapping of it): a private write gets its own anonymous copy (COPY).")
    if expected == COPY:
        return (f"Another process (or mapping) still maps this frame (map count "
                f"{fault.mapcount}): after fork both sides share it read-only. Writing in "
                "place would change the other process's memory too, so the writer gets a "
                "copy (COPY).")
    return ("Nobody else maps this frame any more (map count 1: the other process exited, "
            "or already took its own copy). Copying it would allocate and copy a page "
            "for nothing; the kernel reuses it and makes the entry writable (REUSE).")


# --- scenarios and comparisons -----------------------------------------------------------------

GENERIC_HINT = "look at which faults your handler copies and which it reuses"
HINTS = {
    "byte": "a write reached memory it must not (REUSE where another process still maps "
            "the frame) or a shared mapping stopped being shared (COPY of a MAP_SHARED page)",
    "shared_with": "pages that should still be shared were copied, or pages that should have "
                   "been copied are still shared",
    "exclusive": "count the frames each process maps alone: a COPY gives the writer its own "
                 "frame; a REUSE of a frame someone else maps leaves it shared",
    "faults": "every write to a write-protected page is one fault, whatever you decide",
}


def hint(kind: str, verbs: set[str]) -> str:
    """What to look at when the observable ``kind`` differs (whatever the ops were)."""
    return HINTS.get(kind, GENERIC_HINT)


EXERCISE = Exercise(
    name="cow-fault", folder=Path(__file__).resolve().parent,
    summary="copy-on-write exercise", required=("handle_write_fault(fault)",),
    plug=lambda solution: plugged(solution.handle_write_fault), hint=hint,
    noun="your handler",
    try_out=lambda solution: solution.handle_write_fault(
        WriteFault("parent", "heap", 0, 1, False, True, 2)))


CLASSIC = {
    "child-writes-after-fork": EXERCISE.scenario_text(
        "child-writes-after-fork",
        ("parent: mmap heap 8p\nparent: write heap = 1\nparent: fork -> child", []),
        ("child: write heap[0p] = 7",
         ["parent.heap.byte(0) == 1", "child.heap.byte(0) == 7",
          "child.heap.shared_with(parent) == 7", "child.heap.exclusive == 1"])),
    "parent-writes-after-fork": EXERCISE.scenario_text(
        "parent-writes-after-fork",
        ("parent: mmap heap 4p\nparent: write heap = 2\nparent: fork -> child\n"
         "parent: write heap[1p:3p] = 5", ["child.heap.byte(1p) == 2",
                                          "parent.heap.byte(1p) == 5"]),
        ("child: write heap[1p] = 6", ["child.heap.exclusive == 2", "parent.heap.exclusive == 2",
                                       "parent.heap.byte(1p) == 5"])),
    "last-user-reuses": EXERCISE.scenario_text(
        "last-user-reuses",
        ("parent: mmap heap 4p\nparent: write heap\nparent: fork -> child\nchild: _exit 0\n"
         "parent: wait child", []),
        ("parent: write heap = 9", ["parent.heap.exclusive == 4", "parent.faults == 4",
                                    "parent.heap.byte(3p) == 9"])),
    "shared-file": EXERCISE.scenario_text(
        "shared-file",
        ("parent: mmap box 2p file=box.bin shared\nparent: read box\nparent: fork -> child\n"
         "child: read box", []),
        ("parent: write box[0p] = 4\nchild: write box[1p] = 8",
         ["child.box.byte(0) == 4", "parent.box.byte(1p) == 8",
          "child.box.shared_with(parent) == 2"])),
    "private-file": EXERCISE.scenario_text(
        "private-file",
        ("parent: mmap data 4p file=data.bin private\nparent: read data\n"
         "parent: fork -> child\nchild: read data", []),
        ("child: write data[0p] = 5", ["parent.data.byte(0) == 0", "child.data.byte(0) == 5",
                                       "child.data.exclusive == 1"])),
    "mprotect-after-fork": EXERCISE.scenario_text(
        "mprotect-after-fork",
        ("parent: mmap heap 4p\nparent: write heap\nparent: fork -> child\nchild: exit 0\n"
         "parent: wait child\nparent: mprotect heap ro\nparent: mprotect heap rw", []),
        ("parent: write heap = 4", ["parent.faults == 4", "parent.heap.exclusive == 4"])),
    "two-children": EXERCISE.scenario_text(
        "two-children",
        ("parent: mmap heap 2p\nparent: write heap\nparent: fork -> a\nparent: fork -> b\n"
         "a: write heap[0p] = 3", ["b.heap.shared_with(parent) == 2"]),
        ("b: _exit 0\nparent: wait b\nparent: write heap[0p] = 4",
         ["a.heap.byte(0) == 3", "parent.heap.byte(0) == 4"])),
}
