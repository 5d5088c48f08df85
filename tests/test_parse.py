"""The scenario parser accepts every form docs/scenario-language.md writes, and builds the right Ops."""
from __future__ import annotations

import dataclasses

import pytest

from forklab.scenario.model import (
    Actor,
    Program,
    Range,
    Scenario,
    ScenarioError,
    SpawnAction,
    Where,
)
from forklab.scenario.ops import Op
from forklab.scenario.parse import parse_file, parse_line, parse_text
from forklab.scenario.verbs import VERBS, verb_of
from forklab.vocabulary import PAGE, SIZE_UNITS

HEAD = 'id = "t"\ntitle = "T"\nsummary = "S"\n'


def doc(script: str, *, real: bool = True, top: str = "", step: str = "") -> str:
    """A one-step scenario whose script line k (1-based) sits on file line 6 + k, column 1."""
    return (HEAD + f"real = {'true' if real else 'false'}\n{top}[[step]]\n"
            f"do = '''\n{script}\n'''\n{step}")


def ops(script: str, **kw):
    return parse_text(doc(script, **kw)).ops


PRELUDE = """\
parent: mmap heap 16MiB
parent: pipe -> r, w
parent: fork -> child
parent: thread -> t1
parent: malloc 64 -> a
parent: spawn_template probe -> tpl
parent: pidfd_empty -> b
parent: semget -> sem"""


def arguments(op: Op) -> dict[str, object]:
    """An op's parsed arguments by name (its fields beyond actor, binds, where, text)."""
    return {name: getattr(op, name) for name in verb_of(op).arguments}


def last_op(line: str):
    """Parse ``line`` after PRELUDE (simulator-only, so what-if APIs are allowed)."""
    return ops(PRELUDE + "\n" + line, real=False)[-1]


# --- the example of docs/scenario-language.md --------------------------------------------

EXAMPLE = '''\
id      = "cow"                               # [a-z0-9-]+, unique across the catalog
title   = "Copy-on-write: what fork really copies"
summary = "fork copies page tables, not pages; the first writer pays."
tags    = ["memory", "fork"]                  # optional
real    = true                                # optional, default true; false = simulator-only (what-if APIs)
first   = "parent"                            # optional, name of the first process; default "parent"

[[step]]
say = """
Markdown shown to the learner. The parent maps 16 MiB and writes every page.
"""
do = """
parent: mmap heap 16MiB
parent: write heap
"""
expect = ["parent.heap.present == 4096", "parent.heap.exclusive == 4096"]

[[step]]
say = "fork() duplicates the page tables; both now point at the same frames."
do  = "parent: fork -> child"
expect = ["child.heap.shared_with(parent) == 4096", "child.heap.exclusive == 0"]
ask = [
  { q = "How many frames does the child own alone?", a = "child.heap.exclusive",
    hint = "Nobody has written since the fork." },
]
'''


def test_the_example_of_section_1() -> None:
    s = parse_text(EXAMPLE, "cow.toml")
    assert (s.id, s.title, s.path) == ("cow", "Copy-on-write: what fork really copies", "cow.toml")
    assert s.summary.startswith("fork copies page tables")
    assert s.tags == ("memory", "fork") and s.real is True and s.first == "parent"
    assert dict(s.names) == {"parent": "process", "heap": "mapping", "child": "process"}
    one, two = s.steps
    assert (one.index, one.where.line, two.index, two.where.line) == (1, 8, 2, 18)
    assert one.say.startswith("Markdown shown") and one.real and one.note is None
    mmap, write = one.ops
    assert mmap.actor == Actor("parent") and mmap.verb == "mmap"
    assert arguments(mmap) == {"name": "heap", "size": 16 << 20, "backing": "anon", "path": None, "fd": None,
                         "share": "private", "prot": "rw", "thp": False, "noreserve": False}
    assert mmap.binds == ("heap",) and mmap.text == "parent: mmap heap 16MiB"
    assert (mmap.where.line, mmap.where.col, mmap.where.step) == (13, 1, 1)
    assert write.verb == "write" and arguments(write) == {"range": Range("heap"), "value": 1}
    assert write.where.line == 14
    (fork,) = two.ops
    assert fork.verb == "fork" and arguments(fork) == {} and fork.binds == ("child",)
    assert (fork.where.line, fork.where.col) == (20, 8)
    assert [e.text for e in one.expect] == ["parent.heap.present == 4096",
                                            "parent.heap.exclusive == 4096"]
    assert [(e.where.line, e.where.col) for e in one.expect] == [(16, 12), (16, 43)]
    assert [(e.where.line, e.where.col) for e in two.expect] == [(21, 12), (21, 54)]
    (question,) = two.ask
    assert question.q == "How many frames does the child own alone?"
    assert question.answer.text == "child.heap.exclusive"
    assert (question.answer.where.line, question.answer.where.col) == (23, 59)
    assert question.hint == "Nobody has written since the fork." and question.choices == ()


# --- every verb of §3, written as the reference writes it ---------------------------------

