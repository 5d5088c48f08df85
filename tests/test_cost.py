"""The cost model's coefficients: shipped, or this machine's calibration when it is valid."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from forklab.sim import calibration, cost
from forklab.sim.cost import Coefficients, ForkStats


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "forklab" / "calibration.json"


FAST_FORK = Coefficients(base=1.0, pte=0.5)


def test_the_tests_never_see_a_users_calibration() -> None:
    home_cache = Path.home() / ".cache"
    assert not calibration.path().is_relative_to(home_cache)


def test_without_a_calibration_the_shipped_coefficients_predict(cache: Path) -> None:
    assert not cache.exists()
    assert calibration.coefficients() is cost.DEFAULTS


def test_a_saved_calibration_is_what_is_loaded_next(cache: Path) -> None:
    where = calibration.save({"fork": FAST_FORK}, {"reps": 3})
    assert where == cache
    loaded = calibration.coefficients()
    assert cost.predict("fork", ForkStats(mappings=24, ptes=100), loaded) == 51.0
    assert loaded["vfork"] == cost.DEFAULTS["vfork"]  # not calibrated: shipped


def test_the_model_predicts_with_the_coefficients_it_is_given(cache: Path) -> None:
    """No hidden input: a calibration on disk changes nothing until it is passed."""
    from forklab.bench.cases import Case
    from forklab.bench.predict import predicted_us

    shipped = predicted_us("fork", Case(size=1 << 20))
    calibration.save({"fork": FAST_FORK}, {})
    assert predicted_us("fork", Case(size=1 << 20)) == shipped
    fast = {**cost.DEFAULTS, "fork": FAST_FORK}
    assert predicted_us("fork", Case(size=1 << 20), fast) == 1.0 + 0.5 * 256 != shipped


def test_the_command_line_passes_this_machines_calibration(cache: Path, tmp_path: Path) -> None:
    from forklab.cli import main

    scenario = tmp_path / "fork.toml"
    scenario.write_text('id = "f"\ntitle = "t"\nsummary = "s"\n[[step]]\n'
                        'do = "parent: fork -> child"\nexpect = ["child.spawn_us == 7.0"]\n')
    assert main(["run", str(scenario)]) == 1  # the shipped fork takes longer
    calibration.save({"fork": Coefficients(base=7.0)}, {})
    assert main(["run", str(scenario)]) == 0


def test_the_lesson_player_passes_this_machines_calibration(cache: Path) -> None:
    from forklab.scenario.parse import parse_text
    from forklab.tui.app import make_app
    from forklab.tui.state import LessonSession

    calibration.save({"fork": Coefficients(base=7.0)}, {})
    app = make_app(lessons=[])
    session = LessonSession(parse_text('id = "f"\ntitle = "t"\nsummary = "s"\n[[step]]\n'
                                       'do = "parent: fork -> child"\n'), app.coefficients)
    session.forward()
    assert session.world.processes["child"].spawn_us == 7.0


@pytest.mark.parametrize("change", [
    lambda d: d.update(version=calibration.VERSION + 1),
    lambda d: d["machine"].update(kernel="2.6.32"),
    lambda d: d["machine"].update(cpus=d["machine"]["cpus"] + 1),
    lambda d: d["coefficients"]["fork"].update(pte="fast"),
    lambda d: d["coefficients"]["fork"].update(pte=float("nan")),
    lambda d: d["coefficients"]["fork"].update(pte=1e308),  # every prediction infinite
    lambda d: d["coefficients"]["fork"].update(pte=-1.0),
    lambda d: d["coefficients"]["fork"].pop("pte"),
    lambda d: d["coefficients"].update(teleport=d["coefficients"]["fork"]),
])
def test_a_calibration_from_elsewhere_or_damaged_is_ignored(cache: Path, change) -> None:
    calibration.save({"fork": FAST_FORK}, {})
    document = json.loads(cache.read_text())
    change(document)
    cache.write_text(json.dumps(document, allow_nan=True))
    assert calibration.coefficients() is cost.DEFAULTS


@pytest.mark.parametrize("text", ["{not json", "[" * 100_000])
def test_a_file_that_is_not_json_is_ignored(cache: Path, text: str) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text(text)
    assert calibration.coefficients() is cost.DEFAULTS


def test_a_relative_xdg_cache_home_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    assert calibration.cache_dir() == Path.home() / ".cache" / "forklab"


def test_huge_pages_count_as_one_entry_each_and_not_as_ptes() -> None:
    from forklab.bench.cases import Case
    from forklab.bench.predict import model_run, stats_of

    kernel = model_run("fork", Case(size=8 << 20, thp=True))
    stats = stats_of(kernel.processes["parent"])
    assert (stats.huge, stats.ptes) == (4, 0)
    kernel = model_run("fork", Case(size=8 << 20))
    assert (stats_of(kernel.processes["parent"]).huge,
            stats_of(kernel.processes["parent"]).ptes) == (0, 2048)


def test_an_exec_by_a_vfork_child_frees_no_image() -> None:
    from forklab.bench.cases import Case
    from forklab.bench.predict import exec_stats, model_run

    kernel = model_run("vfork_exec", Case(size=1 << 20))
    stats = exec_stats(kernel, kernel.processes["c"])
    assert (stats.image, stats.mappings, stats.ptes) == (0, 0, 0)
    kernel = model_run("exec", Case(size=1 << 20))
    stats = exec_stats(kernel, kernel.processes["c"])
    assert (stats.image, stats.ptes) == (1, 256)
