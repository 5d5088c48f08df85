"""Signals: the handler table a task points at, and a pending set (names and default
actions: forklab.vocabulary).

Dispositions (``sighand``) may be shared by CLONE_SIGHAND; the mask and the
thread-directed pending set belong to a thread; the process-wide pending set
belongs to the thread group. fork copies dispositions and mask and starts with
nothing pending; exec resets caught signals to default and keeps the rest.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from forklab.vocabulary import IGNORED_BY_DEFAULT, QUEUED, STOPPING

HANDLERS = frozenset({"catch", "exit"})
"""Actions that run a handler: the recording one, or one that calls ``_exit``."""


@dataclass(frozen=True)
class Disposition:
    """One signal's ``struct sigaction``: what it does, and the flags that matter."""

    action: str = "default"  # "default", "ignore", "catch" or "exit"
    flags: frozenset[str] = frozenset()  # ops.SIGACTION_FLAGS words
    code: int = 0  # what an "exit" handler passes to _exit


DEFAULT = Disposition()


class SigHand:
    """The disposition of every signal."""

    def __init__(self) -> None:
        self.actions: dict[str, Disposition] = {}

    def get(self, sig: str) -> str:
        return self.disposition(sig).action

    def disposition(self, sig: str) -> Disposition:
        return self.actions.get(sig, DEFAULT)

    def set(self, sig: str, action: str, flags: frozenset[str] = frozenset(),
            code: int = 0) -> None:
        disposition = Disposition(action, flags, code)
        if disposition == DEFAULT:
            self.actions.pop(sig, None)
        else:
            self.actions[sig] = disposition

    def copy(self) -> SigHand:
        other = SigHand()
        other.actions = dict(self.actions)
        return other

    def __deepcopy__(self, memo: dict[int, object]) -> SigHand:
        return self.copy()

    def reset_caught(self) -> None:
        """What exec (and CLONE_CLEAR_SIGHAND) does, the kernel's
        flush_signal_handlers: handlers are gone, ignores stay, and every flag is
        cleared (an SA_NOCLDWAIT on a default SIGCHLD with it)."""
        self.actions = {s: Disposition("ignore") for s, d in self.actions.items()
                        if d.action == "ignore"}

    def names(self, action: str) -> frozenset[str]:
        return frozenset(s for s, d in self.actions.items() if d.action == action)

    def caught(self) -> frozenset[str]:
        """Signals with a handler (/proc's SigCgt)."""
        return frozenset(s for s, d in self.actions.items() if d.action in HANDLERS)

    def stops(self, sig: str) -> bool:
        """Whether the signal, acted on, stops the process (a stop signal at default)."""
        return sig in STOPPING and self.get(sig) == "default"

    def discards(self, sig: str) -> bool:
        """Whether a signal with this disposition is dropped when it is generated."""
        action = self.get(sig)
        return action == "ignore" or (action == "default" and sig in IGNORED_BY_DEFAULT)

    def reaps_children(self) -> bool:
        """Whether the kernel reaps this process's children as they end: SIGCHLD
        ignored, or SA_NOCLDWAIT (tests/kernel_facts/proc_sigaction.c)."""
        chld = self.disposition("SIGCHLD")
        return chld.action == "ignore" or "nocldwait" in chld.flags


class Pending(Counter[str]):
    """A pending set: a standard signal is pending once however often it is sent; a
    real-time one keeps an instance per send (signal(7); tests/kernel_facts/
    proc_sigaction.c)."""

    def add(self, sig: str) -> None:
        self[sig] = self[sig] + 1 if sig in QUEUED else 1

    def discard(self, sig: str) -> None:
        """Drop every instance (what setting SIG_IGN does)."""
        self.pop(sig, None)

    def take(self, sig: str) -> None:
        """Dequeue one instance, as delivering it does."""
        if self[sig] > 1:
            self[sig] -= 1
        else:
            self.pop(sig, None)

    def copy(self) -> Pending:
        return Pending(self)
