"""The inheritance atlas: what a new process, thread or image gets of each attribute.

fork(2), vfork(2), clone(2), execve(2), posix_spawn(3) and pthread_create(3)
each say in prose what is inherited, shared or reset. The atlas says it by
running: for every attribute and every way of making a process, a small
scenario sets the attribute in ``parent``, makes the new one, and reads the
attribute on both sides; where the new one can act, it changes the attribute
and the parent is read again. The outcome of a cell is computed from those
answers, on the model and on the kernel (docs/atlas.md):

- ``copied``: the new one has the parent's value, and its change stays its own;
- ``shared``: the same object: the new one's change is seen by the parent;
- ``reset``: the new one does not have the parent's value;
- ``kept`` (exec): the value survives into the new image.
"""
from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forklab.backend import Backend
from forklab.observe import UNAVAILABLE
from forklab.runner import ScenarioResult
from forklab.scenario.model import Scenario
from forklab.scenario.parse import parse_text
from forklab.verify import run_guarded

OUTCOMES = ("copied", "shared", "reset", "kept")


@dataclass(frozen=True)
class Method:
    """A way to make a new process (or image). ``make`` is the script line; ``new`` the
    name whose observables are the new one's; ``actor`` who acts as the new one (None:
    nobody can, the old image is gone)."""

    id: str
    title: str
    make: str
    new: str
    actor: str | None
    sim_only: bool = False  # a what-if design Linux does not ship
    thread: str | None = None  # the new thread, whose own values a per-thread row reads


METHODS = (
    Method("fork", "fork()", "parent: fork -> new", "new", "new"),
    Method("vfork", "vfork()", "parent: vfork -> new", "new", "new"),
    Method("posix_spawn", "posix_spawn() of a program, default attributes",
           "parent: spawn probe -> new", "new", "new"),
    Method("pthread_create", "pthread_create(): a thread of the same process",
           "parent: thread -> t", "parent", "parent/t", thread="t"),
    Method("exec", "execve() of a program: the same process, a new image",
           "parent: exec probe", "parent", None),
    Method("clone-files", "clone(CLONE_FILES): the fd table shared",
           "parent: clone files -> new", "new", "new"),
    Method("clone-vm", "clone(CLONE_VM): the memory shared", "parent: clone vm -> new",
           "new", "new"),
    Method("clone-sighand", "clone(CLONE_VM|CLONE_SIGHAND): the handlers shared",
           "parent: clone vm,sighand -> new", "new", "new"),
    Method("clone-fs", "clone(CLONE_FS): the working directory and umask shared",
           "parent: clone fs -> new", "new", "new"),
    Method("spawn-template", "what if: a spawn template, prepared once, then started",
           "parent: spawn_template probe -> tpl\nparent: spawn_from tpl -> new", "new", "new",
           sim_only=True),
    Method("pidfd-builder", "what if: an empty process configured through a pidfd",
           "parent: pidfd_empty -> b\nparent: pidfd_exec b probe -> new", "new", "new",
           sim_only=True),
    Method("create-process", "what if: create_process with an explicit inheritance list "
           "(stdin, stdout, stderr)", "parent: create_process probe inherit=0+1+2 -> new",
           "new", "new", sim_only=True),
)


@dataclass(frozen=True)
class Attribute:
    """A row. ``setup``: the parent's lines that give the attribute a value a default would
    not have; ``read``: an expression of process {p}; ``change``: a line by {p} that
    changes it (None: no change can be made, so an inherited value counts as copied);
    ``per_thread``: the attribute belongs to a thread, so a new thread's own value is
    read (``T.NAME``), not its process's; ``first``: the scenario's first process, when
    ``parent`` must be made by the setup (a value only a creator can give);
    ``unrunnable``: why the scenario of a method cannot end as a cell needs;
    ``at_end``: the attribute shows only when its holder ends (a semaphore's undo list):
    the new one makes the ``change`` (+1 to what ``read`` reads) and ends, and what its end
    undid tells the outcome (:func:`outcome_at_end`)."""

    id: str
    title: str
    source: str
    setup: str
    read: str
    change: str | None
    per_thread: bool = False
    identity: bool = False  # read says whether both sides hold the same object
    first: str | None = None
    unrunnable: tuple[tuple[str, str], ...] = ()  # (method id, why)
    at_end: bool = False


