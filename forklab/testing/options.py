"""The pytest plugin's options, as one immutable object.

The plugin makes a :class:`KitOptions` from the command line and hands it out:
the ``forklab_options`` fixture gives it to a test, which passes it on to
:func:`~forklab.testing.agree.assert_agree`; a state machine reads it from its
``options`` attribute. Code that is not given one (a plain ``assert_agree``
call inside a pytest run) uses the session's, which the plugin installs for
the run's duration (:func:`current_options`); outside pytest that is
``KitOptions()``: no option given.
"""
from __future__ import annotations

import contextvars
import os
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KitOptions:
    sim_only: bool = False  # --forklab-sim-only: never touch the kernel
    real_required: bool = False  # --forklab-real: the kernel must be there

    @classmethod
    def from_config(cls, config: Any) -> KitOptions:
        return cls(sim_only=bool(config.getoption("forklab_sim_only")),
                   real_required=bool(config.getoption("forklab_real")))

    def kernel_skip_reason(self, root: bool = False) -> str | None:
        """Why a test that needs the kernel (and, with ``root``, what only root sees:
        page-frame numbers, /proc/PID/map_files, other users) cannot run here, or None."""
        if self.sim_only:
            return "forklab: --forklab-sim-only: the kernel is not used"
        if not sys.platform.startswith("linux"):
            return "forklab: the real backend needs Linux"
        from forklab.real import real_backend_status

        ok, why = real_backend_status()
        if not ok:
            return f"forklab: the real backend is unavailable: {why}"
        if not os.access("/proc/self/pagemap", os.R_OK):
            return "forklab: /proc/self/pagemap cannot be read here"
        if root and os.geteuid() != 0:
            return ("forklab: needs root: page-frame numbers in /proc/PID/pagemap, "
                    "/proc/PID/map_files and acting as another user are root's only")
        return None


NO_OPTIONS = KitOptions()
_session: contextvars.ContextVar[KitOptions] = contextvars.ContextVar("forklab_kit_options")


def current_options() -> KitOptions:
    """The options of the pytest session running now (``KitOptions()`` outside one)."""
    return _session.get(NO_OPTIONS)


def install(options: KitOptions) -> contextvars.Token[KitOptions]:
    """Make ``options`` the session's (the plugin, at configure); undo with :func:`uninstall`."""
    return _session.set(options)


def uninstall(token: contextvars.Token[KitOptions]) -> None:
    _session.reset(token)