P = Program("probe")
FORMS = [
    # memory
    ("parent: mmap big 64MiB", "mmap",
     {"name": "big", "size": 64 << 20, "backing": "anon", "path": None, "fd": None,
      "share": "private", "prot": "rw", "thp": False, "noreserve": False}),
    ("parent: mmap f 4p file=data.txt shared ro thp noreserve", "mmap",
     {"name": "f", "size": 4 * PAGE, "backing": "file", "path": "data.txt", "fd": None,
      "share": "shared", "prot": "ro", "thp": True, "noreserve": True}),
    ("parent: mmap s 2p fd=r shared", "mmap",
     {"name": "s", "size": 2 * PAGE, "backing": "fd", "path": None, "fd": "r",
      "share": "shared", "prot": "rw", "thp": False, "noreserve": False}),
    ("parent: mmap g 1GiB noreserve rx private anon", "mmap",
     {"name": "g", "size": 1 << 30, "backing": "anon", "path": None, "fd": None,
      "share": "private", "prot": "rx", "thp": False, "noreserve": True}),
    ("parent: munmap heap", "munmap", {"range": Range("heap")}),
    ("parent: munmap heap[2p:4p]", "munmap", {"range": Range("heap", 2 * PAGE, 4 * PAGE)}),
    ("parent: mlock heap[:4p]", "mlock", {"range": Range("heap", 0, 4 * PAGE)}),
    ("parent: mlockall current", "mlockall", {"flags": frozenset({"current"})}),
    ("parent: mlockall future, current", "mlockall",
     {"flags": frozenset({"current", "future"})}),
    ("parent: munlockall", "munlockall", {}),
    ("parent: mremap heap 32p", "mremap", {"name": "heap", "size": 32 * PAGE, "maymove": False}),
    ("parent: mremap heap 1GiB maymove", "mremap",
     {"name": "heap", "size": 1 << 30, "maymove": True}),
    ("parent: munlock heap[3p]", "munlock", {"range": Range("heap", 3 * PAGE, 4 * PAGE)}),
    ("parent: write heap", "write", {"range": Range("heap"), "value": 1}),
    ("parent: write heap[0:100p] = 7", "write",
     {"range": Range("heap", 0, 100 * PAGE), "value": 7}),
    ("parent: write heap[1MiB:2MiB] = 0x5a", "write",
     {"range": Range("heap", 1 << 20, 2 << 20), "value": 0x5A}),
    ("parent: write heap[7p] = 255", "write", {"range": Range("heap", 7 * PAGE, 8 * PAGE),
                                               "value": 255}),
    ("parent: read heap", "read", {"range": Range("heap")}),
    ("parent: read heap[0:100p]", "read", {"range": Range("heap", 0, 100 * PAGE)}),
    *[(f"parent: madvise heap {a}", "madvise", {"range": Range("heap"), "advice": a})
      for a in ("dontfork", "dofork", "wipeonfork", "keeponfork", "dontneed", "free",
                "hugepage", "nohugepage")],
    ("parent: madvise heap[4p:] free", "madvise",
     {"range": Range("heap", 4 * PAGE), "advice": "free"}),
    *[(f"parent: mprotect heap {p}", "mprotect", {"range": Range("heap"), "prot": p})
      for p in ("ro", "rw", "none")],
    ("parent: mprotect heap[1MiB:2MiB] none", "mprotect",
     {"range": Range("heap", 1 << 20, 2 << 20), "prot": "none"}),
    # processes
    ("parent: fork -> c", "fork", {}),
    ("parent: vfork -> c", "vfork", {}),
    ("parent: clone none -> c", "clone", {"flags": frozenset(), "cgroup": None,
                                          "exit_signal": "SIGCHLD"}),
    ("parent: clone vm, vfork, files, sighand, pidfd, clear_sighand -> c", "clone",
     {"flags": frozenset({"vm", "vfork", "files", "sighand", "pidfd", "clear_sighand"}),
      "cgroup": None, "exit_signal": "SIGCHLD"}),
    ("parent: clone vm,vfork -> c", "clone", {"flags": frozenset({"vm", "vfork"}),
                                             "cgroup": None, "exit_signal": "SIGCHLD"}),
    ("parent: clone vm into=batch -> c", "clone", {"flags": frozenset({"vm"}),
                                                   "cgroup": "batch", "exit_signal": "SIGCHLD"}),
    ("parent: clone fs -> c", "clone", {"flags": frozenset({"fs"}), "cgroup": None,
                                        "exit_signal": "SIGCHLD"}),
    ("parent: clone none exitsig=USR1 -> c", "clone",
     {"flags": frozenset(), "cgroup": None, "exit_signal": "SIGUSR1"}),
    ("parent: clone vm into=batch exitsig=none -> c", "clone",
     {"flags": frozenset({"vm"}), "cgroup": "batch", "exit_signal": None}),
    ("parent: spawn probe -> c", "spawn", {"program": P, "actions": ()}),
    ("parent: spawn /bin/sleep 1 close=3 dup2=w:1 open=4:data.txt closefrom=5 chdir=sub "
     "setsid setpgroup sigmask=SIGINT+SIGTERM sigdefault=SIGUSR1+USR2 -> c", "spawn",
     {"program": Program("program", "/bin/sleep", ("1",)),
      "actions": (SpawnAction("close", fd=3), SpawnAction("dup2", fd="w", num=1),
                  SpawnAction("open", num=4, path="data.txt"), SpawnAction("closefrom", num=5),
                  SpawnAction("chdir", path="sub"), SpawnAction("setsid"),
                  SpawnAction("setpgroup"),
                  SpawnAction("sigmask", signals=frozenset({"SIGINT", "SIGTERM"})),
                  SpawnAction("sigdefault", signals=frozenset({"SIGUSR1", "SIGUSR2"})))}),
    ("parent/t1: semget -> s2", "semget", {}),
    ("parent: semop sem +1", "semop", {"name": "sem", "delta": 1, "undo": False}),
    ("parent/t1: semop sem -1000 undo", "semop", {"name": "sem", "delta": -1000, "undo": True}),
    ("parent: semop sem 0", "semop", {"name": "sem", "delta": 0, "undo": False}),
    ("parent: clone sysvsem,vm -> c", "clone", {"flags": frozenset({"sysvsem", "vm"}),
                                              "cgroup": None, "exit_signal": "SIGCHLD"}),
    ("parent: exec probe", "exec", {"program": P}),
    ("parent: exec missing", "exec", {"program": Program("missing")}),
    ("parent: exec /bin/true", "exec", {"program": Program("program", "/bin/true")}),
    ("parent: exec /bin/false", "exec", {"program": Program("program", "/bin/false")}),
    ("parent: exec /bin/sleep 1", "exec", {"program": Program("program", "/bin/sleep", ("1",))}),
    ("parent: exec /bin/sleep 0.5", "exec",
     {"program": Program("program", "/bin/sleep", ("0.5",))}),
    ("parent: exec /bin/cat", "exec", {"program": Program("program", "/bin/cat")}),
    ("parent: exit", "exit", {"code": 0}),
    ("parent: exit 3", "exit", {"code": 3}),
    ("parent: _exit", "_exit", {"code": 0}),
    ("parent: _exit 255", "_exit", {"code": 255}),
    ("parent: wait child", "wait", {"child": "child", "nohang": False, "untraced": False,
                                    "all_children": False}),
    ("parent: wait any nohang", "wait", {"child": None, "nohang": True, "untraced": False,
                                         "all_children": False}),
    ("parent: wait child untraced nohang", "wait",
     {"child": "child", "nohang": True, "untraced": True, "all_children": False}),
    ("parent: wait any all nohang untraced", "wait",
     {"child": None, "nohang": True, "untraced": True, "all_children": True}),
    ("parent: waitid any", "waitid", {"child": None, "nowait": False, "nohang": False}),
    ("parent/t1: waitid child nowait nohang", "waitid",
     {"child": "child", "nowait": True, "nohang": True}),
    ("parent: kill child SIGINT", "kill", {"target": "child", "thread": None,
                                           "signal": "SIGINT"}),
    ("parent: kill child TERM", "kill", {"target": "child", "thread": None, "signal": "SIGTERM"}),
    ("parent: kill parent/t1 USR1", "kill", {"target": "parent", "thread": "t1",
                                             "signal": "SIGUSR1"}),
    ("parent: kill child STOP", "kill", {"target": "child", "thread": None, "signal": "SIGSTOP"}),
    ("parent: kill child SIGCONT", "kill", {"target": "child", "thread": None,
                                            "signal": "SIGCONT"}),
    ("parent: kill parent SIGTSTP", "kill", {"target": "parent", "thread": None,
                                             "signal": "SIGTSTP"}),
    ("parent: thread -> t2", "thread", {}),
    ("parent/t1: exit", "thread_exit", {}),
    ("parent/t1: _exit 4", "_exit", {"code": 4}),
    # files
    ("parent: open data.txt -> fd", "open",
     {"path": "data.txt", "mode": "ro", "cloexec": False, "append": False, "create": False}),
    ("parent: open sub/log wo cloexec append create -> fd", "open",
     {"path": "sub/log", "mode": "wo", "cloexec": True, "append": True, "create": True}),
    ("parent: open /dev/null rw -> fd", "open",
     {"path": "/dev/null", "mode": "rw", "cloexec": False, "append": False, "create": False}),
    ("parent: pipe -> r2, w2", "pipe", {"cloexec": False}),
    ("parent: pipe cloexec -> r2, w2", "pipe", {"cloexec": True}),
    ("parent: dup w -> w2", "dup", {"fd": "w", "cloexec": False}),
    ("parent: dup 1 cloexec -> w2", "dup", {"fd": 1, "cloexec": True}),
    ("parent: dup2 w 1", "dup2", {"fd": "w", "num": 1}),
    ("parent: close w", "close", {"fd": "w"}),
    ("parent: close 0", "close", {"fd": 0}),
    ("parent: cloexec r on", "cloexec", {"fd": "r", "on": True}),
    ("parent: cloexec 2 off", "cloexec", {"fd": 2, "on": False}),
    ("parent: close_range 3 max", "close_range", {"lo": 3, "hi": None, "cloexec": False}),
    ("parent: close_range 3 20 cloexec", "close_range", {"lo": 3, "hi": 20, "cloexec": True}),
    ('parent: writefd w "text"', "writefd", {"fd": "w", "data": "text"}),
    ("parent: readfd r", "readfd", {"fd": "r"}),
    ("parent: memfd buf -> fd", "memfd", {"name": "buf", "cloexec": False}),
    ("parent: memfd my-buf_2 cloexec -> fd", "memfd", {"name": "my-buf_2", "cloexec": True}),
    ("parent: shm_open box -> fd", "shm_open", {"name": "box", "create": False}),
    ("parent: shm_open box create -> fd", "shm_open", {"name": "box", "create": True}),
    ("parent: shm_unlink box", "shm_unlink", {"name": "box"}),
    ("parent: mq_open box -> q", "mq_open", {"name": "box"}),
    ("parent: opendir -> d", "opendir", {"path": None}),
    ("parent: opendir sub/dir -> d", "opendir", {"path": "sub/dir"}),
    ("parent: readdir 3", "readdir", {"fd": 3}),
    ("parent: unshare uts", "unshare", {"kinds": frozenset({"uts"})}),
    ("parent: unshare user, mnt,pid", "unshare", {"kinds": frozenset({"user", "mnt", "pid"})}),
    ("parent: clone newpid,newns,files -> c", "clone",
     {"flags": frozenset({"newpid", "newns", "files"}), "cgroup": None,
      "exit_signal": "SIGCHLD"}),
    ("parent: lseek w 5", "lseek", {"fd": "w", "offset": 5, "whence": "set"}),
    ("parent: lseek 3 -4KiB cur", "lseek", {"fd": 3, "offset": -4096, "whence": "cur"}),
    ("parent: lseek r 0 end", "lseek", {"fd": "r", "offset": 0, "whence": "end"}),
    ("parent: pread r 2p", "pread", {"fd": "r", "offset": 2 * PAGE, "count": 65536}),
    ("parent: pread r 0 10", "pread", {"fd": "r", "offset": 0, "count": 10}),
    ('parent: pwrite w 0x10 "text"', "pwrite", {"fd": "w", "offset": 16, "data": "text"}),
    ("parent: ftruncate w 1MiB", "ftruncate", {"fd": "w", "size": 1 << 20}),
    ('parent: printf "text"', "printf", {"data": "text"}),
    ("parent: fflush", "fflush", {}),
    *[(f"parent: setvbuf {m}", "setvbuf", {"mode": m}) for m in ("none", "line", "full")],
    # identity, working directory and environment
    ("parent: chdir sub/dir", "chdir", {"path": "sub/dir"}),
    ("parent: chroot sub/dir", "chroot", {"path": "sub/dir"}),
    ("parent: umask 027", "umask", {"mask": 0o27}),
    ("parent: umask 0", "umask", {"mask": 0}),
    ("parent: cgroup batch-1", "cgroup", {"name": "batch-1"}),
    ("parent: setpgid child parent", "setpgid", {"target": "child", "group": "parent"}),
    ("parent: setsid", "setsid", {}),
    ('parent: setenv FL_X "a b"', "setenv", {"variable": "FL_X", "value": "a b"}),
    ("parent: setrlimit nofile 2048", "setrlimit",
     {"resource": "nofile", "soft": 2048, "hard": None, "keep_hard": True}),
    ("parent: setrlimit memlock 64KiB unlimited", "setrlimit",
     {"resource": "memlock", "soft": 65536, "hard": None, "keep_hard": False}),
    ("parent: unsetenv HOME", "unsetenv", {"variable": "HOME"}),
    # threads and locks
    ("parent: lock m", "lock", {"name": "m"}),
    ("parent/t1: lock m", "lock", {"name": "m"}),
    ("parent/t1: unlock m", "unlock", {"name": "m"}),
    ("parent/t1: trylock m", "trylock", {"name": "m"}),
    ("parent: mutex e errorcheck", "mutex", {"name": "e", "kind": "errorcheck"}),
    ("parent: mutex n normal", "mutex", {"name": "n", "kind": "normal"}),
    ("parent: atfork m", "atfork", {"name": "m"}),
    ("parent: malloc 4KiB -> a2", "malloc", {"size": 4096}),
    ("parent/t1: free a", "free", {"name": "a"}),
    # signals
    *[(f"parent: signal SIGINT {a}", "signal", {"signal": "SIGINT", "action": a})
      for a in ("ignore", "default", "catch")],
    ("parent: sigaction SIGUSR1 catch", "sigaction",
     {"signal": "SIGUSR1", "action": "catch", "code": 0, "flags": frozenset()}),
    ("parent: sigaction SIGRTMIN+3 catch nodefer norestart resethand", "sigaction",
     {"signal": "SIGRTMIN+3", "action": "catch", "code": 0,
      "flags": frozenset({"nodefer", "norestart", "resethand"})}),
    ("parent: sigaction CHLD ignore nocldstop nocldwait", "sigaction",
     {"signal": "SIGCHLD", "action": "ignore", "code": 0,
      "flags": frozenset({"nocldwait", "nocldstop"})}),
    ("parent: sigaction SIGSEGV exit 3", "sigaction",
     {"signal": "SIGSEGV", "action": "exit", "code": 3, "flags": frozenset()}),
    ("parent: block SIGINT", "block", {"signal": "SIGINT"}),
    ("parent: unblock INT", "unblock", {"signal": "SIGINT"}),
    ("parent: raise SIGUSR1", "raise", {"signal": "SIGUSR1"}),
    # time
    ("parent: sleep 10ms", "sleep", {"seconds": 0.01}),
    ("parent/t1: pdeathsig TERM", "pdeathsig", {"signal": "SIGTERM"}),
    ("parent: pdeathsig none", "pdeathsig", {"signal": None}),
    # scheduling, prctl and credentials
    ("parent: nice -20", "nice", {"value": -20}),
    ("parent: nice 19", "nice", {"value": 19}),
    ("parent: sched idle", "sched", {"policy": "idle", "reset_on_fork": False}),
    ("parent: sched batch resetonfork", "sched", {"policy": "batch", "reset_on_fork": True}),
    ("parent: affinity 3,0", "affinity", {"cpus": frozenset({0, 3})}),
    ("parent: comm my.task-1_x", "comm", {"name": "my.task-1_x"}),
    ("parent: dumpable 0", "dumpable", {"value": 0}),
    ("parent: timerslack 0", "timerslack", {"ns": 0}),
    ("parent: no_new_privs", "no_new_privs", {}),
    ("parent: setresuid 0 0 65534", "setresuid", {"ids": (0, 0, 65534)}),
    ("parent: setresgid 0 0 65534", "setresgid", {"ids": (0, 0, 65534)}),
    ("parent: setgroups 65534,0", "setgroups", {"groups": (65534, 0)}),
    ("parent: setgroups none", "setgroups", {"groups": ()}),
    ("parent: capdrop MKNOD", "capdrop", {"capability": "CAP_MKNOD", "bounding": False}),
    ("parent: capdrop CAP_SETPCAP bounding", "capdrop",
     {"capability": "CAP_SETPCAP", "bounding": True}),
    # timers, file locks, the alternate stack, exit handlers
    ("parent: alarm 100", "alarm", {"timer_seconds": 100}),
    ("parent/t1: alarm 0", "alarm", {"timer_seconds": 0}),
    *[(f"parent: setitimer {w} 1000", "setitimer", {"which": w, "timer_seconds": 1000})
      for w in ("real", "virtual", "prof")],
    ("parent: timer_create 0", "timer_create", {"timer_seconds": 0}),
    ("parent: sigaltstack 64KiB", "sigaltstack", {"stack_size": 65536}),
    ("parent: sigaltstack off", "sigaltstack", {"stack_size": 0}),
    ("parent: fcntl_lock w write", "fcntl_lock", {"fd": "w", "mode": "write", "ofd": False}),
    ("parent: fcntl_lock 3 unlock ofd", "fcntl_lock", {"fd": 3, "mode": "unlock", "ofd": True}),
    *[(f"parent: flock r {m}", "flock", {"fd": "r", "mode": m}) for m in ("sh", "ex", "un")],
    ('parent: atexit "bye\\n"', "atexit", {"data": "bye\n"}),
    # what-if APIs
    ("parent: spawn_template /bin/sleep 1 setsid -> tpl2", "spawn_template",
     {"program": Program("program", "/bin/sleep", ("1",)), "actions": (SpawnAction("setsid"),)}),
    ("parent: spawn_from tpl -> c", "spawn_from", {"template": "tpl"}),
    ("parent: pidfd_empty -> b2", "pidfd_empty", {}),
    ("parent: configure b dup2=w:1", "configure", {"blank": "b",
                                                   "action": SpawnAction("dup2", fd="w", num=1)}),
    ("parent: configure b chdir=sub", "configure", {"blank": "b",
                                                    "action": SpawnAction("chdir", path="sub")}),
    ("parent: pidfd_exec b probe -> c", "pidfd_exec", {"blank": "b", "program": P}),
    ("parent: create_process probe inherit=0+1+w -> c", "create_process",
     {"program": P, "inherit": (0, 1, "w")}),
]


