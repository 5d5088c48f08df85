"""The gradable exercises: the skeleton fails, the reference passes, and the
deliberately wrong solution fails with a message a student can act on.

Each exercise's own tests run in a subprocess (as a grader runs them), with
the solution chosen by the FORKLAB_SOLUTION environment variable. All six runs
start at once and are collected as they finish.
"""
from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

import forklab

ROOT = Path(__file__).resolve().parent.parent
# The exercises' tests import the forklab this process imported (installed, or this checkout).
FORKLAB_HOME = Path(forklab.__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
INSTRUCTOR = EXERCISES / "instructor"
NAMES = ("cow-fault", "fd-table")
WRONG = {ex: sorted(p.stem for p in (INSTRUCTOR / ex / "wrong").glob("*.py")) for ex in NAMES}
RUNS = [(ex, which) for ex in NAMES for which in ("skeleton", "reference", *WRONG[ex])]


def _solution(exercise: str, which: str) -> str:
    """FORKLAB_SOLUTION for a run: empty for the student's skeleton."""
    if which == "skeleton":
        return ""
    if which == "reference":
        return str(INSTRUCTOR / exercise / "reference.py")
    return str(INSTRUCTOR / exercise / "wrong" / f"{which}.py")


@lru_cache(maxsize=None)
def _runs() -> dict[tuple[str, str], subprocess.CompletedProcess]:
    """Every run at once. A wrong solution runs without the random-scenario test and
    without the kernel: the deterministic cases alone must catch it."""
    env_base = dict(os.environ)
    env_base["PYTHONPATH"] = str(FORKLAB_HOME) + os.pathsep + env_base.get("PYTHONPATH", "")
    started = {}
    for exercise, which in RUNS:
        env = dict(env_base, FORKLAB_SOLUTION=_solution(exercise, which))
        only = [] if which in ("skeleton", "reference") else ["-k", "not random and not kernel"]
        started[exercise, which] = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider",
             *only, str(EXERCISES / exercise)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = {}
    for key, proc in started.items():
        out, _ = proc.communicate(timeout=300)
        done[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
    return done


def run(exercise: str, which: str) -> subprocess.CompletedProcess:
    return _runs()[exercise, which]


@pytest.mark.parametrize("exercise", NAMES)
def test_each_exercise_has_its_parts(exercise: str) -> None:
    """What a student's repository receives, and the instructor's part kept apart."""
    folder = EXERCISES / exercise
    assert (folder / "README.md").is_file() and (folder / "student.py").is_file()
    assert list(folder.glob("*_test.py")), "GitHub Classroom's grader looks for *_test.py"
    assert not list(folder.rglob("reference*")) and not (folder / "solutions").exists()
    assert (INSTRUCTOR / exercise / "reference.py").is_file()
    assert (INSTRUCTOR / exercise / "NOTES.md").is_file()
    assert len(WRONG[exercise]) >= 4


@pytest.mark.parametrize("exercise", NAMES)
def test_the_skeleton_fails(exercise: str) -> None:
    done = run(exercise, "skeleton")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "not written yet" in done.stdout
    assert " passed" not in done.stdout.splitlines()[-1]  # nothing passes by accident


@pytest.mark.parametrize("exercise", NAMES)
def test_the_reference_passes(exercise: str) -> None:
    done = run(exercise, "reference")
    assert done.returncode == 0, done.stdout[-3000:]
    assert " failed" not in done.stdout


@pytest.mark.parametrize("exercise, which", [(ex, w) for ex in NAMES for w in WRONG[ex]])
def test_every_wrong_solution_fails_the_deterministic_cases(exercise: str, which: str) -> None:
    """Each kept mistake fails without the random test's luck, so on every run."""
    done = run(exercise, which)
    assert done.returncode == 1, done.stdout[-3000:]
    assert " failed" in done.stdout.splitlines()[-1]


def test_the_cow_cases_reach_every_branch_of_the_decision() -> None:
    """Shared; private file page (mapped once and more); private anonymous page
    (mapped once and more): a handler wrong in any one of them meets a case."""
    sys.path.insert(0, str(EXERCISES / "cow-fault"))
    try:
        from cow_harness import CASES, EXERCISE, recording
    finally:
        sys.path.remove(str(EXERCISES / "cow-fault"))
    def branch(fault) -> str:
        if fault.shared:
            return "shared"
        kind = "anonymous" if fault.anon else "file"
        return f"{kind}, mapped {'once' if fault.mapcount == 1 else 'more'}"

    seen = set()
    for text in CASES.values():
        log: list = []
        EXERCISE.run_model(text, recording(log))
        seen |= {branch(fault) for fault, _ in log}
    assert seen == {"shared", "file, mapped once", "file, mapped more", "anonymous, mapped once",
                    "anonymous, mapped more"}


def test_the_wrong_cow_handler_fails_saying_why() -> None:
    done = run("cow-fault", "never_copies")
    assert done.returncode == 1, done.stdout[-3000:]
    out = done.stdout
    assert ("child wrote page 0 of heap (private, anonymous); 2 page-table entries map "
            "its frame") in out
    assert "Your handler said 'reuse'; the reference model does 'copy'." in out
    assert "Writing in place would change the other process's memory too" in out


def test_the_wrong_fd_table_fails_saying_why() -> None:
    done = run("fd-table", "forgets_cloexec")
    assert done.returncode == 1, done.stdout[-3000:]
    out = done.stdout
    assert "child.cloexec(3) is False with your fd table; the reference model says True." in out
    assert "fork copies each fd's close-on-exec flag as it is" in out
