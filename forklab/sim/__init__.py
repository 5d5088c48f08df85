"""The simulator: a model of the kernel and libc that runs any scenario anywhere."""
from forklab.sim.backend import SimBackend, SimRun

__all__ = ["SimBackend", "SimRun"]
