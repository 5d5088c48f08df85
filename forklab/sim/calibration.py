"""The calibration file: cost coefficients and the spread of one call, measured here.

A calibration is kept under the user's XDG cache directory
(``$XDG_CACHE_HOME/forklab/calibration.json``, by default ``~/.cache/forklab/``)
with the machine it was made on and when. The file is input anyone who can
write there could have made, so :func:`load` trusts nothing in it: a file that
is a link, not a regular file, not the user's own or writable by others, not
valid JSON of this version, made on another machine (kernel, architecture,
CPUs, CPU model) or made too long ago is *refused*, with the reason, and the
caller measures afresh. The command line and the lesson player load a
calibration once and give the model its coefficients; verify uses its
tolerance.
"""
from __future__ import annotations

import errno
import json
import math
import os
import platform
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forklab.sim.cost import DEFAULTS, KINDS, MEDIAN_ERROR, TERMS, Coefficients, Tolerance

VERSION = 4
FILE_NAME = "calibration.json"
MAX_AGE_DAYS = 30
"""A calibration older than this is stale: a VM moves to other hosts, a laptop's
firmware and load change; a quick calibration costs a few seconds."""
MAX_BYTES = 1 << 20
MAX_COEFFICIENT = 1e6
"""No fitted coefficient is negative or near a second per unit: a file that says
so is not a calibration, and 1e308 would make every prediction infinite."""
MAX_SPREAD = 100.0
"""A single call a hundred times off its median says the machine was swapping, not
what a call costs: such a spread (or a model that far off) is not a tolerance."""
MAX_RESOLUTION_US = 10_000.0
"""An empty fork costing 10 ms is a stalled machine, not a resolution."""


class Refused(Exception):
    """A calibration file that is not used; the message says why."""


@dataclass(frozen=True)
class Calibration:
    """What the model predicts with, and how far one measured call may stray.

    ``made`` is when it was measured (seconds since the epoch), None for the
    coefficients that ship with forklab; ``design`` is "quick" (made by itself
    when first needed), "full" (`forklab calibrate`) or "shipped"."""

    coefficients: dict[str, Coefficients]
    tolerance: Tolerance
    design: str
    made: float | None = None

    def describe(self, just_made: bool = False) -> str:
        """Where the predictions come from, in a few words."""
        if self.made is None:
            return "the coefficients shipped with forklab (fitted on another machine)"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.made))
        made = "just made" if just_made else f"made {when}"
        return f"a {self.design} calibration of this machine, {made}"


SHIPPED = Calibration(DEFAULTS, Tolerance(low=0.4, high=2.5, error=0.4), "shipped")
"""The shipped coefficients, with the worst spread of one call seen where they were
fitted (a factor of 2.5 for a zygote's small fork) and how far the model's medians
strayed from the measured ones there (up to a factor of 1.4)."""


