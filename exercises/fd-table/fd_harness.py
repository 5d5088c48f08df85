"""Grading support for the fd-table exercise: plugs a student's fork copy and
close-on-exec into forklab's model.

The model copies an fd table with ``FdTable.copy`` (fork, and exec of a
process whose table was shared by ``clone files``) and applies close-on-exec
with ``FdTable.close_on_exec`` (forklab/sim/files.py). While :func:`plugged`
is active, both are the student's ``copy_at_fork`` and ``close_on_exec``.

The solution graded is ``student.py`` next to this file, or the file named by
the environment variable FORKLAB_SOLUTION (relative to this directory or
absolute).
"""
from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

from forklab.sim.files import FdTable

HERE = Path(__file__).resolve().parent


def load_solution() -> ModuleType:
    chosen = os.environ.get("FORKLAB_SOLUTION") or "student.py"
    path = Path(chosen)
    if not path.is_absolute():
        path = HERE / path
    spec = importlib.util.spec_from_file_location(f"fd_solution_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the solution {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("copy_at_fork", "close_on_exec"):
        if not callable(getattr(module, name, None)):
            raise AssertionError(f"{path.name} must define {name}")
    return module


_copy, _close_on_exec = FdTable.copy, FdTable.close_on_exec


@contextmanager
def plugged(solution: ModuleType) -> Iterator[None]:
    """Run the model with the student's fd-table copy and close-on-exec."""
    busy = {"copy": False, "exec": False}

    def copy(self: FdTable) -> FdTable:
        if busy["copy"]:
            raise AssertionError("copy_at_fork must not call table.copy(): that is the "
                                 "function you are writing")
        busy["copy"] = True
        try:
            child = solution.copy_at_fork(self)
        finally:
            busy["copy"] = False
        if not isinstance(child, FdTable):
            raise AssertionError(f"copy_at_fork must return an FdTable (the child's), "
                                 f"not {type(child).__name__}")
        if child is self:
            raise AssertionError("copy_at_fork returned the parent's own table: the child "
                                 "needs a table of its own (closing an fd in the child must "
                                 "not close it in the parent)")
        return child

    def close_on_exec(self: FdTable) -> None:
        if busy["exec"]:
            raise AssertionError("close_on_exec must not call table.close_on_exec(): that "
                                 "is the function you are writing")
        busy["exec"] = True
        try:
            solution.close_on_exec(self)
        finally:
            busy["exec"] = False

    FdTable.copy = copy  # type: ignore[method-assign]
    FdTable.close_on_exec = close_on_exec  # type: ignore[method-assign]
    try:
        yield
    finally:
        FdTable.copy = _copy  # type: ignore[method-assign]
        FdTable.close_on_exec = _close_on_exec  # type: ignore[method-assign]


def scenario_text(sid: str, *steps: tuple[str, list[str]]) -> str:
    out = [f'id = "{sid}"', f'title = "{sid}"', 'summary = "fd-table exercise"']
    for script, expect in steps:
        out.append("[[step]]")
        out.append("do = '''\n" + script.strip() + "\n'''")
        if expect:
            out.append("expect = [" + ", ".join(f'"{e}"' for e in expect) + "]")
    return "\n".join(out) + "\n"


CLASSIC = {
    "fork-shares-descriptions": scenario_text(
        "fork-shares-descriptions",
        ("parent: pipe -> r, w\nparent: writefd w \"hi\"\nparent: fork -> child",
         ["child.fds == [0, 1, 2, r, w]", "parent.same_file(r, child, r)",
          "parent.same_file(w, child, w)"]),
        ("child: readfd r", ["child.last_read == 'hi'"])),
    "fork-keeps-cloexec": scenario_text(
        "fork-keeps-cloexec",
        ("parent: pipe cloexec -> r, w\nparent: dup w -> d\nparent: fork -> child",
         ["child.cloexec(r)", "child.cloexec(w)", "not child.cloexec(d)"])),
    "exec-closes-cloexec": scenario_text(
        "exec-closes-cloexec",
        ("parent: pipe -> r, w\nparent: cloexec w on\nparent: fork -> child\n"
         "child: exec probe", ["child.fds == [0, 1, 2, r]", "parent.fds == [0, 1, 2, r, w]"]),
        ("parent: close w\nparent: readfd r", ["parent.last_read == ''",
                                               "parent.state == 'running'"])),
    "shared-offset": scenario_text(
        "shared-offset",
        ("parent: open log.txt rw create -> f\nparent: fork -> child\n"
         "child: writefd f \"abc\"\nparent: writefd f \"de\"\nparent: open log.txt ro -> g\n"
         "parent: readfd g", ["parent.last_read == 'abcde'"])),
    "close-range-then-exec": scenario_text(
        "close-range-then-exec",
        ("parent: pipe -> r, w\nparent: dup r -> d\nparent: close_range 3 max cloexec\n"
         "parent: fork -> child\nchild: exec probe",
         ["child.fds == [0, 1, 2]", "parent.fds == [0, 1, 2, r, w, d]"])),
    "dup2-clears-cloexec": scenario_text(
        "dup2-clears-cloexec",
        ("parent: pipe cloexec -> r, w\nparent: dup2 r 7\nparent: fork -> child\n"
         "child: exec probe", ["child.fds == [0, 1, 2, 7]"])),
    "vfork-exec": scenario_text(
        "vfork-exec",
        ("parent: pipe cloexec -> r, w\nparent: vfork -> child\nchild: exec probe",
         ["child.fds == [0, 1, 2]", "parent.fds == [0, 1, 2, r, w]"])),
    "exec-after-clone-files": scenario_text(
        "exec-after-clone-files",
        ("parent: pipe cloexec -> r, w\nparent: clone files -> child\nchild: exec probe",
         ["child.fds == [0, 1, 2]", "parent.fds == [0, 1, 2, r, w]"])),
    "pipe-eof-after-children": scenario_text(
        "pipe-eof-after-children",
        ("parent: pipe -> r, w\nparent: fork -> a\nparent: fork -> b\na: close r\n"
         "b: close w\nparent: close w\na: writefd w \"x\"\na: exit 0", []),
        ("b: readfd r", ["b.last_read == 'x'"]),
        ("b: readfd r", ["b.last_read == ''", "b.state == 'running'"])),
}


def run_model(text: str, solution: ModuleType | None = None) -> Any:
    from forklab.runner import run_scenario
    from forklab.scenario.parse import parse_text
    from forklab.sim import SimBackend

    scenario = parse_text(text, "<fd-table>")
    if solution is None:
        return run_scenario(SimBackend(), scenario)
    with plugged(solution):
        return run_scenario(SimBackend(), scenario)


def seen(step: Any) -> dict[str, Any]:
    out = dict(step.observations)
    for judged in step.expectations:
        out.update(judged.touched)
    return out


def hint(kind: str, verbs: set[str]) -> str:
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


def step_difference(reference: Any, student: Any) -> str | None:
    for ref_step, stu_step in zip(reference.steps, student.steps):
        ref, stu = seen(ref_step), seen(stu_step)
        for key in dict.fromkeys([*ref, *stu]):
            if ref.get(key) != stu.get(key):
                kind = key.split("(")[0].rsplit(".", 1)[-1]
                verbs = {op.verb for op in ref_step.step.ops}
                lines = "\n".join(f"    {op.text.strip()}" for op in ref_step.step.ops)
                return (f"after step {ref_step.step.index}:\n{lines}\n"
                        f"  {key} is {stu.get(key)!r} with your fd table; the reference "
                        f"model says {ref.get(key)!r}.\n  Hint: {hint(kind, verbs)}.")
    if len(reference.steps) != len(student.steps):
        return "the scenario stopped early with your fd table"
    return None


def first_difference(text: str, solution: Any) -> str | None:
    """Where the model with the student's code first shows something else than the
    reference model: op by op on the default observations, then step by step on
    everything the expectations read."""
    from forklab.observe import default_observations
    from forklab.scenario.parse import parse_text
    from forklab.sim.backend import SimRun

    scenario = parse_text(text, "<exercise>")
    reference, student = SimRun(scenario), SimRun(scenario)
    done: list[str] = []
    for op in scenario.ops:
        done.append(f"    {op.text.strip()}")
        reference.apply(op)
        with plugged(solution):
            student.apply(op)
            stu = default_observations(student.observe())
        ref = default_observations(reference.observe())
        for key in dict.fromkeys([*ref, *stu]):
            if ref.get(key) != stu.get(key):
                kind = key.split("(")[0].rsplit(".", 1)[-1]
                script = "\n".join(done)
                return (f"after\n{script}\n  {key} is {stu.get(key)!r} with your fd table; the "
                        f"reference model says {ref.get(key)!r}.\n"
                        f"  Hint: {hint(kind, {op.verb})}.")
    return step_difference(run_model(text), run_model(text, solution))
