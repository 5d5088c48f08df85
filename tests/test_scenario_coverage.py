"""tests/scenarios/ exercises the whole language against the kernel.

Every verb that runs on Linux (all of docs/scenario-language.md's verbs but the simulator-only
what-if APIs), every option of the verbs that take options, and every
observable of §4 must appear in some scenario of tests/scenarios/ that runs on
the real backend — so that ``forklab verify tests/scenarios`` (which
tests/real/test_differential.py runs) checks each of them against the kernel.
Only steps that run on the kernel count (a ``real = false`` step does not).
"""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest
from scenario_text import StepText, scenario_text

from forklab import observe
from forklab.scenario.model import Expr, Scenario
from forklab.scenario.ops import Op
from forklab.scenario.parse import parse_file
from forklab.scenario.verbs import VERBS

HERE = Path(__file__).resolve().parent
FILES = sorted((HERE / "scenarios").glob("*.toml"))

PROCESS_OBSERVABLES = tuple(o.name for o in observe.PROCESS_OBSERVABLES)
MAPPING_OBSERVABLES = tuple(o.name for o in observe.MAPPING_OBSERVABLES)
THREAD_OBSERVABLES = tuple(o.name for o in observe.THREAD_OBSERVABLES)
RUN_OBSERVABLES = observe.RUN_OBSERVABLES

# verb -> option -> a predicate on the op that is true when it uses the option.
OPTIONS: dict[str, dict[str, object]] = {
    "mmap": {
        "anon": lambda a: a.backing == "anon",
        "file=PATH": lambda a: a.backing == "file",
        "private": lambda a: a.share == "private",
        "shared": lambda a: a.share == "shared",
        "rw": lambda a: a.prot == "rw",
        "ro": lambda a: a.prot == "ro",
        "rx": lambda a: a.prot == "rx",
        "thp": lambda a: a.thp,
        "noreserve": lambda a: a.noreserve,
        "file=PATH shared": lambda a: a.backing == "file" and a.share == "shared",
        "anon shared": lambda a: a.backing == "anon" and a.share == "shared",
    },
    "open": {
        "ro": lambda a: a.mode == "ro",
        "wo": lambda a: a.mode == "wo",
        "rw": lambda a: a.mode == "rw",
        "cloexec": lambda a: a.cloexec,
        "append": lambda a: a.append,
        "create": lambda a: a.create,
    },
    "madvise": {adv: (lambda a, adv=adv: a.advice == adv) for adv in (
        "dontfork", "dofork", "wipeonfork", "keeponfork", "dontneed", "hugepage",
        "nohugepage")},
    "mprotect": {p: (lambda a, p=p: a.prot == p) for p in ("ro", "rw", "none")},
    "clone": {
        **{f: (lambda a, f=f: f in a.flags) for f in (
            "vm", "vfork", "files", "sighand", "pidfd", "clear_sighand")},
        "none": lambda a: not a.flags,
    },
    "spawn": {k: (lambda a, k=k: any(act.kind == k for act in a.actions)) for k in (
        "close", "dup2", "open", "closefrom", "chdir", "setsid", "setpgroup", "sigmask",
        "sigdefault")},
    "setvbuf": {m: (lambda a, m=m: a.mode == m) for m in ("none", "line", "full")},
    "signal": {d: (lambda a, d=d: a.action == d) for d in ("ignore", "default", "catch")},
    # the smaller option sets, and every kind of program exec and spawn can run
    "pipe": {"cloexec": lambda a: a.cloexec, "plain": lambda a: not a.cloexec},
    "dup": {"cloexec": lambda a: a.cloexec, "plain": lambda a: not a.cloexec},
    "cloexec": {"on": lambda a: a.on, "off": lambda a: not a.on},
    "close_range": {"cloexec": lambda a: a.cloexec, "close": lambda a: not a.cloexec,
                    "max": lambda a: a.hi is None, "HI": lambda a: a.hi is not None},
    "exec": {
        "probe": lambda a: a.program.kind == "probe",
        "missing": lambda a: a.program.kind == "missing",
        **{p: (lambda a, p=p: a.program.path == p) for p in (
            "/bin/true", "/bin/false", "/bin/sleep", "/bin/cat")},
    },
    "write": {"= BYTE": lambda a: a.value != 1},
}


def _scenarios() -> list[Scenario]:
    return [parse_file(path) for path in FILES]


