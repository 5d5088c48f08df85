"""The real backend as an ordinary user: frame-number observables come back
unavailable, never guessed; everything else still works.

Run with `setpriv` as nobody, in a subprocess, on a copy of the package that
nobody can read (the test's own interpreter may live where nobody can go).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from realkit import NOBODY

import forklab

SCRIPT = textwrap.dedent("""
    import json, os, sys, textwrap
    sys.path.insert(0, sys.argv[1])
    from forklab.observe import UNAVAILABLE, default_observations
    from forklab.real import real_backend_status
    from forklab.real.backend import RealBackend
    from forklab.scenario.parse import parse_text
    text = '''
    id = "nobody"
    title = "t"
    summary = "t"
    [[step]]
    do = \\"\\"\\"
    parent: mmap heap 1MiB
    parent: read heap
    parent: write heap[0:2p] = 5
    parent: open f create -> fd
    parent: fork -> child
    child: close 0
    parent: write heap[2p] = 6
    \\"\\"\\"
    '''
    scenario = parse_text(textwrap.dedent(text))
    out = {"uid": os.geteuid(), "status": real_backend_status()}
    with RealBackend().start(scenario) as run:
        for op in scenario.steps[0].ops:
            run.apply(op)
        w = run.observe()
        q = w.queries
        out["obs"] = {k: repr(v) for k, v in default_observations(w).items()}
        out["shared"] = repr(q.shared_with("child", "heap", "parent"))
        out["byte"] = repr(q.byte("parent", "heap", 0))
        out["same"] = repr(q.same_file("parent", 3, "child", 3))
    out["hidden"] = sorted(RealBackend().capabilities.hidden)
    print(json.dumps(out))
""")


def _interpreter(tree: str) -> str | None:
    """An interpreter nobody can run that has cffi's backend (for forklab's extension)."""
    candidates = [sys.executable, shutil.which("python3") or "", "/usr/bin/python3"]
    for exe in dict.fromkeys(c for c in candidates if c):
        check = subprocess.run(
            ["setpriv", *NOBODY, exe, "-c",
             ("import sys, _cffi_backend, tomllib; sys.path.insert(0, sys.argv[1]); "
              "import forklab.real._native"), tree],
            capture_output=True, timeout=30, cwd="/", check=False)
        if check.returncode == 0:
            return exe
    return None


class AsNobody:
    """Runs Python as nobody on a copy of the package nobody can read."""

    def __init__(self, tree: str, exe: str) -> None:
        self.tree, self.exe = tree, exe

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.tree, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["setpriv", *NOBODY, self.exe, *args], capture_output=True,
                              text=True, timeout=120, cwd="/", check=False,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                   "PYTHONPATH": self.tree, "NO_COLOR": "1"})


@pytest.fixture
def nobody() -> Iterator[AsNobody]:
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to act as another user")
    tree = tempfile.mkdtemp(prefix="forklab-nobody-")
    try:
        os.chmod(tree, 0o755)
        package = Path(forklab.__file__).resolve().parent
        shutil.copytree(package, os.path.join(tree, "forklab"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        for root, dirs, files in os.walk(tree):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
            for name in files:
                path = os.path.join(root, name)
                os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)
        exe = _interpreter(tree)
        if exe is None:
            pytest.skip("no Python with cffi that an ordinary user can run")
        yield AsNobody(tree, exe)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


@pytest.mark.forklab_real(root=True)
def test_an_ordinary_user_gets_unavailable_frames_and_everything_else(nobody: AsNobody):
    done = nobody.run(nobody.write("nobody.py", SCRIPT), nobody.tree)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["uid"] == 65534
    assert out["status"][0] is True and "not root" in out["status"][1]
    obs = out["obs"]
    # pagemap hides frame numbers, but its exclusive bits tell: pages 0 and 1 are the
    # same anonymous frames, pages 3..255 the zero page in both; page 2 is the parent's
    assert out["shared"] == "255"
    assert out["byte"] == "5" and out["same"] == "True"
    # pages 0 and 1 are shared with the child; page 2 is the parent's new copy
    assert obs["parent.heap.present"] == "256" and obs["parent.heap.exclusive"] == "1"
    # the zero page is named by PAGEMAP_SCAN without frame numbers (Linux >= 6.7)
    assert obs["parent.heap.zero"] in ("253", "unavailable")
    hidden = ["byte", "libc_relro_same", "libc_text_same", "shared_with", "timer_slack"]
    if obs["parent.heap.zero"] == "unavailable":
        hidden = sorted([*hidden, "zero"])
    assert out["hidden"] == hidden
    assert obs["parent.vm_pte"] == "12" and obs["parent.faults"] == "259"
    assert obs["child.fds"] == "[1, 2, 3]" and obs["parent.fds"] == "[0, 1, 2, 3]"
    assert obs["child.state"] == "'running'" and obs["parent.errno"] == "None"


THREE_SHARE = """\
id = "three"
title = "t"
summary = "t"

[[step]]
do = '''
parent: mmap heap 4p
parent: write heap
parent: fork -> a
parent: fork -> b
'''
expect = ["a.heap.shared_with(parent) == 4", "parent.heap.exclusive == 0"]
"""


@pytest.mark.forklab_real(root=True)
def test_verify_by_an_ordinary_user_passes_and_says_once_what_it_could_not_check(
        nobody: AsNobody):
    """Three processes hold the same four pages: without frame numbers nothing tells
    which frames a and the parent share, so that value is unavailable; everything
    else agrees, so verify exits 0, listing the value once with the reason once."""
    path = nobody.write("three.toml", THREE_SHARE)
    done = nobody.run("-m", "forklab", "verify", path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("? three  agree where observable; 1 unavailable\n")
    assert out.count("a.heap.shared_with(parent)") == 1
    assert "expectation unknown" not in out
    assert "Not checked: 1 value in 1 scenario" in out
    assert out.count("/proc/PID/pagemap shows only to root (CAP_SYS_ADMIN)") == 1
