"""The control group forklab runs in, on the machine's cgroup v2 hierarchy.

A run's ``cgroup`` verb moves processes into groups the run makes below this one
(docs/scenario-language.md, "Identity"). Both backends ask here whether the run
may make them: the real one to make them, the model to predict the error a run
that may not meets (``EACCES``; ``ENOENT`` where no cgroup v2 hierarchy is mounted).
"""
from __future__ import annotations

import os


def own_group() -> tuple[str | None, str | None]:
    """(the directory of this process's cgroup v2 group, None) if this process may make
    groups in it; else (that directory or None, the errno its mkdir would meet)."""
    mount = _cgroup2_mount()
    relative = _own_relative_path()
    if mount is None or relative is None:
        return None, "ENOENT"
    path = os.path.normpath(mount + relative)
    if not os.path.isdir(path):
        return None, "ENOENT"
    if not os.access(path, os.W_OK | os.X_OK):
        return path, "EACCES"
    return path, None


def group_of(pid: int | str) -> str | None:
    """The cgroup v2 path (``0::`` line of /proc/PID/cgroup) of a process; None if gone."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].rstrip("\n")
    except OSError:
        return None
    return None


def _own_relative_path() -> str | None:
    return group_of("self")


def _cgroup2_mount() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (/proc/self/mountinfo), if it is."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            for line in f:
                before, _, after = line.partition(" - ")
                if after.split(" ", 1)[0] == "cgroup2":
                    return before.split(" ")[4].replace("\\040", " ")
    except OSError:
        return None
    return None
