"""Which parts of a step give a question's answer away, by a rule read off the lesson.

A question tests only while its answer is not on screen. An expectation gives
it away when its text is the answer's expression, or when it reads one of the
observables the answer reads (the same attribute of the same process or
mapping: ``child.heap.exclusive``, ``parent.data.byte(0)``, ``stdout``). The
text of ``forklab run`` and the lesson player hold
back what this module names until the answer is shown.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence

from forklab.runner import Judged
from forklab.scenario.model import Expr, Question, Step

WHOLE_RUN = ("stdout", "processes")
"""Observables that are bare names rather than attributes of a process."""

_SYMMETRIC = {"shared_with", "same_file"}


def _dotted(node: ast.AST) -> bool:
    """``a``, ``a.b``, ``a.b.c``: names joined by dots, nothing else."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _swapped(call: ast.Call) -> str | None:
    """The same question asked from the other side: ``q.m.shared_with(p)`` for
    ``p.m.shared_with(q)``, ``q.same_file(b, p, a)`` for ``p.same_file(a, q, b)``."""
    func = call.func
    assert isinstance(func, ast.Attribute)
    base = func.value
    if func.attr == "shared_with" and len(call.args) == 1 and isinstance(base, ast.Attribute) \
            and isinstance(base.value, ast.Name) and isinstance(call.args[0], ast.Name):
        other = call.args[0].id
        return f"{other}.{base.attr}.shared_with({base.value.id})"
    if func.attr == "same_file" and len(call.args) == 3 and isinstance(base, ast.Name) \
            and isinstance(call.args[1], ast.Name):
        fd, other, fd2 = (ast.unparse(a) for a in call.args)
        return f"{other}.same_file({fd2}, {base.id}, {fd})"
    return None


def _reads(node: ast.AST, out: set[str]) -> None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and _dotted(node.func):
        out.add(ast.unparse(node))
        if node.func.attr in _SYMMETRIC and (swapped := _swapped(node)) is not None:
            out.add(swapped)
        for arg in node.args:
            _reads(arg, out)
        return
    if isinstance(node, ast.Attribute) and _dotted(node):
        out.add(ast.unparse(node))
        return
    if isinstance(node, ast.Name) and node.id in WHOLE_RUN:
        out.add(node.id)
        return
    for child in ast.iter_child_nodes(node):
        _reads(child, out)


def observables(expr: Expr) -> frozenset[str]:
    """The observables an expression reads, written as ``forklab run`` keys them
    (``child.heap.exclusive``, ``p.data.byte(0)``, ``stdout``)."""
    out: set[str] = set()
    _reads(expr.tree, out)
    return frozenset(out)


def gives_away(expectation: Expr, question: Question) -> bool:
    """Whether showing this expectation would show the question's answer."""
    if expectation.text.strip() == question.answer.text.strip():
        return True
    return not observables(expectation).isdisjoint(observables(question.answer))


def held_back(step: Step, unanswered: Iterable[int]) -> set[int]:
    """The indexes of the step's expectations that give away one of the
    ``unanswered`` questions (indexes into ``step.ask``)."""
    questions = [step.ask[i] for i in unanswered]
    return {i for i, expectation in enumerate(step.expect)
            if any(gives_away(expectation, q) for q in questions)}


def answer_keys(step: Step, unanswered: Iterable[int], answers: Sequence[Judged] = ()
                ) -> frozenset[str]:
    """Every observable the ``unanswered`` questions read: a panel or a report line
    showing one of these shows an answer. answers: the step's judged answers, whose
    observables with arguments are keyed as the run resolved them (``p.cloexec(6)``
    for ``p.cloexec(legacy)``, ``p.m.byte(4096)`` for ``p.m.byte(1p)``)."""
    keys: set[str] = set()
    for i in unanswered:
        keys |= observables(step.ask[i].answer)
        if i < len(answers):
            keys |= {key for key in answers[i].touched if "(" in key}
    return frozenset(keys)