@pytest.mark.parametrize("line,verb,args", FORMS, ids=[f[0] for f in FORMS])
def test_every_form_of_section_3(line: str, verb: str, args: dict) -> None:
    """Each argument the form names parsed as shown; an option it leaves out (a field
    with a default) keeps its default."""
    op = last_op(line)
    assert op.verb == verb
    got = arguments(op)
    defaults = {f.name: f.default for f in dataclasses.fields(op)}
    assert {name: got[name] for name in args} == args
    assert {name: value for name, value in got.items() if name not in args} == \
        {name: defaults[name] for name in got if name not in args}
    assert op.text == line


def test_every_verb_is_covered() -> None:
    assert {verb for _, verb, _ in FORMS} == set(VERBS)


def test_actor_of_a_thread_line() -> None:
    op = last_op("parent/t1: lock m")
    assert op.actor == Actor("parent", "t1") and str(op.actor) == "parent/t1"


@pytest.mark.parametrize("line,binds", [
    ("parent: fork -> c", ("c",)), ("parent: pipe -> r2, w2", ("r2", "w2")),
    ("parent: pipe->r2,w2", ("r2", "w2")), ("parent: mmap m 4p", ("m",)),
    ("parent: open data.txt -> f", ("f",)), ("parent: lock m", ("m",)),
    ("parent: malloc 1p -> a2", ("a2",)), ("parent: spawn_template probe -> t", ("t",)),
    ("parent: pidfd_empty -> b2", ("b2",)), ("parent: thread -> t2", ("t2",)),
    ("parent: write heap", ()),
])
def test_binds(line: str, binds: tuple) -> None:
    assert last_op(line).binds == binds


