"""Calibration: measure this machine, fit the cost model, save the coefficients.

Two designs. The full one (`forklab calibrate`, about half a minute) fits
every term of every kind. The quick one (a few seconds) is made by itself the
first time the cost model meets the kernel on a machine without a valid
calibration (:func:`ensure`): it times each kind at one or two parents and
fits, per kind, a factor for each part of the shipped coefficients (the fixed
part, exec's image, what grows with written memory), keeping the proportions
of the terms within a part. Both record the spread of a single call around its median, which is
verify's tolerance (forklab.sim.cost.Tolerance).

Each kind of the cost model is timed on parents chosen so that every term
varies on its own: sizes written with 4 KiB pages (PTEs, and a table page per
512 of them), with huge pages (huge entries), many one-page mappings left
untouched (mappings alone) or written (a PTE and two table pages each, as the
model lays them out), many fds and a few threads. The terms of a point are
the ForkStats of the model's own state for that parent (forklab.bench.predict),
so the coefficients mean what the simulator will multiply them by.
"""
from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from forklab.bench import fit, regime
from forklab.bench.cases import Case
from forklab.bench.measure import BenchError, Samples, bench_path, measure, preflight
from forklab.bench.predict import exec_stats, model_run, stats_of
from forklab.real import RealBackend
from forklab.sim import calibration, cost

MiB, GiB = 1 << 20, 1 << 30

DESIGN: dict[str, tuple[tuple[str, ...], tuple[Case, ...]]] = {
    "fork": (("fork",), (
        Case(), Case(size=64 * MiB), Case(size=256 * MiB), Case(size=GiB),
        Case(size=256 * MiB, retouch=True),
        Case(size=256 * MiB, thp=True), Case(size=GiB, thp=True),
        Case(maps=1000), Case(maps=250, maps_touch="write"), Case(maps=1000, maps_touch="write"),
        Case(maps=4000, maps_touch="write"), Case(fds=1000), Case(threads=8), Case(cold=True),
    )),
    "vfork": (("vfork", "clone_vm_vfork"), (Case(), Case(size=GiB), Case(maps=1000),
                                             Case(fds=1000), Case(cold=True))),
    "spawn": (("posix_spawn",), (Case(), Case(size=GiB), Case(maps=1000), Case(fds=1000),
                                 Case(cold=True))),
    "exec": (("exec", "vfork_exec"), (
        Case(), Case(size=256 * MiB), Case(size=GiB), Case(size=GiB, thp=True),
        Case(maps=1000), Case(maps=1000, maps_touch="write"), Case(fds=1000),
    )),
}
"""For each kind of the model: the bench methods that time it, and the parents."""

QUICK: dict[str, tuple[tuple[str, ...], tuple[Case, ...]]] = {
    "fork": (("fork",), (Case(), Case(size=256 * MiB), Case(size=256 * MiB, retouch=True),
                         Case(size=16 * MiB), Case(cold=True))),
    "vfork": (("vfork",), (Case(), Case(cold=True))),
    "spawn": (("posix_spawn",), (Case(), Case(cold=True))),
    "exec": (("exec", "vfork_exec"), (Case(), Case(size=256 * MiB))),
}
"""The quick design: each kind from an empty parent, with warm and with cold caches,
and (where a kind grows with the parent) one of 256 MiB written, for fork also
rewritten before each call; vfork_exec gives exec without an image."""
QUICK_HELD_OUT = (("fork", Case(size=16 * MiB)),)
"""Measured with the quick design, not fitted: how far the model is off a median it
was not fitted to (a zygote's or bench's small fork), which is the model error of
the tolerance. On a loaded machine a long call is slowed more than a short one,
and this is where it shows."""
QUICK_REPS, QUICK_ROUNDS = 5, 3
QUICK_PARTS = {"fixed": (), "image": ("image",), "growth": ("pte", "huge", "table", "crowd"),
               "protect": ("wrprotect",), "cold": ("cold",)}
"""How the quick fit groups the terms: each part keeps the shipped proportions
of its terms and gets a factor of its own (every term not named is fixed)."""
KEEP_SPREAD = 3.0
"""A quick calibration in which one call took more than this many times its median
was made while others loaded the machine: it is used once and not kept, so the
next command measures again (on a quiet machine one call strays up to 2.5 times)."""


@dataclass(frozen=True)
class Point:
    """One measured median and the model's terms for it.

    A vfork_exec point times exec by a vfork child, which frees no image, but
    only together with the vfork: the fitted vfork time (of `minus`) is taken
    off before the exec kind is fitted to it."""

    kind: str
    samples: Samples
    stats: cost.ForkStats
    minus: cost.ForkStats | None = None

    def target(self, fitted: dict[str, cost.Coefficients]) -> float:
        if self.minus is None:
            return self.samples.median
        return max(self.samples.median - fitted["vfork"](self.minus), 1.0)


@dataclass(frozen=True)
class Fitted:
    kind: str
    coefficients: cost.Coefficients
    points: list[Point]

    targets: list[float]

    def residuals(self) -> list[float]:
        return fit.relative_residuals([p.stats.terms() for p in self.points], self.targets,
                                      self.coefficients.values())


