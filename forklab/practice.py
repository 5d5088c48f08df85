"""forklab practice: questions without end, made from random scenarios.

Each question is a short script drawn by the fuzzer's generator on one topic
of the catalog, and one thing to predict about the state it leaves. The
answer is what the model computes; where the kernel backend runs, the same
script runs on the kernel too, and a question whose answer the kernel does not
confirm is left out. The same seed and topic give the same questions, so an
instructor can hand out a seed and grade against `--answers`
(docs/commands.md, "forklab practice").
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from forklab.backend import Backend
from forklab.runner import run_scenario
from forklab.scenario.parse import parse_text
from forklab.testing.home import private_hypothesis_home

TOPICS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # topic: (the verbs its scripts use, what its questions ask about)
    "fork": (frozenset({"mmap", "write", "fork", "exit", "_exit", "wait"}),
             frozenset({"state", "exit_code", "children", "parent", "byte", "exclusive"})),
    "memory": (frozenset({"mmap", "write", "read", "munmap", "mprotect", "madvise", "fork",
                          "exit", "wait"}),
               frozenset({"present", "exclusive", "zero", "shared_with", "byte", "mapped"})),
    "files": (frozenset({"pipe", "dup", "dup2", "close", "cloexec", "writefd", "readfd",
                         "fork", "exec", "exit", "wait", "open"}),
              frozenset({"fds", "cloexec", "last_read", "same_file", "state"})),
    "stdio": (frozenset({"printf", "fflush", "setvbuf", "fork", "exit", "_exit", "wait"}),
              frozenset({"stdout", "state"})),
    "signals": (frozenset({"signal", "block", "unblock", "kill", "raise", "fork", "exit",
                           "wait", "exec"}),
                frozenset({"sig_pending", "sig_blocked", "sig_ignored", "sig_caught", "state",
                           "term_signal", "exit_code"})),
    "threads": (frozenset({"thread", "lock", "unlock", "atfork", "fork", "exit", "wait",
                           "malloc", "free"}),
                frozenset({"threads", "state", "children"})),
}

MIN_LINES = 3  # a shorter script asks nothing worth predicting
TRIES_PER_QUESTION = 40  # draws per question wanted, before giving up on a topic


@dataclass(frozen=True)
class Question:
    """One thing to predict after a script, with the model's answer."""

    number: int
    topic: str
    script: tuple[str, ...]
    expression: str
    answer: str  # the model's value, as a literal of the expression language
    kernel: str  # "confirmed", or "not run" (no kernel backend here)

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "topic": self.topic, "script": list(self.script),
                "question": self.expression, "answer": self.answer, "kernel": self.kernel}


@dataclass(frozen=True)
class Candidate:
    topic: str
    script: tuple[str, ...]
    expectation: str  # "EXPR == VALUE", VALUE the model's


def candidates(seed: int, topic: str, wanted: int) -> Iterator[Candidate]:
    """Scripts and expectations drawn for ``topic``, the same for the same seed."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as seeded

    from forklab.testing.strategies import generated

    verbs, observables = TOPICS[topic]
    found: list[Candidate] = []

    @seeded(seed)
    @settings(max_examples=wanted * TRIES_PER_QUESTION, database=None, deadline=None,
              phases=[Phase.generate], verbosity=Verbosity.quiet,
              suppress_health_check=list(HealthCheck))
    @given(generated(verbs=verbs, observables=observables, max_processes=3, max_steps=1,
                     max_ops=8, max_expect=3))
    def draw(made: Any) -> None:
        step = made.steps[0]
        if len(found) >= wanted or len(step.lines) < MIN_LINES or not step.expect:
            return
        found.append(Candidate(topic, tuple(step.lines), step.expect[-1]))

    with private_hypothesis_home():
        draw()
    yield from found


def holds(candidate: Candidate, backend: Backend) -> dict[str, Any] | None:
    """What the expectation read, if it holds on ``backend`` after the script; else None."""
    from forklab.testing.strategies import scenario_toml

    text = scenario_toml([(list(candidate.script), [candidate.expectation], True)],
                         "practice", "parent")
    result = run_scenario(backend, parse_text(text, "<practice>"))
    judged = [j for step in result.steps for j in step.expectations]
    if result.error is not None or not judged or judged[0].ok is not True:
        return None
    return judged[0].touched


VACUOUS = {"parent.parent", "parent.state"}
"""Questions about the first process that every script answers alike: it has no
parent in the run, and it runs the script, so it is running (unless it exited,
which the answer then says: those stay)."""


def worth_asking(touched: dict[str, Any], expression: str, answer: str) -> bool:
    """A question about something that exists, whose answer the script decides: not a
    mapping the process lacks (unless that is the question), not a process compared
    with itself, not what the first process always shows."""
    if any(key.endswith(".mapped") and value is False and key != expression
           for key, value in touched.items()):
        return False
    if expression in VACUOUS and answer in ("None", '"running"'):
        return False
    found = re.search(r"^(\w+)\.\w+\.shared_with\((\w+)\)$", expression)
    return not (found and found[1] == found[2])


def questions(seed: int, topic: str, count: int, model: Backend, kernel: Backend | None,
              on_progress: Callable[[str], None] | None = None) -> list[Question]:
    """``count`` questions on ``topic`` (fewer if the generator runs dry), each
    answered by ``model`` and confirmed on ``kernel`` where there is one."""
    made: list[Question] = []
    asked: set[tuple[tuple[str, ...], str]] = set()
    for candidate in candidates(seed, topic, count * 4):
        if len(made) == count:
            break
        expression, _, answer = candidate.expectation.partition(" == ")
        touched = holds(candidate, model)
        if (candidate.script, expression) in asked or touched is None \
                or not worth_asking(touched, expression, answer):
            continue
        if kernel is not None:
            if on_progress is not None:
                on_progress(f"checking question {len(made) + 1} on the kernel...")
            if holds(candidate, kernel) is None:
                continue
        asked.add((candidate.script, expression))
        made.append(Question(len(made) + 1, topic, candidate.script, expression, answer,
                             "confirmed" if kernel is not None else "not run"))
    return made


def render(made: list[Question], *, seed: int, topic: str, answers: bool) -> str:
    """The questions as text, with their answers only if asked for."""
    where = ("checked on this machine's kernel" if made and made[0].kernel == "confirmed"
             else "computed by the model (the kernel backend is not available here)")
    out = [f"forklab practice — topic {topic}, seed {seed}: {len(made)} questions, "
           f"answers {where}", ""]
    for q in made:
        out.append(f"Question {q.number}. After")
        out.extend(f"    {line}" for line in q.script)
        out.append(f"  what is {q.expression}?")
        if answers:
            out.append(f"  Answer: {q.answer}")
        out.append("")
    if not answers:
        out.append(f"Answers: forklab practice --topic {topic} --seed {seed} --answers")
    return "\n".join(out) + "\n"
