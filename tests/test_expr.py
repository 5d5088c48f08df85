"""The expression language (docs/scenario-language.md): what check() refuses, what evaluate() computes."""
from __future__ import annotations

import ast
import copy
import pickle
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forklab.observe import UNAVAILABLE, MappingObs, ProcessObs, World, default_observations
from forklab.scenario.expr import MAX_NODES, MAX_TEXT, check, evaluate
from forklab.scenario.model import Expr, ScenarioError, Where
from forklab.vocabulary import SIZE_UNITS

# The expression text starts at line 3, column 10 of the file (step 2).
W = Where("cow.toml", 3, 10, 2)
NAMES: dict[str, Any] = {
    "parent": "process", "child": "process", "later": "process",
    "heap": "mapping", "stack": "mapping",
    "r": "fd", "w": "fd", "log": "fd", "unopened": "fd",
    "t1": "thread", "l": "lock", "a": "allocation", "tpl": "template", "b": "blank",
}


@dataclass
class FakeQueries:
    """Answers the observables with arguments from tables, and records every question."""

    shared: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    bytes_: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    same: dict[tuple[str, int, str, int], Any] = field(default_factory=dict)
    asked: list[tuple[Any, ...]] = field(default_factory=list)

    def shared_with(self, process: str, mapping: str, other: str) -> Any:
        self.asked.append(("shared_with", process, mapping, other))
        return self.shared[(process, mapping, other)]

    def byte(self, process: str, mapping: str, offset: int) -> Any:
        self.asked.append(("byte", process, mapping, offset))
        if offset >= 16 << 20:
            raise ValueError("offset beyond the mapping")
        return self.bytes_.get((process, mapping, offset), 0)

    def same_file(self, process: str, fd: int, other: str, other_fd: int) -> Any:
        self.asked.append(("same_file", process, fd, other, other_fd))
        return self.same.get((process, fd, other, other_fd), False)

    def same_ns(self, process: str, kind: str, other: str, thread: str | None = None) -> Any:
        self.asked.append(("same_ns", process, kind, other, thread))
        return kind != "uts"


def make_world(**changes: Any) -> World:
    """parent forked child after mapping 16 MiB and writing it; child wrote 2 pages."""
    heap_p = MappingObs(mapped=True, present=4096, exclusive=2, zero=0)
    heap_c = MappingObs(mapped=True, present=4096, exclusive=2, zero=0)
    parent = ProcessObs(
        name="parent", state="running", children=("child",), fds=(0, 1, 2, 3, 4),
        cloexec_fds=frozenset({4}), sig_blocked=frozenset({"SIGINT", "SIGUSR1"}),
        sig_ignored=frozenset({"SIGPIPE"}), faults=4096, minflt=4100, vm_pte=36,
        sig_received={"SIGRTMIN+1": 3}, mappings={"heap": heap_p},
    )
    child = ProcessObs(
        name="child", state="zombie", exit_code=3, parent="parent", fds=(0, 1, 2, 3),
        errno="ENOENT", last_read="hi\n", spawn_us=85.5, faults=2, minflt=2,
        sig_blocked=frozenset({"SIGINT", "SIGUSR1"}), mappings={"heap": heap_c},
    )
    queries = FakeQueries(
        shared={("child", "heap", "parent"): 4094, ("parent", "heap", "child"): 4094},
        bytes_={("child", "heap", 7 * 4096): 0x5A},
        same={("parent", 3, "child", 3): True},
    )
    world = World(
        processes={"parent": parent, "child": child},
        stdout="hello\nhello\n",
        fd_names={"r": 3, "w": 4, "log": 5},
        mapping_names=frozenset({"heap"}),
        queries=queries,
    )
    return replace(world, **changes)


def ev(text: str, world: World | None = None) -> Any:
    """Check then evaluate; the value only."""
    return evaluate(check(text, W, NAMES), world or make_world())[0]


def touched(text: str, world: World | None = None) -> dict[str, Any]:
    return evaluate(check(text, W, NAMES), world or make_world())[1]


def refused(text: str, names: dict[str, Any] = NAMES) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        check(text, W, names)
    return info.value


def at(err: ScenarioError) -> tuple[int, int]:
    """(line, column) an error names in the file."""
    assert err.where is not None and err.where.file == W.file and err.where.step == W.step
    return err.where.line, err.where.col


def fails(text: str, world: World | None = None) -> ScenarioError:
    expr = check(text, W, NAMES)
    with pytest.raises(ScenarioError) as info:
        evaluate(expr, world or make_world())
    assert info.value.where == expr.where
    return info.value


# ---------------------------------------------------------------------------
# Allowed forms