def model_stats(kind: str, method: str, case: Case) -> cost.ForkStats:
    """The terms the model multiplies for this kind, in the state the case builds."""
    if kind == "exec":
        kernel = model_run(method, case)
        return exec_stats(kernel, kernel.processes["c"])
    kernel = model_run(method, case, create=False)  # what the call finds, not leaves
    return replace(stats_of(kernel.processes["zygote" if method == "zygote" else "parent"]),
                   cold=1.0 if case.cold else 0.0)


def measure_design(design: dict[str, tuple[tuple[str, ...], tuple[Case, ...]]], reps: int,
                   on_progress: Callable[[str], None] = lambda _: None,
                   rounds: int = 1) -> list[Point]:
    """Every point of the design, timed `reps` times in each of `rounds` passes over
    the design: on a machine others load, a burst then slows one pass of every
    point rather than every sample of one."""
    preflight([case for _, cases in design.values() for case in cases])
    jobs = [(kind, method, case) for kind, (methods, cases) in design.items()
            for method in methods for case in cases]
    values: list[tuple[float, ...]] = [()] * len(jobs)
    for r in range(rounds):
        for i, (_, method, case) in enumerate(jobs):
            on_progress(f"calibrate: {method} at {case.label()} "
                        f"({r * len(jobs) + i + 1}/{rounds * len(jobs)})")
            values[i] += measure(method, case, reps).values
    return [Point(kind, Samples(method, case, samples), model_stats(kind, method, case),
                  model_stats("vfork", method, case) if method == "vfork_exec" else None)
            for (kind, method, case), samples in zip(jobs, values)]


Fitter = Callable[[str, list[tuple[float, ...]], list[float]], cost.Coefficients]


def fit_full(kind: str, rows: list[tuple[float, ...]], targets: list[float]) -> cost.Coefficients:
    """Every term fitted on its own."""
    return cost.Coefficients.from_values(fit.fit(list(rows), targets))


def quick_row(kind: str, terms: tuple[float, ...]) -> list[float]:
    """The shipped prediction split in three: the fixed part (what an empty parent
    costs), the image, and what grows with written memory."""
    parts = dict.fromkeys(QUICK_PARTS, 0.0)
    for name, c, t in zip(cost.TERMS, cost.DEFAULTS[kind].values(), terms):
        parts[_part(name)] += c * t
    return list(parts.values())


def _part(term: str) -> str:
    return next((part for part, names in QUICK_PARTS.items() if term in names), "fixed")


def fit_quick(kind: str, rows: list[tuple[float, ...]], targets: list[float]) -> cost.Coefficients:
    """The shipped coefficients times one factor per part, each fitted; a part no
    point varied on its own (vfork, posix_spawn) takes the fixed part's factor."""
    found = dict(zip(QUICK_PARTS, fit.fit([quick_row(kind, row) for row in rows], targets)))
    factor = {part: found[part] or found["fixed"] for part in QUICK_PARTS}
    return cost.Coefficients.from_values(
        [factor[_part(name)] * value
         for name, value in zip(cost.TERMS, cost.DEFAULTS[kind].values())])


def fit_points(points: list[Point], fitter: Fitter = fit_full) -> list[Fitted]:
    """The coefficients of each kind, fitted to its points' medians."""
    fitted: list[Fitted] = []
    done: dict[str, cost.Coefficients] = {}
    kinds = sorted(dict.fromkeys(p.kind for p in points), key=lambda k: k == "exec")
    for kind in kinds:  # exec last: its vfork_exec points need the vfork fit
        mine = [p for p in points if p.kind == kind]
        targets = [p.target(done) for p in mine]
        done[kind] = fitter(kind, [p.stats.terms() for p in mine], targets)
        fitted.append(Fitted(kind, done[kind], mine, targets))
    return fitted


def spread(points: list[Point]) -> cost.Tolerance:
    """How far one call strays from the median of its point: the 2nd and 98th
    percentiles of sample / median over every sample of every point; and the
    machine's resolution, in microseconds: what its cheapest fork costs (the fork
    point with the smallest median, or the cheapest point of all without one) plus
    how far those calls stray (98th percentile of |call - median|). One measured
    call cannot tell apart a model off by less than one empty fork."""
    ratios = [v / p.samples.median for p in points for v in p.samples.values]
    if len(ratios) < 2:
        return calibration.SHIPPED.tolerance
    cuts = statistics.quantiles(ratios, n=50, method="inclusive")
    forks = [p for p in points if p.kind == "fork"] or points
    cheapest = min(forks, key=lambda p: p.samples.median)
    strays = [abs(v - cheapest.samples.median) for v in cheapest.samples.values]
    stray = statistics.quantiles(strays, n=50, method="inclusive")[-1] if len(strays) > 1 \
        else 0.0
    return cost.Tolerance(low=min(cuts[0], 1.0), high=max(cuts[-1], 1.0),
                          resolution_us=cheapest.samples.median + stray)


