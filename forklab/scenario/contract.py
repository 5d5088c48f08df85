"""What the language refuses while a scenario runs, the same on every backend.

The parser checks what it can see in the text; some refusals depend on what
has happened so far (a child that was never created because its fork failed, a
process that has ended, a thread suspended in vfork). Each backend says how
its actor stands (:class:`Standing`) and these functions decide and word the
refusal, so that both backends refuse the same ops with the same messages.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from forklab.scenario.model import FdRef, ScenarioError, Where
from forklab.scenario.ops import Op


@dataclass(frozen=True)
class Standing:
    """How the actor of an op stands when the op comes (all False/None: free to act)."""

    ended: str | None = None  # "zombie" or "reaped" once the process has ended
    program: str | None = None  # the program the process runs instead of forklab's probe
    thread_gone: bool = False  # the thread named ended, or is not the process's any more
    suspended: bool = False  # the thread waits in vfork
    blocked_in: str | None = None  # the op the thread is blocked in, as written
    blocked_line: int | None = None  # the line of that op, where the backend knows it
    blocked_for: str | None = None  # what it waits for, where the backend knows it


def no_such_process(name: str, failed: Mapping[str, str], where: Where) -> ScenarioError:
    """The refusal of an op that needs process ``name`` when the run has none by that name.

    ``failed`` maps each name whose creating call failed to its errno.
    """
    if name in failed:
        return ScenarioError(f"'{name}' was never created: the call failed with {failed[name]}",
                             where)
    return ScenarioError(f"'{name}' does not exist yet (its creating op has not completed)",
                         where)


def check_actor(op: Op, standing: Standing) -> None:
    """Refuse an op whose actor cannot act (the language's rule, not the kernel's)."""
    actor, name = op.actor, op.actor.process
    if standing.ended is not None:
        raise ScenarioError(f"'{name}' has ended ({standing.ended}); it can run no more ops",
                            op.where)
    if standing.program is not None:
        raise ScenarioError(f"'{name}' now runs {standing.program}; it can only be observed",
                            op.where)
    if standing.thread_gone:
        raise ScenarioError(f"'{actor}' is not a thread of '{name}' (any more)", op.where)
    if standing.suspended:  # vfork stops only its caller: the other threads run on
        raise ScenarioError(f"'{actor}' is suspended until its vfork child execs or exits",
                            op.where)
    if standing.blocked_in is not None:
        line = f" (line {standing.blocked_line})" if standing.blocked_line is not None else ""
        what = f", waiting for {standing.blocked_for}" if standing.blocked_for else ""
        raise ScenarioError(f"'{actor}' is blocked in `{standing.blocked_in}`{line}{what}",
                            op.where)


def fd_number(ref: FdRef | None, fd_names: Mapping[str, int]) -> int:
    """The number an fd written in a script stands for (-1: a name bound to no fd,
    as when the call that was to bind it failed)."""
    if isinstance(ref, int):
        return int(ref)
    if ref is None:
        return -1
    return fd_names.get(ref, -1)