def _real_ops_and_exprs(scenarios: list[Scenario]) -> tuple[list[Op], list[Expr]]:
    ops: list[Op] = []
    exprs: list[Expr] = []
    for sc in scenarios:
        if not sc.real:
            continue
        for step in sc.steps:
            if not step.real:
                continue
            ops.extend(step.ops)
            exprs.extend(step.expect)
            exprs.extend(q.answer for q in step.ask)
    return ops, exprs


def _observables_read(exprs: list[Expr]) -> dict[str, set[str]]:
    """Walk every expression tree for the roles expr.check() gave its nodes."""
    seen: dict[str, set[str]] = defaultdict(set)
    for expr in exprs:
        for node in ast.walk(expr.tree):
            role = getattr(node, "_forklab_role", None)
            if not role:
                continue
            if role[0] in ("pattr", "pcall"):
                seen["process"].add(role[2])
            elif role[0] in ("mattr", "mcall"):
                seen["mapping"].add(role[3])
            elif role[0] in ("tattr", "tcall"):
                seen["thread"].add(role[2])
            elif role[0] in ("stdout", "processes"):
                seen["run"].add(role[0])
    return seen


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Op], list[Expr]]:
    assert FILES, "tests/scenarios/ holds no scenario"
    return _real_ops_and_exprs(_scenarios())


def test_the_walk_finds_observables() -> None:
    """The tree walk itself works (so an empty result means a real gap)."""
    from forklab.scenario.parse import parse_text
    sc = parse_text(scenario_text(StepText("parent: mmap m 1p", (
        "parent.m.byte(0) == 0 and parent.cloexec(1) == False and len(stdout) >= 0 "
        "and parent.state == 'running'",))))
    seen = _observables_read(list(sc.steps[0].expect))
    assert seen == {"process": {"cloexec", "state"}, "mapping": {"byte"}, "run": {"stdout"}}


def test_every_verb_runs_on_the_kernel(corpus: tuple[list[Op], list[Expr]]) -> None:
    ops, _ = corpus
    used = {op.verb for op in ops}
    missing = sorted(v for v, spec in VERBS.items() if not spec.sim_only and v not in used)
    assert not missing, f"verbs no real scenario step uses: {missing}"


@pytest.mark.parametrize("verb", sorted(OPTIONS))
def test_every_option_runs_on_the_kernel(verb: str,
                                         corpus: tuple[list[Op], list[Expr]]) -> None:
    ops, _ = corpus
    args = [op for op in ops if op.verb == verb]
    missing = [name for name, used in OPTIONS[verb].items()
               if not any(used(a) for a in args)]  # type: ignore[operator]
    assert not missing, f"{verb}: options no real scenario step uses: {missing}"


def test_every_observable_is_read(corpus: tuple[list[Op], list[Expr]]) -> None:
    _, exprs = corpus
    seen = _observables_read(exprs)
    missing = ([f"P.{o}" for o in PROCESS_OBSERVABLES if o not in seen["process"]]
               + [f"P.MAP.{o}" for o in MAPPING_OBSERVABLES if o not in seen["mapping"]]
               + [f"T.{o}" for o in THREAD_OBSERVABLES if o not in seen["thread"]]
               + [o for o in RUN_OBSERVABLES if o not in seen["run"]])
    assert not missing, f"observables no expect/ask of a real scenario step reads: {missing}"


def test_every_scenario_says_what_settled_it() -> None:
    for path in FILES:
        sc = parse_file(path)
        assert sc.summary.strip() and sc.title.strip(), path


def test_the_docs_describe_every_observable_of_the_schema() -> None:
    """docs/scenario-language.md's tables of observables name exactly the schema's."""
    text = (HERE.parent / "docs" / "scenario-language.md").read_text()
    tables = text[text.index("### Observables of a process"):text.index("### The whole run")]
    rows = [line.split("|")[1] for line in tables.splitlines() if line.startswith("| `")]
    documented = {(m[0], m[1]) for row in rows
                  for m in re.findall(r"`(P\.NAME\.|P\.|T\.)([a-z_]+)", row)}
    schema = ({("P.", o) for o in PROCESS_OBSERVABLES}
              | {("P.NAME.", o) for o in MAPPING_OBSERVABLES}
              | {("T.", o) for o in THREAD_OBSERVABLES})
    assert documented == schema
