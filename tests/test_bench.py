"""forklab bench and calibrate without the kernel: the fit, the preflight, the parsing, the report."""
from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from forklab.bench import calibrate, cases, fit, regime
from forklab.bench.cases import Case
from forklab.bench.measure import BenchError, Samples, bytes_needed, mem_available, preflight
from forklab.bench.report import Row, plot, table
from forklab.bench.run import bench, parse_methods, parse_size
from forklab.sim import SimBackend, calibration, cost
from forklab.sim.cost import Coefficients, Tolerance

GiB = 1 << 30
KNOWN = [70.0, 0.45, 0.08, 0.3, 1.0, 0.02, 5.0]  # base, then six per-unit costs


def synthetic_rows(n: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[1.0, rng.choice([24, 25, 1024, 274]), rng.choice([0, 16384, 65536, 262144, 1000]),
             rng.choice([0, 128, 512]), rng.choice([0, 33, 129, 513, 2000]),
             rng.choice([3, 1003]), rng.choice([1, 9])] for _ in range(n)]


def exact(rows: list[list[float]], coefficients: list[float]) -> list[float]:
    return [sum(c * t for c, t in zip(coefficients, row)) for row in rows]


def test_the_fit_recovers_known_coefficients_from_exact_times() -> None:
    rows = synthetic_rows(40, seed=1)
    assert fit.fit(rows, exact(rows, KNOWN)) == pytest.approx(KNOWN, rel=1e-9)


def test_the_fit_stays_close_when_the_times_are_noisy() -> None:
    rows = synthetic_rows(60, seed=2)
    rng = random.Random(3)
    noisy = [y * rng.uniform(0.97, 1.03) for y in exact(rows, KNOWN)]
    found = fit.fit(rows, noisy)
    assert found == pytest.approx(KNOWN, rel=0.15)
    assert max(abs(r) for r in fit.relative_residuals(rows, noisy, found)) < 0.06


def test_a_cost_that_would_come_out_negative_is_held_at_zero() -> None:
    rows = [[1.0, float(n)] for n in range(10)]
    y = [100.0 - 0.01 * n for n in range(10)]  # slightly falling: no negative per-unit cost
    base, per = fit.fit(rows, y)
    assert per == 0.0 and base == pytest.approx(99.95, rel=1e-3)


def test_a_term_no_point_varies_is_held_at_zero_not_guessed() -> None:
    rows = [[1.0, 1.0, float(n)] for n in range(5)]  # column 1 always equals column 0
    found = fit.fit(rows, exact(rows, [10.0, 0.0, 2.0]))
    assert found == pytest.approx([10.0, 0.0, 2.0])


def test_solve_refuses_a_singular_system() -> None:
    assert fit.solve([[1.0, 2.0], [2.0, 4.0]], [1.0, 2.0]) is None
    assert fit.solve([[2.0, 1.0], [1.0, 3.0]], [3.0, 5.0]) == pytest.approx([0.8, 1.4])


# --- the preflight -------------------------------------------------------------


def test_a_size_that_fits_passes_the_preflight() -> None:
    preflight([Case(size=GiB)], available=4 * GiB)


def test_a_size_that_does_not_fit_is_refused_naming_the_size_and_what_is_available() -> None:
    with pytest.raises(BenchError) as err:
        preflight([Case(size=64 << 20), Case(size=8 * GiB)], available=4 * GiB)
    message = str(err.value)
    assert "8 GiB" in message and "4 GiB is available" in message


def test_what_a_case_needs_grows_with_what_it_writes_only() -> None:
    assert bytes_needed(Case(size=GiB)) > GiB
    assert bytes_needed(Case(size=GiB, touch="read")) < bytes_needed(Case(size=GiB)) // 100


def test_bench_refuses_before_it_measures_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    from forklab.bench import run

    def never(*args: object) -> None:
        raise AssertionError("measured although a size could not fit")

    monkeypatch.setattr(run, "measure", never)
    with pytest.raises(BenchError, match="16 GiB"):
        bench([0, 16 * GiB], ["fork"], available=2 * GiB)


def test_mem_available_reads_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  100 kB\nMemFree:  50 kB\nMemAvailable:   2048 kB\n")
    assert mem_available(str(meminfo)) == 2048 * 1024
    meminfo.write_text("MemTotal:  100 kB\n")
    with pytest.raises(BenchError):
        mem_available(str(meminfo))


# --- the command line's words ----------------------------------------------------------


