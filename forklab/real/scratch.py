"""The directories of a kernel run, named after the forklab that made them.

A run's guard removes its directories when forklab dies (docs/security.md);
when the guard dies too (a SIGKILL to the whole session, a crash), the next
forklab removes them: a directory whose maker no longer runs is a leftover.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile

from forklab.real import procfs

_NAME = re.compile(r"forklab-(?:run|ctl)-(\d+)\.(\d+)-[A-Za-z0-9_]+")


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
    return removed


def _maker_tag() -> str:
    """This process's pid and start time: together they name one process for good."""
    own = procfs.stat(os.getpid())
    return f"{os.getpid()}.{own.starttime if own is not None else 0}"


def _maker_runs(pid: int, starttime: int) -> bool:
    found = procfs.stat(pid)
    return found is not None and found.starttime == starttime
