"""Files: fd tables point at open file descriptions, which point at objects.

As in the kernel, an fd is a slot (number, close-on-exec bit) holding a
reference to an :class:`OpenFile` (the open file description: mode, offset);
``dup`` and ``fork`` share the description, ``open`` makes a new one. A pipe
end counts the descriptions open on it, which is why one forgotten fd in a
child keeps a reader from ever seeing end-of-file.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

PIPE_CAPACITY = 65536  # the default pipe buffer (16 pages)
READ_SIZE = 65536  # how much one `readfd` asks for
FD_LIMIT = 1024  # RLIMIT_NOFILE's usual soft limit: the lowest free fd must be below it


class Pipe:
    """A pipe buffer and how many open descriptions each end has."""

    def __init__(self, collector: bool = False) -> None:
        self.data = ""
        self.readers = 0
        self.writers = 0
        self.collector = collector  # read by forklab (stdout, stderr): never fills
        self.collected = ""

    def write(self, text: str) -> None:
        if self.collector:
            self.collected += text
        else:
            self.data += text


@dataclass
class RegularFile:
    """A file in the scratch directory (its contents; page cache lives in memory.py)."""

    path: str
    data: bytearray = field(default_factory=bytearray)


class DevNull:
    path = "/dev/null"


class PidFd:
    """What a pidfd refers to: a process, by its scenario name."""

    def __init__(self, process: str) -> None:
        self.process = process


FileObject = Pipe | RegularFile | DevNull | PidFd

_ids = itertools.count(1)


@dataclass(eq=False)
class OpenFile:
    """An open file description (``struct file``)."""

    obj: FileObject
    readable: bool
    writable: bool
    end: str = ""  # for a pipe: "r" or "w"
    append: bool = False
    offset: int = 0
    refs: int = 0
    id: int = field(default_factory=lambda: next(_ids))

    def grab(self) -> "OpenFile":
        self.refs += 1
        if self.refs == 1 and isinstance(self.obj, Pipe):
            if self.end == "r":
                self.obj.readers += 1
            else:
                self.obj.writers += 1
        return self

    def drop(self) -> None:
        self.refs -= 1
        if self.refs == 0 and isinstance(self.obj, Pipe):
            if self.end == "r":
                self.obj.readers -= 1
            else:
                self.obj.writers -= 1


@dataclass
class Fd:
    file: OpenFile
    cloexec: bool = False


class FdTable:
    """A ``files_struct``: shared between tasks by CLONE_FILES, copied by fork."""

    def __init__(self) -> None:
        self.fds: dict[int, Fd] = {}

    def lowest_free(self, start: int = 0) -> int | None:
        fd = start
        while fd in self.fds:
            fd += 1
        return fd if fd < FD_LIMIT else None

    def install(self, number: int, file: OpenFile, cloexec: bool = False) -> None:
        if number in self.fds:
            self.close(number)
        self.fds[number] = Fd(file.grab(), cloexec)

    def close(self, number: int) -> bool:
        slot = self.fds.pop(number, None)
        if slot is None:
            return False
        slot.file.drop()
        return True

    def copy(self) -> "FdTable":
        other = FdTable()
        for number, slot in self.fds.items():
            other.fds[number] = Fd(slot.file.grab(), slot.cloexec)
        return other

    def close_all(self) -> None:
        for number in list(self.fds):
            self.close(number)

    def close_on_exec(self) -> None:
        for number, slot in list(self.fds.items()):
            if slot.cloexec:
                self.close(number)

    def numbers(self) -> list[int]:
        return sorted(self.fds)