@pytest.mark.parametrize("text,size", [("0", 0), ("4096", 4096), ("64MiB", 64 << 20),
                                       ("1GiB", GiB), ("1G", GiB), ("16p", 16 * 4096)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["1.5GiB", "-1", "12", "big", "1 PiB"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(BenchError):
        parse_size(text)


def test_methods_must_be_known() -> None:
    assert parse_methods("fork, posix_spawn") == ["fork", "posix_spawn"]
    with pytest.raises(BenchError, match="spork"):
        parse_methods("fork,spork")


# --- the report ---------------------------------------------------------------------


def rows() -> list[Row]:
    return [Row(Samples("fork", Case(size=s), (v * 0.9, v, v * 1.2)), v * 1.1)
            for s, v in ((0, 60.0), (GiB, 18000.0))] + [
        Row(Samples("posix_spawn", Case(size=s), (120.0, 130.0, 150.0)), 130.0)
        for s in (0, GiB)]


def test_json_rows_name_method_size_measured_and_predicted() -> None:
    doc = json.loads(json.dumps([r.json() for r in rows()]))
    first = doc[1]
    assert (first["method"], first["size_bytes"], first["measured_us"],
            first["predicted_us"]) == ("fork", GiB, 18000.0, 19800.0)
    assert first["error"] == pytest.approx(0.1)


def test_the_table_has_a_line_per_method_and_size() -> None:
    text = table(rows())
    assert len(text.splitlines()) == 2 + 4
    assert "18.00 ms" in text and "+10%" in text


def test_the_plot_puts_the_slow_method_above_the_fast_one() -> None:
    lines = plot(rows()).splitlines()
    grid = lines[:-3]
    fork_rows = [i for i, line in enumerate(grid) if "f" in line.split("|", 1)[1]]
    spawn_rows = [i for i, line in enumerate(grid) if "p" in line.split("|", 1)[1]]
    assert min(fork_rows) < min(spawn_rows)  # row 0 is the top: the slowest
    assert "1 GiB" in lines[-2] and "f fork" in lines[-1]


# --- the quick calibration -------------------------------------------------------------


def machine_of(fixed: float, image: float, growth: float) -> dict[str, Coefficients]:
    """A machine whose costs are the shipped ones times one factor per part."""
    def scaled(c: Coefficients) -> Coefficients:
        return Coefficients.from_values(
            [v * (image if name == "image" else growth if name in ("pte", "huge", "table",
                                                                   "crowd") else fixed)
             for name, v in zip(cost.TERMS, c.values())])
    return {kind: scaled(c) for kind, c in cost.DEFAULTS.items()}


def synthetic_points(truth: dict[str, Coefficients], noise: float = 0.0,
                     seed: int = 0) -> list[calibrate.Point]:
    """The quick design's points, with the model's terms and the times `truth` gives."""
    rng = random.Random(seed)
    points = []
    for kind, (methods, cases) in calibrate.QUICK.items():
        for method in methods:
            for case in cases:
                stats = calibrate.model_stats(kind, method, case)
                minus = (calibrate.model_stats("vfork", method, case)
                         if method == "vfork_exec" else None)
                us = truth[kind](stats) + (truth["vfork"](minus) if minus else 0.0)
                us *= rng.uniform(1 - noise, 1 + noise)
                points.append(calibrate.Point(
                    kind, Samples(method, case, (0.9 * us, us, 1.2 * us)), stats, minus))
    return points


def test_the_quick_fit_recovers_a_machine_whose_costs_scale_by_part() -> None:
    truth = machine_of(fixed=0.6, image=1.4, growth=2.5)
    fitted = calibrate.fit_points(synthetic_points(truth), calibrate.fit_quick)
    for f in fitted:
        assert f.coefficients.values() == pytest.approx(truth[f.kind].values(), rel=1e-6)


def test_a_kind_timed_at_one_parent_scales_every_cost_by_its_fixed_factor() -> None:
    truth = machine_of(fixed=1.5, image=1.5, growth=3.0)  # vfork and spawn do not grow
    fitted = {f.kind: f.coefficients for f in
              calibrate.fit_points(synthetic_points(truth), calibrate.fit_quick)}
    assert fitted["vfork"].values() == pytest.approx(
        [1.5 * v for v in cost.DEFAULTS["vfork"].values()])
    assert fitted["spawn"].base == pytest.approx(1.5 * cost.DEFAULTS["spawn"].base)


def test_the_quick_fit_of_noisy_times_predicts_a_1_gib_fork_within_the_noise() -> None:
    truth = machine_of(fixed=0.8, image=1.2, growth=0.3)
    fitted = {f.kind: f.coefficients for f in
              calibrate.fit_points(synthetic_points(truth, noise=0.05, seed=4),
                                   calibrate.fit_quick)}
    stats = calibrate.model_stats("fork", "fork", Case(size=GiB))
    assert fitted["fork"](stats) == pytest.approx(truth["fork"](stats), rel=0.1)


def test_the_spread_is_the_2nd_to_98th_percentile_of_one_call_over_its_median() -> None:
    values = (60.0,) * 3 + (100.0,) * 95 + (200.0,) * 3  # 101 calls, median 100
    point = calibrate.Point("fork", Samples("fork", Case(), values), cost.ForkStats.empty())
    # the resolution: the cheapest fork's median, 100 us, and its calls' 98th
    # percentile of |call - median|, 100 us
    assert calibrate.spread([point]) == Tolerance(low=0.6, high=2.0, resolution_us=200.0)
    once = (50.0,) + (100.0,) * 99 + (900.0,)  # one outlier each way is not the spread
    point = calibrate.Point("fork", Samples("fork", Case(), once), cost.ForkStats.empty())
    assert calibrate.spread([point]) == Tolerance(low=1.0, high=1.0, resolution_us=100.0)
    slow = calibrate.Point("fork", Samples("fork", Case(), (5000.0, 9000.0, 7000.0)),
                           cost.ForkStats.empty())
    cheaper = calibrate.Point("vfork", Samples("vfork", Case(), (10.0, 10.0, 10.0)),
                              cost.ForkStats.empty())
    assert calibrate.spread([point, slow, cheaper]).resolution_us == 100.0  # the cheapest fork


# --- made by itself, once --------------------------------------------------------------


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "forklab" / "calibration.json"


def fake_measurements(monkeypatch: pytest.MonkeyPatch, truth: dict[str, Coefficients]
                      ) -> list[int]:
    """Measuring gives the quick design's points on `truth`; returns a call count."""
    calls: list[int] = []

    def measure_design(design: object, reps: int, say: Callable[[str], None],
                       rounds: int = 1) -> list[calibrate.Point]:
        assert design is calibrate.QUICK
        calls.append(reps * rounds)
        return synthetic_points(truth)

    monkeypatch.setattr(calibrate, "measure_design", measure_design)
    keep_regime(monkeypatch)
    return calls


def keep_regime(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real backend's calls are not timed: each fit keeps the regime it has."""
    monkeypatch.setattr(calibrate, "with_regime", lambda fitted, say: fitted)


def fake_points(monkeypatch: pytest.MonkeyPatch, points: list[calibrate.Point]) -> None:
    """Measuring the design gives these points."""
    monkeypatch.setattr(calibrate, "measure_design", lambda *args, **kwargs: points)
    keep_regime(monkeypatch)


def test_without_a_calibration_a_quick_one_is_made_saved_and_said(
        empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    truth = machine_of(fixed=0.5, image=1.0, growth=0.25)
    calls = fake_measurements(monkeypatch, truth)
    said: list[str] = []
    made, just_made = calibrate.ensure(said.append)
    assert just_made and made.design == "quick" and len(calls) == 1
    assert made.coefficients["fork"].values() == pytest.approx(truth["fork"].values())
    assert any("quick" in line for line in said) and empty_cache.exists()
    again, just_made = calibrate.ensure(said.append)  # the next time: the saved one
    assert not just_made and len(calls) == 1 and again == made


def test_a_refused_calibration_is_named_with_why_and_made_anew(
        empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_measurements(monkeypatch, machine_of(1.0, 1.0, 1.0))
    empty_cache.parent.mkdir(parents=True)
    empty_cache.write_text(f'{{"version": {calibration.VERSION}, '
                           '"machine": {"kernel": "2.6.32"}}')
    said: list[str] = []
    _, just_made = calibrate.ensure(said.append)
    assert just_made and len(calls) == 1
    assert f"not using {empty_cache}: made on another machine" in said[0]


def test_without_the_timing_program_the_shipped_coefficients_stand_and_it_is_said(
        empty_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = fake_measurements(monkeypatch, machine_of(1.0, 1.0, 1.0))
    monkeypatch.setenv("FORKLAB_BENCH", str(tmp_path / "missing"))
    said: list[str] = []
    assert calibrate.ensure(said.append) == (calibration.SHIPPED, False)
    assert not calls and "not built" in said[0]


def test_verify_compares_with_the_spread_measured_here(
        empty_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The tolerance verify is given is the one the calibration measured."""
    from forklab import cli

    measured = Tolerance(low=0.85, high=1.3)
    calibration.save(calibration.Calibration(dict(cost.DEFAULTS), measured, "quick",
                                             time.time()), {})
    given: list[Tolerance] = []

    def verify_scenario(scenario: object, file: str, sim: object, real: object,
                        tolerance: Tolerance) -> object:
        given.append(tolerance)
        raise SystemExit(0)

    monkeypatch.setattr(cli, "verify_scenario", verify_scenario)
    monkeypatch.setattr(cli, "make_backend", lambda name: None)
    scenario = tmp_path / "s.toml"
    scenario.write_text('id = "s"\ntitle = "t"\nsummary = "s"\n[[step]]\n'
                        'do = "parent: fork -> child"\n')
    with pytest.raises(SystemExit):
        cli.main(["verify", str(scenario)])
    assert given == [measured]


def test_bench_says_where_its_predictions_come_from(
        empty_cache: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from forklab import cli
    from forklab.bench import run

    fake_measurements(monkeypatch, machine_of(1.0, 1.0, 1.0))
    monkeypatch.setattr(run, "bench", lambda *args, **kwargs: rows())
    assert cli.main(["bench", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["predictions"]
    assert (first["source"], first["design"], first["just_made"]) == (
        "this machine", "quick", True)
    assert first["tolerance"]["error"] >= cost.MEDIAN_ERROR
    assert cli.main(["bench"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("predictions: a quick calibration of this machine, made ")


def test_the_model_error_of_the_tolerance_is_measured_on_a_point_held_out_of_the_fit(
        empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 16 MiB fork twice what the fit of the others predicts: the model is off by
    half there, and the band is that much wider on both sides."""
    truth = machine_of(1.0, 1.0, 1.0)
    small = calibrate.QUICK_HELD_OUT[0]
    points = [replace(p, samples=Samples(p.samples.method, p.samples.case,
                                         tuple(2 * v for v in p.samples.values)))
              if (p.samples.method, p.samples.case) == small else p
              for p in synthetic_points(truth)]
    fake_points(monkeypatch, points)
    fitted, made = calibrate.quick(lambda _: None)
    fork = next(f for f in fitted if f.kind == "fork")
    assert small not in [(p.samples.method, p.samples.case) for p in fork.points]
    assert fork.coefficients.values() == pytest.approx(truth["fork"].values())
    assert made.tolerance.error == pytest.approx(0.5)
    assert made.tolerance.band()[1] == pytest.approx(made.tolerance.high * 1.5)


def test_a_quick_calibration_made_on_a_busy_machine_is_used_once_not_kept(
        empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    truth = machine_of(1.0, 1.0, 1.0)
    busy = [replace(p, samples=Samples(p.samples.method, p.samples.case,
                                       p.samples.values * 10 + (p.samples.median * 4,) * 2))
            for p in synthetic_points(truth)]  # 2 calls in 32 at 4 times the median
    fake_points(monkeypatch, busy)
    said: list[str] = []
    made, just_made = calibrate.ensure(said.append)
    assert just_made and made.tolerance.high == pytest.approx(4.0)
    assert "busy" in said[-1] and not empty_cache.exists()


def test_the_regime_is_recovered_from_a_machine_that_has_one() -> None:
    """A 'kernel' that is the model whose calls start at 40% of the cold cost: measuring
    its calls against the model's warm ones finds 40% for every kind measured."""
    truth = {kind: replace(c, regime=0.4) for kind, c in cost.DEFAULTS.items()}
    found = regime.with_regime(cost.DEFAULTS, SimBackend(truth))
    for kind in regime.CALLS:
        assert found[kind].regime == pytest.approx(0.4, abs=0.01), kind
        assert found[kind].values() == cost.DEFAULTS[kind].values()


def test_a_regime_is_a_part_of_the_cold_cost_from_0_to_1() -> None:
    assert regime.regime(kernel_us=150, warm_us=50, cold_us=200) == 0.5
    assert regime.regime(kernel_us=40, warm_us=50, cold_us=200) == 0.0  # warmer than the loop
    assert regime.regime(kernel_us=900, warm_us=50, cold_us=200) == 1.0  # a busy machine
    assert regime.regime(kernel_us=150, warm_us=50, cold_us=0) == 0.0  # no cold cost known


def test_the_largest_cache_is_read_from_sysfs(tmp_path: Path) -> None:
    for index, size in (("index0", "48K"), ("index2", "2048K"), ("index3", "32M")):
        (tmp_path / index).mkdir()
        (tmp_path / index / "size").write_text(size + "\n")
    assert cases.last_level_cache(str(tmp_path)) == 32 << 20
    assert cases.last_level_cache(str(tmp_path / "missing")) == 32 << 20


def test_a_points_terms_are_what_the_call_finds_not_what_it_leaves() -> None:
    """A fork write-protects what it copies: the terms of a bench fork are taken before
    it, after the bench's warm-up fork (read-only PTEs) or its rewrite (writable)."""
    size = 16 << 20
    again = calibrate.model_stats("fork", "fork", Case(size=size))
    rewritten = calibrate.model_stats("fork", "fork", Case(size=size, retouch=True))
    assert (again.ptes, again.writable) == (size // 4096, 0)
    assert (rewritten.ptes, rewritten.writable) == (size // 4096, size // 4096)
