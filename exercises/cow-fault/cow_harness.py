"""Grading support for the copy-on-write exercise: passes a student's handler to
forklab's model, and records what the reference model decides.

The model resolves a write to a present, write-protected page
(``AddressSpace.write`` in forklab/sim/memory.py) in two parts: a *decision*,
reuse the frame or copy the page, made by the model's ``write_fault`` rule
(forklab/sim/rules.py), and the *actions* that follow from it. The exercise
gives the model the student's ``handle_write_fault`` as that rule, so a wrong
decision shows its consequences in the observations (a write that reaches
another process's memory, a shared mapping that stops being shared, ...).

The solution graded is ``student.py`` next to this file, or the file named by
the environment variable FORKLAB_SOLUTION (relative to this directory or
absolute): the instructor's tests select solutions/reference.py and
solutions/wrong.py that way. Loading it and comparing the model with the
reference model are forklab.testing.grading's; :data:`EXERCISE` says what is
this exercise's.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from forklab.sim.memory import COPY, REUSE, WriteFault, decide_write_fault
from forklab.sim.rules import Rules
from forklab.testing.grading import Exercise

__all__ = ["CASES", "CLASSIC", "COPY", "EXERCISE", "REUSE", "WriteFault", "describe",
           "recording", "rules_with", "why"]

Handler = Callable[[WriteFault], str]


def describe(fault: WriteFault) -> str:
    """The fault in a sentence, for a student."""
    where = (f"page {fault.first_page}" if fault.pages == 1
             else f"pages {fault.first_page}-{fault.first_page + fault.pages - 1}")
    kind = "shared" if fault.shared else \
        "private, anonymous" if fault.anon else "private, a file's page cache"
    users = "only this process maps" if fault.mapcount == 1 else \
        f"{fault.mapcount} page-table entries map"
    return f"{fault.process} wrote {where} of {fault.mapping} ({kind}); {users} its frame"


def rules_with(handler: Handler) -> Rules:
    """The model's rules, with ``handler`` deciding every write-protect fault."""

    def decide(fault: WriteFault) -> str:
        decision = handler(fault)
        if decision not in (REUSE, COPY):
            raise AssertionError(f"handle_write_fault returned {decision!r} for: "
                                 f"{describe(fault)}. Return REUSE or COPY.")
        return decision

    return Rules(write_fault=decide)


def recording(log: list[tuple[WriteFault, str]]) -> Rules:
    """The reference model's rules, logging each fault with what the model decided."""

    def decide(fault: WriteFault) -> str:
        decision = decide_write_fault(fault)
        log.append((fault, decision))
        return decision

    return Rules(write_fault=decide)


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
    rules=lambda solution: rules_with(solution.handle_write_fault), hint=hint,
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
    "private-file-alone": EXERCISE.scenario_text(
        "private-file-alone",
        ("parent: mmap data 4p file=data.bin private\nparent: read data\n"
         "parent: write data[0p] = 5", ["parent.data.byte(0) == 5"]),
        ("parent: mmap view 4p file=data.bin shared\nparent: read view",
         ["parent.view.byte(0) == 0"])),
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


def _directed_cases() -> dict[str, str]:
    """Every kind of mapping, untouched, read or written before fork, then each order
    of writes after it: together they reach every branch of the decision (shared or
    private, anonymous or a file's page cache, mapped once or more), whatever a
    solution's code looks like. Each case's name says what it does; its expectations
    say what the memory must hold afterwards."""
    cases = {}
    for kind in ("anon", "file"):
        backing = "anon" if kind == "anon" else "file=m.bin"
        for share in ("private", "shared"):
            for before in ("untouched", "read", "written"):
                touch = {"untouched": "", "read": "parent: read m\n",
                         "written": "parent: write m = 3\n"}[before]
                old = 3 if before == "written" else 0  # what both see at fork

                def seen(written: int) -> int:
                    """What the other process reads where one wrote ``written``."""
                    return written if share == "shared" else old

                name = f"{kind}-{share}-{before}-alone"
                steps = [(f"parent: mmap m 4p {backing} {share}\n{touch}"
                          "parent: write m[0p:2p] = 5", ["parent.m.byte(1p) == 5"])]
                if kind == "file":  # whether the write reached the file
                    steps.append(("parent: mmap view 4p file=m.bin shared\nparent: read view",
                                  [f"parent.view.byte(0) == {5 if share == 'shared' else 0}"]))
                cases[name] = EXERCISE.scenario_text(name, *steps)
                fork = f"parent: mmap m 4p {backing} {share}\n{touch}parent: fork -> child"
                afters = {
                    "child-writes": ("child: write m[1p] = 7",
                                     ["child.m.byte(1p) == 7", f"parent.m.byte(1p) == {seen(7)}"]),
                    "parent-writes": ("parent: write m[1p] = 7",
                                      ["parent.m.byte(1p) == 7", f"child.m.byte(1p) == {seen(7)}"]),
                    "child-exits": ("child: _exit 0\nparent: wait child\nparent: write m = 7",
                                    ["parent.m.byte(3p) == 7"]),
                    "both-write": ("child: write m[1p] = 7\nparent: write m[1p:3p] = 8",
                                   ["parent.m.byte(1p) == 8", f"child.m.byte(2p) == {seen(8)}",
                                    f"child.m.byte(1p) == {8 if share == 'shared' else 7}"]),
                }
                for after, (script, expect) in afters.items():
                    name = f"{kind}-{share}-{before}-{after}"
                    cases[name] = EXERCISE.scenario_text(name, (fork, []), (script, expect))
    return cases


def _takes_a_fault(text: str) -> bool:
    """Whether the reference model decides at least one write-protect fault in it:
    a case that never asks the handler grades nothing."""
    log: list[tuple[WriteFault, str]] = []
    EXERCISE.run_model(text, recording(log))
    return bool(log)


CASES = {name: text for name, text in {**CLASSIC, **_directed_cases()}.items()
         if _takes_a_fault(text)}
"""The classic scenarios and the directed cases that ask the handler: what the tests run."""
