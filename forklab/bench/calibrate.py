"""`forklab calibrate`: measure this machine, fit the cost model, save the coefficients.

Each kind of the cost model is timed on parents chosen so that every term
varies on its own: sizes written with 4 KiB pages (PTEs, and a table page per
512 of them), with huge pages (huge entries), many one-page mappings left
untouched (mappings alone) or written (a PTE and two table pages each, as the
model lays them out), many fds and a few threads. The terms of a point are
the ForkStats of the model's own state for that parent (forklab.bench.predict),
so the coefficients mean what the simulator will multiply them by.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from forklab.bench import fit
from forklab.bench.cases import Case
from forklab.bench.measure import Samples, measure, preflight
from forklab.bench.predict import exec_stats, model_run, stats_of
from forklab.sim import calibration, cost

MiB, GiB = 1 << 20, 1 << 30

DESIGN: dict[str, tuple[tuple[str, ...], tuple[Case, ...]]] = {
    "fork": (("fork",), (
        Case(), Case(size=64 * MiB), Case(size=256 * MiB), Case(size=GiB),
        Case(size=256 * MiB, thp=True), Case(size=GiB, thp=True),
        Case(maps=1000), Case(maps=250, maps_touch="write"), Case(maps=1000, maps_touch="write"),
        Case(fds=1000), Case(threads=8),
    )),
    "vfork": (("vfork", "clone_vm_vfork"), (Case(), Case(size=GiB), Case(maps=1000),
                                             Case(fds=1000))),
    "spawn": (("posix_spawn",), (Case(), Case(size=GiB), Case(maps=1000), Case(fds=1000))),
    "exec": (("exec", "vfork_exec"), (
        Case(), Case(size=256 * MiB), Case(size=GiB), Case(size=GiB, thp=True),
        Case(maps=1000), Case(maps=1000, maps_touch="write"), Case(fds=1000),
    )),
}
"""For each kind of the model: the bench methods that time it, and the parents."""

QUICK: dict[str, tuple[tuple[str, ...], tuple[Case, ...]]] = {
    kind: (methods, cases[:2]) for kind, (methods, cases) in DESIGN.items()}
"""A smaller design for checking that calibration runs (too few points to trust)."""


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
    kernel = model_run(method, case)
    child = kernel.processes["c"]
    if kind == "exec":
        return exec_stats(kernel, child)
    return stats_of(kernel.processes["zygote" if method == "zygote" else "parent"])


def measure_design(design: dict[str, tuple[tuple[str, ...], tuple[Case, ...]]], reps: int,
                   on_progress: Callable[[str], None] = lambda _: None) -> list[Point]:
    preflight([case for _, cases in design.values() for case in cases])
    jobs = [(kind, method, case) for kind, (methods, cases) in design.items()
            for method in methods for case in cases]
    points = []
    for i, (kind, method, case) in enumerate(jobs, 1):
        on_progress(f"calibrate: {method} at {case.label()} ({i}/{len(jobs)})")
        minus = model_stats("vfork", method, case) if method == "vfork_exec" else None
        points.append(Point(kind, measure(method, case, reps), model_stats(kind, method, case),
                            minus))
    return points


def fit_points(points: list[Point]) -> list[Fitted]:
    """The coefficients of each kind, fitted to its points' medians."""
    fitted: list[Fitted] = []
    done: dict[str, cost.Coefficients] = {}
    kinds = sorted(dict.fromkeys(p.kind for p in points), key=lambda k: k == "exec")
    for kind in kinds:  # exec last: its vfork_exec points need the vfork fit
        mine = [p for p in points if p.kind == kind]
        targets = [p.target(done) for p in mine]
        done[kind] = cost.Coefficients.from_values(
            fit.fit([p.stats.terms() for p in mine], targets))
        fitted.append(Fitted(kind, done[kind], mine, targets))
    return fitted


def save(fitted: list[Fitted], reps: int) -> str:
    """Write the calibration where the simulator reads it; returns the path."""
    coefficients = {f.kind: f.coefficients for f in fitted}
    points = [{"kind": f.kind, "method": p.samples.method, "case": p.samples.case.label(),
               "median_us": round(p.samples.median, 1), "residual": round(r, 4)}
              for f in fitted for p, r in zip(f.points, f.residuals())]
    return str(calibration.save(coefficients, {"reps": reps, "points": points}))


def render(fitted: list[Fitted]) -> str:
    """Each kind's coefficients, then every point: measured, fitted, residual."""
    lines = []
    for f in fitted:
        terms = ", ".join(f"{name} {value:.4g}" for name, value in
                          zip(cost.TERMS, f.coefficients.values()) if value)
        lines.append(f"{f.kind}: {terms or 'nothing fitted'}  (us)")
        for p, target, r in zip(f.points, f.targets, f.residuals()):
            fitted_us = target * (1 + r)
            lines.append(f"  {p.samples.method:<15} {p.samples.case.label():<26} "
                         f"measured {target:>10.1f}  fit {fitted_us:>10.1f}  {r:>+7.1%}")
    return "\n".join(lines)