# --- lexical forms ------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ("4096", 4096), ("0x1000", 4096), ("4KiB", 4096), ("64MiB", 64 << 20), ("1GiB", 1 << 30),
    ("2TiB", 2 << 40), ("16p", 16 * PAGE), ("0x10p", 16 * PAGE), ("4K", 4096),
    ("64M", 64 << 20), ("1G", 1 << 30), ("0", 0), ("1", 1), ("007", 7),
])
def test_sizes(text: str, value: int) -> None:
    assert last_op(f"parent: malloc {text} -> x").size == value


UNIT_BYTES = {"K": 1024, "KiB": 1024, "M": 1024**2, "MiB": 1024**2, "G": 1024**3,
              "GiB": 1024**3, "T": 1024**4, "TiB": 1024**4, "p": 4096}


def test_every_size_unit_is_tested() -> None:
    assert set(UNIT_BYTES) == set(SIZE_UNITS)


@pytest.mark.parametrize("unit,scale", UNIT_BYTES.items())
def test_every_size_unit_in_a_script(unit: str, scale: int) -> None:
    assert last_op(f"parent: malloc 3{unit} -> x").size == 3 * scale
    assert last_op(f"parent: malloc 0x10{unit} -> x").size == 16 * scale
    mapped = parse_text(HEAD + f'[[step]]\ndo = "parent: mmap heap 4{unit}"\n'
                        f'expect = ["parent.heap.mapped", "parent.heap.present == 0 * 4{unit}"]\n')
    assert mapped.steps[0].ops[0].size == 4 * scale


