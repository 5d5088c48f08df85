"""The exit signal: what a process's parent is sent when it ends (clone's low byte).

fork, vfork and posix_spawn give the child ``SIGCHLD``; ``clone exitsig=`` the
signal it names, or none; a thread has none of its own; execve resets it to
``SIGCHLD``, and so does a reparenting to another process (``reparent_leader``).
A child whose exit signal is not ``SIGCHLD`` is a "clone child": only a wait
with ``__WALL`` (``wait ... all``) sees it, and a parent that has run execve
since it was made is sent ``SIGCHLD`` instead (``do_notify_parent``)
(tests/kernel_facts/proc_exit_signal.c).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forklab.sim.tasks import Process

CHILD = "SIGCHLD"


def made(child: Process, parent: Process, exit_signal: str | None) -> None:
    """``copy_process``: the new process's exit signal, and its parent's exec count then."""
    child.exit_signal = exit_signal
    child.parent_exec_id = parent.self_exec_id


def on_exec(proc: Process) -> None:
    """``de_thread``: "we have changed execution domain"."""
    proc.exit_signal = CHILD
    proc.self_exec_id += 1


def orphaned(proc: Process) -> None:
    """``reparent_leader``: a process taken by another process's init or subreaper."""
    proc.exit_signal = CHILD


def sent(child: Process, parent: Process) -> str | None:
    """The signal parent gets as child ends (None: none): SIGCHLD once parent has
    exec'd since child was made, whatever child's was."""
    if child.parent_exec_id != parent.self_exec_id:
        return CHILD
    return child.exit_signal


def waitable(child: Process, all_children: bool) -> bool:
    """``eligible_child``: without __WALL a wait sees only SIGCHLD children."""
    return all_children or child.exit_signal == CHILD
