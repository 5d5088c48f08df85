"""Property tests of the model's invariants, over random runs of the simulator.

Each example drives the simulated kernel with random ops from random runnable
actors and checks, after every op, what must always hold: map counts equal
the PTEs that map each frame, no mapped frame is free, exclusive <= present,
open-file reference counts equal the fds that hold them, threads that can
never be woken are reported blocked; and when every process has ended,
nothing remains. A copy of the kernel (what a snapshot holds) goes on as the
original would, and nothing done to it reaches the original.
"""
from __future__ import annotations

import pickle
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forklab.observe import default_observations
from forklab.scenario.model import (
    Actor, Program, Range, Scenario, ScenarioError, SpawnAction, Step, Where,
)
from forklab.scenario.ops import Op
from forklab.scenario.verbs import VERBS
from forklab.sim.kernel import Kernel
from forklab.sim.memory import ZERO
from forklab.sim.runs import Linear
from forklab.sim.snapshot import snapshot
from forklab.testing.invariants import check_invariants, end_everything, memory_is_empty
from forklab.vocabulary import PAGE

HERE = Where("<property>", 1)
MAPPINGS = {"a": 64 * PAGE, "b": 1024 * PAGE, "f": 32 * PAGE, "s": 48 * PAGE,
            "h": 1536 * PAGE}
MMAP_ARGS = {
    "a": dict(backing="anon", path=None, share="private"),
    "b": dict(backing="anon", path=None, share="private"),
    "f": dict(backing="file", path="data.bin", share="private"),
    "s": dict(backing="anon", path=None, share="shared"),
    "h": dict(backing="anon", path=None, share="private"),
}
THP = {"h"}


def make_op(actor: str, verb: str, binds: tuple[str, ...] = (), **args: object) -> Op:
    process, _, thread = actor.partition("/")
    return VERBS[verb].op(actor=Actor(process, thread or None), binds=binds, where=HERE,
                          text=f"{actor}: {verb}", **args)


def scenario() -> Scenario:
    ops = tuple(
        make_op("p", "mmap", name=n, size=size, prot="rw", thp=n in THP, noreserve=False,
                **MMAP_ARGS[n])
        for n, size in MAPPINGS.items()
    )
    return Scenario("prop", "t", "s", "<property>", (Step(1, HERE, ops=ops),), first="p")


def runnable(kernel: Kernel) -> list[str]:
    actors = []
    for proc in kernel.processes.values():
        if proc.ended or proc.program is not None or proc.stopped:
            continue
        for tname, thread in proc.threads.items():
            if thread.waiting is None and not thread.suspended:
                actors.append(f"{proc.name}/{tname}" if tname else proc.name)
    return actors


