"""The model's prediction for a bench method and case, from the simulator itself.

The case is built as a scenario and run on the simulator; the creating op's
``spawn_us`` is read from the child, as any scenario would show it. exec has
no observable of its own, so its time is the cost model's exec kind over the
ForkStats of the image it replaces, as the model holds it. Nothing here looks
at a measurement.
"""
from __future__ import annotations

from dataclasses import replace

from forklab.bench.cases import Case
from forklab.scenario.parse import parse_text
from forklab.sim import cost
from forklab.sim.backend import SimRun
from forklab.sim.kernel import Kernel
from forklab.sim.tasks import Process

CREATE = {
    "fork": "fork", "fork_exec": "fork", "exec": "fork", "zygote": "fork",
    "vfork": "vfork", "vfork_exec": "vfork", "clone_vm_vfork": "clone vm,vfork",
    "posix_spawn": "spawn /bin/true",
}
"""The scenario verb that creates the child for each method."""


def model_run(method: str, case: Case,
              coefficients: dict[str, cost.Coefficients] = cost.DEFAULTS,
              create: bool = True) -> Kernel:
    """The simulator after the case's parent (or its zygote) created the child `c`
    (with ``create`` False: just before it does).

    forklab-bench times a call repeated in a loop of its own, after warm-up calls:
    nothing of forklab's runs between two calls (no regime); a fork finds the
    pages the last one write-protected still read-only, unless the case writes
    them again; and only a cold case's memory is fresh before each call."""
    lines = ["parent: fork -> zygote"] if method == "zygote" else []
    lines += case.script()
    creator = "zygote" if method == "zygote" else "parent"
    if CREATE[method] == "fork" and creator == "parent":
        lines += ["parent: fork -> warm", "warm: _exit", "parent: wait warm"]
        if case.retouch and case.size:
            lines.append("parent: write heap")
    lines.append(f"{creator}: {CREATE[method]} -> c")
    text = ('id = "bench"\ntitle = "bench"\nsummary = "one bench case"\n'
            '[[step]]\ndo = """\n' + "\n".join(lines) + '\n"""\n')
    scenario = parse_text(text, "bench")
    run = SimRun(scenario, {kind: replace(c, regime=0.0) for kind, c in coefficients.items()})
    *build, creating = scenario.ops
    for op in build:
        run.apply(op)
    run.kernel.cache_touched = cost.COLD_BYTES if case.cold else 0
    if create:
        run.apply(creating)
    return run.kernel


def stats_of(proc: Process) -> cost.ForkStats:
    """What a creating call in proc copies (or an exec in proc tears down), in the model."""
    assert proc.mm is not None
    return cost.ForkStats.of(proc.mm, fds=len(proc.files.fds), threads=len(proc.threads))


def exec_stats(kernel: Kernel, child: Process) -> cost.ForkStats:
    """An exec frees the old image only when nobody else uses it (not a vfork child's)."""
    assert child.mm is not None
    sharers = [p for p in kernel.processes.values() if p.mm is child.mm]
    if len(sharers) > 1:
        return cost.ForkStats.borrowed(fds=len(child.files.fds))
    return stats_of(child)


def predicted_us(method: str, case: Case,
                 coefficients: dict[str, cost.Coefficients] = cost.DEFAULTS) -> float:
    """The model's spawn_us for this method from this parent (exec included where it is)."""
    kernel = model_run(method, case, coefficients)
    child = kernel.processes["c"]
    assert child.spawn_us is not None
    if method == "exec":
        return cost.predict("exec", exec_stats(kernel, child), coefficients)
    if method in ("fork_exec", "vfork_exec"):
        exec_us = cost.predict("exec", exec_stats(kernel, child), coefficients)
        return round(child.spawn_us + exec_us, 1)
    return child.spawn_us