@pytest.mark.parametrize("text, value", [
    # literals
    ("42", 42), ("-7", -7), ("'text'", "text"), ('"dq"', "dq"), ("True", True),
    ("False", False), ("None", None), ("[1, 'a', None]", [1, "a", None]),
    ("{1, 2, 2}", {1, 2}), ("(1, 2)", (1, 2)), ("()", ()), ("[]", []), ("(1,)", (1,)),
    ("0x5a", 90), ("0.25", 0.25), ("1_000", 1000), ("'a' 'b'", "ab"),
    (r"'tab\there'", "tab\there"), ("r'\\n'", "\\n"),
    # comparisons
    ("1 == 1", True), ("1 != 1", False), ("1 < 2", True), ("2 <= 2", True),
    ("3 > 2", True), ("2 >= 3", False), ("1 < 2 < 3", True), ("1 < 3 < 2", False),
    ("'b' in 'abc'", True), ("4 not in [1, 2]", True), ("2 in {1, 2}", True),
    ("(1, 2) in [(1, 2)]", True), ("'a' < 'b'", True), ("[1, 2] < [1, 3]", True),
    ("{1} < {1, 2}", True), ("None == None", True), ("[1] == (1,)", False),
    # boolean operators, Python's values
    ("True and 3", 3), ("0 and 1", 0), ("0 or 'x'", "x"),
    ("not 0", True), ("not [1]", False), ("1 == 1 and 2 == 2 or False", True),
    # arithmetic
    ("1 + 2", 3), ("5 - 7", -2), ("6 * 7", 42), ("7 // 2", 3), ("-7 // 2", -4),
    ("7 % 3", 1), ("-(3)", -3), ("--3", 3), ("1.5 * 2", 3.0), ("'ab' + 'c'", "abc"),
    ("[1] + [2]", [1, 2]), ("(1,) + (2,)", (1, 2)), ("'ab' * 3", "ababab"),
    ("3 * [0]", [0, 0, 0]), ("'x' * -1", ""), ("{1, 2, 3} - {2}", {1, 3}),
    ("True + True", 2),
    # functions
    ("len('abc')", 3), ("len([1, 2])", 2), ("len({1})", 1), ("len(())", 0),
    ("sorted({3, 1, 2})", [1, 2, 3]), ("sorted('cab')", ["a", "b", "c"]),
    ("set()", set()), ("set([1, 1, 2])", {1, 2}), ("set('aa')", {"a"}),
    ("min([3, 1])", 1), ("max([3, 1])", 3), ("min(3, 1, 2)", 1), ("max('ab', 'b')", "b"),
    ("abs(-4)", 4), ("abs(-0.5)", 0.5), ("count('a-a-a', '-')", 2), ("count('', '')", 1),
    ("approx(100, 120)", True), ("approx(100, 150)", False), ("approx(100, 150, rel=0.5)", True),
    ("approx(100, 150, 0.5)", True), ("approx(0, 0)", True), ("approx(1.0, 1)", True),
    # subscripts: plain indexing and slicing of values
    ("[1, 2, 3][0]", 1), ("[1, 2, 3][-1]", 3), ("'abc'[1]", "b"), ("'abcdef'[1:3]", "bc"),
    ("'abcdef'[::2]", "ace"), ("[1, 2, 3][:-1]", [1, 2]), ("(1, 2)[1]", 2),
    ("sorted({2, 1})[0]", 1), ("'abc'[5:]", ""),
    # layout: newlines, tabs, comments, leading blanks
    ("  1 +\n  2", 3), ("1 +\t2", 3), ("1 == 1  # always", True), ("# c\n2 # d\n", 2),
    ("(1 +\n 2) * 2", 6), ("'''tri\nple'''", "tri\nple"), ("'#' + 'x'", "#x"),
])
def test_allowed_forms_evaluate_like_python(text: str, value: Any) -> None:
    result = ev(text)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize("text, value", [
    ("4KiB", 4096), ("2GiB", 2 << 30), ("16p", 65536), ("7p", 28672), ("1MiB", 1 << 20),
    ("1TiB", 1 << 40), ("1K", 1024), ("3M", 3 << 20), ("1G", 1 << 30), ("0p", 0),
    ("0x10p", 16 * 4096), ("0x5a", 0x5A), ("16MiB // 4KiB", 4096), ("007p", 7 * 4096),
    ("[1p, 2p]", [4096, 8192]), ("-4KiB", -4096), ("'4KiB'", "4KiB"), ("'16p' + '7p'", "16p7p"),
    ("4KiB==4096", True), ("(4KiB)", 4096),
])
def test_size_literals_are_bytes(text: str, value: Any) -> None:
    assert ev(text) == value


UNIT_BYTES = {"K": 1024, "KiB": 1024, "M": 1024**2, "MiB": 1024**2, "G": 1024**3,
              "GiB": 1024**3, "T": 1024**4, "TiB": 1024**4, "p": 4096}


def test_every_size_unit_is_tested() -> None:
    assert set(UNIT_BYTES) == set(SIZE_UNITS)


@pytest.mark.parametrize("unit,scale", UNIT_BYTES.items())
def test_every_size_unit_in_an_expression(unit: str, scale: int) -> None:
    assert ev(f"3{unit}") == 3 * scale
    assert ev(f"0x10{unit}") == 16 * scale


