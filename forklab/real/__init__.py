"""The real-kernel backend: scenarios run as real processes on Linux.

Importing this package never fails: on a machine without the compiled
extension (forklab.real._native) or the probe program, the simulator keeps
working and :func:`real_backend_status` says why the real backend is not
available and how to build it.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

BUILD_HINT = "pip install . on Linux with a C compiler (it builds the cffi extension and the probe)"

if TYPE_CHECKING:
    from forklab.real.backend import RealBackend


def real_backend_status() -> tuple[bool, str]:
    """(available, why not and how to build) — or (True, what it will use)."""
    if not sys.platform.startswith("linux"):
        return False, (f"the real backend needs Linux (this is {sys.platform}); "
                       "the simulator works here")
    try:
        from forklab.real import _native  # noqa: F401
    except ImportError as err:
        return False, (f"the C extension forklab.real._native is not built ({err}); "
                       f"build it with: {BUILD_HINT}")
    from forklab.real.driver import guard_path, probe_path
    from forklab.real.procfs import SYSCALLS

    missing = [name for name, number in SYSCALLS.items()
               if number < 0 and name != "nanosleep"]  # clock_nanosleep serves alone
    if missing:
        return False, (f"this architecture has no {', '.join(missing)} system call, which "
                       "the real backend watches for; the simulator works here")
    for what, program in (("probe", probe_path()), ("guard", guard_path())):
        if not os.access(program, os.X_OK):
            return False, f"the {what} program is missing ({program}); build it with: {BUILD_HINT}"
    probe = probe_path()
    frames = "frame numbers visible" if os.geteuid() == 0 else \
        "not root: shared_with (pagemap frame numbers) will be unavailable"
    return True, f"ready (probe {probe}; {frames})"


def __getattr__(name: str) -> Any:
    if name == "RealBackend":
        ok, why = real_backend_status()
        if not ok:
            raise ImportError(f"the real backend is not available: {why}")
        from forklab.real.backend import RealBackend

        return RealBackend
    raise AttributeError(name)


__all__ = ["RealBackend", "real_backend_status"]
