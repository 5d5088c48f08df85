"""The directories of a kernel run, named after the forklab that made them.

A run's guard removes its directories when forklab dies (docs/security.md);
when the guard dies too (a SIGKILL to the whole session, a crash), the next
forklab removes them: a directory whose maker no longer runs is a leftover.

A run's POSIX shared-memory objects (`shm_open NAME`) live in /dev/shm, which
every user shares, so each is named after the run's directory
(:func:`shm_name`): a scenario can reach no other name, and the run removes
its own when it ends (or the next forklab, as for directories).
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable

from forklab.real import procfs

_NAME = re.compile(r"forklab-(?:run|ctl)-(\d+)\.(\d+)-[A-Za-z0-9_]+")
_SHM_NAME = re.compile(r"(forklab-run-(\d+)\.(\d+)-[A-Za-z0-9_]+)-.+")
SHM_DIR = "/dev/shm"  # where glibc's shm_open keeps the objects it names


def shm_name(run_dir: str, name: str) -> str:
    """The name shm_open gets for a scenario's NAME: inside the run's own namespace."""
    return f"/{os.path.basename(run_dir)}-{name}"


def remove_shm(run_dir: str) -> list[str]:
    """Unlink every shared-memory object of the run of ``run_dir``; the paths removed."""
    return _remove_shm(lambda run: run == os.path.basename(run_dir))


def _remove_shm(belongs: Callable[[str], bool]) -> list[str]:
    removed: list[str] = []
    try:
        entries = list(os.scandir(SHM_DIR))
    except OSError:
        return removed
    for entry in entries:
        found = _SHM_NAME.fullmatch(entry.name)
        if found is None or not belongs(found[1]):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
                os.unlink(entry.path)
                removed.append(entry.path)
        except OSError:
            continue
    return removed


def make_dir(kind: str, parent: str | None) -> str:
    """A new private directory (0700) for a run: ``kind`` is "run" or "ctl"."""
    return tempfile.mkdtemp(prefix=f"forklab-{kind}-{_maker_tag()}-", dir=parent)


def remove_leftovers(parent: str | None) -> list[str]:
    """Remove this user's run directories in ``parent`` whose forklab has ended;
    the paths removed. Another user's directories, links and anything not
    named by :func:`make_dir` are left alone."""
    parent = parent or tempfile.gettempdir()
    removed: list[str] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        found = _NAME.fullmatch(entry.name)
        if found is None or _maker_runs(int(found[1]), int(found[2])):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
            shutil.rmtree(entry.path, ignore_errors=True)  # by fds: links are not followed
            removed.append(entry.path)
    return removed + _remove_shm(lambda run: not _maker_runs(*_maker_of(run)))


def _maker_of(run: str) -> tuple[int, int]:
    found = _NAME.fullmatch(run)
    assert found is not None
    return int(found[1]), int(found[2])


def _maker_tag() -> str:
    """This process's pid and start time: together they name one process for good."""
    own = procfs.stat(os.getpid())
    return f"{os.getpid()}.{own.starttime if own is not None else 0}"


def _maker_runs(pid: int, starttime: int) -> bool:
    found = procfs.stat(pid)
    return found is not None and found.starttime == starttime