def test_short_and_long_units_are_equal() -> None:
    """What a script accepts (``mmap heap 1T``) an expectation accepts too."""
    assert ev("1T == 1TiB and 2G == 2GiB and 3M == 3MiB and 4K == 4KiB == 1p") is True


def test_size_literals_inside_observables() -> None:
    assert ev("child.heap.byte(7p)") == 0x5A
    assert ev("parent.heap.present == 16MiB // 4KiB") is True
    assert touched("child.heap.byte(7p)")["child.heap.byte(28672)"] == 0x5A


def test_size_literal_keeps_later_columns() -> None:
    # "16MiB" becomes "16777216" for Python; `nope` is still reported where written.
    err = refused("16MiB + 4KiB + nope")
    assert at(err) == (3, 10 + 15)
    err = refused("child.heap.byte(7p) + x")
    assert at(err)[1] == 10 + 22


@pytest.mark.parametrize("text, col, fragment", [
    ("1.5p", 0, "bad number"), ("4kib", 0, "bad number"), ("7q", 0, "bad number"),
    ("1 + 2x", 4, "bad number"), ("1e5p", 0, "bad number"), ("1if 1 else 2", 0, "bad number"),
    ("0x", 0, "bad number"), ("1_0p", 0, "bad size"), ("0o7KiB", 0, "bad size"),
    ("0X10p", 0, "bad size"), ("1" * 30 + "p", 0, "too large"),
])
def test_bad_numbers_are_refused_at_their_column(text: str, col: int, fragment: str) -> None:
    err = refused(text)
    assert fragment in err.message
    assert at(err) == (3, 10 + col)


# ---------------------------------------------------------------------------
# Observables


def test_every_process_observable() -> None:
    world = make_world()
    assert ev("parent.state", world) == "running"
    assert ev("child.exit_code", world) == 3
    assert ev("parent.exit_code", world) is None
    assert ev("child.term_signal", world) is None
    assert ev("child.errno", world) == "ENOENT"
    assert ev("child.parent", world) == "parent"
    assert ev("parent.parent", world) is None
    assert ev("parent.children", world) == ["child"]
    assert ev("parent.threads", world) == 1
    assert ev("parent.faults", world) == 4096
    assert ev("parent.minflt", world) == 4100
    assert ev("parent.vm_pte", world) == 36
    assert ev("parent.fds", world) == [0, 1, 2, 3, 4]
    assert ev("child.last_read", world) == "hi\n"
    assert ev("parent.sig_ignored", world) == {"SIGPIPE"}
    assert ev("parent.sig_caught", world) == set()
    assert ev("parent.sig_blocked", world) == {"SIGINT", "SIGUSR1"}
    assert ev("parent.sig_pending", world) == set()
    assert ev("child.spawn_us", world) == 85.5
    assert ev("parent.spawn_us", world) is None
    assert ev("parent.sig_received('SIGRTMIN+1')", world) == 3
    assert ev("parent.sig_received('SIGUSR1')", world) == 0  # never run: 0, not absent
    assert ev("parent.cloexec(4)", world) is True
    assert ev("parent.cloexec(w)", world) is True
    assert ev("parent.cloexec(r)", world) is False
    assert ev("parent.same_file(r, child, 3)", world) is True
    assert ev("parent.same_file(0, child, 3)", world) is False
    assert ev("parent.same_ns('net', child)", world) is True
    assert ev("not parent.same_ns('uts', child)", world) is True


def test_value_types_are_lists_and_sets() -> None:
    assert isinstance(ev("parent.fds"), list)
    assert isinstance(ev("parent.children"), list)
    assert isinstance(ev("processes"), list)
    assert isinstance(ev("parent.sig_blocked"), set)
    assert ev("'SIGINT' in parent.sig_blocked and parent.sig_blocked == child.sig_blocked")
    assert ev("parent.sig_blocked == {'SIGINT', 'SIGUSR1'}") is True
    assert ev("parent.sig_blocked == ['SIGINT', 'SIGUSR1']") is False  # a set is not a list


def test_every_mapping_observable() -> None:
    world = make_world()
    assert ev("parent.heap.mapped", world) is True
    assert ev("parent.heap.present", world) == 4096
    assert ev("parent.heap.exclusive", world) == 2
    assert ev("parent.heap.zero", world) == 0
    assert ev("child.heap.shared_with(parent)", world) == 4094
    assert ev("child.heap.byte(7p)", world) == 0x5A
    assert ev("child.heap.byte(0)", world) == 0
    assert ev("child.heap.byte(0x7000)", world) == 0x5A


def test_a_mapping_the_process_lacks_reads_as_unmapped() -> None:
    world = make_world()
    assert ev("parent.stack.mapped", world) is False
    assert ev("parent.stack.present + parent.stack.exclusive + parent.stack.zero", world) == 0
    assert ev("parent.stack.byte(0)", world) is None
    assert ev("parent.stack.shared_with(child)", world) == 0
    assert ev("child.heap.shared_with(parent)", world) == 4094
    assert world.queries.asked == [("shared_with", "child", "heap", "parent")]  # type: ignore[attr-defined]


