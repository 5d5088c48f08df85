"""A process's fs_struct: its working directory and umask (and, in Linux, its root).

Linux keeps them in one object that a task points at: ``clone(CLONE_FS)`` and
``pthread_create`` share it (a ``chdir`` or ``umask`` by one is the other's),
``fork``, ``vfork`` and ``posix_spawn`` copy it, and ``execve`` keeps it
(tests/kernel_facts/proc_identity.c).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


@dataclass
class FsStruct:
    cwd: str  # a scratch path; "." is the scratch directory itself
    umask: int

    def copy(self) -> FsStruct:
        return FsStruct(self.cwd, self.umask)

    def __deepcopy__(self, memo: dict[int, Any]) -> FsStruct:
        new = copy.copy(self)
        memo[id(self)] = new
        return new


def own_umask() -> int:
    """The umask forklab runs with, which the real backend's first process inherits:
    read from /proc (Linux 4.7 and later), not set and reset, which would race with
    forklab's other threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022
