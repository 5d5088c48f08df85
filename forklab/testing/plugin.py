"""The forklab pytest plugin (entry point ``pytest11``: loaded wherever forklab is installed).

Options:
  --forklab-real       the kernel is required: the run stops at once if the real
                       backend cannot run here, and no kernel test is skipped
  --forklab-sim-only   never touch the kernel: tests marked ``forklab_real``, the
                       ``real_backend`` fixture and ``assert_agree`` skip

Fixtures: ``sim_backend``, ``real_backend`` (skips with the reason off Linux or
when the C parts are not built), ``forklab_backends`` (a dict of the backends
that can run here, by name) and ``forklab_backend`` (each of them in turn).
Marker: ``@pytest.mark.forklab_real`` for a test that needs the kernel.
Importing the plugin registers the hypothesis strategies, so
``st.from_type(Scenario)`` draws generated scenarios.

The plugin does nothing to a test that does not ask for it: no option is on by
default, no test is touched unless it carries the marker or uses a fixture.
"""
from __future__ import annotations

from typing import Any

import pytest

_config: Any = None  # the running pytest config, when there is one

MARKER = "forklab_real"


def _option(name: str) -> bool:
    if _config is None:
        return False
    try:
        return bool(_config.getoption(name))
    except (ValueError, AttributeError):
        return False


def sim_only() -> bool:
    """Whether --forklab-sim-only was given."""
    return _option("forklab_sim_only")


def real_required() -> bool:
    """Whether --forklab-real was given."""
    return _option("forklab_real")


def _real_status() -> tuple[bool, str]:
    from forklab.testing.agree import real_status
    return real_status()


def kernel_skip_reason() -> str | None:
    """Why a test that needs the kernel cannot run here, or None if it can."""
    if sim_only():
        return "forklab: --forklab-sim-only: the kernel is not used"
    ok, why = _real_status()
    if not ok:
        return f"forklab: the real backend is unavailable: {why}"
    return None


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("forklab", "forklab (model and kernel)")
    group.addoption("--forklab-real", action="store_true", default=False,
                    help="require the real-kernel backend: stop if it cannot run here")
    group.addoption("--forklab-sim-only", action="store_true", default=False,
                    help="never use the kernel: skip what needs it (forklab_real tests, "
                         "real_backend, assert_agree)")


def pytest_configure(config: Any) -> None:
    global _config
    _config = config
    config.addinivalue_line(
        "markers", f"{MARKER}: the test needs forklab's real-kernel backend (skipped, with "
                   "the reason, off Linux, when it is not built, or with --forklab-sim-only)")
    if config.getoption("forklab_real") and config.getoption("forklab_sim_only"):
        raise pytest.UsageError("--forklab-real and --forklab-sim-only contradict each other")
    if config.getoption("forklab_real"):
        ok, why = _real_status()
        if not ok:
            raise pytest.UsageError(f"--forklab-real: the real backend is unavailable: {why}")
    import forklab.testing  # noqa: F401  (registers st.from_type(Scenario))


def pytest_unconfigure(config: Any) -> None:
    global _config
    if _config is config:
        _config = None


def pytest_report_header(config: Any) -> str | None:
    if not (config.getoption("forklab_real") or config.getoption("forklab_sim_only")):
        return None
    if config.getoption("forklab_sim_only"):
        return "forklab: simulator only (--forklab-sim-only)"
    return f"forklab: real backend {_real_status()[1]}"


def pytest_runtest_setup(item: Any) -> None:
    if item.get_closest_marker(MARKER) is None:
        return
    reason = kernel_skip_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def sim_backend() -> Any:
    """The simulator backend (always available)."""
    from forklab.sim import SimBackend
    return SimBackend()


@pytest.fixture
def real_backend() -> Any:
    """The real-kernel backend; the test is skipped, with the reason, when it cannot run."""
    reason = kernel_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    from forklab.testing.agree import real_backend as shared
    return shared()


@pytest.fixture
def forklab_backends(sim_backend: Any) -> dict[str, Any]:
    """Every backend that can run here, by name: "sim", and "real" where the kernel can."""
    backends = {"sim": sim_backend}
    if kernel_skip_reason() is None:
        from forklab.testing.agree import real_backend as shared
        backends["real"] = shared()
    return backends


@pytest.fixture(params=["sim", "real"])
def forklab_backend(request: Any) -> Any:
    """Each backend in turn (the real one skipped, with the reason, where it cannot run)."""
    if request.param == "sim":
        from forklab.sim import SimBackend
        return SimBackend()
    return request.getfixturevalue("real_backend")