def test_run_wide_observables_and_names() -> None:
    assert ev("stdout") == "hello\nhello\n"
    assert ev("count(stdout, 'hello')") == 2
    assert ev("processes") == ["parent", "child"]
    assert ev("r") == 3 and ev("w + 1") == 5 and ev("log") == 5
    assert ev("child") == "child"
    assert ev("child in processes and parent.children == [child]") is True
    assert ev("later in processes") is False  # a bare name is not a read: no error
    assert ev("child.parent == parent") is True


def test_an_fd_not_open_in_the_process() -> None:
    world = make_world()
    assert ev("parent.cloexec(9)", world) is None
    assert ev("child.cloexec(w)", world) is None
    assert ev("parent.same_file(w, child, w)", world) is False
    assert world.queries.asked == []  # type: ignore[attr-defined]


def test_names_that_do_not_exist_yet() -> None:
    assert "later does not exist at this step" in fails("later.state").message
    assert "does not exist at this step" in fails("later.heap.present").message
    assert "does not exist at this step" in fails("parent.heap.shared_with(later)").message
    assert "does not exist at this step" in fails("parent.same_file(0, later, 0)").message
    assert "fd unopened does not exist at this step" in fails("unopened == 3").message
    assert "does not exist" in fails("parent.cloexec(unopened)").message


def test_a_scenario_name_hides_the_run_wide_name() -> None:
    names = {**NAMES, "stdout": "fd"}
    world = make_world(fd_names={"stdout": 7})
    assert evaluate(check("stdout", W, names), world)[0] == 7
    # function names are functions only when called
    names = {**NAMES, "count": "process"}
    world = make_world()
    assert evaluate(check("count(stdout, 'h') + len(count)", W, names), world)[0] == 7


def test_a_mapping_named_like_a_process_observable() -> None:
    names = {**NAMES, "state": "mapping"}
    world = make_world()
    assert evaluate(check("parent.state", W, names), world)[0] == "running"
    assert evaluate(check("parent.state.mapped", W, names), world)[0] is False


# ---------------------------------------------------------------------------
# touched


def test_touched_keys_are_canonical() -> None:
    assert touched("parent.heap.present == 4096") == {"parent.heap.present": 4096}
    assert touched("parent.state") == {"parent.state": "running"}
    assert touched("len(stdout) > 0") == {"stdout": "hello\nhello\n"}
    assert touched("3 in parent.fds") == {"parent.fds": [0, 1, 2, 3, 4]}
    assert touched("parent.cloexec(3)") == {"parent.fds": [0, 1, 2, 3, 4],
                                            "parent.cloexec(3)": False}
    assert touched("child.heap.shared_with(parent)") == {
        "child.heap.mapped": True, "parent.heap.mapped": True,
        "child.heap.shared_with(parent)": 4094}
    assert touched("child.heap.byte(7p)") == {"child.heap.mapped": True,
                                              "child.heap.byte(28672)": 0x5A}
    assert touched("parent.same_file(r, child, 3)") == {
        "parent.fds": [0, 1, 2, 3, 4], "child.fds": [0, 1, 2, 3],
        "parent.same_file(3, child, 3)": True}
    assert touched("parent.sig_blocked") == {"parent.sig_blocked": ["SIGINT", "SIGUSR1"]}
    assert touched("processes") == {"processes": ["parent", "child"]}
    assert touched("parent.children") == {"parent.children": ["child"]}
    assert touched("1 + r") == {}
    # short-circuit: what is not evaluated is not read
    assert touched("False and parent.state == 'x'") == {}


def test_touched_keys_agree_with_default_observations() -> None:
    world = make_world()
    live_child = replace(world.processes["child"], state="running")  # a zombie shows no memory
    world = replace(world, processes={**world.processes, "child": live_child})
    defaults = default_observations(world)
    for text in ("parent.state", "parent.heap.present", "parent.heap.mapped", "child.vm_pte",
                 "stdout", "parent.fds", "parent.cloexec(4)", "child.sig_blocked",
                 "child.heap.zero", "child.errno", "child.threads"):
        for key, value in touched(text, world).items():
            assert defaults[key] == value, key


def test_default_observations_grow_with_what_processes_hold() -> None:
    """A live process shows only `mapped` False for a mapping it lacks, and an ended
    one no memory at all: 250 zombies and 250 mapping names made 500,000 keys a step."""
    world = make_world(mapping_names=frozenset({"heap", "other"}))
    defaults = default_observations(world)
    assert defaults["parent.other.mapped"] is False
    assert not [key for key in defaults if key.startswith("parent.other.") and
                key != "parent.other.mapped"]
    assert defaults["parent.heap.present"] == 4096
    assert not [key for key in defaults if key.startswith(("child.heap.", "child.other."))]
    assert defaults["child.state"] == "zombie"


# ---------------------------------------------------------------------------
# UNAVAILABLE


