"""The shared words (forklab/vocabulary.py) agree with Linux, the docs and each other."""
from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from forklab.vocabulary import (
    DUMPS_CORE,
    IGNORED_BY_DEFAULT,
    JOB_CONTROL,
    QUEUED,
    REALTIME_SIGNALS,
    SIGNAL_ALIASES,
    SIGNAL_NAMES,
    SIGNAL_NUMBERS,
    SIGNALS,
    SIZE_UNITS,
    STOPPING,
    format_size,
    parse_size,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scenario-language.md"


def test_signal_numbers_are_the_c_librarys() -> None:
    """Python's signal module takes its numbers from the C headers of this machine."""
    for s in SIGNALS:
        assert getattr(signal, s.name) == s.number, s.name
    standard = {s.name for s in signal.Signals if s.value < signal.SIGRTMIN}
    assert standard - set(SIGNAL_ALIASES) == {s.name for s in SIGNALS}
    for s in REALTIME_SIGNALS:
        offset = int(s.name.removeprefix("SIGRTMIN+"))
        assert signal.SIGRTMIN + offset == s.number < signal.SIGRTMAX, s.name
    assert QUEUED == {s.name for s in REALTIME_SIGNALS}


def test_aliases_name_the_same_signal() -> None:
    for alias, name in SIGNAL_ALIASES.items():
        assert getattr(signal, alias) == SIGNAL_NUMBERS[name], alias


def test_names_and_numbers_are_one_table() -> None:
    assert len(SIGNALS) + len(REALTIME_SIGNALS) == len(SIGNAL_NAMES) == len(SIGNAL_NUMBERS)
    assert all(SIGNAL_NAMES[n] == name for name, n in SIGNAL_NUMBERS.items())


def test_default_actions_are_signal7s() -> None:
    """signal(7): the signals whose default is to ignore, to stop, or to dump core."""
    assert IGNORED_BY_DEFAULT == {"SIGCHLD", "SIGURG", "SIGWINCH", "SIGCONT"}
    assert JOB_CONTROL == {"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGCONT"}
    assert STOPPING == {"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU"}
    assert DUMPS_CORE == {"SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
                          "SIGSEGV", "SIGXCPU", "SIGXFSZ", "SIGSYS"}


def test_the_docs_list_every_size_unit() -> None:
    """docs/scenario-language.md's "Sizes" names each unit the grammar accepts."""
    text = DOCS.read_text()
    start = text.index("**Sizes**")
    sizes = text[start:text.index("\n- ", start)]
    written = set(re.findall(r"`(?:\d+)?([A-Za-z]+)`", sizes))
    assert written == set(SIZE_UNITS)


@pytest.mark.parametrize("text", ["", "K", "4 KiB", "4kib", "1.5G", "-1", "4B", "0x", "1PiB",
                                  "0o7", "1_000"])
def test_sizes_outside_the_grammar_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(text)


def test_a_number_too_long_is_refused_before_conversion() -> None:
    with pytest.raises(ValueError, match="too large"):
        parse_size("9" * 40 + "T")


@pytest.mark.parametrize("nbytes,text", [
    (0, "0 B"), (100, "100 B"), (4096, "4 KiB"), (16 << 20, "16 MiB"), (3 << 29, "1.5 GiB"),
    (5 << 40, "5 TiB"), ((1 << 30) + 1, "1.0 GiB"),
])
def test_format_size(nbytes: int, text: str) -> None:
    assert format_size(nbytes) == text
