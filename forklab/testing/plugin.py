"""The forklab pytest plugin (entry point ``pytest11``: loaded wherever forklab is installed).

Options:
  --forklab-real       the kernel is required: the run stops at once if the real
                       backend cannot run here, and no kernel test is skipped
  --forklab-sim-only   never touch the kernel: tests marked ``forklab_real``, the
                       ``real_backend`` fixture and ``assert_agree`` skip

Fixtures: ``forklab_options`` (the options above, a
:class:`~forklab.testing.options.KitOptions` to pass to ``assert_agree``),
``sim_backend``, ``real_backend`` (skips with the reason off Linux or when the
C parts are not built), ``forklab_backends`` (a dict of the backends that can
run here, by name) and ``forklab_backend`` (each of them in turn). Marker:
``@pytest.mark.forklab_real`` for a test that needs the kernel, and
``@pytest.mark.forklab_real(root=True)`` for one that also needs what only root
sees (page-frame numbers); each is skipped with the reason: not Linux, not
built, no /proc/PID/pagemap, not root, or --forklab-sim-only.

Loading the plugin imports neither hypothesis nor the simulator: it is loaded
into every pytest session of every environment where forklab is installed.

The plugin does nothing to a test that does not ask for it: no option is on by
default, no test is touched unless it carries the marker or uses a fixture.
"""
from __future__ import annotations

from typing import Any

import pytest

from forklab.testing.options import KitOptions, install, uninstall

MARKER = "forklab_real"
_OPTIONS = pytest.StashKey[KitOptions]()
_INSTALLED = pytest.StashKey[Any]()


def options_of(config: Any) -> KitOptions:
    """The session's options (made at configure)."""
    return config.stash[_OPTIONS]


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("forklab", "forklab (model and kernel)")
    group.addoption("--forklab-real", action="store_true", default=False,
                    help="require the real-kernel backend: stop if it cannot run here")
    group.addoption("--forklab-sim-only", action="store_true", default=False,
                    help="never use the kernel: skip what needs it (forklab_real tests, "
                         "real_backend, assert_agree)")


def pytest_configure(config: Any) -> None:
    options = KitOptions.from_config(config)
    config.stash[_OPTIONS] = options
    config.addinivalue_line(
        "markers", f"{MARKER}(root=False): the test needs forklab's real-kernel backend, "
                   "and with root=True root's view of it (skipped, with the reason, off "
                   "Linux, when it is not built, without pagemap, without root, or with "
                   "--forklab-sim-only)")
    if options.real_required and options.sim_only:
        raise pytest.UsageError("--forklab-real and --forklab-sim-only contradict each other")
    if options.real_required:
        reason = options.kernel_skip_reason()
        if reason is not None:
            raise pytest.UsageError(f"--forklab-real: {reason.removeprefix('forklab: ')}")
    config.stash[_INSTALLED] = install(options)


def pytest_unconfigure(config: Any) -> None:
    token = config.stash.get(_INSTALLED, None)
    if token is not None:
        uninstall(token)
        del config.stash[_INSTALLED]


def pytest_report_header(config: Any) -> str | None:
    options = options_of(config)
    if options.sim_only:
        return "forklab: simulator only (--forklab-sim-only)"
    if not options.real_required:
        return None
    from forklab.real import real_backend_status
    return f"forklab: real backend {real_backend_status()[1]}"


def pytest_runtest_setup(item: Any) -> None:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return
    reason = options_of(item.config).kernel_skip_reason(root=bool(marker.kwargs.get("root")))
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def forklab_options(pytestconfig: Any) -> KitOptions:
    """The plugin's options, to pass to ``assert_agree(..., options=forklab_options)``."""
    return options_of(pytestconfig)


@pytest.fixture
def sim_backend() -> Any:
    """The simulator backend (always available)."""
    from forklab.sim import SimBackend
    return SimBackend()


@pytest.fixture
def real_backend(forklab_options: KitOptions) -> Any:
    """The real-kernel backend; the test is skipped, with the reason, when it cannot run."""
    reason = forklab_options.kernel_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    from forklab.testing.agree import real_backend as shared
    return shared()


@pytest.fixture
def forklab_backends(sim_backend: Any, forklab_options: KitOptions) -> dict[str, Any]:
    """Every backend that can run here, by name: "sim", and "real" where the kernel can."""
    backends = {"sim": sim_backend}
    if forklab_options.kernel_skip_reason() is None:
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
