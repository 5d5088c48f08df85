"""forklab: how Unix processes are created, simulated and checked against the kernel."""

__version__ = "0.1.0"
