"""What the C library keeps in user memory: stdio, errno, mutexes, atfork, malloc,
and the library's own loaded image (forklab.sim.image).

None of this is kernel state. It lives in the address space, so ``fork``
copies it (a second copy of an unflushed stdout buffer is printed twice),
``vfork`` and ``clone(vm)`` share it (a vfork child's failed exec sets the
parent's errno), and ``exec`` throws it away (unflushed output is lost).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from forklab.sim.image import LibcImage, load

STDOUT_BUFFER = 4096  # glibc sizes the buffer from st_blksize, a page for a pipe
BUFSIZ = 8192  # glibc's size when fstat of the fd fails (fd 1 closed)


@dataclass(frozen=True)
class Write:
    """One write(2) of stdout's bytes, and the FILE as it stood just before it: what a
    process killed inside that write (SIGPIPE) leaves in memory, which a vfork
    parent goes on with (tests/scenarios/exit-flush-broken-pipe.toml)."""

    text: str
    before: Stdio


class Stdio:
    """glibc's ``stdout`` FILE: its buffer, its flags, and the bytes not yet written.

    A port of glibc 2.36's libio write path (``_IO_new_file_xsputn``,
    ``_IO_new_file_overflow``, ``_IO_default_xsputn``, ``_IO_setvbuf``), with
    the state it keeps: the buffer's size (allocated at the first output by
    ``_IO_file_doallocate``, from fstat's ``st_blksize``: 4096 for a pipe or a
    file; BUFSIZ if fd 1 is closed: the caller sets ``alloc_size`` and, since
    that fstat fails, errno EBADF), the ``_IO_LINE_BUF``/``_IO_UNBUFFERED``
    flags, ``_IO_CURRENTLY_PUTTING`` and ``_IO_write_end``. The size matters:
    ``setvbuf none`` (and exit's ``_IO_unbuffer_all``, seen through a vfork
    child) installs the 1-byte ``_shortbuf``, and a later ``setvbuf line`` or
    ``full`` keeps it (glibc only allocates when there is no buffer at all), so
    the stream stays all but unbuffered. Seen on Linux 6.18 / glibc 2.36 with
    the probe's own calls (tests/scenarios/setvbuf-modes.toml).
    """

    def __init__(self, mode: str = "full") -> None:
        self.line = mode == "line"  # _IO_LINE_BUF
        self.unbuffered = mode == "none"  # _IO_UNBUFFERED
        self.buffer = ""  # _IO_write_base .. _IO_write_ptr
        self.size = 0  # _IO_buf_end - _IO_buf_base: 0 until allocated, 4096, or 1
        self.putting = False  # _IO_CURRENTLY_PUTTING
        self.write_end = 0  # _IO_write_end - _IO_buf_base
        self.used = False  # the stream has an orientation (fp->_mode != 0)
        self.alloc_size = STDOUT_BUFFER  # what _IO_file_doallocate would choose now
        self._out: list[Write] = []

    def __deepcopy__(self, memo: dict[int, Any]) -> Stdio:
        new = copy.copy(self)
        new._out = list(self._out)
        return new

    def _state(self) -> Stdio:
        """The FILE as it stands, without the writes of the call under way."""
        new = copy.copy(self)
        new._out = []
        return new

    @property
    def mode(self) -> str:
        return "none" if self.unbuffered else "line" if self.line else "full"

    @property
    def allocated(self) -> bool:
        return self.size > 0

    def put(self, text: str) -> list[Write]:
        """fwrite to stdout (``_IO_new_file_xsputn``); return each write(2), in order."""
        if not text:
            return []
        self.used = True
        n = to_do = len(text)
        count, must_flush = 0, False
        if self.line and self.putting:
            count = self.size - len(self.buffer)
            if count >= n:
                last = text.rfind("\n")
                if last >= 0:
                    count, must_flush = last + 1, True
        elif self.write_end > len(self.buffer):
            count = self.write_end - len(self.buffer)
        count = min(count, to_do)
        self.buffer += text[:count]
        to_do -= count
        if to_do or must_flush:
            self._overflow(None)
            block = self.size
            direct = to_do - (to_do % block if block >= 128 else 0)
            if direct:
                self._new_do_write(text[count:count + direct])
            self._default_xsputn(text[count + direct:])
        out, self._out = self._out, []
        return out

    def flush(self) -> list[Write]:
        """fflush: write what is buffered (one write(2), or nothing)."""
        self._do_flush()
        out, self._out = self._out, []
        return out

    def setvbuf(self, mode: str) -> list[Write]:
        """``setvbuf(stdout, NULL, mode, BUFSIZ)``; returns what it writes (none flushes)."""
        if mode == "none":
            self.line = False
            return self._setbuf_none()
        self.unbuffered = False
        self.line = mode == "line"
        if mode == "full" and self.size == 0:
            self.size = self.alloc_size  # _IO_DOALLOCATE; an existing buffer is kept
        return []

    def unbuffer(self) -> list[Write]:
        """exit's ``_IO_unbuffer_all``: a used stream not yet unbuffered gets the 1-byte buffer."""
        if self.unbuffered or not self.used:
            return []
        return self._setbuf_none()

    # -- libio internals ------------------------------------------------------------------

    def _setbuf_none(self) -> list[Write]:
        """``_IO_SETBUF(fp, NULL, 0)``: flush, then the 1-byte ``_shortbuf``."""
        out = self.flush()
        self.unbuffered = True
        self.size, self.buffer, self.write_end = 1, "", 0
        return out

    def _new_do_write(self, data: str) -> None:
        """``new_do_write``: the write(2), then the buffer is empty, whatever it returned."""
        self._out.append(Write(data, self._state()))
        self.buffer = ""
        self.write_end = 0 if (self.line or self.unbuffered) else self.size

    def _do_flush(self) -> None:
        if self.buffer:
            self._new_do_write(self.buffer)

    def _overflow(self, ch: str | None) -> None:
        """``_IO_new_file_overflow``: start putting (allocating), flush or add one char."""
        if not self.putting:
            if self.size == 0:
                self.size = 1 if self.unbuffered else self.alloc_size
            self.buffer = ""
            self.putting = True
            self.write_end = 0 if (self.line or self.unbuffered) else self.size
        if ch is None:
            self._do_flush()
            return
        if len(self.buffer) == self.size:
            self._do_flush()
        self.buffer += ch
        if self.unbuffered or (self.line and ch == "\n"):
            self._do_flush()

    def _default_xsputn(self, data: str) -> None:
        i = 0
        while i < len(data):
            room = self.write_end - len(self.buffer)
            if room > 0:
                self.buffer += data[i:i + room]
                i += min(room, len(data) - i)
            if i < len(data):
                self._overflow(data[i])
                i += 1


@dataclass
class Mutex:
    """A normal (non-recursive) pthread mutex: who holds it, by kernel thread id."""

    owner: int | None = None


@dataclass
class UserMemory:
    """libc's state in one address space."""

    stdout: Stdio = field(default_factory=Stdio)
    errno: dict[int, str | None] = field(default_factory=dict)  # TLS block -> errno
    mutexes: dict[str, Mutex] = field(default_factory=dict)
    atfork: list[str] = field(default_factory=list)  # lock names, in registration order
    allocations: dict[str, int] = field(default_factory=dict)  # malloc name -> size
    libc: LibcImage = field(default_factory=load)  # the library itself, as this image loaded it

    def copy(self) -> UserMemory:
        """fork's copy of the memory: every value as it is (the image is shared: it is
        immutable, and copied by value)."""
        return UserMemory(copy.deepcopy(self.stdout), dict(self.errno),
                          {name: Mutex(m.owner) for name, m in self.mutexes.items()},
                          list(self.atfork), dict(self.allocations), self.libc)

    def __deepcopy__(self, memo: dict[int, Any]) -> UserMemory:
        return self.copy()

    def mutex(self, name: str) -> Mutex:
        return self.mutexes.setdefault(name, Mutex())