_NOT_A_LEADER = ("parent: fork -> leader\nparent: setpgid leader leader\n"
                 "parent: setpgid parent leader")
"""The parent joins a group its child leads: it leads no group, so it may `setsid`."""

ATTRIBUTES = (
    Attribute("fds", "open file descriptors", "fork(2), execve(2)",
              "parent: open /dev/null -> f", "{p}.fds", "{p}: close f"),
    Attribute("cloexec-fds", "file descriptors marked close-on-exec", "execve(2), fcntl(2)",
              "parent: open /dev/null cloexec -> f", "{p}.fds", "{p}: close f"),
    Attribute("open-file-descriptions", "open file descriptions (offset, flags)",
              "fork(2), open(2)", "parent: open /dev/null -> f",
              "{p}.same_file(f, parent, f)", None, identity=True),
    Attribute("fd-offsets", "the file offset of an open file", "fork(2), lseek(2)",
              'parent: open data.txt rw create -> f\nparent: writefd f "abcdef"',
              "{p}.offset(f)", "{p}: lseek f 2"),
    Attribute("signal-mask", "the signal mask", "fork(2), pthread_create(3), execve(2)",
              "parent: block SIGUSR1", "{p}.sig_blocked", "{p}: unblock SIGUSR1",
              per_thread=True),
    Attribute("pending-signals", "pending signals", "fork(2), execve(2)",
              "parent: block SIGUSR1\nparent: raise SIGUSR1", "{p}.sig_pending", None,
              per_thread=True),
    Attribute("caught-dispositions", "signals caught by a handler",
              "fork(2), execve(2), clone(2)", "parent: signal SIGUSR1 catch",
              "{p}.sig_caught", "{p}: signal SIGUSR1 default"),
    Attribute("ignored-dispositions", "signals ignored", "fork(2), execve(2)",
              "parent: signal SIGUSR2 ignore", "{p}.sig_ignored",
              "{p}: signal SIGUSR2 default"),
    Attribute("mappings", "private memory and its contents", "fork(2), vfork(2)",
              "parent: mmap m 1p\nparent: write m = 7", "{p}.m.byte(0)", "{p}: write m = 9"),
    Attribute("shared-mappings", "MAP_SHARED memory", "fork(2), mmap(2)",
              "parent: mmap s 1p shared\nparent: write s = 7", "{p}.s.byte(0)",
              "{p}: write s = 9"),
    Attribute("sysv-shm", "attached System V shared memory segments",
              "fork(2), execve(2), shmop(2)", "parent: mmap v 1p sysv\nparent: write v = 7",
              "{p}.v.byte(0)", "{p}: write v = 9"),
    Attribute("dontfork-mappings", "memory advised MADV_DONTFORK", "madvise(2)",
              "parent: mmap d 1p\nparent: write d = 7\nparent: madvise d dontfork",
              "{p}.d.byte(0)", "{p}: write d = 9"),
    Attribute("wipeonfork-mappings", "memory advised MADV_WIPEONFORK", "madvise(2)",
              "parent: mmap w 1p\nparent: write w = 7\nparent: madvise w wipeonfork",
              "{p}.w.byte(0)", "{p}: write w = 9"),
    Attribute("mutex-state", "the state of a mutex in memory (locked by its holder)",
              "fork(2), pthread_atfork(3)", "parent: lock l", "{p}.mutexes_locked",
              "{p}: unlock l"),
    Attribute("stdio-buffers", "stdout's buffered, unwritten bytes", "fork(2), setvbuf(3)",
              'parent: printf "abc"', "{p}.stdout_buffered", "{p}: fflush"),
    Attribute("threads", "the other threads", "fork(2), execve(2)",
              "parent: thread -> other", "{p}.threads", "{p}: exit"),
    Attribute("errno", "errno of the calling thread", "errno(3)",
              "parent: open missing.txt -> nothing", "{p}.errno", None, per_thread=True),
    Attribute("dir-streams", "directory streams (opendir)", "opendir(3), fork(2), execve(2)",
              "parent: opendir -> d", "{p}.fds", "{p}: close d"),
    Attribute("dir-stream-offsets", "a directory stream's position (its fd's offset)",
              "opendir(3), readdir(3), fork(2)", "parent: opendir -> d", "{p}.offset(d)",
              "{p}: readdir d"),
    Attribute("mqueues", "POSIX message queue descriptors", "fork(2), execve(2), mq_overview(7)",
              "parent: mq_open box -> q", "{p}.fds", "{p}: close q"),
    # Namespaces: the parent first leaves forklab's for its own (as root; another user may
    # make only a user namespace: EPERM, and the parent stays in forklab's), then the
    # new one is read as in the same namespace or not. No column per CLONE_NEW* flag:
    # each would change only its own row, for a run of every row (the flags are in
    # tests/scenarios/namespaces.toml). The PID namespace row leaves the parent where it
    # is: after `unshare pid` the children go elsewhere and no thread can be made.
    # A thread's namespaces are its own (unshare moves one thread): under pthread_create
    # the new thread's are read (T.same_ns).
    Attribute("pid-ns", "the PID namespace", "pid_namespaces(7), clone(2)", "",
              "{p}.same_ns('pid', parent)", None, identity=True, per_thread=True),
    *(Attribute(f"{kind}-ns", f"the {title} namespace", "namespaces(7), clone(2), unshare(2)",
                f"parent: unshare {kind}", f"{{p}}.same_ns('{kind}', parent)", None,
                identity=True, per_thread=True)
      for kind, title in (("mnt", "mount"), ("uts", "UTS (hostname)"), ("ipc", "IPC"),
                          ("net", "network"), ("user", "user"))),
    Attribute("pid", "the process ID (the thread group ID)", "fork(2), execve(2), gettid(2)",
              "", "{p}.leader == parent.leader", None, per_thread=True, identity=True),
    Attribute("ppid", "the parent process", "fork(2), execve(2), getppid(2)", "",
              "{p}.parent == parent.parent", None, identity=True),
    Attribute("pgid", "the process group", "fork(2), execve(2), setpgid(2)", _NOT_A_LEADER,
              "{p}.pgrp", "{p}: setsid"),
    Attribute("sid", "the session", "fork(2), execve(2), setsid(2)", _NOT_A_LEADER,
              "{p}.session", "{p}: setsid"),
    Attribute("cwd", "the working directory", "fork(2), clone(2), execve(2), chdir(2)",
              "parent: mmap f 1p file=sub/f\nparent: mmap g 1p file=other/g\n"
              "parent: chdir sub", "{p}.cwd", "{p}: chdir other"),
    # Below the new root no program exists: exec fails (ENOENT, the same process keeps its
    # root), and so do posix_spawn and the what-if creators, whose cells have no outcome
    Attribute("root", "the root directory (chroot)", "fork(2), clone(2), chroot(2)",
              "parent: mmap f 1p file=sub/f\nparent: mmap g 1p file=other/g\n"
              "parent: chroot sub", "{p}.root", "{p}: chroot other",
              unrunnable=tuple((m, "no program is below the new root: the spawn fails with "
                                   "ENOENT, and no new process is there to read")
                               for m in ("posix_spawn", "spawn-template", "pidfd-builder",
                                         "create-process"))),
    Attribute("umask", "the file mode creation mask", "fork(2), clone(2), umask(2)",
              "parent: umask 027", "{p}.umask", "{p}: umask 077"),
    Attribute("cgroup", "the control group (cgroup v2)", "cgroups(7), clone(2), execve(2)",
              "parent: cgroup a", "{p}.cgroup", "{p}: cgroup b"),
    # No call reads an undo list: the adjustments show as the value its last task's end
    # changes, read by the first process, which lives on
    Attribute("semadj", "System V semaphore adjustments (semop SEM_UNDO)",
              "semop(2), fork(2), clone(2), execve(2)",
              "origin: semget -> s\norigin: fork -> parent\nparent: semop s +1 undo",
              "origin.semval(s)", "{p}: semop s +1 undo", first="origin", at_end=True),
    Attribute("pdeathsig", "the parent-death signal", "prctl(2), fork(2), execve(2)",
              "parent: pdeathsig SIGUSR2", "{p}.pdeathsig", "{p}: pdeathsig SIGUSR1",
              per_thread=True),
    # No call changes a process's own exit signal: only a creator gives one, so the setup
    # makes the parent by a clone whose exit signal is not SIGCHLD
    Attribute("exit-signal", "the exit signal (what the parent is sent at the end)",
              "fork(2), clone(2), execve(2)",
              "origin: clone none exitsig=SIGUSR1 -> parent", "{p}.exit_signal", None,
              per_thread=True, first="origin"),
    Attribute("rlimits", "resource limits (RLIMIT_NOFILE's soft limit)",
              "fork(2), execve(2), getrlimit(2)", "parent: setrlimit nofile 2000",
              '{p}.rlimit("nofile")', "{p}: setrlimit nofile 1500"),
    Attribute("environ", "the environment variables", "execve(2), environ(7)",
              'parent: setenv FL_X "1"', '{p}.env("FL_X")', '{p}: setenv FL_X "2"'),
    Attribute("nice", "the nice value", "fork(2), setpriority(2), sched(7)",
              "parent: nice 5", "{p}.nice", "{p}: nice 7", per_thread=True),
    Attribute("sched-policy", "the scheduling policy", "fork(2), sched(7)",
              "parent: sched batch", "{p}.sched", "{p}: sched other", per_thread=True),
    Attribute("cpu-affinity", "the CPU affinity mask", "sched_setaffinity(2)",
              "parent: affinity 0,1", "{p}.cpus", "{p}: affinity 0", per_thread=True),
    Attribute("comm", "the thread's name (comm)", "prctl(2) PR_SET_NAME, execve(2)",
              "parent: comm parentname", "{p}.comm", "{p}: comm other", per_thread=True),
    Attribute("dumpable", "the dumpable flag", "prctl(2) PR_SET_DUMPABLE, execve(2)",
              "parent: dumpable 0", "{p}.dumpable", "{p}: dumpable 1"),
    Attribute("timer-slack", "the timer slack", "prctl(2) PR_SET_TIMERSLACK",
              "parent: timerslack 123000", "{p}.timer_slack", "{p}: timerslack 7000"),
    # (a thread's own slack has no /proc file: the pthread_create cell reads the main
    # thread's, unchanged by the new thread's change, which is its own)
    Attribute("no-new-privs", "no_new_privs", "prctl(2) PR_SET_NO_NEW_PRIVS, execve(2)",
              "parent: no_new_privs", "{p}.no_new_privs", None, per_thread=True),
    Attribute("uids", "real, effective and saved user ids",
              "fork(2), execve(2), credentials(7)", "parent: setresuid 0 0 65534",
              "{p}.uids", "{p}: setresuid 0 0 0"),
    Attribute("gids", "real, effective and saved group ids",
              "fork(2), execve(2), credentials(7)", "parent: setresgid 0 0 65534",
              "{p}.gids", "{p}: setresgid 0 0 0"),
    Attribute("groups", "supplementary groups", "execve(2), credentials(7)",
              "parent: setgroups 65534", "{p}.groups", "{p}: setgroups 0"),
    Attribute("capabilities", "effective capabilities", "capabilities(7), execve(2)",
              "parent: capdrop CAP_CHOWN", "{p}.caps", "{p}: capdrop CAP_MKNOD",
              per_thread=True),
    Attribute("alarm", "the alarm clock (ITIMER_REAL)", "alarm(2), fork(2), execve(2)",
              "parent: alarm 100", "{p}.alarm", "{p}: alarm 1000"),
    Attribute("itimers", "the interval timers (ITIMER_VIRTUAL, ITIMER_PROF)",
              "setitimer(2), fork(2)", "parent: setitimer virtual 200\n"
              "parent: setitimer prof 300", "({p}.itimer_virtual, {p}.itimer_prof)",
              "{p}: setitimer virtual 1000"),
    Attribute("posix-timers", "POSIX timers", "timer_create(2), fork(2), execve(2)",
              "parent: timer_create 100", "{p}.timers", "{p}: timer_create 100"),
    Attribute("record-locks", "record locks (fcntl F_SETLK)", "fcntl(2), fork(2)",
              "parent: open data.txt rw create -> f\nparent: fcntl_lock f write",
              "{p}.locks(f)", "{p}: fcntl_lock f read"),
    Attribute("ofd-locks", "open file description locks (F_OFD_SETLK)", "fcntl(2)",
              "parent: open data.txt rw create -> f\nparent: fcntl_lock f write ofd",
              "{p}.locks(f)", "{p}: fcntl_lock f read ofd"),
    Attribute("flock-locks", "flock(2) locks", "flock(2)",
              "parent: open data.txt rw create -> f\nparent: flock f ex",
              "{p}.locks(f)", "{p}: flock f sh"),
    Attribute("mlock", "memory locks (mlock)", "mlock(2), fork(2)",
              "parent: mmap m 1p\nparent: write m = 1\nparent: mlock m", "{p}.m.locked",
              "{p}: munlock m"),
    # MCL_FUTURE has no file to read: tests/scenarios/mlockall.toml maps after it
    Attribute("mlockall", "memory locks of the whole address space (mlockall)",
              "mlockall(2), fork(2), execve(2)",
              "parent: mmap m 1p\nparent: write m = 1\nparent: mlockall current,future",
              "{p}.m.locked", "{p}: munlockall"),
    Attribute("altstack", "the alternate signal stack", "sigaltstack(2), execve(2)",
              "parent: sigaltstack 64KiB", "{p}.altstack", "{p}: sigaltstack 128KiB",
              per_thread=True),
    Attribute("atexit-handlers", "atexit handlers", "atexit(3), execve(2)",
              'parent: atexit "bye"', "{p}.atexit", '{p}: atexit "again"'),
    Attribute("atfork-handlers", "pthread_atfork handlers", "pthread_atfork(3)",
              "parent: atfork l1", "{p}.atfork", "{p}: atfork l2"),
)


