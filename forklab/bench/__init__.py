"""Spawn latency on this machine, and the cost model fitted to it.

``cases`` says what is measured, ``measure`` times it in C (forklab-bench),
``predict`` asks the simulator, ``fit`` solves least squares, ``calibrate``
makes a calibration (`forklab calibrate`, or a quick one by itself when none is
valid), ``run`` is `forklab bench`, ``report`` shows them.
"""
