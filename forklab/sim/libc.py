"""What the C library keeps in user memory: stdio, errno, mutexes, atfork, malloc.

None of this is kernel state. It lives in the address space, so ``fork``
copies it (a second copy of an unflushed stdout buffer is printed twice),
``vfork`` and ``clone(vm)`` share it (a vfork child's failed exec sets the
parent's errno), and ``exec`` throws it away (unflushed output is lost).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

STDOUT_BUFFER = 4096  # glibc sizes the buffer from st_blksize, a page for a pipe


@dataclass
class Stdio:
    """glibc's ``stdout`` FILE: its mode and the bytes not yet written to fd 1."""

    mode: str = "full"  # full, line, none
    buffer: str = ""
    allocated: bool = False  # glibc allocates the buffer on the first output

    def put(self, text: str) -> list[str]:
        """Buffer text as glibc's ``printf`` does; return what it writes out, in order."""
        if self.mode == "none":
            return [text] if text else []
        if self.mode == "line":
            cut = text.rfind("\n") + 1
            if cut == 0:
                return self._put_full(text)
            out = self._put_full(text[:cut])
            out.append(self.buffer)
            self.buffer = ""
            return self._nonempty(out) + self._put_full(text[cut:])
        return self._put_full(text)

    def _put_full(self, text: str) -> list[str]:
        room = STDOUT_BUFFER - len(self.buffer) if self.allocated else 0
        self.allocated = True
        if len(text) <= room:
            self.buffer += text
            return []
        # Fill the buffer, write it, write whole blocks directly, keep the rest.
        out = [self.buffer + text[:room]]
        rest = text[room:]
        direct = len(rest) - len(rest) % STDOUT_BUFFER
        if direct:
            out.append(rest[:direct])
        self.buffer = rest[direct:]
        return self._nonempty(out)

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return out

    @staticmethod
    def _nonempty(chunks: list[str]) -> list[str]:
        return [c for c in chunks if c]


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

    def copy(self) -> "UserMemory":
        return copy.deepcopy(self)

    def mutex(self, name: str) -> Mutex:
        return self.mutexes.setdefault(name, Mutex())
