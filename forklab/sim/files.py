"""Files: fd tables point at open file descriptions, which point at objects.

As in the kernel, an fd is a slot (number, close-on-exec bit) holding a
reference to an :class:`OpenFile` (the open file description: mode, offset);
``dup`` and ``fork`` share the description, ``open`` makes a new one. A pipe
end counts the descriptions open on it, which is why one forgotten fd in a
child keeps a reader from ever seeing end-of-file.
"""
from __future__ import annotations

import copy
import itertools
import resource
from dataclasses import dataclass, field
from typing import Any

from forklab.observe import STDOUT_KEPT
from forklab.sim.runs import RunMap
from forklab.vocabulary import PAGE

PIPE_SLOTS = 16  # a pipe's ring: 16 page buffers (64 KiB when every page is full)
PIPE_PAGE = 4096
READ_SIZE = 65536  # how much one `readfd` asks for
MAX_FILE_PAGES = 1 << 52  # pages a file may reach into: the whole 64-bit offset range


def soft_fd_limit() -> int:
    """RLIMIT_NOFILE's soft limit of this process: every process of a real run
    inherits it, so it is the model's limit too (an fd must be below it)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 31


class Pipe:
    """A pipe: a ring of up to 16 page buffers, and how many open descriptions each end has.

    As Linux's ``pipe_write``: a write first merges its last ``len % 4096`` bytes
    into the newest page if they fit after what that page holds, then fills new
    pages, one per slot; with 16 slots used it waits for a reader. So a pipe holds
    64 KiB only of whole-page writes: sixteen 4000-byte writes fill it
    (tests/scenarios/pipe-capacity.toml). A read takes what is there, up to its size.
    """

    def __init__(self, collector: bool = False) -> None:
        self.bufs: list[list] = []  # [unread bytes, where they end in their page], oldest first
        self.readers = 0
        self.writers = 0
        self.collector = collector  # read by forklab (stdout, stderr): never fills
        self.collected = ""

    @property
    def data(self) -> str:
        """What is waiting in the pipe, as text."""
        return b"".join(bytes(buf[0]) for buf in self.bufs).decode(errors="replace")

    def put(self, data: bytes, merge: bool) -> int:
        """Write what fits in the 16 slots; return how much.
        ``merge``: this is the start of a write(2), which may merge into the newest page."""
        done = 0
        chars = len(data) % PIPE_PAGE
        if merge and chars and self.bufs and self.bufs[-1][1] + chars <= PIPE_PAGE:
            self.bufs[-1][0] += data[:chars]
            self.bufs[-1][1] += chars
            done = chars
        while done < len(data) and len(self.bufs) < PIPE_SLOTS:
            piece = data[done:done + PIPE_PAGE]
            self.bufs.append([bytearray(piece), len(piece)])
            done += len(piece)
        return done

    def take(self, size: int) -> bytes:
        """``pipe_read``: up to size bytes of what is there, oldest first."""
        out = bytearray()
        while self.bufs and len(out) < size:
            buf = self.bufs[0][0]
            n = min(len(buf), size - len(out))
            out += buf[:n]
            del buf[:n]
            if not buf:
                self.bufs.pop(0)
        return bytes(out)

    def collect(self, text: str) -> None:
        """A write to forklab's stdout or stderr, which forklab reads as it comes."""
        self.collected += text[:max(0, STDOUT_KEPT - len(self.collected))]

    def __deepcopy__(self, memo: dict[int, Any]) -> Pipe:
        new = copy.copy(self)
        new.bufs = [[bytearray(data), end] for data, end in self.bufs]
        return new


class RegularFile:
    """A file in the scratch directory: its bytes, which its page cache (memory.py) shows.

    Held as runs, never as a buffer of the file's size (a scenario may map a
    file of terabytes): the first byte of every page as a run-length map, since
    a mapping stores one value per page, and bytes 1..4095 only of the pages
    write(2) left not all zero. Every byte at or past ``size`` is zero.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.size = 0
        self.heads = RunMap(MAX_FILE_PAGES, 0)  # page -> its first byte
        self.tails: dict[int, bytes] = {}  # page -> bytes 1..4095, when not all zero

    def __deepcopy__(self, memo: dict[int, Any]) -> RegularFile:
        new = copy.copy(self)
        new.heads, new.tails = self.heads.copy(), dict(self.tails)
        return new

    @property
    def pages(self) -> int:
        """Pages the file reaches into, the last one possibly in part."""
        return -(-self.size // PAGE)

    def byte(self, offset: int) -> int:
        page, at = divmod(offset, PAGE)
        if at == 0:
            return self.heads.get(page)
        tail = self.tails.get(page)
        return tail[at - 1] if tail is not None else 0

    def pages_with_tails(self, lo: int, hi: int) -> list[int]:
        """The pages in [lo, hi) whose bytes past the first are not all zero, in order."""
        return sorted(page for page in self.tails if lo <= page < hi)

    def read(self, at: int, count: int) -> bytes:
        """Bytes [at, at + count), cut at the end of the file (read(2))."""
        out = bytearray()
        end = min(at + count, self.size)
        while at < end:
            page, offset = divmod(at, PAGE)
            piece = min(end, (page + 1) * PAGE) - at
            tail = self.tails.get(page, bytes(PAGE - 1))
            whole = bytes([self.heads.get(page)]) + tail
            out += whole[offset:offset + piece]
            at += piece
        return bytes(out)

    def write(self, at: int, data: bytes) -> None:
        """Store data at ``at`` (write(2)); a gap before it reads as zeros."""
        done = 0
        while done < len(data):
            page, offset = divmod(at + done, PAGE)
            piece = data[done:done + PAGE - offset]
            whole = bytearray([self.heads.get(page)]) + (self.tails.get(page)
                                                         or bytes(PAGE - 1))
            whole[offset:offset + len(piece)] = piece
            self.heads.set(page, page + 1, whole[0])
            self._set_tail(page, bytes(whole[1:]))
            done += len(piece)
        self.size = max(self.size, at + len(data))

    def store_heads(self, lo: int, hi: int, value: int) -> None:
        """A mapping's store of value into pages [lo, hi): their first bytes, within the file."""
        self.heads.set(lo, min(hi, self.pages), value)

    def truncate(self, size: int) -> None:
        """Make the file size bytes long (ftruncate): cut, or extended with zeros."""
        if size < self.size:
            page, offset = divmod(size, PAGE)
            if offset == 0:
                self.heads.set(page, MAX_FILE_PAGES, 0)
            else:
                self.heads.set(page + 1, MAX_FILE_PAGES, 0)
                tail = self.tails.get(page)
                if tail is not None:
                    self._set_tail(page, tail[:offset - 1] + bytes(PAGE - offset))
            for cut in [p for p in self.tails if p * PAGE >= size]:
                del self.tails[cut]
        self.size = size

    def _set_tail(self, page: int, tail: bytes) -> None:
        if tail.strip(b"\0"):
            self.tails[page] = tail
        else:
            self.tails.pop(page, None)


