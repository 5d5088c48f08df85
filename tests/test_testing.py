"""The course kit: strategies, assert_agree, the pytest plugin and ModelVsKernel."""
from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, find, given, seed, settings
from hypothesis import strategies as st

import forklab
from forklab.observe import default_observations
from forklab.runner import run_scenario
from forklab.scenario.model import Scenario
from forklab.scenario.parse import parse_text
from forklab.scenario.verbs import VERBS
from forklab.sim import SimBackend
from forklab.sim.backend import SimRun
from forklab.testing import (
    ALL_OBSERVABLES,
    ALL_VERBS,
    as_scenario,
    assert_agree,
    generated,
    generated_verbs,
    ops,
    scenario_texts,
    scenarios,
)
from forklab.testing import agree as agree_module
from forklab.testing.options import KitOptions
from forklab.testing.strategies import Generated, literal

ROOT = Path(__file__).resolve().parent.parent
# Subprocesses import the forklab this process imported (installed, or this checkout).
FORKLAB_HOME = Path(forklab.__file__).resolve().parent.parent
FAST = settings(max_examples=25, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
needs_kernel = pytest.mark.forklab_real


# --- strategies ------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(scenarios(blocking=True))
def test_generated_scenarios_run_on_the_model_and_their_expectations_hold(sc: Scenario) -> None:
    result = run_scenario(SimBackend(), sc)
    assert result.error is None, result.error
    assert all(s.ok for s in result.steps)
    assert not any("spawn_us" in e.text for step in sc.steps for e in step.expect)  # untimed


def _in_step_equals_fresh(made: Generated) -> None:
    """The generator's own run of a scenario is the run the model makes from its text."""
    result = run_scenario(SimBackend(), parse_text(made.text))
    assert result.error is None, (result.error, made.text)
    assert all(s.ok for s in result.steps), made.text
    for done, step in zip(result.steps, made.steps, strict=True):
        assert default_observations(step.world) == done.observations, made.text


@FAST
@given(generated(blocking=True, sim_only=True))
def test_the_generators_run_is_the_models_run_of_the_text(made: Generated) -> None:
    _in_step_equals_fresh(made)


@FAST
@given(generated(blocking=False))
def test_nothing_waits_unless_blocking_is_asked_for(made: Generated) -> None:
    for step in made.steps:
        states = {p.state for p in step.world.processes.values()}
        assert "blocked" not in states, made.text


def test_every_verb_of_the_language_is_generated_or_left_out_with_a_reason() -> None:
    made = generated_verbs()
    assert made == {name for name, verb in VERBS.items() if not verb.not_fuzzed}
    seen: Counter[str] = Counter()

    @seed(5)  # over 60 verbs; munlock is drawn about once in 70 scenarios, not all kept
    @settings(max_examples=2000, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(generated(blocking=True, sim_only=True))
    def count(made: Generated) -> None:
        seen.update(made.coverage)

    count()
    assert sorted(v for v in made if not seen[v]) == []


CREATION = frozenset({"spawn", "clone", "fork", "exec", "exit", "_exit", "wait", "open", "pipe",
                      "dup", "dup2", "close", "cloexec", "writefd", "readfd", "signal", "block",
                      "atfork", "lock", "unlock", "thread", "malloc", "free", "repeat"})
"""The verbs around spawn, clone, open and atfork, drawn alone so they meet often."""


@FAST
@given(scenario_texts(verbs=CREATION, blocking=True))
def test_creation_scenarios_hold_on_the_model_and_end_what_cannot_go_on(text: str) -> None:
    result = run_scenario(SimBackend(), parse_text(text))
    assert result.error is None, result.error
    assert all(s.ok for s in result.steps)
    made = {key.partition(".")[0] for key in result.steps[-1].observations}
    lines = [line for block in text.split("'''")[1::2] for line in block.strip().splitlines()]
    for line, after in zip(lines, lines[1:] + [""]):
        name = line.rpartition("-> ")[2]
        if ": clone vm, vfork" in line:  # the parent is suspended: the child goes on at once
            assert after.startswith((f"{name}: _exit", f"{name}: exit", f"{name}: exec")), \
                (line, after)
        if ": spawn /bin/" in line and name in made and "/bin/cat" not in line:
            # a real program ends on its own: waited for (a long sleep killed) at once
            assert after.endswith((f": wait {name}", f": kill {name}")) \
                or f": kill {name} " in after, (line, after)
        who = line.partition(":")[0]
        if ": exec /bin/" in line and "/bin/cat" not in line \
                and result.steps[-1].world.processes[who].parent is not None:  # (orphans:
            assert f": wait {who}" in after or f": kill {who} " in after, (line, after)  # reaped)


@needs_kernel
@FAST
@given(scenarios(verbs=CREATION, blocking=True))
def test_creation_scenarios_agree_with_the_kernel(sc: Scenario) -> None:
    assert_agree(sc)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(scenario_texts(verbs={"exec", "fork", "thread", "wait", "exit"}, max_processes=2,
                      observables=()))
def test_a_short_sleep_is_execd_only_where_its_parent_waits_for_it_at_once(text: str) -> None:
    # left alone, whether it has ended when the world is observed is the scheduler's
    # choice (the kernel side-by-side machine compares after every line)
    lines = [line for block in text.split("'''")[1::2] for line in block.strip().splitlines()]
    for line, after in zip(lines, lines[1:] + [""]):
        if ": exec /bin/sleep 0." in line:
            who = line.partition(":")[0]
            assert after.endswith(f": wait {who}"), (line, after)


def test_blocking_states_are_generated_when_asked() -> None:
    def blocked(text: str) -> bool:
        result = run_scenario(SimBackend(), parse_text(text))
        return any(v == "blocked" for s in result.steps for k, v in s.observations.items()
                   if k.endswith(".state"))

    found = find(scenario_texts(verbs={"pipe", "readfd", "lock"}, max_processes=1,
                                blocking=True, observables=()), blocked,
                 settings=settings(max_examples=300, database=None, deadline=None,
                                   suppress_health_check=list(HealthCheck)))
    assert "readfd" in found or "lock" in found


@FAST
@given(scenarios(verbs={"pipe", "writefd", "readfd"}, observables={"last_read", "stdout"}))
def test_verbs_and_observables_can_be_narrowed(sc: Scenario) -> None:
    assert {op.verb for op in sc.ops} <= {"pipe", "writefd", "readfd"}
    for step in sc.steps:
        for e in step.expect:
            assert ".last_read" in e.text or e.text.startswith("stdout")


@FAST
@given(scenarios(observables=(), max_processes=1, max_steps=1))
def test_no_observables_means_no_expectations(sc: Scenario) -> None:
    assert all(not step.expect for step in sc.steps)
    assert not any(op.verb in ("fork", "vfork") for op in sc.ops)
    assert len(sc.steps) == 1


def test_unknown_verbs_and_observables_are_refused() -> None:
    with pytest.raises(ValueError, match="spawn_from"):
        scenarios(verbs={"spawn_from"})
    with pytest.raises(ValueError, match="spawn_us"):
        scenarios(observables={"spawn_us"})
    assert "fork" in ALL_VERBS and "byte" in ALL_OBSERVABLES


@FAST
@given(st.from_type(Scenario))
def test_from_type_draws_generated_scenarios(sc: Scenario) -> None:
    assert isinstance(sc, Scenario) and sc.id == "generated"


@FAST
@given(ops(max_ops=15))
def test_ops_run_on_the_model(generated) -> None:
    assert generated and all(op.text for op in generated)
    run = SimBackend().start(as_scenario(generated))
    for op in generated:
        run.apply(op)
    run.observe()


def test_values_are_written_as_expression_literals() -> None:
    assert literal(None) == "None" and literal(True) == "True" and literal(3) == "3"
    assert literal('a"b\n') == '"a\\"b\\n"'
    assert literal({"SIGUSR1", "SIGTERM"}) == '{"SIGTERM", "SIGUSR1"}'
    assert literal(set()) == "set()" and literal([0, 1]) == "[0, 1]"
    assert literal(object()) is None


# --- assert_agree ------------------------------------------------------------------------------

AGREEING = """
id = "pipe-fork"
title = "t"
summary = "s"
[[step]]
do = '''
parent: pipe -> r, w
parent: fork -> child
child: writefd w "hi"
parent: readfd r
'''
expect = ["parent.last_read == 'hi'"]
"""


class _LyingRun(SimRun):
    def observe(self):  # a "kernel" whose stdout has one byte more
        world = super().observe()
        return dataclasses.replace(world, stdout=world.stdout + "!")


class Liar(SimBackend):
    name = "real"

    def start(self, scenario):
        return _LyingRun(scenario)


@needs_kernel
def test_assert_agree_passes_when_the_model_and_the_kernel_agree() -> None:
    verdict = assert_agree(parse_text(AGREEING))
    assert verdict.status == "agree"


def test_assert_agree_says_where_they_differ_in_plain_text() -> None:
    with pytest.raises(AssertionError) as caught:
        assert_agree(parse_text(AGREEING, "demo.toml"), real=Liar())
    message = str(caught.value)
    assert "pipe-fork step 1, line 10: stdout" in message
    assert 'model   ""' in message and 'kernel  "!"' in message
    assert "parent: fork -> child" in message and "\x1b[" not in message


def test_assert_agree_skips_with_the_reason_when_the_kernel_is_unavailable(monkeypatch) -> None:
    monkeypatch.setattr(agree_module, "real_status", lambda: (False, "pretend: not Linux"))
    monkeypatch.setattr(agree_module, "_backends", {})
    with pytest.raises(pytest.skip.Exception, match="pretend: not Linux"):
        assert_agree(parse_text(AGREEING))


# --- the pytest plugin ---------------------------------------------------------------------------

USER_TESTS = '''
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from forklab.scenario.model import Scenario
from forklab.testing import assert_agree, scenarios

@settings(max_examples=8, deadline=None, database=None)
@given(scenario=scenarios(verbs={"mmap", "write", "read", "fork", "exit", "wait", "pipe"},
                          max_processes=3))
def test_scenarios_agree(forklab_options, scenario):
    assert_agree(scenario, options=forklab_options)

@settings(max_examples=3, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.from_type(Scenario))
def test_from_type(scenario):
    assert isinstance(scenario, Scenario)

@pytest.mark.forklab_real
def test_marked(real_backend):
    assert real_backend.name == "real"

def test_backends(forklab_backends, sim_backend):
    assert forklab_backends["sim"].name == sim_backend.name == "sim"

def test_each(forklab_backend):
    assert forklab_backend.name in ("sim", "real")
'''


def _plugin_args() -> list[str]:
    """-p the plugin, unless an installed forklab already loads it by its entry point."""
    eps = importlib.metadata.entry_points(group="pytest11")
    if any(ep.value == "forklab.testing.plugin" for ep in eps):
        return []
    return ["-p", "forklab.testing.plugin"]


def _pytest(tmp_path: Path, *args: str, conftest: str = "") -> subprocess.CompletedProcess:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    if conftest:
        (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    env = dict(os.environ,
               PYTHONPATH=str(FORKLAB_HOME) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           *_plugin_args(), *args, "test_user.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@needs_kernel
def test_a_plain_test_file_passes_with_the_plugin_on_the_kernel(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "--forklab-real")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout


def test_sim_only_skips_what_needs_the_kernel_and_says_why(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "--forklab-sim-only")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout and "3 skipped" in done.stdout
    assert "--forklab-sim-only: the kernel is not used" in done.stdout


PRETEND_UNAVAILABLE = """
import forklab.real
forklab.real.real_backend_status = lambda: (False, "pretend: this is not Linux")
"""


def test_without_a_kernel_kernel_tests_skip_with_the_reason(tmp_path: Path) -> None:
    done = _pytest(tmp_path, conftest=PRETEND_UNAVAILABLE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 skipped" in done.stdout
    assert "the real backend is unavailable: pretend: this is not Linux" in done.stdout


def test_forklab_real_stops_the_run_when_the_kernel_is_unavailable(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "--forklab-real", conftest=PRETEND_UNAVAILABLE)
    assert done.returncode == 4  # pytest's usage error
    assert "--forklab-real: the real backend is unavailable: pretend" in done.stderr


def test_the_two_options_contradict(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "--forklab-real", "--forklab-sim-only")
    assert done.returncode == 4 and "contradict" in done.stderr


def test_loading_the_plugin_imports_neither_hypothesis_nor_the_simulator() -> None:
    code = ("import sys, forklab.testing.plugin; "
            "print(sorted(m for m in ('hypothesis', 'forklab.sim', 'forklab.real') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=str(FORKLAB_HOME)))
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_assert_agree_takes_the_options_it_is_given() -> None:
    with pytest.raises(pytest.skip.Exception, match="--forklab-sim-only"):
        assert_agree(parse_text(AGREEING), options=KitOptions(sim_only=True))


def test_the_plugin_is_registered_by_the_package_metadata() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\nforklab = "forklab.testing.plugin"' in text
    assert '"forklab.testing"' in text


# --- the state machine ----------------------------------------------------------------------------

from forklab.testing.machine import ModelVsKernel  # noqa: E402


class ModelAlone(ModelVsKernel):
    """The model's invariants after every line, every verb, states that wait forever."""

    use_kernel = False
    blocking = True


ModelAlone.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None,
                                        database=None, suppress_health_check=list(HealthCheck))
TestModelAlone = ModelAlone.TestCase


class KernelSideBySide(ModelVsKernel):
    """Model and kernel compared after every line: every verb, the whole mapping pool."""

    use_kernel = True


KernelSideBySide.TestCase.settings = settings(
    max_examples=12, stateful_step_count=12, deadline=None, database=None,
    suppress_health_check=list(HealthCheck))
TestKernelSideBySide = needs_kernel(KernelSideBySide.TestCase)


def test_the_machine_reports_a_disagreement_with_the_script(monkeypatch) -> None:
    """A kernel that lies about stdout is caught at once, with the lines so far."""
    from hypothesis.stateful import run_state_machine_as_test

    class Lied(ModelVsKernel):
        use_kernel = True
        verbs = frozenset({"printf", "fflush"})

    monkeypatch.setattr(agree_module, "_backends", {"real": Liar()})
    with pytest.raises(AssertionError, match=r"(?s)disagree after:.*stdout: model"):
        run_state_machine_as_test(Lied, settings=settings(
            max_examples=5, stateful_step_count=3, deadline=None, database=None,
            suppress_health_check=list(HealthCheck)))
