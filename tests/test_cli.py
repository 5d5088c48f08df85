"""The forklab command, in-process through main(argv) and as ``python -m forklab``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from forklab import __version__, cli, lessons
from forklab.backend import Capabilities
from forklab.observe import World

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
id = "good"
title = "Two processes"
summary = "fork makes a child."
tags = ["fork"]

[[step]]
say = "The parent forks."
do = "parent: fork -> child"
expect = ["child.state == 'running'", "len(processes) == 2"]
ask = [{ q = "Who is the child's parent?", a = "child.parent" }]
"""

FAILING = GOOD.replace('id = "good"', 'id = "failing"').replace("'running'", "'zombie'")

BROKEN = """\
id = "broken"
title = "A typo"
summary = "an unknown verb"

[[step]]
do = "parent: frobnicate"
"""

RUNTIME = """\
id = "runtime"
title = "A process that acts after it ended"
summary = "a language error midway"

[[step]]
do = \"\"\"
parent: fork -> child
child: _exit 3
parent: wait child
child: printf "late"
\"\"\"
"""

SIM_ONLY = GOOD.replace('id = "good"', 'id = "whatif"\nreal = false')


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model() -> None:
    """Tests that run scenarios need the parser and the simulator."""
    pytest.importorskip("forklab.scenario.parse")
    pytest.importorskip("forklab.sim")


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch, model: None) -> dict[str, Any]:
    """A stand-in kernel backend: the simulator under the name "real".

    ``settings["stdout"]``, when set, is appended to what the "kernel" shows,
    so a test can make the two backends disagree; ``settings["started"]``
    counts the kernel runs.
    """
    from forklab.sim import SimBackend, SimRun

    settings: dict[str, Any] = {"stdout": "", "started": 0}

    class KernelRun(SimRun):
        def observe(self) -> World:
            world = super().observe()
            return replace(world, stdout=world.stdout + settings["stdout"])

    class Kernel(SimBackend):
        name = "real"
        capabilities = Capabilities(sim_only_verbs=False)

        def start(self, scenario: Any) -> KernelRun:
            settings["started"] += 1
            return KernelRun(scenario)

    monkeypatch.setattr(cli, "real_status", lambda: (True, ""))
    monkeypatch.setattr(cli, "make_backend",
                        lambda name: Kernel() if name == "real" else SimBackend())
    return settings


# --- the command line itself ----------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--version")
    assert code == 0 and out.strip() == f"forklab {__version__}"


def test_no_command_prints_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys)
    assert code == 0 and "run" in out and "verify" in out and "lessons" in out


@pytest.mark.parametrize("argv", [
    ["run"], ["run", "--backend", "other", "x.toml"], ["frobnicate"], ["verify", "--bogus"],
    ["run", "--junit"],
])
def test_a_wrong_command_line_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str]
                                      ) -> None:
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == "" and "usage:" in err


def test_a_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_main(capsys, "run", str(tmp_path / "nope.toml"))
    assert code == 2 and out == ""
    assert "nope.toml: no such file" in err


