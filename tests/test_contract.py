"""The run contract both backends share: what the script's names stand for, and
when a wait is not blocked because a timed program can end it."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from forklab.scenario.contract import Names, timed_enders
from forklab.scenario.model import Where


def test_names_say_what_an_fd_stands_for_and_why_a_process_is_missing() -> None:
    names = Names()
    names.fd_names["r"] = 3
    names.failed["c"] = "ENOENT"
    assert names.fd_number("r") == 3 and names.fd_number(7) == 7
    assert names.fd_number("gone") == -1 and names.fd_number(None) == -1
    where = Where("s.toml", 4, 1)
    assert str(names.no_such_process("c", where)) == \
        "s.toml:4:1: 'c' was never created: the call failed with ENOENT"
    assert "does not exist yet" in str(names.no_such_process("d", where))
    copied = names.copy()
    copied.fd_names["w"] = 4
    copied.failed["e"] = "EBADF"
    assert "w" not in names.fd_names and "e" not in names.failed


@dataclass
class Table:
    """Programs by name: who may end whose wait, who sleeps, who waits on what."""

    ends: dict[str, list[str] | None] = field(default_factory=dict)  # wait -> enders
    sleeping: set[str] = field(default_factory=set)
    waits: dict[str, str] = field(default_factory=dict)  # program -> the wait it is in

    def enders(self, waiter: str, wait: str) -> Iterable[str] | None:
        return self.ends.get(wait, [])

    def timed(self, program: str) -> bool:
        return program in self.sleeping

    def wait_of(self, program: str) -> str | None:
        return self.waits.get(program)


def test_a_wait_a_sleeper_can_end_is_not_blocked() -> None:
    table = Table(ends={"wait s": ["s"]}, sleeping={"s"})
    found = timed_enders("parent", "wait s", table)
    assert found.timed == ["s"] and not found.running and found


def test_a_sleeper_may_end_a_wait_through_a_cat_it_feeds() -> None:
    table = Table(ends={"read p": ["cat"], "read q": ["sleep"]}, sleeping={"sleep"},
                  waits={"cat": "read q"})
    assert timed_enders("parent", "read p", table).timed == ["sleep"]


def test_a_wait_nothing_can_end_is_blocked() -> None:
    table = Table(ends={"read p": ["cat"], "read q": []}, waits={"cat": "read q"})
    assert not timed_enders("parent", "read p", table)
    assert not timed_enders("parent", "lock m", table)  # no program ends a mutex wait


def test_a_running_program_or_one_forklab_cannot_follow_may_end_a_wait() -> None:
    running = Table(ends={"wait c": ["c"]})  # c waits on nothing: it runs
    assert timed_enders("parent", "wait c", running).running
    unknown = Table(ends={"read p": None})
    assert timed_enders("parent", "read p", unknown).running


def test_a_chain_longer_than_the_depth_counts_as_may_end() -> None:
    chain = Table(ends={f"read {i}": [f"cat{i}"] for i in range(6)},
                  waits={f"cat{i}": f"read {i + 1}" for i in range(6)})
    assert timed_enders("parent", "read 0", chain, depth=4).running
    assert not timed_enders("parent", "read 0", chain, depth=7)  # "read 6": nobody
