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
class ExitProgress:
    """How far exit() is through its handlers while one of its writes is under way:
    the handlers still on the list (glibc takes each off before it runs it) and
    whether all have run (``__exit_funcs_done``, set only once the list is empty)."""

    left: tuple[str, ...]
    done: bool


@dataclass(frozen=True)
class Write:
    """One write(2) of stdout's bytes, and the FILE as it stood just before it: what a
    process killed inside that write (SIGPIPE) leaves in memory, which a vfork
    parent goes on with (tests/scenarios/exit-flush-broken-pipe.toml); in exit(),
    also how far it is through the atexit handlers (``exit``: None elsewhere)."""

    text: str
    before: Stdio
    exit: ExitProgress | None = None


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
        self._out: list[Write] = []  # the write(2)s of the call under way
        self._failing = False  # whether they fail, in the call under way

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

    def put(self, text: str, failing: bool = False) -> list[Write]:
        """fwrite to stdout (``_IO_new_file_xsputn``); return each write(2), in order.

        ``failing``: every write(2) fails (fd 1 closed, a pipe nobody reads). libio
        empties the buffer all the same, and stops at the first failure: the rest
        of the text is neither written nor buffered."""
        if not text:
            return []
        self._failing = failing
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
        if (to_do or must_flush) and self._overflow(None):
            block = self.size
            direct = to_do - (to_do % block if block >= 128 else 0)
            if not direct or self._new_do_write(text[count:count + direct]) == direct:
                self._default_xsputn(text[count + direct:])
        return self._writes()

    def flush(self, failing: bool = False) -> list[Write]:
        """fflush: write what is buffered (one write(2), or nothing)."""
        self._failing = failing
        self._do_flush()
        return self._writes()

    def setvbuf(self, mode: str, failing: bool = False) -> list[Write]:
        """``setvbuf(stdout, NULL, mode, BUFSIZ)``; returns what it writes (none flushes)."""
        if mode == "none":
            self.line = False
            self._failing = failing
            self._setbuf_none()
            return self._writes()
        self.unbuffered = False
        self.line = mode == "line"
        if mode == "full" and self.size == 0:
            self.size = self.alloc_size  # _IO_DOALLOCATE; an existing buffer is kept
        return []

    def unbuffer(self) -> list[Write]:
        """exit's ``_IO_unbuffer_all``: a used stream not yet unbuffered gets the 1-byte
        buffer; every stream is left oriented (``_mode = -1``), so a second vfork
        child's exit() unbuffers even a stream nobody used
        (tests/scenarios/vfork-exit-twice.toml)."""
        used, self.used = self.used, True
        if self.unbuffered or not used:
            return []
        self._failing = False  # exit() has just flushed: there is nothing to write
        self._setbuf_none()
        return self._writes()

    # -- libio internals ------------------------------------------------------------------

    def _writes(self) -> list[Write]:
        out, self._out = self._out, []
        return out

    def _setbuf_none(self) -> None:
        """``_IO_SETBUF(fp, NULL, 0)``: flush (``_IO_SYNC``), then the 1-byte
        ``_shortbuf``; a failed flush leaves the stream marked unbuffered on the
        buffer it has."""
        self.unbuffered = True
        if self._do_flush():
            self.size, self.buffer, self.write_end = 1, "", 0

    def after_failed_write(self) -> Stdio:
        """The FILE once a write(2) made from this state failed: ``new_do_write``
        empties the buffer whatever the write returned, and the call stops there."""
        new = self._state()
        new._empty()
        return new

    def _empty(self) -> None:
        self.buffer = ""
        self.write_end = 0 if (self.line or self.unbuffered) else self.size

    def _new_do_write(self, data: str) -> int:
        """``new_do_write``: the write(2), then the buffer is empty, whatever it returned;
        how much was written."""
        self._out.append(Write(data, self._state()))
        self._empty()
        return 0 if self._failing else len(data)

    def _do_flush(self) -> bool:
        """``_IO_do_flush``: False (EOF) if the write of the buffer failed."""
        size = len(self.buffer)
        return not size or self._new_do_write(self.buffer) == size

    def _overflow(self, ch: str | None) -> bool:
        """``_IO_new_file_overflow``: start putting (allocating), flush or add one char;
        False (EOF) if a write failed."""
        if not self.putting:
            if self.size == 0:
                self.size = 1 if self.unbuffered else self.alloc_size
            self.buffer = ""
            self.putting = True
            self.write_end = 0 if (self.line or self.unbuffered) else self.size
        if ch is None:
            return self._do_flush()
        if len(self.buffer) == self.size and not self._do_flush():
            return False
        self.buffer += ch
        if self.unbuffered or (self.line and ch == "\n"):
            return self._do_flush()
        return True

    def _default_xsputn(self, data: str) -> None:
        i = 0
        while i < len(data):
            room = self.write_end - len(self.buffer)
            if room > 0:
                self.buffer += data[i:i + room]
                i += min(room, len(data) - i)
            if i < len(data):
                if not self._overflow(data[i]):
                    return
                i += 1


