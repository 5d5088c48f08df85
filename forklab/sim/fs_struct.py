"""A process's fs_struct: its working directory, umask and root directory.

Linux keeps them in one object that a task points at: ``clone(CLONE_FS)`` and
``pthread_create`` share it (a ``chdir``, ``umask`` or ``chroot`` by one is the
other's), ``fork``, ``vfork`` and ``posix_spawn`` copy it, and ``execve`` keeps it
(tests/kernel_facts/proc_identity.c, proc_root.c).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

DEV_NULL = "/dev/null"  # the one absolute path a verb may name


@dataclass
class FsStruct:
    cwd: str  # a scratch path; "." is the scratch directory itself
    umask: int
    root: str | None = None  # a scratch directory (chroot); None: the machine's root

    def copy(self) -> FsStruct:
        return FsStruct(self.cwd, self.umask, self.root)

    def looked_up(self, path: str) -> str:
        """The scratch path a verb's path names: itself, but /dev/null, which a chrooted
        process finds below its root (DEV_NULL: the machine's device)."""
        return path if path != DEV_NULL or self.root is None else f"{self.root}/dev/null"

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
