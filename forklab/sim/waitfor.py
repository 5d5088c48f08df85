"""The wait-for graph: who waits for what, and who can never be woken.

A waiting thread points at what it waits for (a mutex, a pipe, a child); a
mutex points at its owner, a pipe at every thread that could still write to
it, a child at its threads. A waiting thread from which no path reaches a
thread that is free to act waits forever: it sits in a cycle, or at a dead
end such as a mutex owned by a thread that does not exist in its process
(the thread that held it was not copied by fork).
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from forklab.sim import exit_signals
from forklab.sim.files import Pipe
from forklab.sim.kernel import Kernel
from forklab.sim.tasks import MAIN, Process, Thread
from forklab.sim.waits import OnAtforkLocks, OnChild, OnMutex, OnPipeData, OnPipeRoom

Node = tuple[str, ...]


def _thread_node(proc: Process, thread: Thread) -> Node:
    return ("thread", proc.name, thread.name or MAIN)


def _label(node: Node) -> str:
    kind = node[0]
    if kind == "thread":
        return f"{node[1]}/{node[2]}" if node[2] else node[1]
    if kind == "mutex":
        return f"mutex '{node[2]}' in {node[1]}'s memory"
    if kind == "vanished":
        return f"thread {node[2]}, which does not exist in {node[1]}"
    if kind == "pipe":
        return f"pipe {node[1]}"
    return f"process '{node[1]}'"


def graph(kernel: Kernel) -> nx.DiGraph:
    """Build the wait-for graph of every live process."""
    g = nx.DiGraph()
    live = [p for p in kernel.processes.values() if not p.ended]
    for proc in live:
        for thread in proc.threads.values():
            node = _thread_node(proc, thread)
            g.add_node(node, waiting=thread.waiting is not None)
            waiting = thread.waiting
            if waiting is None:
                continue
            match waiting.on:
                case OnMutex(name=name):
                    _add_mutex(g, kernel, proc, node, name)
                case OnAtforkLocks(locks=locks):
                    for name in locks:
                        _add_mutex(g, kernel, proc, node, name)
                case OnPipeData(pipe=pipe):
                    _add_pipe(g, kernel, proc, node, pipe)
                case OnPipeRoom(pipe=pipe):  # a full pipe: only a reader can make room
                    _add_pipe(g, kernel, proc, node, pipe, readers=True)
                case OnChild(child=name, all_children=all_children):  # one child, or any
                    for child_name in proc.children if name is None else [name]:
                        child = kernel.processes[child_name]
                        if not exit_signals.waitable(child, all_children):
                            continue
                        g.add_edge(node, ("process", child.name))
                        for t in child.threads.values():
                            g.add_edge(("process", child.name), _thread_node(child, t))
    return g


def _add_mutex(g: nx.DiGraph, kernel: Kernel, proc: Process, node: Node, name: str) -> None:
    assert proc.mm is not None
    mutex = proc.mm.user.mutex(name)
    if mutex.owner is None:
        return
    mnode = ("mutex", proc.name, name)
    g.add_edge(node, mnode)
    users = [p for p in kernel.processes.values() if not p.ended and p.mm is proc.mm]
    for user in users:
        for t in user.threads.values():
            if t.tid == mutex.owner:
                g.add_edge(mnode, _thread_node(user, t))
                return
    g.add_edge(mnode, ("vanished", proc.name, str(mutex.owner)))


def _add_pipe(g: nx.DiGraph, kernel: Kernel, proc: Process, node: Node, pipe: Pipe,
              readers: bool = False) -> None:
    """A reader waits for the pipe's writers; a writer on a full pipe, for its readers."""
    pnode = ("pipe", f"{'written' if readers else 'read'} by {proc.name}")
    g.add_edge(node, pnode)
    for other in kernel.processes.values():
        if other.ended:
            continue
        if any(s.file.obj is pipe and (s.file.readable if readers else s.file.writable)
               for s in other.files.fds.values()):
            for t in other.threads.values():
                g.add_edge(pnode, _thread_node(other, t))


@dataclass(frozen=True)
class Stuck:
    """A thread that waits forever, and the chain of waits that proves it."""

    thread: str
    chain: tuple[str, ...]
    cycle: bool

    def __str__(self) -> str:
        why = "a cycle" if self.cycle else "a dead end"
        return f"{self.thread} waits forever ({why}): " + " → ".join(self.chain)


def stuck(kernel: Kernel) -> list[Stuck]:
    """Every waiting thread that no free thread can ever wake, with why."""
    g = graph(kernel)
    free = [n for n, d in g.nodes(data=True) if n[0] == "thread" and not d.get("waiting")]
    can_wake = set(free)
    for node in free:
        can_wake |= nx.ancestors(g, node)
    result = []
    for node, data in g.nodes(data=True):
        if node[0] != "thread" or not data.get("waiting") or node in can_wake:
            continue
        path = _chain(g, node)
        result.append(Stuck(_label(node), tuple(_label(n) for n in path),
                            cycle=path[-1] == node and len(path) > 1))
    return result


def _chain(g: nx.DiGraph, start: Node) -> list[Node]:
    """Follow first successors from start until a dead end or a repeat."""
    path, seen = [start], {start}
    node = start
    while True:
        successors = list(g.successors(node))
        if not successors:
            return path
        node = successors[0]
        path.append(node)
        if node in seen:
            return path
        seen.add(node)
