"""`forklab bench`: each method at each parent size, measured on the kernel and
predicted by the model."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from forklab import vocabulary
from forklab.bench.cases import BENCH_METHODS, METHODS, Case
from forklab.bench.measure import BenchError, measure, preflight
from forklab.bench.predict import predicted_us
from forklab.bench.report import Row
from forklab.sim.cost import DEFAULTS, Coefficients
from forklab.vocabulary import PAGE, format_size

DEFAULT_SIZES = (0, 64 << 20, 256 << 20, 1 << 30)
DEFAULT_REPS = 15


def parse_size(text: str) -> int:
    """0, 4096, 64MiB, 1GiB, 16p (pages), as in a scenario: a whole number of pages, or
    BenchError."""
    try:
        size = vocabulary.parse_size(text.strip())
    except ValueError as err:
        raise BenchError(f"forklab bench: {err}") from None
    if size % PAGE:
        raise BenchError(f"forklab bench: {text}: not a whole number of 4 KiB pages")
    return size


def parse_methods(text: str) -> list[str]:
    """A comma list of method names, each known."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise BenchError(f"forklab bench: unknown method {', '.join(unknown) or '(none)'}; "
                         f"known: {', '.join(METHODS)}")
    return methods


def bench(sizes: list[int], methods: Sequence[str] = BENCH_METHODS, reps: int = DEFAULT_REPS,
          thp: bool = False, on_progress: Callable[[str], None] = lambda _: None,
          available: int | None = None,
          coefficients: dict[str, Coefficients] = DEFAULTS) -> list[Row]:
    """Every method at every size: samples from the kernel, the prediction from the model
    (with these cost coefficients).

    Memory is checked for every size before the first is mapped.
    """
    cases = [Case(size=size, thp=thp) for size in sizes]
    preflight(cases, available)
    rows = []
    jobs = [(case, method) for case in cases for method in methods]
    for i, (case, method) in enumerate(jobs, 1):
        on_progress(f"bench: {method} at {format_size(case.size)} ({i}/{len(jobs)})")
        rows.append(Row(measure(method, case, reps), predicted_us(method, case, coefficients)))
    return rows
