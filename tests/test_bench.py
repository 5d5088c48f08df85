"""forklab bench and calibrate without the kernel: the fit, the preflight, the parsing, the report."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from forklab.bench import fit
from forklab.bench.cases import Case
from forklab.bench.measure import BenchError, Samples, bytes_needed, mem_available, preflight
from forklab.bench.report import Row, plot, table
from forklab.bench.run import bench, parse_methods, parse_size

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