def cache_dir() -> Path:
    """forklab's directory under the XDG cache directory (a relative setting is ignored)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "forklab"


def path() -> Path:
    return cache_dir() / FILE_NAME


def _cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> dict[str, Any]:
    """What a calibration is only valid on: the kernel, the architecture, the CPUs."""
    return {"kernel": platform.release(), "arch": platform.machine(),
            "cpus": os.cpu_count() or 1, "cpu": _cpu_model()}


def _owned_and_private(info: os.stat_result) -> str | None:
    """Why a file or directory with this status must not be trusted, or None."""
    if info.st_uid != os.geteuid():
        return f"it belongs to uid {info.st_uid}, not to this user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "others may write to it"
    return None


def to_json(calibration: Calibration, extra: dict[str, Any]) -> dict[str, Any]:
    return {"version": VERSION, "machine": machine(), "design": calibration.design,
            "made": calibration.made,
            "tolerance": {"low": calibration.tolerance.low, "high": calibration.tolerance.high,
                          "error": calibration.tolerance.error,
                          "resolution_us": calibration.tolerance.resolution_us},
            "coefficients": {kind: {**dict(zip(TERMS, c.values())), "regime": c.regime}
                             for kind, c in calibration.coefficients.items()},
            **extra}


def _ready_dir() -> Path:
    """The cache directory, made private if new; Refused if it is not safe to write in."""
    directory = cache_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise Refused(f"{directory} is not a directory (a link?)")
    why = _owned_and_private(info)
    if why:
        raise Refused(f"{directory}: {why}")
    return directory


def save(calibration: Calibration, extra: dict[str, Any]) -> Path:
    """Write the calibration atomically (a reader never sees half a file), readable by
    this user only. A link where the file was is replaced, never followed."""
    target = _ready_dir() / FILE_NAME
    scratch = target.with_name(f".{FILE_NAME}.{os.getpid()}")
    try:
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(to_json(calibration, extra), indent=2) + "\n")
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)
    return target


def _number(value: Any, low: float, high: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and low <= value <= high)


def parse(document: Any, now: float | None = None) -> Calibration:
    """The calibration a document holds, or Refused saying why it is not valid here."""
    if not isinstance(document, dict) or document.get("version") != VERSION:
        raise Refused(f"not a calibration of this forklab (format {VERSION})")
    if document.get("machine") != machine():
        raise Refused("made on another machine (kernel, architecture or CPUs differ)")
    made: Any = document.get("made")
    design: Any = document.get("design")
    now = time.time() if now is None else now
    if not _number(made, 0, now + 60):
        raise Refused("it says it was made in the future, or does not say when")
    if now - made > MAX_AGE_DAYS * 86400:
        raise Refused(f"stale: made more than {MAX_AGE_DAYS} days ago")
    if design not in ("quick", "full"):
        raise Refused("it does not say how it was made")
    spread: Any = document.get("tolerance")
    if not (isinstance(spread, dict) and set(spread) == {"low", "high", "error", "resolution_us"}
            and _number(spread["low"], 1 / MAX_SPREAD, 1)
            and _number(spread["high"], 1, MAX_SPREAD)
            and _number(spread["error"], MEDIAN_ERROR, MAX_SPREAD)
            and _number(spread["resolution_us"], 0, MAX_RESOLUTION_US)):
        raise Refused("its tolerance is not a spread around 1, a model error and a resolution")
    raw = document.get("coefficients")
    if not isinstance(raw, dict) or not raw:
        raise Refused("it holds no coefficients")
    found: dict[str, Coefficients] = {}
    for kind, values in raw.items():
        if kind not in KINDS or not isinstance(values, dict) \
                or set(values) != {*TERMS, "regime"}:
            raise Refused(f"coefficients of {str(kind)[:40]!r} are not the cost model's")
        numbers = [values[name] for name in TERMS]
        if not all(_number(v, 0, MAX_COEFFICIENT) for v in numbers):
            raise Refused(f"a coefficient of {kind} is not a number from 0 to {MAX_COEFFICIENT:g}")
        if not _number(values["regime"], 0, 1):
            raise Refused(f"the regime of {kind} is not a number from 0 to 1")
        found[kind] = Coefficients.from_values([float(v) for v in numbers],
                                               float(values["regime"]))
    tolerance = Tolerance(float(spread["low"]), float(spread["high"]), float(spread["error"]),
                          float(spread["resolution_us"]))
    return Calibration({**DEFAULTS, **found}, tolerance, design, float(made))


def _read(target: Path) -> str:
    """The file's text, if it is a regular file of this user's that nobody else may
    write; opened without following a link, so what is checked is what is read."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        if err.errno == errno.ELOOP:  # the last component is a symbolic link
            raise Refused("it is a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Refused("it is not a regular file")
        why = _owned_and_private(info)
        if why:
            raise Refused(why)
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Refused("it is far too large")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("it is not UTF-8 text") from None


def load() -> Calibration | None:
    """This machine's calibration; None if there is none; Refused if the file is not one
    to trust."""
    target = path()
    try:
        text = _read(target)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise Refused(err.strerror or str(err)) from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested too deep
        raise Refused("it is not JSON") from None
    return parse(document)


def current(say: Callable[[str], None] = lambda _: None) -> Calibration:
    """This machine's valid calibration if there is one, else the shipped coefficients
    (`say` is told why a file was refused): for the model alone, which measures
    nothing."""
    try:
        return load() or SHIPPED
    except Refused as err:
        say(f"forklab: not using {path()}: {err}")
        return SHIPPED
