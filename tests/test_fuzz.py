"""forklab fuzz: signatures, shrinking to a scenario file, reproducibility, the command."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from forklab import cli, fuzz
from forklab.scenario import ops
from forklab.scenario.parse import parse_file, parse_text
from forklab.scenario.verbs import VERBS
from forklab.sim import SimBackend
from forklab.sim.backend import SimRun
from forklab.sim.kernel import HANDLERS
from forklab.verify import verify_scenario

needs_kernel = pytest.mark.forklab_real


class _PipeLyingRun(SimRun):
    """A "kernel" that says EPERM in every process that holds more than 3 fds."""

    def observe(self):
        world = super().observe()
        procs = dict(world.processes)
        for name, p in procs.items():
            if len(p.fds) > 3:
                procs[name] = dataclasses.replace(p, errno="EPERM")
        return dataclasses.replace(world, processes=procs)


class PipeLiar(SimBackend):
    name = "real"

    def start(self, scenario):
        return _PipeLyingRun(scenario)


class _PipeCrashingRun(SimRun):
    """A "kernel" whose code breaks on any process that holds more than 3 fds."""

    def observe(self):
        world = super().observe()
        if any(len(p.fds) > 3 for p in world.processes.values()):
            raise KeyError("a bug in the backend")
        return world


class PipeCrasher(SimBackend):
    name = "real"

    def start(self, scenario):
        return _PipeCrashingRun(scenario)


SMALL = dict(max_processes=3, max_steps=2, max_ops=6, blocking=False)

CORE_VERBS = {"mmap", "write", "read", "fork", "exit", "wait", "pipe", "writefd", "readfd"}


def test_a_disagreement_is_shrunk_and_written_as_a_scenario_file(tmp_path: Path) -> None:
    messages: list[str] = []
    report = fuzz.fuzz(150, 3, tmp_path, strategy=SMALL, real=PipeLiar(),
                       progress=messages.append)
    assert report.ran == 150 and len(report.findings) == 1
    finding = report.findings[0]
    assert finding.signature[::2] == ("errno", '"EPERM"') and finding.reproduced
    written = Path(finding.file)
    assert written.parent == tmp_path and written.suffix == ".toml"
    scenario = parse_file(written)  # a valid scenario file, as a user writes them
    assert len(scenario.ops) == 1  # minimal: one line
    head = written.read_text().splitlines()[0]
    assert head.startswith("# forklab fuzz --seed 3: errno: model ") and 'kernel "EPERM"' in head
    verdict = verify_scenario(scenario, str(written), SimBackend(), PipeLiar())
    assert verdict.status == "disagree"
    text = fuzz.summary(report)
    assert "150 scenarios" in text and "1 distinct" in text and str(written) in text
    assert any("new disagreement: errno" in m for m in messages)


def test_a_traceback_of_the_kernel_backend_is_a_finding(tmp_path: Path) -> None:
    report = fuzz.fuzz(60, 3, tmp_path, strategy=SMALL, real=PipeCrasher())
    assert report.ran == 60 and len(report.findings) == 1
    finding = report.findings[0]
    assert finding.signature == ("error on the kernel", "traceback: KeyError: 'a bug in the "
                                 "backend'") and finding.reproduced
    assert len(parse_file(Path(finding.file)).ops) == 1


def test_a_traceback_of_the_model_while_generating_is_a_finding(tmp_path: Path,
                                                                 monkeypatch) -> None:
    def broken(k, proc, thread, op):
        raise ZeroDivisionError("a bug in the model")

    monkeypatch.setitem(HANDLERS.by_op, ops.Pipe, broken)
    report = fuzz.fuzz(60, 3, tmp_path, strategy=SMALL, real=SimBackend())
    (finding,) = report.findings
    assert finding.signature == ("error on the model",
                                 "traceback: ZeroDivisionError: a bug in the model")
    written = Path(finding.file)
    assert written.suffix == ".txt" and "ZeroDivisionError" in written.read_text()


def test_a_shrink_stops_when_its_budget_of_kernel_runs_is_spent(tmp_path: Path,
                                                                monkeypatch) -> None:
    runs: list[str] = []

    class Counted(PipeLiar):
        def start(self, scenario):
            runs.append(scenario.id)
            return super().start(scenario)

    monkeypatch.setattr(fuzz, "SHRINK_CALLS", 4)
    monkeypatch.setattr(fuzz, "TRIM_CALLS", 0)
    report = fuzz.fuzz(150, 3, tmp_path, strategy=SMALL, real=Counted())
    assert report.ran == 150 and len(report.findings) == 1 and report.findings[0].reproduced
    # each generated scenario once, each disagreeing one again from its text, the
    # 4 of each stream's shrink, and the written file's check
    assert len(runs) <= report.ran + report.disagreements + fuzz.STREAMS * 4 + 1


def test_the_same_seed_gives_the_same_scenarios(monkeypatch) -> None:
    def texts(seed: int) -> list[str]:
        seen: list[str] = []
        monkeypatch.setattr(fuzz._Worker, "verify_generated",
                            lambda self, made: seen.append(made.text))
        fuzz._Worker(40, seed, SMALL, lambda kind, value: None, real=SimBackend()).run()
        return seen

    first = texts(5)
    assert len(first) == 40 and first == texts(5) and first != texts(6)


def test_nothing_found_writes_nothing(tmp_path: Path) -> None:
    report = fuzz.fuzz(30, 0, tmp_path / "out", strategy=SMALL, real=SimBackend())
    assert report.findings == [] and report.agree == 30
    assert not (tmp_path / "out").exists()
    assert "disagree: 0 scenario(s), 0 distinct" in fuzz.summary(report)


def _verdict(sim_text: str, liar) -> object:
    return verify_scenario(parse_text(sim_text), "x", SimBackend(), liar)


def test_signatures_name_the_first_difference_without_names() -> None:
    verdict = _verdict("id='x'\ntitle='t'\nsummary='s'\n[[step]]\ndo='parent: pipe -> r, w'\n",
                       PipeLiar())
    sig = fuzz.signature(verdict)
    assert sig == ("errno", "None", '"EPERM"')
    assert fuzz.describe(sig) == 'errno: model None, kernel "EPERM"'
    assert fuzz.same_bug(("errno", '"EINVAL"', "None"), ("errno", '"EINVAL"', '"EBADF"'))
    assert not fuzz.same_bug(("errno", '"EINVAL"', "None"), ("state", '"EINVAL"', "None"))
    assert fuzz._kind("c1.cloexec(3)") == "cloexec" and fuzz._kind("p.m1.present") == "present"


def test_the_command_line(tmp_path: Path, monkeypatch, capsys) -> None:
    assert cli.main(["fuzz", "--n", "-1"]) == 2
    assert cli.main(["fuzz", "--jobs", "0"]) == 2
    assert cli.main(["fuzz", "--seed", "x"]) == 2
    monkeypatch.setattr(cli, "real_status", lambda: (False, "pretend: not Linux"))
    assert cli.main(["fuzz", "--n", "5", "--out", str(tmp_path)]) == 2
    assert "pretend: not Linux" in capsys.readouterr().err


@needs_kernel
def test_fuzz_on_the_kernel(tmp_path: Path, capsys) -> None:
    status = cli.main(["fuzz", "--n", "40", "--seed", "2", "--jobs", "1",
                       "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert "forklab fuzz: 40 scenarios" in out and "fuzz: " in err
    if status == 1:  # an open model bug: its minimal scenario is there to read
        assert list((tmp_path / "out").glob("*.toml"))
    else:
        assert status == 0 and "disagree: 0 scenario(s)" in out


def test_coverage_counts_every_verb_and_the_json_document_says_so(tmp_path: Path) -> None:
    report = fuzz.fuzz(40, 1, tmp_path, strategy=dict(SMALL, verbs=CORE_VERBS),
                       real=SimBackend())
    document = fuzz.report_json(report)
    verbs = document["coverage"]["verbs"]
    assert set(verbs) == set(VERBS) | {"repeat"}  # every verb, 0 for those not drawn
    assert {v for v, count in verbs.items() if count} <= CORE_VERBS
    assert verbs["fork"] > 0 and document["ran"] == document["agree"] == 40
    assert document["disagree"] == 0 and document["disagreements"] == []
    assert sum(document["coverage"]["observables"].values()) > 0


@needs_kernel
def test_fuzz_json_on_the_kernel_leaves_no_hypothesis_directory(tmp_path: Path, monkeypatch,
                                                              capsys) -> None:
    monkeypatch.chdir(tmp_path)
    status = cli.main(["fuzz", "--n", "20", "--seed", "4", "--jobs", "2", "--json",
                       "--out", str(tmp_path / "out")])
    document = json.loads(capsys.readouterr().out)
    assert status in (0, 1) and document["ran"] == 20
    assert document["agree"] + document["disagree"] == 20
    assert not (tmp_path / ".hypothesis").exists()


@needs_kernel
def test_the_same_seed_gives_the_same_scenarios_whatever_the_jobs(tmp_path: Path,
                                                                  capsys) -> None:
    def coverage(jobs: int) -> dict:
        cli.main(["fuzz", "--n", "24", "--seed", "9", "--jobs", str(jobs), "--json",
                  "--out", str(tmp_path / f"out{jobs}")])
        return json.loads(capsys.readouterr().out)["coverage"]

    one = coverage(1)
    assert sum(one["verbs"].values()) > 24 and one == coverage(3)