def test_unavailable_query_makes_the_whole_value_unavailable() -> None:
    world = make_world()
    world.queries.shared[("child", "heap", "parent")] = UNAVAILABLE  # type: ignore[attr-defined]
    expr = check("child.heap.shared_with(parent) == 4094 and parent.state == 'x'", W, NAMES)
    value, seen = evaluate(expr, world)
    assert value is UNAVAILABLE
    assert seen["child.heap.shared_with(parent)"] is UNAVAILABLE
    assert "parent.state" not in seen  # evaluation stopped


@pytest.mark.parametrize("text", [
    "parent.vm_pte == 36", "not parent.vm_pte",
    "parent.vm_pte + 'a'",  # not even the type error: the value is unavailable
    "[parent.vm_pte]", "approx(parent.vm_pte, 1)", "abs(parent.vm_pte) > 0",
])
def test_unavailable_field_propagates(text: str) -> None:
    world = make_world()
    p = replace(world.processes["parent"], vm_pte=UNAVAILABLE)
    world = replace(world, processes={**world.processes, "parent": p})
    value, seen = evaluate(check(text, W, NAMES), world)
    assert value is UNAVAILABLE
    assert seen == {"parent.vm_pte": UNAVAILABLE}


def test_unavailable_byte_and_same_file_and_mapping() -> None:
    world = make_world()
    world.queries.bytes_[("child", "heap", 0)] = UNAVAILABLE  # type: ignore[attr-defined]
    world.queries.same[("parent", 3, "child", 3)] = UNAVAILABLE  # type: ignore[attr-defined]
    assert ev("child.heap.byte(0) == 0", world) is UNAVAILABLE
    assert ev("parent.same_file(3, child, 3)", world) is UNAVAILABLE
    c = replace(world.processes["child"], mappings={"heap": UNAVAILABLE})
    world = replace(world, processes={**world.processes, "child": c})
    assert ev("child.heap.present", world) is UNAVAILABLE
    assert ev("stdout", make_world(stdout=UNAVAILABLE)) is UNAVAILABLE
    assert ev("len(parent.fds)", make_world()) == 5


# ---------------------------------------------------------------------------
# Refused at check, each at its column (the text starts at column 10)


