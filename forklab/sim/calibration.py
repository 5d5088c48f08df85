"""The calibration file: cost coefficients measured on this machine.

``forklab calibrate`` writes it under the user's XDG cache directory
(``$XDG_CACHE_HOME/forklab/calibration.json``, by default
``~/.cache/forklab/``), with the machine and kernel it was made on. It counts
only when it is of this version and was made on this machine and kernel:
coefficients measured elsewhere predict nothing here, so any other file is
ignored and the shipped coefficients stand. The command line and the lesson
player read it once (:func:`coefficients`) and give the model what they read.
"""
from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import fields
from pathlib import Path
from typing import Any

from forklab.sim.cost import DEFAULTS, KINDS, Coefficients

VERSION = 1
FILE_NAME = "calibration.json"


def cache_dir() -> Path:
    """forklab's directory under the XDG cache directory (a relative setting is ignored)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "forklab"


def path() -> Path:
    return cache_dir() / FILE_NAME


def machine() -> dict[str, Any]:
    """What a calibration is only valid on: the kernel, the architecture, the CPUs."""
    return {"kernel": platform.release(), "arch": platform.machine(),
            "cpus": os.cpu_count() or 1}


def to_json(coefficients: dict[str, Coefficients], extra: dict[str, Any]) -> dict[str, Any]:
    return {"version": VERSION, "machine": machine(),
            "coefficients": {kind: dict(zip(_names(), c.values()))
                             for kind, c in coefficients.items()},
            **extra}


def save(coefficients: dict[str, Coefficients], extra: dict[str, Any]) -> Path:
    """Write the calibration atomically (a reader never sees half a file)."""
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{FILE_NAME}.{os.getpid()}")
    try:
        scratch.write_text(json.dumps(to_json(coefficients, extra), indent=2) + "\n")
        scratch.replace(target)
    finally:
        scratch.unlink(missing_ok=True)
    return target


MAX_COEFFICIENT = 1e6
"""No fitted coefficient is negative or near a second per unit: a file that says
so (it is user-writable input) is not a calibration, and 1e308 would make every
prediction infinite."""


def parse(document: Any) -> dict[str, Coefficients] | None:
    """The coefficients of a calibration document, or None if it is not valid here."""
    if not isinstance(document, dict) or document.get("version") != VERSION:
        return None
    if document.get("machine") != machine():
        return None
    raw = document.get("coefficients")
    if not isinstance(raw, dict) or not raw:
        return None
    found: dict[str, Coefficients] = {}
    for kind, values in raw.items():
        if kind not in KINDS or not isinstance(values, dict) or set(values) != set(_names()):
            return None
        numbers = [values[name] for name in _names()]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   and 0 <= v <= MAX_COEFFICIENT for v in numbers):
            return None
        found[kind] = Coefficients.from_values([float(v) for v in numbers])
    return found


def load_current() -> dict[str, Coefficients] | None:
    """This machine's calibration, if there is a valid one."""
    try:
        document = json.loads(path().read_text())
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, nested too deep
        return None
    return parse(document)


def coefficients() -> dict[str, Coefficients]:
    """What the model should predict with here: the shipped coefficients, with those
    of this machine's calibration in their place where it has them."""
    calibrated = load_current()
    return {**DEFAULTS, **calibrated} if calibrated else DEFAULTS


def _names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Coefficients))
