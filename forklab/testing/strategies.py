"""Hypothesis strategies for forklab scenarios, written as text and parsed.

A generated scenario is exactly what a user writes: TOML text, turned into a
:class:`~forklab.scenario.model.Scenario` by ``parse_text``. Its script lines
come from :class:`~forklab.testing.script_state.ScriptState`, which offers
only lines that run the same way on every kernel run (no timing, no races,
reads only when data or end-of-file is certain, locks that never wait unless
``blocking=True`` asks for states that wait forever). Its expectations are
drawn from the observation set, with the value the *model* computes, so each
one checks the kernel against the model's prediction and shows both in a
failure.

    from hypothesis import given
    from forklab.testing import scenarios, assert_agree

    @given(scenarios(verbs={"mmap", "write", "fork"}, max_processes=3))
    def test_cow(scenario):
        assert_agree(scenario)
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from hypothesis import strategies as st

from forklab.scenario.expr import check, evaluate
from forklab.scenario.model import Scenario, ScenarioError, Step, Where
from forklab.scenario.ops import Op
from forklab.scenario.parse import parse_text
from forklab.testing.script_state import ALL_VERBS, ScriptState, pick

__all__ = ["scenarios", "scenario_texts", "ops", "as_scenario", "next_lines",
           "ALL_VERBS", "ALL_OBSERVABLES", "ScriptState"]

PROCESS_OBSERVABLES = ("state", "exit_code", "term_signal", "errno", "parent", "children",
                       "threads", "faults", "minflt", "vm_pte", "fds", "last_read",
                       "sig_ignored", "sig_caught", "sig_blocked", "sig_pending", "commit")
PAIR_OBSERVABLES = ("libc_text_same", "libc_relro_same")
FD_OBSERVABLES = ("cloexec", "same_file")
MAPPING_OBSERVABLES = ("mapped", "present", "exclusive", "zero", "shared_with", "byte",
                       "committed")
RUN_OBSERVABLES = ("stdout", "processes")
ALL_OBSERVABLES = frozenset(PROCESS_OBSERVABLES + PAIR_OBSERVABLES + FD_OBSERVABLES
                            + MAPPING_OBSERVABLES + RUN_OBSERVABLES)
"""Observables an expectation may read (``spawn_us`` is timing, so never)."""

GENERATED = "<generated>"


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


def _expression(draw: Any, state: ScriptState, observables: frozenset[str]) -> str | None:
    """One expression over what is bound now, reading one of ``observables``."""
    kinds = [k for k in sorted(observables)
             if not (k in MAPPING_OBSERVABLES and not state.mappings)
             and not (k in FD_OBSERVABLES and not state.fd_names)]
    if not kinds:
        return None
    kind = pick(draw, kinds)
    procs = sorted(state.procs)
    if kind in RUN_OBSERVABLES:
        return kind
    p = pick(draw, procs)
    if kind in PROCESS_OBSERVABLES:
        return f"{p}.{kind}"
    if kind in PAIR_OBSERVABLES:
        return f"{p}.{kind}({pick(draw, procs)})"
    if kind == "cloexec":
        return f"{p}.cloexec({pick(draw, sorted(state.fd_names))})"
    if kind == "same_file":
        fd = pick(draw, sorted(state.fd_names))
        q = pick(draw, procs)
        fd2 = pick(draw, sorted(state.fd_names))
        return f"{p}.same_file({fd}, {q}, {fd2})"
    m = state.mappings[pick(draw, sorted(state.mappings))]
    if kind == "shared_with":
        return f"{p}.{m.name}.shared_with({pick(draw, procs)})"
    if kind == "byte":
        return f"{p}.{m.name}.byte({draw(st.integers(0, m.pages - 1))}p)"
    return f"{p}.{m.name}.{kind}"


def _toml(steps: list[tuple[list[str], list[str]]], sid: str, first: str) -> str:
    out = [f'id = "{sid}"', 'title = "A generated scenario"',
           'summary = "Made by forklab.testing.scenarios()"']
    if first != "parent":
        out.append(f'first = "{first}"')
    for lines, expect in steps:
        out.append("")
        out.append("[[step]]")
        if lines:
            out.append("do = '''\n" + "\n".join(lines) + "\n'''")
        if expect:
            out.append("expect = [" + ", ".join(json.dumps(e) for e in expect) + "]")
    return "\n".join(out) + "\n"


def model_values(text: str, candidates: list[list[str]]) -> list[list[str]]:
    """Turn each step's candidate expressions into ``EXPR == VALUE`` by the model.

    The scenario (without expectations) runs on the simulator; each candidate is
    evaluated on the World after its step. A step the model never reached (it
    refused an op) keeps no expectation.
    """
    from forklab.runner import StepResult, run_scenario
    from forklab.sim import SimBackend

    scenario = parse_text(text, GENERATED)
    out: list[list[str]] = [[] for _ in candidates]
    here = Where(GENERATED, 1)

    def on_step(done: StepResult) -> None:
        i = done.step.index - 1
        for text_ in candidates[i]:
            try:
                value, _ = evaluate(check(text_, here, scenario.names), done.world)
            except ScenarioError:
                continue
            lit = literal(value)
            if lit is not None and f"{text_} == {lit}" not in out[i]:
                out[i].append(f"{text_} == {lit}")

    run_scenario(SimBackend(), scenario, on_step)
    return out


@st.composite
def scenario_texts(draw: Any, *, verbs: Iterable[str] | None = None, max_processes: int = 4,
                   max_steps: int = 3, max_ops: int = 8,
                   observables: Iterable[str] | None = None, max_expect: int = 2,
                   blocking: bool = False, first: str = "parent",
                   sid: str = "generated") -> str:
    """The TOML text of a valid, deterministic scenario (see :func:`scenarios`)."""
    chosen_verbs = _verbs(verbs)
    chosen_obs = _observables(observables)
    state = ScriptState(first=first, verbs=chosen_verbs, max_processes=max_processes,
                        blocking=blocking)
    steps: list[tuple[list[str], list[str]]] = []
    candidates: list[list[str]] = []
    for _ in range(draw(st.integers(1, max(1, max_steps)))):
        lines: list[str] = []
        for _ in range(draw(st.integers(1, max(1, max_ops)))):
            more = state.next_lines(draw)
            if not more:
                break
            lines.extend(more)
        wanted = []
        for _ in range(draw(st.integers(0, max_expect)) if chosen_obs else 0):
            expr = _expression(draw, state, chosen_obs)
            if expr is not None:
                wanted.append(expr)
        steps.append((lines, []))
        candidates.append(wanted)
        if not state.actors():
            break
    text = _toml(steps, sid, first)
    if any(candidates):
        expect = model_values(text, candidates)
        text = _toml([(lines, e) for (lines, _), e in zip(steps, expect)], sid, first)
    return text


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
        state = ScriptState(first=first, verbs=chosen, max_processes=max_processes,
                            blocking=blocking)
        lines: list[str] = []
        target = draw(st.integers(min_ops, max(min_ops, max_ops)))
        while len(lines) < target:
            more = state.next_lines(draw)
            if not more:
                break
            lines.extend(more)
        text = _toml([(lines, [])], "generated", first)
        return parse_text(text, GENERATED).ops

    return build()


def next_lines(state: ScriptState) -> st.SearchStrategy[list[str]]:
    """The next safe line(s) for a script in ``state`` (applied to it when drawn).

    Draw it once per example: drawing changes ``state`` (the state machine's use).
    """
    @st.composite
    def one(draw: Any) -> list[str]:
        return state.next_lines(draw)

    return one()