def model_error(fitted: list[Fitted], held_out: list[Point]) -> float:
    """How far the fit is off a measured median, at worst: over its own points and the
    ones held out of it; never less than MEDIAN_ERROR."""
    coefficients = {**cost.DEFAULTS, **{f.kind: f.coefficients for f in fitted}}
    off = [abs(r) for f in fitted for r in f.residuals()] + [
        abs(coefficients[p.kind](p.stats) / p.target(coefficients) - 1) for p in held_out]
    return max([cost.MEDIAN_ERROR, *off])


def calibration_of(fitted: list[Fitted], design: str,
                   held_out: list[Point] | None = None) -> calibration.Calibration:
    """The calibration: the fitted coefficients, and the spread of one call over every
    point measured with the model's error as the tolerance."""
    held_out = held_out or []
    # a cold point's calls follow 64 MiB of fresh writes each, and stray with them
    # (the eviction, not the machine): one call's spread is that of the others
    one_call = spread([p for f in fitted for p in f.points if not p.samples.case.cold]
                      + held_out)
    return calibration.Calibration(
        {**cost.DEFAULTS, **{f.kind: f.coefficients for f in fitted}},
        replace(one_call, error=model_error(fitted, held_out)), design, time.time())


def save(made: calibration.Calibration, fitted: list[Fitted]) -> str:
    """Write the calibration where forklab reads it, with its points; returns the path."""
    points = [{"kind": f.kind, "method": p.samples.method, "case": p.samples.case.label(),
               "samples": len(p.samples.values), "median_us": round(p.samples.median, 1),
               "residual": round(r, 4)}
              for f in fitted for p, r in zip(f.points, f.residuals())]
    return str(calibration.save(made, {"points": points}))


def with_regime(fitted: list[Fitted], say: Callable[[str], None]) -> list[Fitted]:
    """The fits, each kind given the regime its calls show on the real backend."""
    say("calibrate: creating calls on the real backend")
    found = regime.with_regime({f.kind: f.coefficients for f in fitted}, RealBackend())
    return [replace(f, coefficients=found[f.kind]) for f in fitted]


def quick(say: Callable[[str], None]) -> tuple[list[Fitted], calibration.Calibration]:
    """Measure the quick design, fit it, and check it on the points held out."""
    points = measure_design(QUICK, QUICK_REPS, say, rounds=QUICK_ROUNDS)
    held_out = [p for p in points if (p.samples.method, p.samples.case) in QUICK_HELD_OUT]
    fitted = with_regime(fit_points([p for p in points if p not in held_out], fit_quick), say)
    return fitted, calibration_of(fitted, "quick", held_out)


def full(reps: int, say: Callable[[str], None]) -> tuple[list[Fitted], calibration.Calibration]:
    """Measure the full design and fit every term."""
    fitted = with_regime(fit_points(measure_design(DESIGN, reps, say), fit_full), say)
    return fitted, calibration_of(fitted, "full")


def ensure(say: Callable[[str], None]) -> tuple[calibration.Calibration, bool]:
    """This machine's calibration, made now (quick) if there is no valid one; and
    whether it was just made. Without the timing program, or the memory, the
    shipped coefficients stand, and `say` says so."""
    found = calibration.current(say)
    if found is not calibration.SHIPPED:
        return found, False
    if not os.access(bench_path(), os.X_OK):
        say("forklab: cannot calibrate (forklab-bench is not built): "
            "predicting with the shipped coefficients")
        return calibration.SHIPPED, False
    say("forklab: no calibration of this machine: a quick one (a few seconds, once)")
    try:
        fitted, made = quick(say)
    except BenchError as err:
        say(f"{err}; predicting with the shipped coefficients")
        return calibration.SHIPPED, False
    if made.tolerance.high > KEEP_SPREAD:
        say(f"forklab: the machine is busy (one call took up to {made.tolerance.high:.1f} "
            f"times its median): this calibration is used now, not kept")
        return made, True
    try:
        where = save(made, fitted)
        say(f"forklab: saved to {where} (`forklab calibrate` makes a full one)")
    except (OSError, calibration.Refused) as err:
        say(f"forklab: calibration not saved: {err}")
    return made, True


def render(fitted: list[Fitted]) -> str:
    """Each kind's coefficients, then every point: measured, fitted, residual."""
    lines = []
    for f in fitted:
        terms = ", ".join(f"{name} {value:.4g}" for name, value in
                          zip(cost.TERMS, f.coefficients.values()) if value)
        worst = max((abs(r) for r in f.residuals()), default=0.0)
        regime_part = f"regime {f.coefficients.regime:.2f}; " if f.coefficients.cold else ""
        lines.append(f"{f.kind}: {terms or 'nothing fitted'}  "
                     f"(us; {regime_part}worst residual {worst:.0%})")
        for p, target, r in zip(f.points, f.targets, f.residuals()):
            fitted_us = target * (1 + r)
            lines.append(f"  {p.samples.method:<15} {p.samples.case.label():<26} "
                         f"measured {target:>10.1f}  fit {fitted_us:>10.1f}  {r:>+7.1%}")
    return "\n".join(lines)
