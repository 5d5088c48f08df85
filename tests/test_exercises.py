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
SOLUTIONS = {"skeleton": "", "reference": "solutions/reference.py",
             "wrong": "solutions/wrong.py"}
CASES = [(ex, which) for ex in ("cow-fault", "fd-table") for which in SOLUTIONS]


@lru_cache(maxsize=None)
def _runs() -> dict[tuple[str, str], subprocess.CompletedProcess]:
    env_base = dict(os.environ)
    env_base["PYTHONPATH"] = str(FORKLAB_HOME) + os.pathsep + env_base.get("PYTHONPATH", "")
    started = {}
    for exercise, which in CASES:
        env = dict(env_base, FORKLAB_SOLUTION=SOLUTIONS[which])
        started[exercise, which] = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider",
             str(EXERCISES / exercise)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = {}
    for key, proc in started.items():
        out, _ = proc.communicate(timeout=300)
        done[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
    return done


def run(exercise: str, which: str) -> subprocess.CompletedProcess:
    return _runs()[exercise, which]


@pytest.mark.parametrize("exercise", ["cow-fault", "fd-table"])
def test_each_exercise_has_its_parts(exercise: str) -> None:
    folder = EXERCISES / exercise
    assert (folder / "README.md").is_file() and (folder / "student.py").is_file()
    assert list(folder.glob("*_test.py")), "GitHub Classroom's grader looks for *_test.py"
    for path in SOLUTIONS.values():
        assert not path or (folder / path).is_file()


@pytest.mark.parametrize("exercise", ["cow-fault", "fd-table"])
def test_the_skeleton_fails(exercise: str) -> None:
    done = run(exercise, "skeleton")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "not written yet" in done.stdout
    assert " passed" not in done.stdout.splitlines()[-1]  # nothing passes by accident


@pytest.mark.parametrize("exercise", ["cow-fault", "fd-table"])
def test_the_reference_passes(exercise: str) -> None:
    done = run(exercise, "reference")
    assert done.returncode == 0, done.stdout[-3000:]
    assert " failed" not in done.stdout


def test_the_wrong_cow_handler_fails_saying_why() -> None:
    done = run("cow-fault", "wrong")
    assert done.returncode == 1, done.stdout[-3000:]
    out = done.stdout
    assert ("child wrote page 0 of heap (private, anonymous); 2 page-table entries map "
            "its frame") in out
    assert "Your handler said 'reuse'; the reference model does 'copy'." in out
    assert "Writing in place would change the other process's memory too" in out


def test_the_wrong_fd_table_fails_saying_why() -> None:
    done = run("fd-table", "wrong")
    assert done.returncode == 1, done.stdout[-3000:]
    out = done.stdout
    assert "child.cloexec(3) is False with your fd table; the reference model says True." in out
    assert "fork copies each fd's close-on-exec flag as it is" in out
