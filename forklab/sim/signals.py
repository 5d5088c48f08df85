"""Signals: the handler table a task points at (names and default actions: forklab.vocabulary).

Dispositions (``sighand``) may be shared by CLONE_SIGHAND; the mask and the
thread-directed pending set belong to a thread; the process-wide pending set
belongs to the thread group. fork copies dispositions and mask and starts with
nothing pending; exec resets caught signals to default and keeps the rest.
"""
from __future__ import annotations

from forklab.vocabulary import IGNORED_BY_DEFAULT


class SigHand:
    """The disposition of every signal: "default", "ignore" or "catch"."""

    def __init__(self) -> None:
        self.action: dict[str, str] = {}

    def get(self, sig: str) -> str:
        return self.action.get(sig, "default")

    def set(self, sig: str, action: str) -> None:
        if action == "default":
            self.action.pop(sig, None)
        else:
            self.action[sig] = action

    def copy(self) -> SigHand:
        other = SigHand()
        other.action = dict(self.action)
        return other

    def __deepcopy__(self, memo: dict[int, object]) -> SigHand:
        return self.copy()

    def reset_caught(self) -> None:
        """What exec (and CLONE_CLEAR_SIGHAND) does: handlers are gone, ignores stay."""
        self.action = {s: a for s, a in self.action.items() if a != "catch"}

    def names(self, action: str) -> frozenset[str]:
        return frozenset(s for s, a in self.action.items() if a == action)

    def discards(self, sig: str) -> bool:
        """Whether a signal with this disposition is dropped when it is generated."""
        action = self.get(sig)
        return action == "ignore" or (action == "default" and sig in IGNORED_BY_DEFAULT)