def random_op(data: st.DataObject, kernel: Kernel, counter: Counter,
              only: frozenset[str] | None = None) -> Op | None:
    """A random op of a runnable actor; ``only``: of these verbs (else of all)."""
    actors = runnable(kernel)
    if not actors:
        return None
    actor = data.draw(st.sampled_from(sorted(actors)))
    proc = kernel.processes[actor.split("/")[0]]
    thread_actor = "/" in actor
    verbs = ["write", "read", "fork", "vfork", "clone", "exit", "_exit", "pipe", "dup",
             "close", "readfd", "writefd", "lock", "unlock", "trylock", "thread", "madvise",
             "munmap", "mprotect", "wait", "exec", "kill", "printf", "spawn", "signal",
             "sigaction", "block", "unblock", "atfork", "mlock", "munlock", "mremap"]
    if thread_actor:
        verbs = ["write", "read", "lock", "unlock", "thread_exit", "fork"]
    if only is not None:
        verbs = [v for v in verbs if v in only] or ["thread_exit" if thread_actor else "exit"]
    verb = data.draw(st.sampled_from(verbs))
    mapping = data.draw(st.sampled_from(sorted(MAPPINGS)))
    pages = MAPPINGS[mapping] // PAGE
    lo = data.draw(st.integers(0, pages - 1))
    hi = data.draw(st.integers(lo + 1, pages))
    fds = list(proc.files.numbers())
    fd = data.draw(st.sampled_from(fds or [0]))
    children = [c for c in proc.children]

    def fresh(prefix: str) -> str:
        counter[prefix] += 1
        return f"{prefix}{counter[prefix]}"

    if verb in ("write", "read"):
        args = {"range": Range(mapping, lo * PAGE, hi * PAGE)}
        if verb == "write":
            args["value"] = data.draw(st.integers(0, 255))
        return make_op(actor, verb, **args)
    if verb in ("fork", "vfork"):
        return make_op(actor, verb, (fresh("c"),))
    if verb == "clone":
        flags = data.draw(st.sets(st.sampled_from(["vm", "vfork", "files", "sighand", "pidfd"])))
        return make_op(actor, "clone", (fresh("c"),), flags=frozenset(flags))
    if verb in ("exit", "_exit"):
        return make_op(actor, verb, code=data.draw(st.integers(0, 3)))
    if verb == "thread_exit":
        return make_op(actor, "thread_exit")
    if verb == "pipe":
        return make_op(actor, "pipe", (fresh("r"), fresh("w")), cloexec=data.draw(st.booleans()))
    if verb == "dup":
        return make_op(actor, "dup", (fresh("d"),), fd=fd, cloexec=False)
    if verb == "close":
        return make_op(actor, "close", fd=fd)
    if verb == "readfd":
        return make_op(actor, "readfd", fd=fd)
    if verb == "writefd":  # 30000 bytes: a few fill a pipe, and the writer waits for room
        text = data.draw(st.sampled_from(["x", "y" * 30000]))
        return make_op(actor, "writefd", fd=fd, data=text)
    if verb in ("lock", "unlock", "trylock", "atfork"):
        return make_op(actor, verb, name=data.draw(st.sampled_from(["m", "n"])))
    if verb == "thread":
        return make_op(actor, "thread", (fresh("t"),))
    span = Range(mapping, lo * PAGE, hi * PAGE)
    if verb == "madvise":
        advice = data.draw(st.sampled_from(["dontneed", "free", "dontfork", "wipeonfork",
                                            "dofork"]))
        return make_op(actor, "madvise", range=span, advice=advice)
    if verb in ("munmap", "mlock", "munlock"):
        return make_op(actor, verb, range=span)
    if verb == "mremap":
        size = data.draw(st.sampled_from([max(1, pages // 2), pages, 2 * pages])) * PAGE
        return make_op(actor, "mremap", name=mapping, size=size, maymove=False)
    if verb == "mprotect":
        return make_op(actor, "mprotect", range=span,
                       prot=data.draw(st.sampled_from(["ro", "rw", "none"])))
    if verb == "wait":
        if not children:
            return None
        return make_op(actor, "wait", child=data.draw(st.sampled_from([*children, None])),
                       nohang=data.draw(st.booleans()), untraced=data.draw(st.booleans()))
    if verb == "exec":
        path = data.draw(st.sampled_from(["probe", "/bin/true", "/bin/cat", "missing"]))
        program = Program("program", path) if path.startswith("/") else Program(path)
        return make_op(actor, "exec", program=program)
    if verb == "kill":
        target = data.draw(st.sampled_from(sorted(kernel.processes)))
        threads = sorted(t for t in kernel.processes[target].threads if t)
        thread = data.draw(st.sampled_from([None, *threads]))
        sig = data.draw(st.sampled_from(["SIGTERM", "SIGUSR1", "SIGCHLD", "SIGKILL",
                                         "SIGRTMIN+1", "SIGSTOP", "SIGCONT"]))
        return make_op(actor, "kill", target=target, thread=thread, signal=sig)
    if verb == "printf":
        return make_op(actor, "printf", data=data.draw(st.sampled_from(["hi\n", "x" * 3000])))
    if verb == "spawn":
        actions = (SpawnAction("close", fd=fd),) if data.draw(st.booleans()) else ()
        return make_op(actor, "spawn", (fresh("s"),), program=Program("program", "/bin/true"),
                       actions=actions)
    if verb == "signal":
        return make_op(actor, "signal", signal="SIGUSR1",
                       action=data.draw(st.sampled_from(["ignore", "catch", "default"])))
    if verb == "sigaction":
        sig = data.draw(st.sampled_from(["SIGUSR1", "SIGRTMIN+1", "SIGCHLD", "SIGSEGV"]))
        action = data.draw(st.sampled_from(["ignore", "default",
                                            "exit" if sig == "SIGSEGV" else "catch"]))
        flags = data.draw(st.sets(st.sampled_from(["norestart", "resethand", "nocldwait"])))
        return make_op(actor, "sigaction", signal=sig, action=action, code=3,
                       flags=frozenset(flags))
    if verb in ("block", "unblock"):
        return make_op(actor, verb, signal=data.draw(st.sampled_from(["SIGUSR1", "SIGCHLD",
                                                                      "SIGRTMIN+1"])))
    raise AssertionError(verb)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_model_invariants_hold_after_every_op(data: st.DataObject) -> None:
    sc = scenario()
    kernel = Kernel(sc)
    for op in sc.steps[0].ops:
        kernel.apply(op)
    counter: Counter = Counter()
    for _ in range(data.draw(st.integers(1, 40))):
        op = random_op(data, kernel, counter)
        if op is None:
            continue
        try:
            kernel.apply(op)
        except ScenarioError:
            continue  # e.g. a thread of a process that has exec'd
        check_invariants(kernel)
    end_everything(kernel)
    assert memory_is_empty(kernel)


WAITS = frozenset({"pipe", "writefd", "readfd", "close", "dup", "fork", "thread", "lock",
                   "unlock", "atfork", "wait", "exit", "thread_exit"})
"""The verbs that make threads wait, and those that wake them."""
WAITERS = (make_op("p", "pipe", ("r0", "w0"), cloexec=False), make_op("p", "thread", ("t0",)),
           make_op("p", "fork", ("c0",)))
"""For WAITS: a pipe, a second thread and a child (which has the pipe too) to start with."""


def started(data: st.DataObject, counter: Counter, only: frozenset[str] | None) -> Kernel:
    """A kernel after the mappings and a random run of ops."""
    sc = scenario()
    kernel = Kernel(sc)
    for op in sc.steps[0].ops + (WAITERS if only is not None else ()):
        kernel.apply(op)
    for _ in range(data.draw(st.integers(0, 30), label="ops before the copy")):
        op = random_op(data, kernel, counter, only)
        if op is not None:
            try:
                kernel.apply(op)
            except ScenarioError:
                pass
    return kernel


def observed(kernel: Kernel) -> dict[str, object]:
    """The default observations, and the frame sharing between every two processes."""
    world = snapshot(kernel)
    out = default_observations(world)
    for p in world.processes:
        for q in world.processes:
            for m in sorted(world.mapping_names):
                out[f"{p}.{m}.shared_with({q})"] = world.queries.shared_with(p, m, q)
    return out


@pytest.mark.parametrize("only", [None, WAITS], ids=["every verb", "waits"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_ops_on_a_copy_never_reach_the_original(only: frozenset[str] | None,
                                                data: st.DataObject) -> None:
    counter: Counter = Counter()
    original = started(data, counter, only)
    before, state = observed(original), pickle.dumps(original)
    copied = original.copy()
    ops = []
    for _ in range(data.draw(st.integers(1, 30), label="ops on the copy")):
        op = random_op(data, copied, counter, only)
        if op is None:
            continue
        ops.append(op)
        try:
            copied.apply(op)
        except ScenarioError:
            pass
    assert observed(original) == before
    assert pickle.dumps(original) == state  # nothing else changed either
    for op in ops:  # and the copy went on exactly as the original does
        try:
            original.apply(op)
        except ScenarioError:
            pass
    assert observed(original) == observed(copied)


def test_zero_page_is_counted_as_shared_and_not_exclusive() -> None:
    sc = scenario()
    kernel = Kernel(sc)
    for op in sc.steps[0].ops:
        kernel.apply(op)
    kernel.apply(make_op("p", "read", range=Range("a")))
    mapping = kernel.processes["p"].mm.mappings["a"]
    assert mapping.ptes.get(0) == ZERO
    world = snapshot(kernel)
    assert world.processes["p"].mappings["a"].exclusive == 0
    assert world.processes["p"].mappings["a"].zero == 64
    assert not isinstance(mapping.ptes.get(0), Linear)
