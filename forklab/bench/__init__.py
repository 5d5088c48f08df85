"""Spawn latency on this machine, and the cost model fitted to it.

``cases`` says what is measured, ``measure`` times it in C (forklab-bench),
``predict`` asks the simulator, ``fit`` solves least squares, ``calibrate``
and ``run`` are `forklab calibrate` and `forklab bench`, ``report`` shows them.
"""