@pytest.mark.parametrize("text, col, fragment", [
    # syntax
    ("1 +", 3, "ends too early"), ("(1", 0, "never closed"), ("a b", 2, "syntax"),
    ("parent b", 7, "syntax"), ("1,,", 2, "syntax"), ("x = 1", 2, "syntax"),
    ("'abc", 0, "unterminated string"), ("", 0, "empty"), ("   ", 0, "empty"),
    ("# just a comment", 0, "empty"), ("1 + )", 4, "syntax"), ("$", 0, "syntax"),
    ("parent.state = 1", 13, "syntax"),
    # names
    ("nope", 0, "unknown name 'nope'"), ("1 + nope", 4, "unknown name"),
    ("true", 0, "unknown name"), ("heap", 0, "mapping"), ("t1", 0, "thread"),
    ("l", 0, "lock"), ("a", 0, "allocation"), ("tpl", 0, "template"), ("b", 0, "blank"),
    ("len", 0, "function"), ("__import__('os')", 0, "unknown function"),
    ("open('x')", 0, "unknown function"), ("eval('1')", 0, "unknown function"),
    ("parent()", 0, "not a function"),
    # attributes
    ("parent.nope", 7, "not an observable of a process"),
    ("parent.heap", 7, "is a mapping"), ("parent.l", 7, "lock, not a mapping"),
    ("parent.heap.nope", 12, "not an observable of a mapping"),
    ("parent.nope.present", 7, "not an observable of a process"),
    ("parent.__class__", 7, "dunder"), ("parent.heap.__dict__", 12, "dunder"),
    ("parent.state.__class__", 13, "dunder"), ("().__class__", 3, "dunder"),
    ("r.state", 2, "attribute 'state' is not allowed"),
    ("nope.state", 0, "unknown name"), ("stdout.upper()", 7, "not allowed"),
    ("'x'.upper()", 4, "not allowed"), ("stdout.count('a')", 7, "count(text, sub)"),
    ("parent.fds.index(3)", 11, "not allowed"), ("parent.state.strip", 13, "not allowed"),
    ("parent.cloexec", 7, "is a method"), ("parent.heap.byte", 12, "is a method"),
    ("parent.state()", 7, "not a method"), ("parent.heap.present()", 12, "not a method"),
    ("parent.heap.cloexec(3)", 12, "not an observable of a mapping"),
    ("parent.byte(3)", 7, "not an observable of a process"),
    ("[parent][0].state", 12, "not allowed"),
    # calls
    ("len(1, 2)", 0, "wrong number"), ("len()", 0, "wrong number"), ("abs()", 0, "wrong number"),
    ("count('a')", 0, "wrong number"), ("approx(1)", 0, "wrong number"),
    ("approx(1, 2, 3, 4)", 0, "wrong number"), ("min()", 0, "wrong number"),
    ("set(1, 2)", 0, "wrong number"), ("approx(1, rel=2)", 0, "approx takes"),
    ("approx(1, 2, 0.1, rel=0.1)", 0, "approx takes"),
    ("sorted(parent.fds, key=len)", 19, "keyword argument key="),
    ("len(x=1)", 4, "keyword"), ("len(*[1])", 4, "starred"), ("len(**{})", 4, "**"),
    ("parent.cloexec()", 0, "wrong number"), ("parent.cloexec(1, 2)", 0, "wrong number"),
    ("parent.same_file(1, 2)", 0, "wrong number"),
    ("parent.same_file(1, 'child', 2)", 20, "process name"),
    ("parent.same_file(1, r, 2)", 20, "process name"),
    ("parent.same_file(1, heap, 2)", 20, "mapping"),
    ("parent.heap.shared_with('child')", 24, "process name"),
    ("parent.heap.shared_with(child, 1)", 0, "wrong number"),
    ("parent.heap.byte()", 0, "wrong number"),
    ("parent.heap.byte(nope)", 17, "unknown name"),
    ("(lambda: 1)()", 1, "lambda"), ("len(parent.fds)(1)", 0, "can be called"),
    # operators
    ("2 ** 3", 2, "**"), ("'a' * 10**9", 8, "**"), ("1 / 2", 2, "use //"),
    ("1 & 2", 2, "&"), ("1 | 2", 2, "|"), ("1 ^ 2", 2, "^"), ("1 << 2", 2, "<<"),
    ("1 >> 2", 2, ">>"), ("~1", 0, "unary ~"), ("+1", 0, "unary +"),
    ("(1) ** (2)", 4, "**"), ("1 @ 2", 2, "@"),
    ("parent.exit_code is None", 17, "is is not allowed"),
    ("parent.exit_code is not None", 17, "is not"),
    ("1 < 2 is 3", 6, "is"),
    # forms
    ("[x for x in [1]]", 0, "comprehension"), ("{x for x in [1]}", 0, "comprehension"),
    ("{x: 1 for x in [1]}", 0, "comprehension"), ("(x for x in [1])", 0, "generator"),
    ("len(x for x in [1])", 3, "generator"), ("lambda: 1", 0, "lambda"),
    ("(y := 1)", 1, ":="), ("f'{parent.state}'", 0, "f-string"), ("F'x'", 0, "f-string"),
    ("rf'x'", 0, "f-string"), ("[*parent.fds]", 1, "starred"), ("{}", 0, "dict"),
    ("{1: 2}", 0, "dict"), ("1 if True else 2", 0, "conditional"), ("b'x'", 0, "bytes"),
    ("1j", 0, "complex"), ("...", 0, "Ellipsis"), ("await parent", 0, "await"),
    ("(yield)", 1, "yield"), ("[1, 2][1:2, 0]", 7, "slice"),
    # literals out of range
    ("18446744073709551617", 0, "out of range"), ("1 + 99999999999999999999p", 4, "out of range"),
    ("1e999", 0, "finite"),
])
def test_refused_forms_name_their_column(text: str, col: int, fragment: str) -> None:
    err = refused(text)
    assert fragment in err.message, err.message
    assert err.where == Where("cow.toml", 3, 10 + col, 2), (err.where, err.message)


def test_control_characters_are_refused() -> None:
    err = refused("1 +\x00 2")
    assert "control character" in err.message and at(err)[1] == 13
    assert at(refused("'\x1b'"))[1] == 11


def test_errors_on_later_lines_use_that_line() -> None:
    err = refused("parent.state == 'running' and\n  child.nope == 1")
    assert at(err) == (4, 9)
    err = refused("1 +\n\n    2 **\n 3")
    assert at(err) == (5, 7)
    err = refused("'''a\nb''' + nope")
    assert at(err) == (4, 8)


def test_non_ascii_outside_strings_is_refused() -> None:
    err = refused("parent.\uff53tate == 'é'")  # a fullwidth s: Python would read "state"
    assert "non-ASCII" in err.message and at(err)[1] == 10 + 7
    assert at(refused("1\u00a0+ 1"))[1] == 11  # a pasted no-break space
    assert ev("'wörld' == 'w\\u00f6rld'") is True


def test_columns_count_characters_not_bytes() -> None:
    err = refused("'héllo wörld' + nope")
    assert at(err)[1] == 10 + 16
    err = refused("'é' + (")
    assert at(err)[1] == 10 + 6


def test_a_checked_expression_survives_pickle_and_copy() -> None:
    expr = check("child.heap.byte(7p) == 90 and r in parent.fds", W, NAMES)
    for again in (pickle.loads(pickle.dumps(expr)), copy.deepcopy(expr)):
        assert evaluate(again, make_world()) == evaluate(expr, make_world())


def test_check_returns_the_text_as_written() -> None:
    expr = check("parent.heap.present == 16MiB // 4KiB", W, NAMES)
    assert isinstance(expr, Expr)
    assert expr.text == "parent.heap.present == 16MiB // 4KiB"
    assert expr.where == W
    assert isinstance(expr.tree, ast.Expression)