@dataclass
class Mutex:
    """A pthread mutex: who holds it, by kernel thread id (``owner``) and by the id glibc
    recorded from the holder's thread descriptor (``owner_id``), and the threads asleep
    in the kernel (futex_wait) because they found it held.

    A sleeper takes the mutex only once woken: by an unlock that wakes (see
    :meth:`UserMemory.unlock`) or by a signal that takes it out of its sleep.
    A ``normal`` mutex checks nothing; an ``errorcheck`` one refuses a relock by its
    owner (EDEADLK) and an unlock by anyone else (EPERM), comparing ``owner_id``
    with the caller's descriptor (tests/kernel_facts/proc_mutex_kinds.c).
    """

    owner: int | None = None
    sleepers: set[int] = field(default_factory=set)
    kind: str = "normal"  # or "errorcheck"
    owner_id: int | None = None

    def take(self, tid: int, libc_tid: int) -> bool:
        """Whether the thread takes the mutex now; if not, it sleeps (or sleeps on)."""
        if self.owner is not None or tid in self.sleepers:
            self.sleepers.add(tid)
            return False
        self.owner, self.owner_id = tid, libc_tid
        return True

    def relock(self, libc_tid: int) -> bool:
        """Whether a lock by this thread is refused at once (EDEADLK)."""
        return self.kind == "errorcheck" and self.owner is not None \
            and self.owner_id == libc_tid

    def try_take(self, tid: int, libc_tid: int) -> str | int:
        """pthread_mutex_trylock: 0, or EBUSY when held (by the caller too)."""
        if self.owner is not None:
            return "EBUSY"
        self.owner, self.owner_id = tid, libc_tid
        return 0

    def copy(self) -> Mutex:
        return Mutex(self.owner, set(self.sleepers), self.kind, self.owner_id)


@dataclass
class UserMemory:
    """libc's state in one address space."""

    stdout: Stdio = field(default_factory=Stdio)
    errno: dict[int, str | None] = field(default_factory=dict)  # TLS block -> errno
    mutexes: dict[str, Mutex] = field(default_factory=dict)
    atfork: list[str] = field(default_factory=list)  # lock names, in registration order
    allocations: dict[str, int] = field(default_factory=dict)  # malloc name -> size
    libc: LibcImage = field(default_factory=load)  # the library itself, as this image loaded it
    threads_made: bool = False  # pthread_create has run in this memory (glibc's
    # multiple_threads): until then glibc takes single-threaded shortcuts
    received: dict[str, int] = field(default_factory=dict)  # runs of the probe's
    # recording handler, by signal: a variable in memory (fork copies it, exec drops it)
    dirs: dict[int, int] = field(default_factory=dict)  # directory streams: fd -> entries
    # left in the stream's buffer (forklab.sim.dirstreams)
    environ: dict[str, str] = field(default_factory=dict)  # glibc's environ: exec passes
    # it to the new image (forklab's exec and spawn pass environ, as execv does)
    atexit: list[str] = field(default_factory=list)  # what each atexit handler prints
    exit_funcs_done: bool = False  # glibc's __exit_funcs_done: an exit() ran the handlers
    # in this memory (a vfork child's, in its parent's), and atexit() now fails

    def copy(self) -> UserMemory:
        """fork's copy of the memory: every value as it is (the image is shared: it is
        immutable, and copied by value)."""
        return UserMemory(copy.deepcopy(self.stdout), dict(self.errno),
                          {name: m.copy() for name, m in self.mutexes.items()},
                          list(self.atfork), dict(self.allocations), self.libc,
                          self.threads_made, dict(self.received), dict(self.dirs),
                          dict(self.environ), list(self.atexit), self.exit_funcs_done)

    def __deepcopy__(self, memo: dict[int, Any]) -> UserMemory:
        return self.copy()

    def mutex(self, name: str) -> Mutex:
        return self.mutexes.setdefault(name, Mutex())

    def unlock(self, name: str, libc_tid: int) -> str | int:
        """pthread_mutex_unlock: 0, or EPERM for an errorcheck mutex the caller does not
        hold (a normal one checks nothing). Once threads were made it wakes the
        sleepers (FUTEX_WAKE); before that, glibc 2.36 takes its single-threaded
        shortcut, a plain store of 0 that wakes nobody, so a `clone vm` sibling asleep
        on the mutex sleeps on although it is free
        (tests/kernel_facts/proc_single_thread_unlock.c)."""
        mutex = self.mutex(name)
        if mutex.kind == "errorcheck" and (mutex.owner is None or mutex.owner_id != libc_tid):
            return "EPERM"
        mutex.owner = mutex.owner_id = None
        if self.threads_made:
            mutex.sleepers.clear()
        return 0