class _Unchanging:
    """A file object with nothing that changes: copies of the kernel share it."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Unchanging:
        return self


class DevNull(_Unchanging):
    path = "/dev/null"


class Directory(_Unchanging):
    """A directory of the scratch directory (a `file=` mapping's path makes it).

    It opens read-only (reading it is EISDIR) and never for writing (EISDIR).
    """

    def __init__(self, path: str) -> None:
        self.path = path


class PidFd(_Unchanging):
    """What a pidfd refers to: a process, by its scenario name."""

    def __init__(self, process: str) -> None:
        self.process = process


class MQueue:
    """A POSIX message queue (mq_open), empty: reading its fd gives its status line,
    at the description's offset; its inode's size (80, which lseek's end is) is one
    ftruncate changes, and nothing reads it (tests/kernel_facts/proc_mqueue.c)."""

    STATUS = b"QSIZE:0          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n"

    def __init__(self) -> None:
        self.size = 80  # FILENT_SIZE

    def read(self, at: int, count: int) -> bytes:
        return self.STATUS[at:at + count]


FileObject = Pipe | RegularFile | DevNull | Directory | PidFd | MQueue


def lock_key(obj: FileObject) -> Any:
    """What a file lock is on, the inode: the object itself, but every open of one
    directory (a new Directory each) is one. (A lock on /dev/null or a pidfd is
    refused: sim/filelocks.py.)"""
    if isinstance(obj, Directory):
        return ("directory", obj.path)
    return obj

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
    ofd_lock: str | None = None  # "read" or "write": its F_OFD_SETLK lock, which it owns
    flock: str | None = None  # "sh" or "ex": its flock(2) lock, which it owns

    def grab(self) -> OpenFile:
        self.refs += 1
        if self.refs == 1 and isinstance(self.obj, Pipe):
            if self.end == "r":
                self.obj.readers += 1
            else:
                self.obj.writers += 1
        return self

    def drop(self) -> None:
        self.refs -= 1
        if self.refs == 0:  # the last reference: its own locks go (locks_remove_file)
            self.ofd_lock = self.flock = None
        if self.refs == 0 and isinstance(self.obj, Pipe):
            if self.end == "r":
                self.obj.readers -= 1
            else:
                self.obj.writers -= 1

    def __deepcopy__(self, memo: dict[int, Any]) -> OpenFile:
        new = copy.copy(self)
        new.obj = copy.deepcopy(self.obj, memo)
        return new


@dataclass
class Fd:
    file: OpenFile
    cloexec: bool = False


class FdTable:
    """A ``files_struct``: shared between tasks by CLONE_FILES, copied by fork."""

    def __init__(self) -> None:
        self.fds: dict[int, Fd] = {}
        # the record locks (fcntl F_SETLK) this table owns, as Linux's owner of a
        # record lock is the files_struct: lock_key(file) -> (mode, the open file
        # description it was set through)
        self.record_locks: dict[Any, tuple[str, OpenFile]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> FdTable:
        """The table as it stands, for a copy of the kernel (no reference is taken:
        the copied open files keep their counts); not ``copy``, which is fork's."""
        other = FdTable()
        other.fds = {n: Fd(copy.deepcopy(s.file, memo), s.cloexec) for n, s in self.fds.items()}
        other.record_locks = copy.deepcopy(self.record_locks, memo)
        return other

    def lowest_free(self, limit: int, start: int = 0) -> int | None:
        """The lowest number from start that is free and below the fd limit."""
        fd = start
        while fd in self.fds:
            fd += 1
        return fd if fd < limit else None

    def install(self, number: int, file: OpenFile, cloexec: bool = False) -> None:
        if number in self.fds:
            self.close(number)
        self.fds[number] = Fd(file.grab(), cloexec)

    def close(self, number: int) -> bool:
        """Close an fd: the table's record locks on its file go with it, whichever fd
        set them (locks_remove_posix)."""
        slot = self.fds.pop(number, None)
        if slot is None:
            return False
        self.record_locks.pop(lock_key(slot.file.obj), None)
        slot.file.drop()
        return True

    def copy(self) -> FdTable:
        """fork's copy: the same open files, none of the record locks."""
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