# ---------------------------------------------------------------------------
# Runtime errors: always ScenarioError at the expression's where


@pytest.mark.parametrize("text, fragment", [
    ("'a' + 1", "cannot apply +"), ("1 + None", "cannot apply +"), ("[1] + (1,)", "cannot apply +"),
    ("{1} + {2}", "cannot apply +"), ("'a' - 'b'", "cannot apply -"), ("[1] * [2]", "cannot apply *"),
    ("'a' * 1.5", "cannot apply *"), ("{1} * 2", "cannot apply *"),
    ("1 // 0", "division by zero"), ("1 % 0", "division by zero"), ("1.0 // 0.0", "division by zero"),
    ("'%s' % 1", "for numbers"), ("'a' // 2", "for numbers"), ("-'a'", "cannot negate"),
    ("-None", "cannot negate"),
    ("'a' < 1", "cannot compare"), ("None < 1", "cannot compare"), ("[1] < (1,)", "cannot compare"),
    ("[1, 'a'] < [1, 2]", "cannot compare"), ("{1} < [1]", "cannot compare"),
    ("1 in 'abc'", "string"), ("1 in 5", "membership"), ("'a' in None", "membership"),
    ("[1] in {1}", "cannot be in a set"), ("{[1]}", "set items"), ("set([[1]])", "set items"),
    ("len(1)", "len needs"), ("len(None)", "len needs"), ("sorted(3)", "sorted needs"),
    ("sorted([1, 'a'])", "one comparable kind"), ("min([])", "empty"), ("max('')", "empty"),
    ("min(1, 'a')", "comparable"), ("abs('x')", "abs needs"), ("abs(None)", "abs needs"),
    ("count(1, 'a')", "two strings"), ("count(parent.fds, 3)", "two strings"),
    ("approx('a', 1)", "approx needs numbers"), ("approx(child.spawn_us, parent.spawn_us)", "None"),
    ("approx(1, 1, rel=-1)", "rel"), ("approx(True, 1)", "numbers"),
    ("[1][3]", "out of range"), ("'abc'[-4]", "out of range"), ("[1]['a']", "index must be an int"),
    ("{1}[0]", "cannot index a set"), ("5[0]", "cannot index"), ("None[0]", "cannot index"),
    ("'abc'[::0]", "step"), ("'abc'[1.5:]", "slice bounds"), ("[1][True]", "index must be an int"),
    ("parent.cloexec('x')", "FD must be"), ("parent.cloexec(-1)", "FD must be"),
    ("parent.same_file(0, child, None)", "FD2 must be"),
    ("parent.same_ns('hostname', child)", "KIND in parent.same_ns(KIND, Q) must be one of"),
    ("parent.same_ns(3, child)", "got int 3"),
    ("parent.sig_received('SIGFOO')", "SIG in parent.sig_received(SIG) must be a signal name"),
    ("parent.sig_received(10)", "must be a signal name like 'SIGUSR1', got int 10"),
    ("child.heap.byte(-1)", "OFFSET"), ("child.heap.byte('x')", "OFFSET"),
    ("child.heap.byte(16MiB)", "offset beyond the mapping"),
    ("18446744073709551616 + 1", "out of range"), ("-18446744073709551616 - 1", "out of range"),
    ("4294967296 * 4294967296 * 2", "out of range"), ("1e300 * 1e300", "not finite"),
    ("'a' * 100000000", "too long"), ("'a' * 1000001", "too long"),
    ("[0] * 1000001", "too long"), ("'ab' * 500001", "too long"),
    ("len(['a' * 1000000, 'a' * 1000000, 'a' * 1000000, 'a' * 1000000, 'a' * 1000000,"
     " 'a' * 1000000, 'a' * 1000000, 'a' * 1000000, 'a' * 1000000, 'a' * 1000000,"
     " 'a' * 1000000])", "10000000 elements"),
])
def test_runtime_errors_are_scenario_errors(text: str, fragment: str) -> None:
    err = fails(text)
    assert fragment in err.message, err.message


def test_work_is_bounded_by_the_deep_size_of_what_is_built() -> None:
    # a million references to a megabyte string: refused before it is built,
    # so the membership test (10**12 character comparisons) never runs
    err = fails("'a' * 1000000 in ['a' * 1000000] * 1000000")
    assert "elements in all" in err.message
    assert "elements in all" in fails("len([[0] * 1000] * 100000)").message
    assert ev("[[0] * 1000] * 1000 == [[0] * 1000] * 1000") is True


def test_unchecked_trees_are_refused_not_crashed() -> None:
    for text in ("x", "x.y", "len(x)", "lambda: 1"):
        expr = Expr(text, ast.parse(text, mode="eval"), W)
        with pytest.raises(ScenarioError):
            evaluate(expr, make_world())


def test_a_backend_refusal_is_a_scenario_error() -> None:
    class Refusing(FakeQueries):
        def byte(self, process: str, mapping: str, offset: int) -> Any:
            raise ScenarioError("no such page")

    err = fails("child.heap.byte(0)", make_world(queries=Refusing()))
    assert err.message == "child.heap.byte(0): no such page"


