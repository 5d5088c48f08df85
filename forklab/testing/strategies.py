"""Hypothesis strategies for forklab scenarios, written as text and parsed.

A generated scenario is exactly what a user writes: TOML text, turned into a
:class:`~forklab.scenario.model.Scenario` by ``parse_text``. Its script lines
come from :class:`~forklab.testing.generator.Generator`, which drives a
simulator run in step and offers only moves that run the same way on every
kernel run. Its expectations are drawn from the observation set, with the
value the *model* computed for that step in the same run, so each one checks
the kernel against the model's prediction and shows both in a failure.

    from hypothesis import given
    from forklab.testing import scenarios, assert_agree

    @given(scenarios(verbs={"mmap", "write", "fork"}, max_processes=3))
    def test_cow(scenario):
        assert_agree(scenario)
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import reject
from hypothesis import strategies as st

from forklab.observe import World
from forklab.scenario.expr import check, evaluate
from forklab.scenario.model import NameKind, Scenario, ScenarioError, Step, Where
from forklab.scenario.ops import Op
from forklab.scenario.parse import parse_text
from forklab.testing.choices import Choices, HypothesisChoices, MoveRefused
from forklab.testing.generator import GENERATED, REAL_VERBS, SIGNALS, Generator, pick

__all__ = [
    "ALL_OBSERVABLES",
    "ALL_VERBS",
    "Generated",
    "as_scenario",
    "generated",
    "next_lines",
    "ops",
    "scenario_texts",
    "scenarios",
]

T = TypeVar("T")

ALL_VERBS = REAL_VERBS
"""Every verb the generator writes for both backends (``repeat`` included)."""

PROCESS_OBSERVABLES = ("state", "exit_code", "term_signal", "errno", "parent", "children",
                       "threads", "faults", "minflt", "vm_pte", "fds", "last_read",
                       "last_waited", "last_wait_status", "lock_result",
                       "sig_ignored", "sig_caught", "sig_blocked", "sig_pending", "commit")
PAIR_OBSERVABLES = ("libc_text_same", "libc_relro_same")
SIGNAL_OBSERVABLES = ("sig_received",)
FD_OBSERVABLES = ("cloexec", "same_file")
SEMAPHORE_OBSERVABLES = ("semval",)
MAPPING_OBSERVABLES = ("mapped", "present", "exclusive", "zero", "shared_with", "byte",
                       "committed")
RUN_OBSERVABLES = ("stdout", "processes")
ALL_OBSERVABLES = frozenset(PROCESS_OBSERVABLES + PAIR_OBSERVABLES + SIGNAL_OBSERVABLES
                            + FD_OBSERVABLES + SEMAPHORE_OBSERVABLES + MAPPING_OBSERVABLES
                            + RUN_OBSERVABLES)
"""Observables an expectation may read (``spawn_us`` is timing, so never)."""


def _verbs(verbs: Iterable[str] | None) -> frozenset[str]:
    if verbs is None:
        return ALL_VERBS
    chosen = frozenset(verbs)
    unknown = chosen - ALL_VERBS
    if unknown:
        raise ValueError(f"verbs the generator does not make: {sorted(unknown)}; "
                         f"choose from {sorted(ALL_VERBS)}")
    return chosen


def _observables(observables: Iterable[str] | None) -> frozenset[str]:
    if observables is None:
        return ALL_OBSERVABLES
    chosen = frozenset(observables)
    unknown = chosen - ALL_OBSERVABLES
    if unknown:
        raise ValueError(f"observables the generator cannot expect: {sorted(unknown)}; "
                         f"choose from {sorted(ALL_OBSERVABLES)}")
    return chosen


def literal(value: Any) -> str | None:
    """A value as an expression literal (None if it has no literal form)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        items = [literal(v) for v in value]
        return None if None in items else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    if isinstance(value, (set, frozenset)):
        if not value:
            return "set()"
        items = [literal(v) for v in sorted(value)]
        return None if None in items else "{" + ", ".join(items) + "}"  # type: ignore[arg-type]
    return None