@dataclass(frozen=True)
class Cell:
    """One attribute under one method, on each backend."""

    outcome: str | None  # None: not computed (why says why)
    kernel: str  # agree, disagree or unavailable
    why: str
    scenario: str
    kernel_outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"outcome": self.outcome, "kernel": self.kernel,
                               "scenario": self.scenario}
        if self.why:
            out["why"] = self.why
        if self.kernel == "disagree":
            out["kernel_outcome"] = self.kernel_outcome
        return out


def scenario_text(attribute: Attribute, method: Method) -> str:
    """The scenario of a cell: set, make, read both; then change by the new one, read."""
    new = method.thread if attribute.per_thread and method.thread else method.new
    read = {"parent": attribute.read.format(p="parent"), "new": attribute.read.format(p=new)}
    if attribute.at_end:
        assert attribute.change is not None
        if method.actor is None:  # exec: the same process, which then ends
            steps = [(attribute.setup, [read["parent"]]), (method.make, [read["parent"]]),
                     ("parent: exit", [read["parent"]])]
        else:
            steps = [(f"{attribute.setup}\n{method.make}", [read["parent"]]),
                     (attribute.change.format(p=method.actor), [read["parent"]]),
                     (f"{method.actor}: exit", [read["parent"]])]
    elif method.id == "exec":
        steps = [(attribute.setup, [read["parent"]]),
                 (method.make, [read["parent"]])]
    else:
        steps = [(f"{attribute.setup}\n{method.make}", [read["parent"], read["new"]])]
        if attribute.change is not None and method.actor is not None:
            steps.append((attribute.change.format(p=method.actor), [read["parent"]]))
    parts = [f'id = "atlas-{attribute.id}-{method.id.replace("_", "-")}"',
             f"title = {json.dumps(f'{attribute.title}: {method.title}')}",
             'summary = "A cell of the inheritance atlas (docs/atlas.md)."']
    if attribute.first is not None:
        parts.append(f"first = {json.dumps(attribute.first)}")
    if method.sim_only:
        parts.append("real = false")
    for do, asks in steps:
        questions = ", ".join(f"{{ q = {json.dumps(a)}, a = {json.dumps(a)} }}" for a in asks)
        parts.append(f"[[step]]\ndo = '''\n{do}\n'''\nask = [{questions}]")
    return "\n".join(parts) + "\n"