def test_runtime_error_message_quotes_the_failing_piece() -> None:
    err = fails("parent.state == 'running' and 1 // 0 == 1")
    assert "`1 // 0`" in err.message


def test_the_largest_results_allowed() -> None:
    assert len(ev("'a' * 1000000")) == 1_000_000
    assert ev("18446744073709551616") == 2**64
    assert ev("-18446744073709551616") == -(2**64)
    assert ev("4294967296 * 4294967296") == 2**64


# ---------------------------------------------------------------------------
# Size bounds of the text and the tree


def test_text_length_bound() -> None:
    text = "1" + " " * (MAX_TEXT - 1)
    assert ev(text) == 1
    err = refused(text + " ")
    assert "too long" in err.message and err.where == W


def test_node_bound() -> None:
    ok = "+".join(["1"] * 150)  # 299 nodes
    assert ev(ok) == 150
    err = refused("+".join(["1"] * 151))
    assert "too large" in err.message and str(MAX_NODES) in err.message and err.where == W
    assert "too large" in refused("1+" * 600 + "1").message


@pytest.mark.parametrize("text", [
    "(" * 250 + "1" + ")" * 250,
    "[" * 400 + "]" * 400,
    "-" * 1500 + "1",
    "not " * 400 + "True",
    "len(" * 300 + "'a'" + ")" * 300,
    "{" * 199 + "}" * 199,
])
def test_deep_nesting_is_refused(text: str) -> None:
    refused(text)


@pytest.mark.parametrize("text, value", [
    ("(" * 150 + "1" + ")" * 150, 1),  # parentheses are not nodes
    ("-" * 299 + "1", -1),
    ("not " * 299 + "True", False),
    ("abs(" * 99 + "-1" + ")" * 99, 1),
])
def test_nesting_within_the_bound_evaluates(text: str, value: Any) -> None:
    assert ev(text) == value


# ---------------------------------------------------------------------------
# Robustness: nothing but ScenarioError, whatever the text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120))
def test_random_text_only_raises_scenario_error(text: str) -> None:
    try:
        check(text, W, NAMES)
    except ScenarioError:
        pass


TOKENS = [
    "parent", "child", "later", "heap", "stack", "r", "w", "unopened", "t1", "stdout", "processes",
    ".", ".state", ".heap", ".present", ".fds", ".sig_blocked", ".cloexec", ".byte", ".shared_with",
    ".same_file", ".__class__", ".upper", "(", ")", "[", "]", "{", "}", ",", ":", " ", "\n",
    "+", "-", "*", "//", "%", "**", "/", "==", "!=", "<", "<=", ">", ">=", " in ", " not ",
    " and ", " or ", " is ", "1", "0", "-1", "7p", "4KiB", "2GiB", "0x5a", "1.5", "1e308",
    "'a'", '"SIGINT"', "''", "True", "False", "None", "len", "sorted", "set", "min", "max",
    "abs", "count", "approx", "rel=", "=", "#", "lambda", " for ", " if ", " else ", "\\",
    "1000000", "18446744073709551616", "'", '"', "f", "b", "@", "~", "...", ":=", "*",
]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_token_soup_checks_and_evaluates_only_to_scenario_errors(tokens: list[str]) -> None:
    text = "".join(tokens)
    try:
        expr = check(text, W, NAMES)
    except ScenarioError as err:
        assert err.where is not None and err.where.file == "cow.toml"
        return
    try:
        evaluate(expr, make_world())
    except ScenarioError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.one_of(st.integers(-2**70, 2**70), st.text(max_size=5), st.booleans(), st.none(),
              st.sampled_from(["parent.fds", "stdout", "child.heap.present", "r",
                               "parent.sig_blocked", "processes", "7p", "1.5"])),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%", "==", "<", "in", "and",
                                          "or", "not in", ">="]), inner),
        st.lists(inner, max_size=3),
        st.tuples(st.sampled_from(["len", "sorted", "set", "min", "max", "abs", "-", "not "]),
                  inner),
    ),
    max_leaves=12,
))
def test_random_well_formed_expressions_only_raise_scenario_errors(tree: Any) -> None:
    def render(node: Any) -> str:
        if isinstance(node, tuple) and len(node) == 3:
            return f"({render(node[0])} {node[1]} {render(node[2])})"
        if isinstance(node, tuple):
            op, arg = node
            return f"{op}({render(arg)})"
        if isinstance(node, list):
            return "[" + ", ".join(render(n) for n in node) + "]"
        if isinstance(node, str) and node in {"parent.fds", "stdout", "child.heap.present", "r",
                                              "parent.sig_blocked", "processes", "7p", "1.5"}:
            return node
        return repr(node)

    try:
        expr = check(render(tree), W, NAMES)
    except ScenarioError:
        return
    try:
        evaluate(expr, make_world())
    except ScenarioError:
        pass