def _expression(draw: Choices, gen: Generator, observables: frozenset[str]) -> str | None:
    """One expression over what is bound now, reading one of ``observables``."""
    procs = sorted(n for n, k in gen.names.items() if k == "process")
    fds = sorted(n for n, k in gen.names.items() if k == "fd")
    sets = sorted(n for n, k in gen.names.items() if k == "semaphore")
    mappings = sorted(gen.mappings)
    kinds = [k for k in sorted(observables)
             if not (k in MAPPING_OBSERVABLES and not mappings)
             and not (k in FD_OBSERVABLES and not fds)
             and not (k in SEMAPHORE_OBSERVABLES and not sets)]
    if not kinds:
        return None
    kind = pick(draw, kinds)
    if kind in RUN_OBSERVABLES:
        return kind
    p = pick(draw, procs)
    if kind in PROCESS_OBSERVABLES:
        return f"{p}.{kind}"
    if kind in PAIR_OBSERVABLES:
        return f"{p}.{kind}({pick(draw, procs)})"
    if kind == "sig_received":
        return f"{p}.sig_received({pick(draw, SIGNALS)!r})"
    if kind == "cloexec":
        return f"{p}.cloexec({pick(draw, fds)})"
    if kind == "semval":
        return f"{p}.semval({pick(draw, sets)})"
    if kind == "same_file":
        return f"{p}.same_file({pick(draw, fds)}, {pick(draw, procs)}, {pick(draw, fds)})"
    m = pick(draw, mappings)
    if kind == "shared_with":
        return f"{p}.{m}.shared_with({pick(draw, procs)})"
    if kind == "byte":
        return f"{p}.{m}.byte({draw.integer(0, gen.mappings[m][0] - 1)}p)"
    return f"{p}.{m}.{kind}"


@dataclass
class GeneratedStep:
    lines: list[str]
    expect: list[str]
    world: World  # what the model showed after the step, in the generator's own run
    real: bool = True


@dataclass
class Generated:
    """A generated scenario: its text, each step's model World, and what it used."""

    steps: list[GeneratedStep]
    first: str = "parent"
    coverage: Counter[str] = field(default_factory=Counter)

    @property
    def text(self) -> str:
        return scenario_toml([(s.lines, s.expect, s.real) for s in self.steps], "generated",
                             self.first)


def scenario_toml(steps: list[tuple[list[str], list[str], bool]], sid: str, first: str) -> str:
    """A scenario's TOML from (script lines, expectations, real) steps."""
    out = [f'id = "{sid}"', 'title = "A generated scenario"',
           'summary = "Made by forklab.testing.scenarios()"']
    if first != "parent":
        out.append(f'first = "{first}"')
    for lines, expect, real in steps:
        out.append("")
        out.append("[[step]]")
        if not real:
            out.append("real = false")
        if lines:
            out.append("do = '''\n" + "\n".join(lines) + "\n'''")
        if expect:
            out.append("expect = [" + ", ".join(json.dumps(e) for e in expect) + "]")
    return "\n".join(out) + "\n"


def _expectations(candidates: list[str], world: World,
                  names: dict[str, NameKind]) -> list[str]:
    """Each candidate as ``EXPR == VALUE``, VALUE what the model shows in ``world``."""
    out: list[str] = []
    here = Where(GENERATED, 1)
    for text in candidates:
        try:
            value, _ = evaluate(check(text, here, names), world)
        except ScenarioError:
            continue
        lit = literal(value)
        if lit is not None and f"{text} == {lit}" not in out:
            out.append(f"{text} == {lit}")
    return out


def generate(draw: Choices, *, verbs: Iterable[str] | None = None, max_processes: int = 4,
             max_steps: int = 3, max_ops: int = 8, observables: Iterable[str] | None = None,
             max_expect: int = 2, blocking: bool = False, first: str = "parent",
             sim_only: bool = False) -> Generated:
    """Draw one scenario (see :func:`scenarios`); ``sim_only`` adds, now and then, a
    closing ``real = false`` step of the designs Linux does not ship."""
    chosen_obs = _observables(observables)
    gen = Generator(first=first, verbs=_verbs(verbs), max_processes=max_processes,
                    blocking=blocking)
    result = Generated([], first, gen.coverage)
    for _ in range(draw.integer(1, max(1, max_steps))):
        lines: list[str] = []
        for _ in range(draw.integer(1, max(1, max_ops))):
            more = gen.next_lines(draw)
            if not more:
                break
            lines.extend(more)
        wanted = [e for e in (_expression(draw, gen, chosen_obs)
                              for _ in range(draw.integer(0, max_expect)
                                             if chosen_obs else 0)) if e is not None]
        world = gen.run.observe()
        result.steps.append(GeneratedStep(lines, _expectations(wanted, world, gen.names),
                                          world))
        if not gen.actors():
            break
    if sim_only and draw.integer(0, 3) == 0:
        lines = gen.sim_only_lines(draw)
        if lines:
            result.steps.append(GeneratedStep(lines, [], gen.run.observe(), real=False))
    # a run of the whole scenario knows every mapping name from its start
    names = frozenset(gen.mappings)
    for step in result.steps:
        step.world = dataclasses.replace(step.world, mapping_names=names)
    return result


