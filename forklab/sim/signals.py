"""Signals: numbers, default actions, and the handler table a task points at.

Dispositions (``sighand``) may be shared by CLONE_SIGHAND; the mask and the
thread-directed pending set belong to a thread; the process-wide pending set
belongs to the thread group. fork copies dispositions and mask and starts with
nothing pending; exec resets caught signals to default and keeps the rest.
"""
from __future__ import annotations

NUMBERS = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
    "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12,
    "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17,
    "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22,
    "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27,
    "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30, "SIGSYS": 31,
}
BY_NUMBER = {number: name for name, number in NUMBERS.items()}

IGNORED_BY_DEFAULT = frozenset({"SIGCHLD", "SIGURG", "SIGWINCH", "SIGCONT"})
DUMPS_CORE = frozenset({"SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
                        "SIGSEGV", "SIGXCPU", "SIGXFSZ", "SIGSYS"})
STOPPING = frozenset({"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU"})
UNCATCHABLE = frozenset({"SIGKILL", "SIGSTOP"})


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

    def copy(self) -> "SigHand":
        other = SigHand()
        other.action = dict(self.action)
        return other

    def reset_caught(self) -> None:
        """What exec (and CLONE_CLEAR_SIGHAND) does: handlers are gone, ignores stay."""
        self.action = {s: a for s, a in self.action.items() if a != "catch"}

    def names(self, action: str) -> frozenset[str]:
        return frozenset(s for s, a in self.action.items() if a == action)

    def discards(self, sig: str) -> bool:
        """Whether a signal with this disposition is dropped when it is generated."""
        action = self.get(sig)
        return action == "ignore" or (action == "default" and sig in IGNORED_BY_DEFAULT)
