"""Grading support for the fd-table exercise: passes a student's fork copy and
close-on-exec to forklab's model.

The model copies an fd table with its ``copy_files`` rule (fork, and exec of a
process whose table was shared by ``clone files``) and applies close-on-exec
with its ``close_on_exec`` rule (forklab/sim/rules.py; the kernel's are
``FdTable.copy`` and ``FdTable.close_on_exec`` in forklab/sim/files.py). The
exercise gives the model the student's ``copy_at_fork`` and ``close_on_exec``
as those rules.

The solution graded is ``student.py`` next to this file, or the file named by
the environment variable FORKLAB_SOLUTION (relative to this directory or
absolute). Loading it and comparing the model with the reference model are
forklab.testing.grading's; :data:`EXERCISE` says what is this exercise's.
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType

from forklab.sim.files import FdTable
from forklab.sim.rules import Rules
from forklab.testing.grading import Exercise


class _StudentsView(FdTable):
    """The table as the student's code is given it: the same fds (what it changes, it
    changes in the model), without the two methods the student is writing."""

    def __init__(self, table: FdTable) -> None:
        self.fds = table.fds
        self.record_locks = table.record_locks  # (a close releases the table's)

    def copy(self) -> FdTable:
        raise AssertionError("copy_at_fork must not call table.copy(): that is the "
                             "function you are writing")

    def close_on_exec(self) -> None:
        raise AssertionError("close_on_exec must not call table.close_on_exec(): that "
                             "is the function you are writing")


def rules_with(solution: ModuleType) -> Rules:
    """The model's rules, with the student's fd-table copy and close-on-exec."""

    def copy_files(parent: FdTable) -> FdTable:
        view = _StudentsView(parent)
        child = solution.copy_at_fork(view)
        if not isinstance(child, FdTable):
            raise AssertionError(f"copy_at_fork must return an FdTable (the child's), "
                                 f"not {type(child).__name__}")
        if child is view or child.fds is parent.fds:
            raise AssertionError("copy_at_fork returned the parent's own table: the child "
                                 "needs a table of its own (closing an fd in the child must "
                                 "not close it in the parent)")
        return child

    def close_on_exec(table: FdTable) -> None:
        solution.close_on_exec(_StudentsView(table))

    return Rules(copy_files=copy_files, close_on_exec=close_on_exec)


def hint(kind: str, verbs: set[str]) -> str:
    """What to look at when the observable ``kind`` differs after ops of ``verbs``."""
    if kind == "cloexec":
        return ("fork copies each fd's close-on-exec flag as it is: the flag belongs to the "
                "fd slot, and the child's slot is a copy of the parent's")
    if kind == "same_file":
        return ("after fork the child's fd must point at the SAME open file description as "
                "the parent's (install the same file, don't make a new one): that is why "
                "they share the file offset and the ends of a pipe")
    if kind in ("last_read", "state", "threads"):
        return ("a read of a pipe sees end-of-file only when every fd for its write end is "
                "closed, in every process: a write end the child should not have (or kept "
                "through exec) makes the reader wait; one closed too early ends the data")
    if kind == "fds":
        if "exec" in verbs:
            return ("exec closes exactly the fds whose close-on-exec flag is set and keeps "
                    "every other one at its number")
        return "fork gives the child every fd of the parent, at the same numbers"
    return "compare what your copy_at_fork and close_on_exec do with the docstrings"


EXERCISE = Exercise(
    name="fd-table", folder=Path(__file__).resolve().parent, summary="fd-table exercise",
    required=("copy_at_fork(parent)", "close_on_exec(table)"), rules=rules_with,
    hint=hint,
    noun="your fd table",
    try_out=lambda solution: solution.close_on_exec(solution.copy_at_fork(FdTable())))


CLASSIC = {
    "fork-shares-descriptions": EXERCISE.scenario_text(
        "fork-shares-descriptions",
        ("parent: pipe -> r, w\nparent: writefd w \"hi\"\nparent: fork -> child",
         ["child.fds == [0, 1, 2, r, w]", "parent.same_file(r, child, r)",
          "parent.same_file(w, child, w)"]),
        ("child: readfd r", ["child.last_read == 'hi'"])),
    "fork-keeps-cloexec": EXERCISE.scenario_text(
        "fork-keeps-cloexec",
        ("parent: pipe cloexec -> r, w\nparent: dup w -> d\nparent: fork -> child",
         ["child.cloexec(r)", "child.cloexec(w)", "not child.cloexec(d)"])),
    "exec-closes-cloexec": EXERCISE.scenario_text(
        "exec-closes-cloexec",
        ("parent: pipe -> r, w\nparent: cloexec w on\nparent: fork -> child\n"
         "child: exec probe", ["child.fds == [0, 1, 2, r]", "parent.fds == [0, 1, 2, r, w]"]),
        ("parent: close w\nparent: readfd r", ["parent.last_read == ''",
                                               "parent.state == 'running'"])),
    "shared-offset": EXERCISE.scenario_text(
        "shared-offset",
        ("parent: open log.txt rw create -> f\nparent: fork -> child\n"
         "child: writefd f \"abc\"\nparent: writefd f \"de\"\nparent: open log.txt ro -> g\n"
         "parent: readfd g", ["parent.last_read == 'abcde'"])),
    "close-range-then-exec": EXERCISE.scenario_text(
        "close-range-then-exec",
        ("parent: pipe -> r, w\nparent: dup r -> d\nparent: close_range 3 max cloexec\n"
         "parent: fork -> child\nchild: exec probe",
         ["child.fds == [0, 1, 2]", "parent.fds == [0, 1, 2, r, w, d]"])),
    "dup2-clears-cloexec": EXERCISE.scenario_text(
        "dup2-clears-cloexec",
        ("parent: pipe cloexec -> r, w\nparent: dup2 r 7\nparent: fork -> child\n"
         "child: exec probe", ["child.fds == [0, 1, 2, 7]"])),
    "vfork-exec": EXERCISE.scenario_text(
        "vfork-exec",
        ("parent: pipe cloexec -> r, w\nparent: vfork -> child\nchild: exec probe",
         ["child.fds == [0, 1, 2]", "parent.fds == [0, 1, 2, r, w]"])),
    "exec-after-clone-files": EXERCISE.scenario_text(
        "exec-after-clone-files",
        ("parent: pipe cloexec -> r, w\nparent: clone files -> child\nchild: exec probe",
         ["child.fds == [0, 1, 2]", "parent.fds == [0, 1, 2, r, w]"])),
    "pipe-eof-after-children": EXERCISE.scenario_text(
        "pipe-eof-after-children",
        ("parent: pipe -> r, w\nparent: fork -> a\nparent: fork -> b\na: close r\n"
         "b: close w\nparent: close w\na: writefd w \"x\"\na: exit 0", []),
        ("b: readfd r", ["b.last_read == 'x'"]),
        ("b: readfd r", ["b.last_read == ''", "b.state == 'running'"])),
}