@st.composite
def generated(draw: Any, **options: Any) -> Generated:
    """Generated scenarios with the model's run of them."""
    return _hypothesis(draw, lambda choices: generate(choices, **options))


@st.composite
def scenario_texts(draw: Any, *, verbs: Iterable[str] | None = None, max_processes: int = 4,
                   max_steps: int = 3, max_ops: int = 8,
                   observables: Iterable[str] | None = None, max_expect: int = 2,
                   blocking: bool = False, first: str = "parent") -> str:
    """The TOML text of a valid, deterministic scenario (see :func:`scenarios`)."""
    return _hypothesis(draw, lambda choices: generate(
        choices, verbs=verbs, max_processes=max_processes, max_steps=max_steps,
        max_ops=max_ops, observables=observables, max_expect=max_expect,
        blocking=blocking, first=first).text)


def scenarios(*, verbs: Iterable[str] | None = None, max_processes: int = 4,
              max_steps: int = 3, max_ops: int = 8, observables: Iterable[str] | None = None,
              max_expect: int = 2, blocking: bool = False,
              first: str = "parent") -> st.SearchStrategy[Scenario]:
    """Valid scenarios that run the same way on every run of the kernel.

    - ``verbs``: which verbs the script may use (default: all of
      :data:`ALL_VERBS`: memory, fork/vfork/exec/exit/wait, pipes and fds, stdio,
      signals, locks and threads); a verb whose preconditions are never met
      (``readfd`` without ``pipe``) simply does not appear;
    - ``max_processes``: processes at most, the first one included;
    - ``max_steps``, ``max_ops``: steps, and ops per step (a vfork counts its
      child's ``_exit``/``exec`` too);
    - ``observables``: what expectations may read (default
      :data:`ALL_OBSERVABLES`; an empty set: no expectations), each with the
      value the model computes;
    - ``blocking``: also make states that wait forever (a lock whose owner is gone
      or is the waiter, a read of a pipe only the reader could write, a wait for
      such a process).
    """
    if max_processes < 1:
        raise ValueError("max_processes must be at least 1")
    _verbs(verbs), _observables(observables)  # refuse unknown names now, not at the first draw
    return scenario_texts(verbs=verbs, max_processes=max_processes, max_steps=max_steps,
                          max_ops=max_ops, observables=observables, max_expect=max_expect,
                          blocking=blocking, first=first).map(
        lambda text: parse_text(text, GENERATED))


def as_scenario(ops_: tuple[Op, ...], first: str = "parent") -> Scenario:
    """A one-step scenario around ops made by :func:`ops` (to start a backend's run)."""
    where = Where(GENERATED, 1, 1, 1)
    names: dict[str, Any] = {first: "process"}
    return Scenario("generated", "ops", "ops", GENERATED, (Step(1, where, ops=tuple(ops_)),),
                    first=first, names=names)


def ops(*, verbs: Iterable[str] | None = None, max_processes: int = 4, min_ops: int = 1,
        max_ops: int = 20, blocking: bool = False,
        first: str = "parent") -> st.SearchStrategy[tuple[Op, ...]]:
    """A valid op sequence from the start world (parsed ops; ``op.text`` is the line).

    Run them with ``backend.start(as_scenario(ops))`` (mapping addresses come from
    the scenario, so start the run with the same ops it will apply).
    """
    chosen = _verbs(verbs)

    @st.composite
    def build(draw: Any) -> tuple[Op, ...]:
        return _hypothesis(draw, make)

    def make(draw: Choices) -> tuple[Op, ...]:
        gen = Generator(first=first, verbs=chosen, max_processes=max_processes,
                        blocking=blocking)
        target = draw.integer(min_ops, max(min_ops, max_ops))
        while len(gen.lines) < target:
            if not gen.next_lines(draw):
                break
        text = scenario_toml([(gen.lines, [], True)], "generated", first)
        return parse_text(text, GENERATED).ops

    return build()


def next_lines(gen: Generator) -> st.SearchStrategy[list[str]]:
    """The next deterministic line(s) for ``gen`` (applied to its simulator run when drawn).

    Draw it once per example: drawing changes ``gen`` (the state machine's use).
    """
    @st.composite
    def one(draw: Any) -> list[str]:
        return _hypothesis(draw, gen.next_lines)

    return one()


def _hypothesis(draw: Any, make: Callable[[Choices], T]) -> T:
    """``make`` with hypothesis's draws; a move the model refuses rejects the example."""
    try:
        return make(HypothesisChoices(draw))
    except MoveRefused:
        reject()


def _scenario_strategy(cls: type) -> st.SearchStrategy[Scenario]:
    return scenarios()


st.register_type_strategy(Scenario, _scenario_strategy)