def test_run_refuses_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "run", str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_a_directory_s_links_and_fifos_are_not_read(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    """A scenario directory is untrusted: a link out of it (to a file only root
    may read, or to a directory) is not followed, and a FIFO is not opened."""
    secret = tmp_path / "secret.toml"
    secret.write_text("only-root = secret\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    write(tree, "good.toml", GOOD)
    (tree / "sub" / "leak.toml").symlink_to(secret)
    (tree / "outside").symlink_to(tmp_path)
    os.mkfifo(tree / "fifo.toml")
    assert cli.toml_files_under(tree) == [tree / "good.toml"]
    code, out, err = run_main(capsys, "run", "--backend", "sim", str(tree / "fifo.toml"))
    assert code == 2 and "fifo.toml:1:1: not a regular file" in out + err


# --- run --------------------------------------------------------------------------------


def test_run_reports_each_step_and_exits_0(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path, model: None) -> None:
    code, out, _ = run_main(capsys, "run", str(write(tmp_path, "good.toml", GOOD)))
    assert code == 0
    assert out.startswith("good — Two processes  [sim]")
    assert "step 1  The parent forks." in out and "parent: fork -> child" in out
    assert "✓ child.state == 'running'" in out
    assert "Q Who is the child's parent?" in out and "-c shows the answer" in out
    assert '"parent"' not in out.split("Q Who")[1]


def test_run_shows_answers_with_c(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  model: None) -> None:
    code, out, _ = run_main(capsys, "run", "-c", str(write(tmp_path, "good.toml", GOOD)))
    assert code == 0
    assert "Q Who is the child's parent?" in out and '→ "parent"   (child.parent)' in out


def test_run_takes_a_lesson_id(capsys: pytest.CaptureFixture[str], model: None) -> None:
    code, out, _ = run_main(capsys, "run", "cow")
    assert code == 0 and out.startswith("cow — Copy-on-write")


def test_run_exits_1_when_an_expectation_fails(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path, model: None) -> None:
    code, out, _ = run_main(capsys, "run", str(write(tmp_path, "f.toml", FAILING)))
    assert code == 1
    assert "✗ child.state == 'zombie'   → child.state = \"running\"" in out


def test_a_bad_file_is_reported_with_its_position_and_nothing_runs(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, model: None) -> None:
    good = write(tmp_path, "good.toml", GOOD)
    broken = write(tmp_path, "broken.toml", BROKEN)
    code, out, err = run_main(capsys, "run", str(good), str(broken))
    assert code == 2 and out == ""
    assert err.startswith(f"{broken}:6:") and "(step 1): unknown verb" in err
    assert "Traceback" not in err


def test_every_bad_file_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                    model: None) -> None:
    one = write(tmp_path, "one.toml", BROKEN)
    two = write(tmp_path, "two.toml", "id = ")
    code, _, err = run_main(capsys, "run", str(one), str(two))
    assert code == 2 and str(one) in err and str(two) in err


def test_a_language_error_midway_exits_2_with_its_position(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, model: None) -> None:
    path = write(tmp_path, "runtime.toml", RUNTIME)
    code, out, _ = run_main(capsys, "run", str(path))
    assert code == 2
    assert f"! {path}:10:" in out and "(step 1)" in out


def test_run_json_is_one_document_of_the_documented_shape(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, model: None) -> None:
    good = write(tmp_path, "good.toml", GOOD)
    failing = write(tmp_path, "failing.toml", FAILING)
    code, out, err = run_main(capsys, "run", "--json", str(good), str(failing))
    assert code == 1
    doc = json.loads(out)
    assert doc["backend"] == "sim"
    assert [s["id"] for s in doc["scenarios"]] == ["good", "failing"]
    first = doc["scenarios"][0]
    assert first["file"] == str(good) and first["ok"] is True and first["error"] is None
    [step] = first["steps"]
    assert step["index"] == 1 and step["line"] == 6
    assert step["expectations"][0] == {"text": "child.state == 'running'", "line": 9,
                                       "value": True, "ok": True, "error": None}
    assert step["answers"] == [{"q": "Who is the child's parent?", "text": "child.parent",
                                "value": "parent", "error": None}]
    assert step["observations"]["child.fds"] == [0, 1, 2]
    assert doc["scenarios"][1]["ok"] is False
    assert "running good" in err and "✓" not in out


def test_run_json_reports_a_language_error(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path, model: None) -> None:
    path = write(tmp_path, "runtime.toml", RUNTIME)
    code, out, err = run_main(capsys, "run", "--json", str(path))
    assert code == 2
    error = json.loads(out)["scenarios"][0]["error"]
    assert error["line"] == 10 and error["step"] == 1 and error["file"] == str(path)
    assert f"{path}:10:" in err


@pytest.mark.parametrize("command", ["run", "verify"])
def test_json_on_bad_files_is_still_one_document_with_every_error(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, model: None, command: str) -> None:
    broken = write(tmp_path, "broken.toml", BROKEN)
    other = write(tmp_path, "other.toml", BROKEN.replace('id = "broken"', 'id = "other"'))
    not_toml = write(tmp_path, "junk.toml", "id = [")
    code, out, err = run_main(capsys, command, "--json", str(broken), str(other), str(not_toml))
    assert code == 2
    doc = json.loads(out)
    assert doc["ok"] is False
    assert [e["file"] for e in doc["errors"]] == [str(broken), str(other), str(not_toml)]
    first = doc["errors"][0]
    assert first["line"] > 0 and first["step"] == 1 and "frobnicate" in first["message"]
    assert first["text"] in err


def test_did_you_mean_for_observables_and_a_hint_for_a_toml_escape(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, model: None) -> None:
    typo = write(tmp_path, "typo.toml", GOOD.replace("child.state", "child.stat"))
    escape = write(tmp_path, "escape.toml", GOOD.replace(
        'do = "parent: fork -> child"', 'do = """\nparent: printf "hi\\n"\n"""'))
    code, _, err = run_main(capsys, "run", str(typo), str(escape))
    assert code == 2
    assert "'stat' is not an observable of a process (did you mean 'state'?)" in err
    assert "unterminated string" in err and "write \\\\n there" in err


def test_run_on_an_unavailable_kernel_says_why_and_exits_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        model: None) -> None:
    monkeypatch.setattr(cli, "real_status",
                        lambda: (False, "the probe is not built; run: pip install -e ."))
    code, out, err = run_main(capsys, "run", "--backend", "real",
                              str(write(tmp_path, "good.toml", GOOD)))
    assert code == 2 and out == ""
    assert err.strip() == ("forklab: the real backend is unavailable: the probe is not built; "
                           "run: pip install -e .")


