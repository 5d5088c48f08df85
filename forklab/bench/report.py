"""How a bench is shown: a table, a character plot, JSON rows and a PNG.

Every row is one method at one parent size: the median of the repeated
measurements with their spread (the quartiles), the model's prediction, and
whether the prediction is within the error the cost model claims for a median
(MEDIAN_ERROR), and where the prediction's coefficients come from.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forklab.bench.measure import Samples
from forklab.sim.calibration import Calibration
from forklab.sim.cost import MEDIAN_ERROR
from forklab.vocabulary import format_size


@dataclass(frozen=True)
class Row:
    samples: Samples
    predicted_us: float

    @property
    def method(self) -> str:
        return self.samples.method

    @property
    def size(self) -> int:
        return self.samples.case.size

    @property
    def error(self) -> float:
        """(predicted - measured median) / measured median."""
        return (self.predicted_us - self.samples.median) / self.samples.median

    @property
    def agrees(self) -> bool:
        return abs(self.error) <= MEDIAN_ERROR

    def json(self) -> dict[str, Any]:
        q1, q3 = self.samples.quartiles
        return {"method": self.method, "size_bytes": self.size,
                "thp": self.samples.case.thp,
                "measured_us": round(self.samples.median, 1),
                "q1_us": round(q1, 1), "q3_us": round(q3, 1),
                "min_us": round(min(self.samples.values), 1),
                "max_us": round(max(self.samples.values), 1),
                "reps": len(self.samples.values),
                "predicted_us": self.predicted_us,
                "error": round(self.error, 4), "within_tolerance": self.agrees}


def provenance_json(calibration: Calibration, just_made: bool) -> dict[str, Any]:
    """Where the predictions come from: which calibration, made when, and the tolerance
    it measured (one call's spread, the model's error), which verify uses."""
    made = calibration.made
    return {"source": "shipped" if made is None else "this machine",
            "design": calibration.design, "just_made": just_made,
            "made": None if made is None else time.strftime("%Y-%m-%dT%H:%M:%S%z",
                                                           time.localtime(made)),
            "tolerance": {"low": round(calibration.tolerance.low, 3),
                          "high": round(calibration.tolerance.high, 3),
                          "error": round(calibration.tolerance.error, 3),
                          "resolution_us": round(calibration.tolerance.resolution_us, 1)},
            "text": calibration.describe(just_made)}


def _us(value: float) -> str:
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} us"


def table(rows: list[Row]) -> str:
    """One line per method and size: measured median [quartiles], model, error."""
    head = (f"{'method':<15} {'size':>8} {'measured':>10} {'spread (q1-q3)':>20} "
            f"{'model':>10} {'error':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        q1, q3 = r.samples.quartiles
        mark = "" if r.agrees else f"  off by more than {MEDIAN_ERROR:.0%}"
        lines.append(f"{r.method:<15} {format_size(r.size):>8} {_us(r.samples.median):>10} "
                     f"{_us(q1) + ' - ' + _us(q3):>20} {_us(r.predicted_us):>10} "
                     f"{r.error:>+7.0%}{mark}")
    return "\n".join(lines)


MARKS = {"fork": "f", "fork_exec": "F", "vfork": "v", "vfork_exec": "V", "posix_spawn": "p",
         "clone_vm_vfork": "c", "zygote": "z", "exec": "e"}


def plot(rows: list[Row], width: int = 60, height: int = 16) -> str:
    """Median latency against size, both on log scales, one letter per method;
    the model's predictions are drawn as '.' where no measurement covers them."""
    methods = list(dict.fromkeys(r.method for r in rows))
    sizes = sorted({r.size for r in rows})
    values = [v for r in rows for v in (r.samples.median, r.predicted_us) if v > 0]
    if not values or not sizes:
        return ""
    lo, hi = math.log10(min(values)), math.log10(max(values))
    hi = hi if hi > lo else lo + 1
    grid = [[" "] * width for _ in range(height)]

    def cell(size: int, us: float) -> tuple[int, int]:
        x = 0 if len(sizes) == 1 else round(sizes.index(size) * (width - 1) / (len(sizes) - 1))
        y = round((math.log10(max(us, 10 ** lo)) - lo) / (hi - lo) * (height - 1))
        return height - 1 - y, x

    for r in rows:
        y, x = cell(r.size, r.predicted_us)
        if grid[y][x] == " ":
            grid[y][x] = "."
    for r in rows:
        y, x = cell(r.size, r.samples.median)
        grid[y][x] = MARKS[r.method]
    labels = {0: _us(10 ** hi), height - 1: _us(10 ** lo), (height - 1) // 2:
              _us(10 ** ((hi + lo) / 2))}
    out = [f"{labels.get(i, ''):>9} |{''.join(line)}" for i, line in enumerate(grid)]
    out.append(" " * 10 + "+" + "-" * width)
    axis = [" "] * (width + 12)
    for size in sizes:
        _, x = cell(size, 10 ** lo)
        text = format_size(size)
        start = min(11 + x, len(axis) - len(text))
        if all(c == " " for c in axis[max(0, start - 1):start + len(text)]):
            axis[start:start + len(text)] = text
    out.append("".join(axis).rstrip())
    out.append("  " + "  ".join(f"{MARKS[m]} {m}" for m in methods)
               + "  . model")
    return "\n".join(out)


def write_png(rows: list[Row], path: Path) -> None:
    """The figure: median and quartiles per method against size, model as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for method in dict.fromkeys(r.method for r in rows):
        mine = sorted((r for r in rows if r.method == method), key=lambda r: r.size)
        xs = [max(r.size, 1 << 20) / (1 << 20) for r in mine]
        med = [r.samples.median for r in mine]
        spread = [[m - r.samples.quartiles[0] for m, r in zip(med, mine)],
                  [r.samples.quartiles[1] - m for m, r in zip(med, mine)]]
        line = ax.errorbar(xs, med, yerr=spread, marker="o", capsize=3, label=method)
        ax.plot(xs, [r.predicted_us for r in mine], linestyle="--",
                color=line[0].get_color(), alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("parent's written memory (MiB; 0 drawn at 1)")
    ax.set_ylabel("latency (µs): median, quartiles; dashed: model")
    ax.set_title("Process creation latency against parent size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