@pytest.mark.parametrize("text,expected", [
    ("heap", Range("heap")), ("heap[0:100p]", Range("heap", 0, 100 * PAGE)),
    ("heap[1MiB:2MiB]", Range("heap", 1 << 20, 2 << 20)),
    ("heap[7p]", Range("heap", 7 * PAGE, 8 * PAGE)),
    ("heap[4096:8192]", Range("heap", 4096, 8192)),
    ("heap[0x1000:0x3000]", Range("heap", 4096, 3 * 4096)),
    ("heap[:4p]", Range("heap", 0, 4 * PAGE)), ("heap[4p:]", Range("heap", 4 * PAGE, None)),
    ("heap[0:16MiB]", Range("heap", 0, 16 << 20)), ("heap[4095p]", Range("heap", 4095 * PAGE,
                                                                          4096 * PAGE)),
])
def test_ranges(text: str, expected: Range) -> None:
    assert last_op(f"parent: read {text}").range == expected


@pytest.mark.parametrize("spelling", ["heap = 9", "heap =9", "heap= 9", "heap=9"])
def test_write_byte_spacing(spelling: str) -> None:
    assert arguments(last_op(f"parent: write {spelling}")) == {"range": Range("heap"), "value": 9}


@pytest.mark.parametrize("written,text", [
    (r'"plain"', "plain"), (r'"a\nb"', "a\nb"), (r'"tab\there"', "tab\there"),
    (r'"back\\slash"', "back\\slash"), (r'"say \"hi\""', 'say "hi"'), (r'""', ""),
    (r'"# not a comment"', "# not a comment"), (r'"a -> b, c"', "a -> b, c"),
    ('"ünïcödé ✓"', "ünïcödé ✓"),
])
def test_strings(written: str, text: str) -> None:
    assert last_op(f"parent: printf {written}").data == text