# --- verify -------------------------------------------------------------------------------


def test_verify_agreement_exits_0(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  kernel: dict[str, Any]) -> None:
    code, out, err = run_main(capsys, "verify", str(write(tmp_path, "good.toml", GOOD)))
    assert code == 0
    assert out.splitlines()[0] == "✓ good  agree"
    assert "verifying good (1/1)..." in err


def test_verify_disagreement_exits_1_with_details(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path, kernel: dict[str, Any]
                                                  ) -> None:
    kernel["stdout"] = "extra"
    code, out, _ = run_main(capsys, "verify", str(write(tmp_path, "good.toml", GOOD)))
    assert code == 1
    assert out.splitlines()[0] == "✗ good  1 disagreement"
    assert "✗ good step 1, line 8: stdout" in out
    assert 'kernel  "extra"' in out


def test_verify_takes_directories(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  kernel: dict[str, Any]) -> None:
    write(tmp_path, "good.toml", GOOD)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "whatif.toml", SIM_ONLY)
    code, out, _ = run_main(capsys, "verify", str(tmp_path))
    assert code == 0
    assert out.splitlines()[:2] == ["✓ good    agree", "– whatif  sim-only"]
    assert kernel["started"] == 1


def test_verify_stops_at_a_model_error_before_the_kernel(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, kernel: dict[str, Any]) -> None:
    code, out, _ = run_main(capsys, "verify", str(write(tmp_path, "r.toml", RUNTIME)))
    assert code == 2 and kernel["started"] == 0
    assert out.startswith("! runtime  error on the model:")


def test_verify_json_and_junit(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                               kernel: dict[str, Any]) -> None:
    kernel["stdout"] = "extra"
    junit = tmp_path / "report.xml"
    code, out, err = run_main(capsys, "verify", "--json", "--junit", str(junit),
                              str(write(tmp_path, "good.toml", GOOD)))
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False
    [scenario] = doc["scenarios"]
    assert scenario["id"] == "good" and scenario["status"] == "disagree"
    stdout = next(c for c in scenario["steps"][0]["compared"] if c["key"] == "stdout")
    assert stdout["model"] == "" and stdout["kernel"] == "extra"
    assert "verifying good" in err
    [case] = ET.parse(junit).getroot().iter("testcase")
    assert case.get("name") == "good" and case.find("failure") is not None


