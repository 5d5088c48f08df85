"""Every verb has every part a verb needs, and every option and observable is documented.

The verb registry (forklab/scenario/verbs.py) lists the verbs; each must have a
parser rule, a simulator handler, a real-backend handler unless it is
simulator-only, a row in its section of docs/scenario-language.md, and a rule in
the fuzzer's generator or a stated reason why the fuzzer leaves it out.
"""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from forklab import observe
from forklab.scenario import expr, ops
from forklab.scenario.script import OPTION_WORDS, RULES
from forklab.scenario.verbs import VERBS
from forklab.sim.kernel import HANDLERS as SIM
from forklab.testing import generated_verbs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "scenario-language.md"


def _sections() -> dict[str, str]:
    """Each `###` section of the language reference, by heading, with `\\|` unescaped."""
    text = DOCS.read_text(encoding="utf-8").replace("\\|", "|")
    parts = re.split(r"^###? (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


SECTIONS = _sections()


def test_every_op_class_is_a_verb_of_the_registry() -> None:
    classes = {cls for _, cls in inspect.getmembers(ops, inspect.isclass)
               if issubclass(cls, ops.Op) and cls is not ops.Op}
    assert classes == {verb.op for verb in VERBS.values()}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_the_parser_has_a_rule(verb: str) -> None:
    assert VERBS[verb].op in RULES.by_op, f"{verb}: no @RULES.handles rule in the parser"


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_the_simulator_has_a_handler(verb: str) -> None:
    assert VERBS[verb].op in SIM.by_op, f"{verb}: no handler in forklab/sim/"


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_the_kernel_backend_has_a_handler_unless_simulator_only(verb: str) -> None:
    real = pytest.importorskip("forklab.real.backend", reason="the real backend is not built")
    has = VERBS[verb].op in real.HANDLERS.by_op
    if VERBS[verb].sim_only:
        assert not has, f"{verb} is simulator-only but the real backend has a handler"
    else:
        assert has, f"{verb}: no handler in forklab/real/backend.py (or mark it sim_only)"


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_the_docs_show_its_form(verb: str) -> None:
    spec = VERBS[verb]
    assert spec.section in SECTIONS, f"{verb}: no section '### {spec.section}' in the docs"
    assert f"`{spec.usage}`" in SECTIONS[spec.section], \
        f"{verb}: `{spec.usage}` is not in the docs section '{spec.section}'"


@pytest.mark.parametrize("verb", sorted(OPTION_WORDS))
def test_the_docs_name_every_option(verb: str) -> None:
    section = SECTIONS[VERBS[verb].section]
    missing = sorted(word for word in OPTION_WORDS[verb] if word not in section)
    assert not missing, f"{verb}: options the docs section '{VERBS[verb].section}' never " \
                        f"names: {missing}"


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_the_fuzzer_generates_it_or_says_why_not(verb: str) -> None:
    generated, reason = verb in generated_verbs(), VERBS[verb].not_fuzzed
    assert generated or reason, f"{verb}: no generator rule and no reason to leave it out"
    assert not (generated and reason), f"{verb} is generated: drop its not_fuzzed reason"


def test_the_generator_writes_only_verbs() -> None:
    assert generated_verbs() <= set(VERBS)


def test_sim_only_verbs_are_documented_as_such() -> None:
    for verb in VERBS.values():
        assert verb.sim_only == ("simulator only" in verb.section), verb.name


OBSERVABLES = [
    *[f"`P.{name}" for name in (*expr.PROCESS_ATTRS, *expr.PROCESS_METHODS)],
    *[f"`P.NAME.{name}" for name in (*expr.MAPPING_ATTRS, *expr.MAPPING_METHODS)],
    *[f"`T.{name}" for name in expr.THREAD_ATTRS],
    *[f"`{name}`" for name in observe.RUN_OBSERVABLES],
]


@pytest.mark.parametrize("written", OBSERVABLES)
def test_every_observable_is_documented(written: str) -> None:
    assert written in DOCS.read_text(encoding="utf-8"), f"{written}` is not documented"
