"""The guard: cleanup that does not depend on forklab getting to run its own.

A run's processes and directories are ended by :meth:`Driver.close`, but a
forklab killed by SIGKILL (or by a SIGTERM or SIGHUP it did not catch) never
runs it. So each forklab process starts one small program, ``forklab-guard``
(``csrc/guard.c``), in a session of its own, and tells it, as the run goes,
every process (as a pidfd), directory and System V semaphore set the run owns. The guard notices
forklab's death by the kernel's doing (its socket reaches end-of-file when
forklab's last fd to it closes), then SIGKILLs what it holds and removes the
directories and sets. A run that ends normally releases its entries.
"""
from __future__ import annotations

import itertools
import os
import socket
import struct
import subprocess
import threading

GUARD_NAME = "forklab-guard"
HOLD_PROCESS, HOLD_DIR, RELEASE, HOLD_SEM = 1, 2, 3, 4
PATH_MAX = 4096
MESSAGE = struct.Struct(f"<IIQ{PATH_MAX}s")


class GuardError(Exception):
    """The guard could not be started or reached."""


class Guard:
    """This process's connection to its guard program."""

    def __init__(self, program: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [program, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, cwd="/")
        except OSError as err:
            ours.close()
            raise GuardError(f"cannot start {program}: {err}") from err
        finally:
            theirs.close()
        self.sock = ours
        self.owner = os.getpid()
        self.lock = threading.Lock()
        self.keys = itertools.count(1)

    def _send(self, kind: int, key: int, path: str = "", fd: int | None = None,
              number: int = 0) -> None:
        encoded = os.fsencode(path)
        if len(encoded) >= PATH_MAX:
            raise GuardError(f"path too long for the guard: {path}")
        msg = MESSAGE.pack(kind, number, key, encoded)
        try:
            with self.lock:
                if fd is None:
                    self.sock.send(msg)
                else:
                    socket.send_fds(self.sock, [msg], [fd])
        except OSError as err:
            raise GuardError(f"the guard is gone ({err})") from err

    def new_key(self) -> int:
        return next(self.keys)

    def hold_process(self, key: int, pidfd: int) -> None:
        self._send(HOLD_PROCESS, key, fd=pidfd)

    def hold_dir(self, key: int, path: str) -> None:
        self._send(HOLD_DIR, key, os.path.abspath(path))

    def hold_semaphore_set(self, key: int, semid: int, made: int) -> None:
        """A System V semaphore set (its id and sem_ctime), removed if ``key`` is lost."""
        self._send(HOLD_SEM, key, str(made), number=semid)

    def release(self, key: int) -> None:
        self._send(RELEASE, key)


_guard: Guard | None = None
_guard_lock = threading.Lock()


def guard(program: str) -> Guard:
    """This process's guard, started on first use (again in a forked child,
    whose parent's guard watches the parent)."""
    global _guard
    with _guard_lock:
        if _guard is None or _guard.owner != os.getpid() or _guard.process.poll() is not None:
            _guard = Guard(program)
        return _guard


def guard_pid() -> int | None:
    """The pid of this process's guard, if it has one (tests tell it from leaks)."""
    g = _guard
    return g.process.pid if g is not None and g.owner == os.getpid() else None