def test_verify_refuses_a_junit_path_in_a_missing_directory(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "verify", "--junit", str(tmp_path / "no" / "r.xml"),
                            str(tmp_path))
    assert code == 2 and "does not exist" in err


def test_verify_without_a_kernel_says_how_to_build_it(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        model: None) -> None:
    monkeypatch.setattr(cli, "real_status", lambda: (False, "build it with: pip install -e ."))
    code, out, err = run_main(capsys, "verify", str(write(tmp_path, "good.toml", GOOD)))
    assert code == 2 and out == ""
    assert "the real backend is unavailable: build it with: pip install -e ." in err


def test_verify_defaults_to_the_catalog(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, kernel: dict[str, Any]
                                       ) -> None:
    write(tmp_path, "good.toml", GOOD)
    monkeypatch.setattr(lessons, "catalog_dir", lambda: tmp_path)
    code, out, _ = run_main(capsys, "verify")
    assert code == 0 and out.startswith("✓ good")


# --- lessons ------------------------------------------------------------------------------


def test_lessons_lists_the_catalog_in_its_order(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        model: None) -> None:
    """whatif builds on good, so it comes second although its file sorts first."""
    write(tmp_path, "b.toml", GOOD)
    write(tmp_path, "a.toml", SIM_ONLY.replace('tags = ["fork"]',
                                               'tags = ["fork"]\nbuilds_on = ["good"]'))
    monkeypatch.setattr(lessons, "catalog_dir", lambda: tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    code, out, _ = run_main(capsys, "lessons")
    assert code == 0
    assert out.splitlines()[0] == "▸ good    Two processes  [fork]"
    assert out.splitlines()[1].strip() == "fork makes a child."
    assert out.splitlines()[2].startswith("  whatif  ")
    assert "builds on good" in out and "next: good" in out
    code, out, _ = run_main(capsys, "lessons", "--json")
    assert code == 0
    doc = json.loads(out)
    assert [(x["id"], x["title"], x["summary"], x["tags"], x["builds_on"])
            for x in doc["lessons"]] == [
        ("good", "Two processes", "fork makes a child.", ["fork"], []),
        ("whatif", "Two processes", "fork makes a child.", ["fork"], ["good"]),
    ]
    assert doc["next"] == "good"


def test_lessons_shows_what_was_completed_and_what_comes_next(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        model: None) -> None:
    from forklab.tui.progress import Progress
    write(tmp_path, "b.toml", GOOD)
    write(tmp_path, "a.toml", SIM_ONLY.replace('tags = ["fork"]',
                                               'tags = ["fork"]\nbuilds_on = ["good"]'))
    monkeypatch.setattr(lessons, "catalog_dir", lambda: tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    Progress().reached("good", 1, 1)
    code, out, _ = run_main(capsys, "lessons")
    assert code == 0
    assert out.splitlines()[0].startswith("✓ good")
    assert out.splitlines()[2].startswith("▸ whatif")
    assert out.splitlines()[-1] == "1 of 2 completed; next: whatif (forklab learn whatif)"


def test_a_catalog_that_is_not_a_path_exits_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        model: None) -> None:
    write(tmp_path, "b.toml", GOOD.replace('tags = ["fork"]',
                                           'tags = ["fork"]\nbuilds_on = ["whatif"]'))
    write(tmp_path, "a.toml", SIM_ONLY.replace('tags = ["fork"]',
                                               'tags = ["fork"]\nbuilds_on = ["good", "gone"]'))
    monkeypatch.setattr(lessons, "catalog_dir", lambda: tmp_path)
    code, out, err = run_main(capsys, "lessons")
    assert code == 2 and out == ""
    assert "whatif builds on 'gone', which is not in the catalog" in err
    assert "in a cycle: good → whatif → good" in err


def test_a_broken_lesson_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, model: None) -> None:
    write(tmp_path, "a.toml", BROKEN)
    monkeypatch.setattr(lessons, "catalog_dir", lambda: tmp_path)
    code, out, err = run_main(capsys, "lessons")
    assert code == 2 and out == "" and "unknown verb" in err