def outcome(attribute: Attribute, method: Method, result: ScenarioResult) -> str | None:
    """The cell's outcome from one run's answers, or None if the run did not finish."""
    if result.error is not None or len(result.steps) < 1:
        return None
    answers = [[judged.value for judged in step.answers] for step in result.steps]
    if any(value is UNAVAILABLE for step in answers for value in step):
        return None  # a value this user may not read (docs/commands.md)
    if attribute.at_end:
        return outcome_at_end(method, answers)
    if method.id == "exec":
        if len(answers) < 2:
            return None
        return "kept" if answers[0][0] == answers[1][0] else "reset"
    parent, new = answers[0]
    if attribute.identity:
        return "shared" if new is True else "reset"
    if parent != new:
        return "reset"
    if len(answers) < 2:
        return "copied"
    return "shared" if answers[1][0] != parent else "copied"


def outcome_at_end(method: Method, answers: list[list[Any]]) -> str | None:
    """What the new one's end undid, from the reads before and after it: for exec, the
    parent's +1 (kept) or nothing (reset); else nothing (the list is shared: the parent
    still holds it), the new one's own +1 (reset: a list of its own), or the parent's +1
    too (copied)."""
    if len(answers) < 3 or not all(isinstance(step[0], int) for step in answers):
        return None
    undone = answers[1][0] - answers[2][0]
    table = {0: "reset", 1: "kept"} if method.actor is None else \
        {0: "shared", 1: "reset", 2: "copied"}
    return table.get(undone)