@pytest.mark.parametrize("written,name", [
    ("SIGINT", "SIGINT"), ("INT", "SIGINT"), ("SIGUSR1", "SIGUSR1"), ("USR2", "SIGUSR2"),
    ("SIGKILL", "SIGKILL"), ("SIGHUP", "SIGHUP"), ("SYS", "SIGSYS"), ("SIGIOT", "SIGABRT"),
    ("CLD", "SIGCHLD"), ("SIGPOLL", "SIGIO"), ("SIGSEGV", "SIGSEGV"), ("SIGPIPE", "SIGPIPE"),
    ("SIGRTMIN", "SIGRTMIN+0"), ("RTMIN+29", "SIGRTMIN+29"), ("SIGRTMIN+0", "SIGRTMIN+0"),
])
def test_signal_names(written: str, name: str) -> None:
    assert last_op(f"parent: raise {written}").signal == name


@pytest.mark.parametrize("sig", ["SIGSTOP", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU"])
def test_job_control_signals_for_signal_and_block(sig: str) -> None:
    assert last_op(f"parent: signal {sig} ignore").signal == sig
    assert last_op(f"parent: block {sig[3:]}").signal == sig


@pytest.mark.parametrize("sig", ["SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL"])
def test_fault_signals_may_be_ignored_or_defaulted(sig: str) -> None:
    assert last_op(f"parent: signal {sig} default").action == "default"
    assert last_op(f"parent: signal {sig} ignore").action == "ignore"


@pytest.mark.parametrize("text,seconds", [
    ("10ms", 0.01), ("1s", 1.0), ("500us", 0.0005), ("0.5s", 0.5), ("10s", 10.0),
    ("0s", 0.0), (".25s", 0.25), ("10000ms", 10.0),
])
def test_durations(text: str, seconds: float) -> None:
    assert last_op(f"parent: sleep {text}").seconds == pytest.approx(seconds)


def test_integers_in_hex() -> None:
    assert last_op("parent: exit 0xff").code == 255
    assert last_op("parent: dup2 w 0x1ff").num == 511


def test_comments_and_blank_lines() -> None:
    got = ops("# a comment line\n\n   \nparent: fork -> c   # trailing comment\n"
              'parent: printf "#1" # "quoted" in a comment')
    assert [op.verb for op in got] == ["fork", "printf"]
    assert got[0].text == "parent: fork -> c"
    assert got[1].data == "#1"


def test_spacing_is_free() -> None:
    op = last_op("   parent :fork->c")
    assert op.verb == "fork" and op.binds == ("c",) and op.where.col == 4


# --- repeat -------------------------------------------------------------------------------

def test_repeat_suffixes_bound_names() -> None:
    got = ops("repeat 3: parent: fork -> kid")
    assert [op.binds for op in got] == [("kid_1",), ("kid_2",), ("kid_3",)]
    assert [op.text for op in got] == ["parent: fork -> kid_1", "parent: fork -> kid_2",
                                       "parent: fork -> kid_3"]
    assert all((op.where.line, op.where.col) == (7, 11) for op in got)


def test_repeat_of_mmap_pipe_and_uses() -> None:
    s = parse_text(doc("repeat 2: parent: mmap buf 4p\nrepeat 2: parent: pipe -> r, w\n"
                       "repeat 0x2: parent: write buf_2\nrepeat 2 : parent: lock m"))
    assert {n for n, k in s.names.items() if k == "mapping"} == {"buf_1", "buf_2"}
    assert {n for n, k in s.names.items() if k == "fd"} == {"r_1", "w_1", "r_2", "w_2"}
    writes = [op for op in s.ops if op.verb == "write"]
    assert [op.range for op in writes] == [Range("buf_2")] * 2
    locks = [op for op in s.ops if op.verb == "lock"]
    assert [op.binds for op in locks] == [("m",), ()]  # a lock is bound on first use, unsuffixed
    assert s.names["m"] == "lock"


def test_repeat_limits() -> None:
    assert len(ops("repeat 1: parent: fflush")) == 1
    assert len(ops("repeat 1000: parent: fflush")) == 1000
    assert len(ops("repeat 256: parent: fork -> c")) == 256


# --- names --------------------------------------------------------------------------------

def test_names_of_a_scenario() -> None:
    s = parse_text(doc(PRELUDE + "\nparent: lock l\nparent: open data.txt -> f", real=False))
    assert dict(s.names) == {"parent": "process", "heap": "mapping", "r": "fd", "w": "fd",
                             "child": "process", "t1": "thread", "a": "allocation",
                             "tpl": "template", "b": "blank", "sem": "semaphore", "l": "lock",
                             "f": "fd"}


def test_first_process_name() -> None:
    s = parse_text(doc("init: fork -> sh", top='first = "init"\n'))
    assert s.first == "init" and s.names["init"] == "process"
    assert s.ops[0].actor == Actor("init")


def test_names_carry_across_steps() -> None:
    text = HEAD + '[[step]]\ndo = "parent: fork -> c"\n[[step]]\ndo = "c: exit 1"\n'
    s = parse_text(text)
    assert [op.actor.process for op in s.ops] == ["parent", "c"]


def test_a_child_thread_name_is_its_own() -> None:
    got = ops("parent: fork -> c\nc: thread -> t\nc/t: lock m")
    assert got[-1].actor == Actor("c", "t")


def test_fd_name_and_number_forms() -> None:
    assert arguments(last_op("parent: close_range 0 511")) == {"lo": 0, "hi": 511, "cloexec": False}


# --- file structure -----------------------------------------------------------------------

def test_defaults() -> None:
    s = parse_text(HEAD + "[[step]]\n")
    assert s.real is True and s.first == "parent" and s.tags == ()
    (step,) = s.steps
    assert step.ops == () and step.expect == () and step.ask == () and step.real is True
    assert step.say is None and step.note is None


def test_step_real_defaults_to_the_files() -> None:
    s = parse_text(HEAD + "real = false\n[[step]]\n[[step]]\nreal = true\n")
    assert [step.real for step in s.steps] == [False, True] and s.real is False


def test_what_if_verbs_in_a_simulator_only_step() -> None:
    text = HEAD + '[[step]]\nreal = false\ndo = "parent: pidfd_empty -> b"\n'
    assert parse_text(text).ops[0].verb == "pidfd_empty"


def test_step_keys() -> None:
    text = HEAD + ('[[step]]\nsay = "s"\nnote = "n"\ndo = "parent: fork -> c"\n'
                   'expect = ["c.state == \'running\'"]\n'
                   'ask = [{ q = "Q?", a = "len(c.fds)", choices = ["1", "3"], hint = "h" }]\n')
    (step,) = parse_text(text).steps
    assert (step.say, step.note) == ("s", "n")
    assert step.ask[0].choices == ("1", "3") and step.ask[0].hint == "h"
    assert step.ask[0].answer.text == "len(c.fds)"


def test_ask_as_array_of_tables() -> None:
    text = HEAD + '[[step]]\n[[step.ask]]\nq = "Q?"\na = "parent.threads"\n'
    (question,) = parse_text(text).steps[0].ask
    assert question.answer.where.line == 7 and question.answer.where.col == 6


def test_steps_as_an_inline_array() -> None:
    text = HEAD + 'step = [{ do = "parent: fork -> c" }, { do = "c: exit" }]\n'
    s = parse_text(text)
    assert [(op.where.line, op.where.col) for op in s.ops] == [(4, 17), (4, 47)]


def test_multiline_inline_tables_with_comments_and_trailing_commas() -> None:
    text = HEAD + ('[[step]]\nask = [\n  { q = "Q?",  # the question\n'
                   '    a = "parent.threads",\n  },\n]\n')
    (question,) = parse_text(text).steps[0].ask
    assert question.q == "Q?" and (question.answer.where.line, question.answer.where.col) == (7, 10)


# --- positions ----------------------------------------------------------------------------

def test_positions_in_a_multiline_basic_string() -> None:
    text = HEAD + '[[step]]\ndo = """\n  parent: fork -> c\n\tc: exit\n"""\n'
    got = parse_text(text).ops
    assert [(op.where.line, op.where.col) for op in got] == [(6, 3), (7, 2)]


def test_positions_with_escapes_in_a_one_line_string() -> None:
    text = HEAD + '[[step]]\ndo = "parent: printf \\"x\\"\\nparent: fork -> c"\n'
    got = parse_text(text).ops
    assert got[0].data == "x"
    assert [(op.where.line, op.where.col) for op in got] == [(5, 7), (5, 29)]


def test_positions_after_a_line_ending_backslash() -> None:
    text = HEAD + '[[step]]\ndo = """\\\n     parent: fork -> c"""\n'
    (op,) = parse_text(text).ops
    assert (op.where.line, op.where.col) == (6, 6)


def test_positions_in_literal_strings() -> None:
    text = HEAD + "[[step]]\ndo = 'parent: fork -> c'\nexpect = ['c.threads == 1']\n"
    (step,) = parse_text(text).steps
    assert (step.ops[0].where.line, step.ops[0].where.col) == (5, 7)
    assert (step.expect[0].where.line, step.expect[0].where.col) == (6, 12)


def test_positions_with_crlf_line_endings() -> None:
    text = doc("parent: fork -> c\nc: exit").replace("\n", "\r\n")
    got = parse_text(text).ops
    assert [(op.where.line, op.where.col) for op in got] == [(7, 1), (8, 1)]


def test_where_carries_file_and_step() -> None:
    text = HEAD + '[[step]]\n[[step]]\ndo = "parent: fork -> c"\n'
    (op,) = parse_text(text, "x.toml").ops
    assert op.where == Where("x.toml", 6, 7, 2)


# --- parse_file ---------------------------------------------------------------------------

def test_parse_file(tmp_path) -> None:
    path = tmp_path / "cow.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    s = parse_file(path)
    assert isinstance(s, Scenario) and s.path == str(path) and len(s.ops) == 3
    assert s.ops[0].where.file == str(path)
    assert parse_file(str(path)).id == "cow"


def test_parse_file_with_a_bom(tmp_path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + doc("parent: fork -> c").encode())
    assert parse_file(path).ops[0].where.line == 7


# --- parse_line ---------------------------------------------------------------------------

def test_parse_line_updates_names() -> None:
    names = {"parent": "process"}
    (op,) = parse_line("parent: fork -> c", names, Where("<sandbox>", 3, 5))
    assert op.where == Where("<sandbox>", 3, 5) and names == {"parent": "process",
                                                               "c": "process"}
    (op,) = parse_line("  c: mmap m 4p", names, Where("<sandbox>", 4, 1, 2))
    assert op.where == Where("<sandbox>", 4, 3, 2) and names["m"] == "mapping"


def test_parse_line_repeat_and_blank() -> None:
    names = {"parent": "process"}
    assert parse_line("# nothing", names, Where("<s>", 1)) == []
    assert parse_line("", names, Where("<s>", 1)) == []
    got = parse_line("repeat 2: parent: pipe -> r, w", names, Where("<s>", 1))
    assert [op.binds for op in got] == [("r_1", "w_1"), ("r_2", "w_2")]
    assert set(names) == {"parent", "r_1", "w_1", "r_2", "w_2"}


def test_parse_line_leaves_names_alone_on_error() -> None:
    names = {"parent": "process"}
    with pytest.raises(ScenarioError) as info:
        parse_line("repeat 3: parent: fork -> c_2", {**names, "c_2_2": "process"},
                   Where("<s>", 9, 1))
    assert info.value.where.line == 9
    with pytest.raises(ScenarioError):
        parse_line("repeat 2: parent: mmap m 4p bogus", names, Where("<s>", 1))
    assert names == {"parent": "process"}


def test_parse_line_error_columns_are_offset() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_line("parent: frok", {"parent": "process"}, Where("<s>", 2, 10))
    assert (info.value.where.line, info.value.where.col) == (2, 18)


# --- the position locator ----------------------------------------------------------------

def test_locate_maps_escaped_characters_back_to_the_text() -> None:
    from forklab.scenario.toml_positions import locate

    text = 'a = "x\\ty\\u00e9z"\nb = """\nq\\\n   r"""\nc = \'\'\'\n"s"\'\'\'\n'
    found = locate(text)
    value, smap = found.strings[("a",)]
    assert value == "x\tyéz"
    assert [text[smap.index(n)] for n in range(len(value))] == ["x", "\\", "y", "\\", "z"]
    value, smap = found.strings[("b",)]
    assert value == "qr" and found.pos(smap.index(1)) == found.pos(text.index("r"))
    value, smap = found.strings[("c",)]
    assert value == '"s"' and found.pos(smap.index(0)).line == 6


def test_join_inline_tables_keeps_every_index() -> None:
    from forklab.scenario.toml_positions import join_inline_tables

    text = ('x = { a = 1,  # c\n  b = "{\\n}", }\ny = """\n{ not a table\n"""\n'
            "z = ['#', '}']\n")
    joined = join_inline_tables(text)
    assert len(joined) == len(text)
    assert joined.splitlines()[0] == 'x = { a = 1,        b = "{\\n}"  }'
    assert joined.split("\n")[1:] == text.split("\n")[2:]


def test_parse_file_refuses_a_file_descriptor() -> None:
    with pytest.raises(ScenarioError):
        parse_file(0)  # type: ignore[arg-type]
