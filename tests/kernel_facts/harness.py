"""Compile and run one kernel-fact C program; parse its ``key=value`` lines.

Each program under ``tests/kernel_facts/`` settles one question about what the
Linux kernel or glibc really does; the simulator models what they print.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def needs_linux_cc() -> None:
    """Skip the calling test unless a C compiler and Linux are available."""
    if not sys.platform.startswith("linux"):
        pytest.skip("kernel facts are Linux facts")
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler (cc) on PATH")


def needs_root() -> None:
    """Skip unless frame numbers in /proc/PID/pagemap are visible (root)."""
    if os.geteuid() != 0:
        pytest.skip("frame numbers in pagemap need root")


def run_fact(name: str, *args: str, timeout: float = 60.0,
             runner: Sequence[str] = ()) -> dict[str, str]:
    """Build ``name.c`` and run it (under ``runner``, e.g. setpriv as another user,
    who may then read and run the program); return its ``key=value`` output lines."""
    needs_linux_cc()
    source = HERE / f"{name}.c"
    with tempfile.TemporaryDirectory(prefix="forklab-fact-") as tmp:
        if runner:
            os.chmod(tmp, 0o755)
        exe = Path(tmp) / name
        cc = os.environ.get("CC", "cc")
        subprocess.run(
            [cc, "-O1", "-Wall", "-pthread", "-o", str(exe), str(source)],
            check=True, capture_output=True, text=True,
        )
        done = subprocess.run(
            [*runner, str(exe), *args], cwd=tmp, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 0, f"{name} failed ({done.returncode}): {done.stderr}"
    facts: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            facts[key.strip()] = value.strip()
    return facts


@functools.lru_cache(maxsize=None)
def facts(name: str, *args: str) -> dict[str, str]:
    """run_fact, once per program and arguments for the whole test session."""
    return run_fact(name, *args)


def expect(got: dict[str, str], want: dict[str, object]) -> None:
    """Assert every key of ``want``; report all mismatches at once."""
    bad = {
        key: (got.get(key, "<missing>"), str(value))
        for key, value in want.items()
        if got.get(key) != str(value)
    }
    assert not bad, "kernel fact mismatch (key: (got, expected)): %r" % bad