def cell(attribute: Attribute, method: Method, sim: Backend, real: Backend | None) -> Cell:
    text = scenario_text(attribute, method)
    scenario: Scenario = parse_text(text, f"<atlas {attribute.id} {method.id}>")
    model = outcome(attribute, method, run_guarded(sim, scenario))
    if model is None:
        why = dict(attribute.unrunnable).get(method.id, "the model could not run the scenario")
        return Cell(None, "unavailable", why, text)
    if method.sim_only:
        return Cell(model, "unavailable", "a design Linux does not ship: simulator only", text)
    if real is None:
        return Cell(model, "unavailable", "the kernel backend is not available here", text)
    kernel = outcome(attribute, method, run_guarded(real, scenario))
    if kernel is None:
        return Cell(model, "unavailable", "the kernel could not run the scenario, or this "
                    "user may not read what it reads", text)
    return Cell(model, "agree" if kernel == model else "disagree", "", text, kernel)


def atlas(sim: Backend, real: Backend | None,
          on_progress: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """Every row, every cell."""
    rows = []
    total = len(ATTRIBUTES) * len(METHODS)
    for i, attribute in enumerate(ATTRIBUTES):
        cells = {}
        for j, method in enumerate(METHODS):
            on_progress(f"atlas: {attribute.id} under {method.id} "
                        f"({i * len(METHODS) + j + 1}/{total})")
            cells[method.id] = cell(attribute, method, sim, real).to_json()
        rows.append({"id": attribute.id, "title": attribute.title,
                     "source": attribute.source, "cells": cells})
    return rows


MARK = {"agree": "✓", "disagree": "✗", "unavailable": "?"}


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table: a row per attribute, a column per method; each cell the model's outcome
    and the kernel's verdict (✓ agrees, ✗ differs, ? not run)."""
    head = "| attribute | " + " | ".join(m.id for m in METHODS) + " |"
    lines = [head, "|" + "---|" * (len(METHODS) + 1)]
    for row in rows:
        cells = []
        for method in METHODS:
            c = row["cells"][method.id]
            cells.append("—" if c["outcome"] is None else f"{c['outcome']} {MARK[c['kernel']]}")
        lines.append(f"| `{row['id']}` ({row['title']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def text(rows: list[dict[str, Any]], width: int = 80) -> str:
    """For a terminal of `width` columns: each attribute, then its cells, wrapped."""
    out = []
    for row in rows:
        cells = []
        for method in METHODS:
            c = row["cells"][method.id]
            shown = "-" if c["outcome"] is None else f"{c['outcome']} {MARK[c['kernel']]}"
            cells.append(f"{method.id} {shown}")
        out.append(f"{row['id']} ({row['title']})")
        out.append(textwrap.fill(", ".join(cells), width, initial_indent="  ",
                                 subsequent_indent="  "))
    marks = "✓ the kernel agrees, ✗ it differs, ? not run on the kernel, - no outcome"
    return "\n".join(out) + "\n" + marks + "\n"
