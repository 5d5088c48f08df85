"""The words every part of forklab shares: the page, sizes and signals.

The parser, the expression language, both backends, the TUI and ``forklab
bench`` read and write these words; each is defined here once, so that a size
or a signal name means the same thing wherever a learner writes or reads it.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

PAGE = 4096
"""The base page size of x86-64 and of the model."""

SIZE_UNITS: dict[str, int] = {
    "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
    "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
    "p": PAGE,
}
"""The units a size may end with (docs/scenario-language.md, "Sizes"): binary
multiples, K/M/G/T as short forms of KiB/MiB/GiB/TiB, and ``p`` for pages."""

_UNIT_CHOICE = "|".join(sorted(SIZE_UNITS, key=len, reverse=True))  # KiB before K
_SIZE = re.compile(rf"(0x[0-9a-fA-F]+|[0-9]+)({_UNIT_CHOICE})?")
MAX_SIZE_DIGITS = 24
"""Longer numbers are refused before ``int`` sees them."""


def parse_size(text: str) -> int:
    """Bytes of a size: a decimal or 0x-hex number, then optionally one unit.

    The one grammar of scripts (``mmap heap 1T``), expressions (``1T == 1TiB``)
    and ``forklab bench --sizes``. Raises ValueError with a message fit for the
    learner; callers add where the text was.
    """
    m = _SIZE.fullmatch(text)
    if m is None:
        raise ValueError(f"expected a size like 4KiB, 16p or 64MiB, got '{text}' (a decimal "
                         f"or 0x hex integer, then optionally one of {', '.join(SIZE_UNITS)})")
    digits = m.group(1)
    if len(digits) > MAX_SIZE_DIGITS:
        raise ValueError(f"size {text[:12]}... is too large")
    value = int(digits, 16 if digits.startswith("0x") else 10)
    return value * SIZE_UNITS.get(m.group(2) or "", 1)


def format_size(nbytes: int) -> str:
    """4096 -> '4 KiB', 16 MiB -> '16 MiB', 1.5 GiB -> '1.5 GiB', 100 -> '100 B'.

    The largest binary unit the size reaches, to one decimal when not whole.
    """
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = SIZE_UNITS[unit]
        if nbytes >= scale:
            value = nbytes / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{nbytes} B"


# --- signals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Signal:
    """One Linux signal (x86-64 and arm64 numbering) and its default action."""

    name: str
    number: int
    default: str  # "term", "core" (term and dump core), "ignore", "stop" or "continue"


SIGNALS: tuple[Signal, ...] = tuple(Signal(name, number, default) for name, number, default in (
    ("SIGHUP", 1, "term"), ("SIGINT", 2, "term"), ("SIGQUIT", 3, "core"),
    ("SIGILL", 4, "core"), ("SIGTRAP", 5, "core"), ("SIGABRT", 6, "core"),
    ("SIGBUS", 7, "core"), ("SIGFPE", 8, "core"), ("SIGKILL", 9, "term"),
    ("SIGUSR1", 10, "term"), ("SIGSEGV", 11, "core"), ("SIGUSR2", 12, "term"),
    ("SIGPIPE", 13, "term"), ("SIGALRM", 14, "term"), ("SIGTERM", 15, "term"),
    ("SIGSTKFLT", 16, "term"), ("SIGCHLD", 17, "ignore"), ("SIGCONT", 18, "continue"),
    ("SIGSTOP", 19, "stop"), ("SIGTSTP", 20, "stop"), ("SIGTTIN", 21, "stop"),
    ("SIGTTOU", 22, "stop"), ("SIGURG", 23, "ignore"), ("SIGXCPU", 24, "core"),
    ("SIGXFSZ", 25, "core"), ("SIGVTALRM", 26, "term"), ("SIGPROF", 27, "term"),
    ("SIGWINCH", 28, "ignore"), ("SIGIO", 29, "term"), ("SIGPWR", 30, "term"),
    ("SIGSYS", 31, "core"),
))
"""The standard signals, as signal(7) lists them."""

SIGRTMIN = 34
"""glibc's SIGRTMIN: the kernel's real-time signals start at 32, glibc keeps 32 and 33."""
REALTIME_SIGNALS: tuple[Signal, ...] = tuple(Signal(f"SIGRTMIN+{n}", SIGRTMIN + n, "term")
                                             for n in range(30))
"""SIGRTMIN+0 .. SIGRTMIN+29 (34..63; SIGRTMAX, 64, is left out so every signal a
script names fits a 64-bit set). Each send queues one more instance (signal(7))."""
QUEUED = frozenset(s.name for s in REALTIME_SIGNALS)
"""Signals of which every instance sent is kept pending; a standard one is pending once."""

SIGNAL_NUMBERS: dict[str, int] = {s.name: s.number for s in SIGNALS + REALTIME_SIGNALS}
SIGNAL_NAMES: dict[int, str] = {s.number: s.name for s in SIGNALS + REALTIME_SIGNALS}
SIGNAL_ALIASES = {"SIGIOT": "SIGABRT", "SIGCLD": "SIGCHLD", "SIGPOLL": "SIGIO",
                  "SIGRTMIN": "SIGRTMIN+0"}
"""Other names of the same signals, which a script may write."""

DUMPS_CORE = frozenset(s.name for s in SIGNALS if s.default == "core")
"""The kernel's SIG_KERNEL_COREDUMP_MASK."""
IGNORED_BY_DEFAULT = frozenset(s.name for s in SIGNALS if s.default in ("ignore", "continue"))
"""The kernel's SIG_KERNEL_IGNORE_MASK: discarded when generated with the default action
(SIGCONT's continuing is done when it is sent, not by its action)."""
JOB_CONTROL = frozenset(s.name for s in SIGNALS if s.default in ("stop", "continue"))
"""Signals that stop or continue a process: sent with ``kill`` only, never raised."""
STOPPING = frozenset(s.name for s in SIGNALS if s.default == "stop")
"""The kernel's SIG_KERNEL_STOP_MASK: their default action stops the process."""
UNCATCHABLE = frozenset({"SIGKILL", "SIGSTOP"})
"""The kernel's SIG_KERNEL_ONLY_MASK: no handler, no ignoring, no blocking."""
FAULTS = frozenset({"SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL"})
"""Signals a faulting instruction raises: a handler that returns faults again."""

def parse_cpu_list(text: str | None) -> tuple[int, ...]:
    """The kernel's CPU list notation (``Cpus_allowed_list``, cpuset files): "0-2,5" ->
    (0, 1, 2, 5)."""
    cpus: list[int] = []
    for part in (text or "").strip().split(","):
        lo, _, hi = part.partition("-")
        if lo.strip():
            cpus.extend(range(int(lo), int(hi or lo) + 1))
    return tuple(cpus)


CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
"""Linux's capabilities by number (linux/capability.h), as /proc/PID/status counts bits."""
CAPABILITY_NUMBERS = {name: n for n, name in enumerate(CAPABILITIES)}


@functools.lru_cache(maxsize=64)  # a run reads the same few masks in every process
def capability_names(mask: int) -> frozenset[str]:
    """The names of a capability mask's bits (an unknown bit is named by its number)."""
    return frozenset(CAPABILITIES[n] if n < len(CAPABILITIES) else f"CAP_{n}"
                     for n in range(mask.bit_length()) if mask >> n & 1)
