"""Readers of /proc for the real backend: what the kernel shows of a process.

Everything here reads without perturbing the process read: no page of its
memory is faulted, no file offset of its moves. Every function returns None
(or an empty value) for a process that has gone, so that a caller racing a
process's death never sees an exception from here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from forklab.real._native import lib
from forklab.vocabulary import PAGE, SIGNAL_NAMES

# x86_64 system call numbers seen in /proc/PID/syscall
SYSCALLS = {name: lib.fl_syscall_number(name.encode())
            for name in ("read", "recvmsg", "wait4", "waitid", "nanosleep", "clock_nanosleep")}
"""The system calls whose numbers the driver reads in /proc/PID/syscall, numbered
for the architecture forklab was built on (from its C headers); -1: it has none."""
TIMED_SLEEPS = frozenset({SYSCALLS["nanosleep"], SYSCALLS["clock_nanosleep"]}) - {-1}


def signal_set(mask_hex: str | None) -> frozenset[str]:
    """Named signals (1..31, 34..63) of a /proc status mask like ``0000000000004000``."""
    if not mask_hex:
        return frozenset()
    mask = int(mask_hex, 16)
    return frozenset(name for n, name in SIGNAL_NAMES.items() if mask >> (n - 1) & 1)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None


def status(pid: int) -> dict[str, str] | None:
    """/proc/PID/status as a dict (values stripped), or None if gone."""
    return _status_file(f"/proc/{pid}/status")


def task_status(pid: int, tid: int) -> dict[str, str] | None:
    """/proc/PID/task/TID/status: the thread's own mask and pending signals."""
    return _status_file(f"/proc/{pid}/task/{tid}/status")


def _status_file(path: str) -> dict[str, str] | None:
    text = _read(path)
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def namespace(pid: int, kind: str, tid: int | None = None) -> int | None:
    """The inode of /proc/PID/ns/KIND (of thread TID: /proc/PID/task/TID/ns/KIND): the
    namespace's identity; None if gone."""
    where = f"/proc/{pid}/task/{tid}" if tid is not None else f"/proc/{pid}"
    try:
        return os.stat(f"{where}/ns/{kind}").st_ino
    except OSError:
        return None


def ns_pids(pid: int, tid: int | None = None) -> tuple[int, ...] | None:
    """NSpid of a process (or of one of its threads): its number in /proc's PID
    namespace, then in each namespace below, down to its own; None if gone."""
    text = _read(f"/proc/{pid}/task/{tid}/status" if tid is not None else
                 f"/proc/{pid}/status")
    for line in (text or "").splitlines():
        if line.startswith("NSpid:"):
            return tuple(int(n) for n in line.split()[1:])
    return None


@dataclass(frozen=True)
class Stat:
    state: str
    ppid: int
    pgrp: int
    session: int
    minflt: int
    starttime: int
    exit_code: int  # the wait status, for a zombie (field 52)
    exit_signal: int = 17  # field 38: what its parent is sent as it ends (SIGCHLD: 17)


def parse_stat(text: str) -> Stat | None:
    close = text.rfind(")")
    if close < 0:
        return None
    fields = text[close + 2:].split()
    # fields[0] is field 3 (state)
    try:
        return Stat(fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[7]),
                    int(fields[19]), int(fields[49]) if len(fields) > 49 else 0,
                    int(fields[35]))
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Sched:
    """A task's scheduling fields of /proc/PID/stat, and its exit signal."""

    comm: str  # field 2, between the parentheses
    nice: int  # field 19
    policy: int  # field 41 (SCHED_RESET_ON_FORK is not shown)
    exit_signal: int  # field 38: what the parent is sent as it ends (-1: a thread, none)


