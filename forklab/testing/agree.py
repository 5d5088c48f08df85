"""assert_agree: a scenario must run the same on the model and on the kernel."""
from __future__ import annotations

from typing import Any

from forklab.report import Style
from forklab.scenario.model import Scenario
from forklab.testing.options import KitOptions, current_options

__all__ = ["RealBackendUnavailable", "assert_agree", "real_status"]

_backends: dict[str, Any] = {}


class RealBackendUnavailable(Exception):
    """The kernel backend cannot run here (why, and how to build it, in the message)."""


def real_status() -> tuple[bool, str]:
    """(available, why not) for the real backend, without importing it when it is not."""
    try:
        from forklab.real import real_backend_status
    except ImportError as err:  # pragma: no cover - forklab.real never fails to import
        return False, f"forklab.real cannot be imported ({err})"
    return real_backend_status()


def sim_backend() -> Any:
    if "sim" not in _backends:
        from forklab.sim import SimBackend
        _backends["sim"] = SimBackend()
    return _backends["sim"]


def real_backend() -> Any:
    """The shared RealBackend, or RealBackendUnavailable saying why there is none."""
    if "real" not in _backends:
        ok, why = real_status()
        if not ok:
            raise RealBackendUnavailable(f"the real backend is unavailable: {why}")
        from forklab.real import RealBackend
        _backends["real"] = RealBackend()
    return _backends["real"]


def _skip(reason: str) -> None:
    """pytest.skip under pytest; otherwise raise RealBackendUnavailable."""
    try:
        import pytest
    except ImportError:  # pragma: no cover
        raise RealBackendUnavailable(reason) from None
    pytest.skip(reason)


def assert_agree(scenario: Scenario, *, file: str | None = None, sim: Any = None,
                 real: Any = None, strict: bool = False,
                 options: KitOptions | None = None) -> Any:
    """Run ``scenario`` on the model and on the kernel; raise AssertionError unless they agree.

    The message is ``forklab verify``'s report of this scenario (without colour):
    each disagreement with its step, line, observable, model value and kernel
    value, each expectation that failed, and the scenario's script. Without a
    kernel backend (not Linux, not built, or ``--forklab-sim-only``), the test is
    skipped with the reason. An observable the kernel cannot show this user is
    *unavailable*: it fails only with ``strict=True``. ``sim``/``real`` replace
    the backends (a student's model, say). ``options`` are the pytest plugin's (the
    ``forklab_options`` fixture); by default, the running session's. Returns the Verdict.
    """
    from forklab.verify import render_text, verify_scenario

    options = options or current_options()
    if real is None:
        if options.sim_only:
            _skip("forklab: --forklab-sim-only: the kernel is not used")
        try:
            real = real_backend()
        except RealBackendUnavailable as err:
            if options.real_required:
                raise AssertionError(f"forklab: --forklab-real, but {err}") from None
            _skip(f"forklab: {err}")
    verdict = verify_scenario(scenario, file or scenario.path, sim or sim_backend(), real)
    bad = ("error", "disagree", "failed") + (("unavailable",) if strict else ())
    if verdict.status in bad:
        raise AssertionError("the model and the kernel do not agree:\n"
                             + render_text([verdict], Style(False))
                             + "\nthe scenario:\n" + script_text(scenario))
    return verdict


def script_text(scenario: Scenario) -> str:
    """Every step's script lines, for a failure message."""
    out = []
    for step in scenario.steps:
        out.append(f"  step {step.index}:")
        out.extend(f"    {op.text.strip()}" for op in step.ops)
        out.extend(f"    expect {e.text}" for e in step.expect)
    return "\n".join(out)