def test_two_lessons_with_one_id_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, model: None) -> None:
    write(tmp_path, "a.toml", GOOD)
    write(tmp_path, "b.toml", GOOD)
    monkeypatch.setattr(lessons, "catalog_dir", lambda: tmp_path)
    code, _, err = run_main(capsys, "lessons")
    assert code == 2 and "'good' is already used by" in err


def test_an_empty_catalog_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lessons, "catalog_dir", lambda: tmp_path)
    code, _, err = run_main(capsys, "lessons")
    assert code == 2 and "no lessons found" in err


def test_the_catalog_holds_the_lessons_of_this_tree() -> None:
    """From a checkout or from an installed copy, the catalog is lessons/."""
    if not (ROOT / "lessons").is_dir():
        pytest.skip("no lessons/ directory in this tree")
    found = [p.name for p in lessons.catalog()]
    assert found == sorted(p.name for p in (ROOT / "lessons").glob("*.toml"))
    assert len(found) >= 7


# --- python -m forklab ------------------------------------------------------------------------


def forklab(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([sys.executable, "-m", "forklab", *argv], capture_output=True,
                          text=True, encoding="utf-8", env=env, timeout=300)


def test_module_version_and_help() -> None:
    done = forklab("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"forklab {__version__}"
    done = forklab()
    assert done.returncode == 0 and "usage: forklab" in done.stdout


def test_module_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    for argv in (["run"], ["run", "--backend", "nope", "x.toml"],
                 ["run", str(tmp_path / "missing.toml")]):
        done = forklab(*argv)
        assert done.returncode == 2 and "Traceback" not in done.stderr and done.stdout == ""


def test_module_bad_file_names_its_position(tmp_path: Path, model: None) -> None:
    broken = write(tmp_path, "broken.toml", BROKEN)
    done = forklab("run", "--json", str(broken))
    assert done.returncode == 2 and json.loads(done.stdout)["errors"][0]["line"] == 6
    assert done.stderr.startswith(f"{broken}:6:") and "Traceback" not in done.stderr


def test_module_run_exit_statuses_and_pure_json(tmp_path: Path, model: None) -> None:
    good = write(tmp_path, "good.toml", GOOD)
    failing = write(tmp_path, "failing.toml", FAILING)
    runtime = write(tmp_path, "runtime.toml", RUNTIME)
    for path, status in ((good, 0), (failing, 1), (runtime, 2)):
        done = forklab("run", "--json", str(path))
        assert done.returncode == status, done.stderr
        doc = json.loads(done.stdout)
        assert doc["scenarios"][0]["file"] == str(path)
        assert "Traceback" not in done.stderr
    done = forklab("run", str(good))
    assert done.returncode == 0 and "✓ child.state == 'running'" in done.stdout
    assert "\x1b[" not in done.stdout  # not a terminal: no colour


def test_module_real_backend_unavailable_exits_2(tmp_path: Path, model: None) -> None:
    available, why = cli.real_status()
    if available:
        pytest.skip("the real backend is available here")
    done = forklab("run", "--backend", "real", str(write(tmp_path, "good.toml", GOOD)))
    assert done.returncode == 2 and "the real backend is unavailable" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_module_lessons_of_the_shipped_catalog(model: None) -> None:
    if not lessons.catalog():
        pytest.skip("the lesson catalog is empty")
    done = forklab("lessons", "--json")
    assert done.returncode == 0, done.stderr
    ids = [lesson["id"] for lesson in json.loads(done.stdout)["lessons"]]
    assert len(ids) == len(set(ids)) == len(lessons.catalog())