def sched(pid: int, tid: int | None = None) -> Sched | None:
    """The process's main thread's (or thread tid's) /proc/.../stat fields."""
    text = _read(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat")
    if text is None:
        return None
    open_, close = text.find("("), text.rfind(")")
    fields = text[close + 2:].split()
    try:
        return Sched(text[open_ + 1:close], int(fields[16]), int(fields[38]), int(fields[35]))
    except (IndexError, ValueError):
        return None


def timer_slack(pid: int) -> int | None:
    """/proc/PID/timerslack_ns (another process's needs CAP_SYS_NICE), or None."""
    text = _read(f"/proc/{pid}/timerslack_ns")
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def stat(pid: int) -> Stat | None:
    text = _read(f"/proc/{pid}/stat")
    return None if text is None else parse_stat(text)


def task_stat(pid: int, tid: int) -> Stat | None:
    text = _read(f"/proc/{pid}/task/{tid}/stat")
    return None if text is None else parse_stat(text)


def tasks(pid: int) -> list[int]:
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return []


def task_syscall(pid: int, tid: int) -> tuple[int, tuple[int, ...]] | None:
    """(number, args) of the system call the task sleeps in; None if running or gone.

    The number is -1 when the task is blocked but not in a system call.
    """
    text = _read(f"/proc/{pid}/task/{tid}/syscall")
    if not text or text.startswith("running"):
        return None
    parts = text.split()
    try:
        nr = int(parts[0])
        args = tuple(int(a, 16) for a in parts[1:7])
    except (IndexError, ValueError):
        return None
    return nr, args


def fds(pid: int, floor: int) -> list[int] | None:
    """The scenario's open fds (forklab's own, from floor up, left out)."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None
    return sorted(n for n in (int(x) for x in names) if n < floor)


def fd_target(pid: int, fd: int) -> str | None:
    """What an fd refers to (``pipe:[1234]``, a path), or None."""
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None


def fd_targets(pid: int) -> set[str]:
    """What every open fd of a process refers to."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return set()
    out = set()
    for name in names:
        target = fd_target(pid, int(name))
        if target is not None:
            out.add(target)
    return out


def fd_flags(pid: int, fd: int) -> int | None:
    """The open flags of one fd (fdinfo's ``flags:``, octal), O_CLOEXEC included."""
    text = _read(f"/proc/{pid}/fdinfo/{fd}")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("flags:"):
            return int(line.split()[1], 8)
    return None


def fd_position(pid: int, fd: int) -> int | None:
    """The offset of one fd's open file description (fdinfo's ``pos:``)."""
    text = _read(f"/proc/{pid}/fdinfo/{fd}")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("pos:"):
            return int(line.split()[1])
    return None


_LOCK_WORDS = {("POSIX", "READ"): "posix read", ("POSIX", "WRITE"): "posix write",
               ("OFDLCK", "READ"): "ofd read", ("OFDLCK", "WRITE"): "ofd write",
               ("FLOCK", "READ"): "flock sh", ("FLOCK", "WRITE"): "flock ex"}


def fd_locks(pid: int, fd: int) -> frozenset[str] | None:
    """The locks fdinfo's ``lock:`` lines show: those set through this fd's open file
    description whose owner is the process's fd table (a record lock) or the
    description itself (OFD, flock), as "posix write", "ofd read", "flock ex"."""
    text = _read(f"/proc/{pid}/fdinfo/{fd}")
    if text is None:
        return None
    out = set()
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["lock:"] and len(words) >= 5:
            out.add(_LOCK_WORDS.get((words[2], words[4]), f"{words[2]} {words[4]}".lower()))
    return frozenset(out)


def posix_timers(pid: int) -> int | None:
    """The process's POSIX timers: the entries of /proc/PID/timers."""
    text = _read(f"/proc/{pid}/timers")
    if text is None:
        return None
    return sum(1 for line in text.splitlines() if line.startswith("ID:"))


def maps(pid: int) -> list[tuple[int, int, str]] | None:
    """(start, end, perms) of every mapping."""
    text = _read(f"/proc/{pid}/maps")
    if text is None:
        return None
    out = []
    for line in text.splitlines():
        span, _, rest = line.partition(" ")
        lo, _, hi = span.partition("-")
        try:
            out.append((int(lo, 16), int(hi, 16), rest[:4]))
        except ValueError:
            continue
    return out


def accounted(pid: int) -> list[tuple[int, int]] | None:
    """(start, end) of every mapping charged to the commit limit: smaps's ``VmFlags``
    has ``ac`` (VM_ACCOUNT). Reading smaps walks the page tables, so callers read it
    only when asked."""
    return _flagged(pid, "ac")


def locked(pid: int) -> list[tuple[int, int]] | None:
    """(start, end) of every mapping mlock locked: ``VmFlags`` has ``lo`` (VM_LOCKED);
    read only when asked, as :func:`accounted`."""
    return _flagged(pid, "lo")


def _flagged(pid: int, flag: str) -> list[tuple[int, int]] | None:
    """(start, end) of every mapping whose smaps ``VmFlags`` has ``flag``."""
    text = _read(f"/proc/{pid}/smaps")
    if text is None:
        return None
    out = []
    span: tuple[int, int] | None = None
    for line in text.splitlines():
        if line.startswith("VmFlags:"):
            if span is not None and flag in line.split()[1:]:
                out.append(span)
            continue
        head = line.split(" ", 1)[0]
        lo, sep, hi = head.partition("-")
        if sep and not head.endswith(":"):
            try:
                span = (int(lo, 16), int(hi, 16))
            except ValueError:
                continue
    return out


LIBC_NAME = "libc.so.6"


def libc_parts(pid: int) -> dict[str, tuple[int, int]] | None:
    """Where glibc's text and RELRO are mapped: {"text": (start, end), "relro": ...}.

    The text is the library's ``r-xp`` mapping; RELRO is its ``r--p`` mapping that
    ends where its writable ``rw-p`` data begins (the loader made the relocated
    part read-only after writing it). None if the process has gone or maps no libc.
    """
    text = _read(f"/proc/{pid}/maps")
    if text is None:
        return None
    spans: list[tuple[int, int, str]] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or os.path.basename(fields[5]) != LIBC_NAME:
            continue
        lo, _, hi = fields[0].partition("-")
        try:
            spans.append((int(lo, 16), int(hi, 16), fields[1]))
        except ValueError:
            continue
    parts = {}
    for start, end, perms in spans:
        if perms == "r-xp":
            parts["text"] = (start, end)
        elif perms == "r--p" and any(s == end and p == "rw-p" for s, _, p in spans):
            parts["relro"] = (start, end)
    return parts if len(parts) == 2 else None


def frames(pid: int, start: int, end: int) -> list[int | None] | None:
    """The frame number of each page in [start, end) (None where not present),
    from pagemap (frame numbers read as 0 without CAP_SYS_ADMIN)."""
    try:
        fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.pread(fd, (end - start) // 4096 * 8, start // 4096 * 8)
    except OSError:
        return None
    finally:
        os.close(fd)
    out: list[int | None] = []
    for i in range(0, len(data), 8):
        entry = int.from_bytes(data[i:i + 8], "little")
        out.append(entry & ((1 << 55) - 1) if entry >> 63 & 1 else None)
    return out


def vma(pid: int, address: int) -> tuple[int, int, int] | None:
    """(start, end, file offset of start) of the mapping holding ADDRESS."""
    text = _read(f"/proc/{pid}/maps")
    if text is None:
        return None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        lo, _, hi = fields[0].partition("-")
        try:
            start, end, offset = int(lo, 16), int(hi, 16), int(fields[2], 16)
        except ValueError:
            continue
        if start <= address < end:
            return start, end, offset
    return None


def read_backing(pid: int, address: int) -> bytes | None:
    """The byte a load at ADDRESS would see, read from the object the mapping maps
    (its file, or the shmem object of shared anonymous memory) through
    /proc/PID/map_files: never through the process's page tables, so no page of
    the process is faulted in (a shmem hole reads as zeros and stays a hole).
    b"" past the object's end; None when it cannot be read (map_files needs
    CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN)."""
    span = vma(pid, address)
    if span is None:
        return None
    start, end, offset = span
    try:
        fd = os.open(f"/proc/{pid}/map_files/{start:x}-{end:x}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.pread(fd, 1, offset + address - start)
    except OSError:
        return None
    finally:
        os.close(fd)


def backing_size(pid: int, address: int) -> int | None:
    """The size of the object the mapping at ADDRESS maps (see :func:`read_backing`)."""
    span = vma(pid, address)
    if span is None:
        return None
    start, end, _ = span
    try:
        return os.stat(f"/proc/{pid}/map_files/{start:x}-{end:x}").st_size
    except OSError:
        return None


def exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def mem_available() -> int | None:
    """MemAvailable in bytes."""
    text = _read("/proc/meminfo")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def cgroup_memory_left(self_cgroup: str | None = None,
                       root: str = "/sys/fs/cgroup") -> int | None:
    """What this process's memory cgroup and its ancestors still allow it to use:
    the smallest limit - usage on the way up (cgroup v2's memory.max and
    memory.current, or v1's memory.limit_in_bytes and memory.usage_in_bytes),
    or None where nothing limits it. self_cgroup: /proc/self/cgroup's text."""
    text = self_cgroup if self_cgroup is not None else _read("/proc/self/cgroup")
    for line in (text or "").splitlines():
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and controllers == "":
            base, files = root, ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base, files = os.path.join(root, "memory"), ("memory.limit_in_bytes",
                                                         "memory.usage_in_bytes")
        else:
            continue
        left = None
        parts = [p for p in path.strip().split("/") if p]
        for depth in range(len(parts), -1, -1):
            here = os.path.join(base, *parts[:depth])
            limit, used = _read(f"{here}/{files[0]}"), _read(f"{here}/{files[1]}")
            try:
                room = int(limit or "") - int(used or "")
            except ValueError:  # "max", or not there
                continue
            if int(limit or 0) < 1 << 62:  # v1 writes "no limit" as a huge number
                left = room if left is None else min(left, room)
        if left is not None:
            return left
    return None


def memory_left() -> tuple[int | None, str]:
    """(bytes a run may still take, what limits it): MemAvailable, or the cgroup's
    limit when that is smaller."""
    available, cgroup = mem_available(), cgroup_memory_left()
    if cgroup is not None and (available is None or cgroup < available):
        return cgroup, "the memory limit of forklab's cgroup"
    return available, "MemAvailable"


def read_mem(pid: int, address: int, size: int) -> bytes | None:
    """Bytes of a process's memory, through /proc/PID/mem (pages must be present
    if the read is not to fault them in: the caller checks pagemap first)."""
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.pread(fd, size, address)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == size else None


LIMIT_NAMES = {"nofile": "Max open files", "nproc": "Max processes",
               "core": "Max core file size", "stack": "Max stack size",
               "as": "Max address space", "memlock": "Max locked memory"}


def soft_limit(pid: int, resource: str) -> int | str | None:
    """The soft limit of a resource in /proc/PID/limits: a number or "unlimited"; None
    if the process is gone."""
    text = _read(f"/proc/{pid}/limits")
    for line in (text or "").splitlines():
        if line.startswith(LIMIT_NAMES[resource] + " "):
            soft = line[len(LIMIT_NAMES[resource]):].split()[0]
            return soft if soft == "unlimited" else int(soft)
    return None


def read_string(pid: int, address: int, limit: int) -> bytes | None:
    """A NUL-terminated string in a process's memory (at most ``limit`` bytes), read a
    page at a time so that no read crosses into a page that is not mapped."""
    out = b""
    while len(out) < limit:
        piece = read_mem(pid, address, min(PAGE - address % PAGE, limit - len(out)))
        if piece is None:
            return None
        head, nul, _ = piece.partition(b"\0")
        out += head
        if nul:
            return out
        address += len(piece)
    return out


def pagemap_entry(pid: int, address: int) -> int | None:
    """The raw /proc/PID/pagemap entry of one page."""
    try:
        fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.pread(fd, 8, address // 4096 * 8)
    except OSError:
        return None
    finally:
        os.close(fd)
    return int.from_bytes(data, "little") if len(data) == 8 else None
