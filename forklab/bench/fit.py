"""Least squares for the cost model's coefficients, in plain Python.

A creation time is a sum of terms (a fixed part, per mapping, per PTE, ...)
times coefficients. Times range from 20 us to tens of ms, so the fit weighs
each point by 1/y: it minimises *relative* residuals, and a 1 GiB fork does
not drown the fixed cost. Costs are never negative: a coefficient that comes
out below zero is held at zero and the rest refitted (a small active-set
method). A term that no point varies (a column of zeros, or one that is a
combination of terms before it, like a thread count that is always 1 beside the
fixed part) cannot be fitted and is held at zero too.
"""
from __future__ import annotations

from collections.abc import Sequence

Row = Sequence[float]


def solve(a: list[list[float]], b: list[float]) -> list[float] | None:
    """x with a x = b, by Gaussian elimination with partial pivoting; None if singular."""
    n = len(b)
    m = [list(row) + [b[i]] for i, row in enumerate(a)]
    tiny = 1e-10 * max((abs(a[i][i]) for i in range(n)), default=0.0)
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) <= tiny:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            if f:
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def _least_squares(rows: list[Row], y: list[float], cols: list[int]) -> list[float] | None:
    """Relative least squares over the columns `cols` (scaled to 1 for conditioning)."""
    scale = [max(abs(row[c]) for row in rows) or 1.0 for c in cols]
    xs = [[row[c] / s / yi for c, s in zip(cols, scale)] for row, yi in zip(rows, y)]
    ata = [[sum(r[i] * r[j] for r in xs) for j in range(len(cols))] for i in range(len(cols))]
    atb = [sum(r[i] for r in xs) for i in range(len(cols))]  # each target y/y = 1
    beta = solve(ata, atb)
    return None if beta is None else [v / s for v, s in zip(beta, scale)]


def fit(rows: list[Row], y: list[float]) -> list[float]:
    """Non-negative coefficients c minimising sum(((row . c) - y) / y)^2."""
    if not rows or len(rows) != len(y):
        raise ValueError("fit needs as many targets as rows, and at least one")
    if any(v <= 0 for v in y):
        raise ValueError("times to fit must be positive")
    width = len(rows[0])
    active: list[int] = []
    for c in range(width):  # keep a column only if it is independent of those kept before
        if any(row[c] for row in rows) and _least_squares(rows, y, active + [c]) is not None:
            active.append(c)
    while active:
        beta = _least_squares(rows, y, active)
        assert beta is not None  # a subset of independent columns is independent
        worst = min(range(len(active)), key=lambda i: beta[i])
        if beta[worst] >= 0:
            out = [0.0] * width
            for c, v in zip(active, beta):
                out[c] = v
            return out
        active = active[:worst] + active[worst + 1:]
    return [0.0] * width


def relative_residuals(rows: list[Row], y: list[float], coefficients: Row) -> list[float]:
    """(predicted - measured) / measured for every point."""
    return [(sum(c * t for c, t in zip(coefficients, row)) - yi) / yi
            for row, yi in zip(rows, y)]
