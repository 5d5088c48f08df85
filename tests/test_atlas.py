"""forklab atlas: each cell's outcome, computed by running, says what the man pages say."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from forklab import atlas
from forklab.cli import main
from forklab.sim import SimBackend

DOCS = Path(__file__).resolve().parent.parent / "docs" / "atlas.md"


@pytest.fixture(scope="module")
def model_rows() -> dict[str, dict[str, str | None]]:
    rows = atlas.atlas(SimBackend(), None)
    return {row["id"]: {m: c["outcome"] for m, c in row["cells"].items()} for row in rows}


@pytest.mark.parametrize("attribute, method, outcome, source", [
    ("fds", "fork", "copied", "fork(2): the child inherits copies of the fds"),
    ("open-file-descriptions", "fork", "shared", "fork(2): they refer to the same open file "
                                                 "descriptions"),
    ("fds", "clone-files", "shared", "clone(2): CLONE_FILES shares the fd table"),
    ("fd-offsets", "fork", "shared", "fork(2): the descriptors share file offsets"),
    ("cloexec-fds", "exec", "reset", "execve(2): close-on-exec fds are closed"),
    ("cloexec-fds", "posix_spawn", "reset", "posix_spawn(3): the exec closes them"),
    ("fds", "exec", "kept", "execve(2): other fds remain open"),
    ("pending-signals", "fork", "reset", "fork(2): the child's pending set is empty"),
    ("pending-signals", "exec", "kept", "execve(2): the pending set is preserved"),
    ("signal-mask", "exec", "kept", "execve(2): the signal mask is preserved"),
    ("caught-dispositions", "exec", "reset", "execve(2): caught signals reset to default"),
    ("ignored-dispositions", "exec", "kept", "execve(2): ignored signals stay ignored"),
    ("caught-dispositions", "clone-sighand", "shared", "clone(2): CLONE_SIGHAND"),
    ("caught-dispositions", "posix_spawn", "reset", "posix_spawn(3): an exec"),
    ("mappings", "fork", "copied", "fork(2): a copy of the address space"),
    ("mappings", "vfork", "shared", "vfork(2): the child borrows the parent's memory"),
    ("shared-mappings", "fork", "shared", "mmap(2): MAP_SHARED"),
    ("dontfork-mappings", "fork", "reset", "madvise(2): MADV_DONTFORK"),
    ("sysv-shm", "fork", "shared", "shmop(2): \"After a fork(2), the child inherits the "
                                   "attached shared memory segments.\""),
    ("sysv-shm", "exec", "reset", "execve(2): \"Attached System V shared memory segments are "
                                  "detached (shmat(2)).\""),
    ("sysv-shm", "posix_spawn", "reset", "shmop(2): \"After an execve(2), all attached "
                                         "shared memory segments are detached from the "
                                         "process.\""),
    ("threads", "fork", "reset", "fork(2): the child has a single thread"),
    ("signal-mask", "pthread_create", "copied", "pthread_create(3): the new thread inherits "
                                                "a copy of the creating thread's signal mask"),
    ("pending-signals", "pthread_create", "reset", "pthread_create(3): the set of pending "
                                                   "signals for the new thread is empty"),
    ("errno", "pthread_create", "reset", "errno(3): errno is thread-local"),
    ("mutex-state", "fork", "copied", "pthread_atfork(3): the child gets a copy of the "
                                      "mutex's state, held by a thread it does not have"),
    ("stdio-buffers", "fork", "copied", "fork(2): the child has a copy of the parent's "
                                        "memory, stdio buffers included"),
    ("dir-streams", "exec", "reset", "opendir(3): the fd is opened close-on-exec (glibc)"),
    ("dir-stream-offsets", "fork", "shared", "fork(2): the descriptors share file offsets"),
    ("mqueues", "fork", "copied", "fork(2): The child inherits copies of the parent's set "
                                  "of open message queue descriptors"),
    ("mqueues", "exec", "reset", "execve(2): Any open message queue descriptors are closed"),
    ("mqueues", "posix_spawn", "reset", "posix_spawn(3): an exec"),
    # clone(2), for each flag: "If CLONE_NEW<KIND> is not set, then the process is created
    # in the same <kind> namespace as the calling process"; execve(2) does not list
    # namespaces among what it resets; posix_spawn(3) is a fork or vfork, then an exec.
    *((f"{kind}-ns", method, "shared", f"clone(2): CLONE_NEW{kind.upper()} not set")
      for kind in ("pid", "mnt", "uts", "ipc", "net", "user")
      for method in ("fork", "vfork", "posix_spawn")),
    *((f"{kind}-ns", "exec", "kept", "execve(2): namespaces are not among the exceptions")
      for kind in ("pid", "mnt", "uts", "ipc", "net", "user")),
    ("pid", "fork", "reset", "fork(2): \"The child has its own unique process ID\""),
    ("pid", "exec", "kept", "execve(2): \"All process attributes are preserved during an "
                            "execve(), except the following\", and the process ID is not "
                            "among them"),
    ("pid", "pthread_create", "shared", "gettid(2): \"In a single-threaded process, the "
                                        "thread ID is equal to the process ID\"; the "
                                        "threads of a process share its thread group ID"),
    ("ppid", "fork", "reset", "fork(2): \"The child's parent process ID is the same as the "
                              "parent's process ID.\""),
    ("ppid", "pthread_create", "shared", "pthreads(7): threads share the parent process ID"),
    ("pgid", "fork", "copied", "setpgid(2): \"A child created via fork(2) inherits its "
                               "parent's process group ID.\""),
    ("pgid", "exec", "kept", "setpgid(2): \"The PGID is preserved across an execve(2).\""),
    ("pgid", "pthread_create", "shared", "pthreads(7): threads share the process group ID"),
    ("sid", "fork", "copied", "credentials(7): \"A child created by fork(2) inherits its "
                              "parent's session ID and process group ID.\""),
    ("sid", "exec", "kept", "credentials(7): \"A process's session ID and process group ID "
                            "are preserved across an execve(2).\""),
    ("cwd", "fork", "copied", "chdir(2): \"A child process created via fork(2) inherits its "
                              "parent's current working directory.\""),
    ("cwd", "exec", "kept", "chdir(2): \"The current working directory is left unchanged by "
                            "execve(2).\""),
    ("cwd", "clone-fs", "shared", "clone(2): \"If CLONE_FS is set, the caller and the child "
                                  "process share the same filesystem information.\""),
    ("cwd", "clone-files", "copied", "clone(2): \"If CLONE_FS is not set, the child process "
                                     "works on a copy of the filesystem information\""),
    ("cwd", "pthread_create", "shared", "pthreads(7): threads share the current directory"),
    ("umask", "fork", "copied", "umask(2): \"A child process created via fork(2) inherits its "
                                "parent's umask.\""),
    ("umask", "exec", "kept", "umask(2): \"The umask is left unchanged by execve(2).\""),
    ("cgroup", "fork", "copied", "cgroups(7): \"A child process created via fork(2) inherits "
                                 "its parent's cgroup memberships.\""),
    ("cgroup", "exec", "kept", "cgroups(7): \"A process's cgroup memberships are preserved "
                               "across execve(2).\""),
    ("cgroup", "pthread_create", "shared", "cgroups(7), cgroups v2: \"No thread-granularity "
                                           "control: all of the threads of a process must be "
                                           "in the same cgroup.\""),
    ("umask", "clone-fs", "shared", "clone(2): the shared filesystem information \"includes "
                                    "the root of the filesystem, the current working "
                                    "directory, and the umask\""),
    ("environ", "fork", "copied", "environ(7): \"When a child process is created via fork(2), "
                                  "it inherits a copy of its parent's environment.\""),
    ("environ", "vfork", "shared", "vfork(2): the child \"shares all memory with its parent\", "
                                   "and glibc keeps environ in memory"),
    ("pdeathsig", "fork", "reset", "prctl(2) PR_SET_PDEATHSIG: \"The parent-death signal "
                                   "setting is cleared for the child of a fork(2).\""),
    ("pdeathsig", "exec", "kept", "prctl(2): \"It is also (since Linux 2.4.36 / 2.6.23) "
                                  "cleared when executing a set-user-ID or set-group-ID "
                                  "binary\": forklab's probe is neither, so it stays"),
    ("rlimits", "fork", "copied", "getrlimit(2): \"A child process created via fork(2) "
                                  "inherits its parent's resource limits.\""),
    ("rlimits", "exec", "kept", "getrlimit(2): \"Resource limits are preserved across "
                                "execve(2).\""),
    ("rlimits", "pthread_create", "shared", "pthreads(7): threads share resource limits"),
    ("umask", "pthread_create", "shared", "pthreads(7): threads share the file mode creation "
                                          "mask (umask)"),
    ("nice", "fork", "copied", "setpriority(2): a child created by fork(2) inherits its "
                               "parent's nice value"),
    ("nice", "exec", "kept", "setpriority(2): the nice value is preserved across execve(2)"),
    ("sched-policy", "fork", "copied", "sched(7): child processes inherit the scheduling "
                                       "policy and parameters across a fork(2)"),
    ("sched-policy", "exec", "kept", "sched(7): the scheduling policy and parameters are "
                                     "preserved across execve(2)"),
    ("cpu-affinity", "fork", "copied", "sched_setaffinity(2): a child created via fork(2) "
                                       "inherits its parent's CPU affinity mask"),
    ("cpu-affinity", "exec", "kept", "sched_setaffinity(2): the affinity mask is preserved "
                                     "across an execve(2)"),
    ("comm", "exec", "reset", "execve(2): the process name, as set by prctl(2) PR_SET_NAME, "
                              "is reset to the name of the new executable file"),
    ("dumpable", "exec", "reset", "execve(2): the process's dumpable attribute is set to "
                                  "the value 1"),
    ("timer-slack", "fork", "copied", "prctl(2): the timer slack value is inherited by a "
                                      "child created via fork(2)"),
    ("timer-slack", "exec", "kept", "prctl(2): [the timer slack value] is preserved across "
                                    "execve(2)"),
    ("no-new-privs", "fork", "copied", "prctl(2): inherited by children created by fork(2) "
                                       "and clone(2)"),
    ("no-new-privs", "exec", "kept", "prctl(2): and preserved across execve(2)"),
    ("uids", "fork", "copied", "credentials(7): a child process created by fork(2) inherits "
                               "copies of its parent's user and groups IDs"),
    ("gids", "fork", "copied", "credentials(7): inherits copies of its parent's user and "
                               "groups IDs"),
    ("groups", "exec", "kept", "execve(2): supplementary group IDs are unchanged by a call "
                               "to execve()"),
    ("uids", "exec", "reset", "execve(2): the effective user ID of the process is copied "
                              "to the saved set-user-ID (the setup's saved uid differs)"),
    ("uids", "pthread_create", "shared", "credentials(7): NPTL ... ensure[s] that any change "
                                         "to user or group credentials ... is carried "
                                         "through to all of the POSIX threads"),
    ("capabilities", "pthread_create", "copied", "pthread_create(3): the new thread "
                                                 "inherits copies of the calling thread's "
                                                 "capability sets"),
    ("cpu-affinity", "pthread_create", "copied", "pthread_create(3): and CPU affinity mask"),
    ("timer-slack", "pthread_create", "copied", "prctl(2): when a new thread is created, the "
                                                "two timer slack values are made the same as "
                                                "the current value of the creating thread"),
    ("capabilities", "exec", "reset", "capabilities(7): if the real or effective user ID of "
                                      "the process is 0 (root), then the file inheritable "
                                      "and permitted sets are ignored (all ones)"),
    ("alarm", "fork", "reset", "fork(2): \"The child does not inherit timers from its parent "
                               "(setitimer(2), alarm(2), timer_create(2)).\""),
    ("alarm", "exec", "kept", "alarm(2): \"Alarms created by alarm() are preserved across "
                              "execve(2) and are not inherited by children created via "
                              "fork(2).\""),
    ("itimers", "fork", "reset", "setitimer(2): \"A child created via fork(2) does not inherit "
                                 "its parent's interval timers.\""),
    ("itimers", "exec", "kept", "setitimer(2): \"Interval timers are preserved across an "
                                "execve(2).\""),
    ("posix-timers", "fork", "reset", "timer_create(2): \"Timers are not inherited by the child "
                                      "of a fork(2)\""),
    ("posix-timers", "exec", "reset", "timer_create(2): \"... and are disarmed and deleted "
                                      "during an execve(2).\""),
    ("posix-timers", "pthread_create", "shared", "timer_create(2): \"creates a new "
                                                 "per-process interval timer\""),
    ("record-locks", "fork", "reset", "fork(2): \"The child does not inherit process-associated "
                                      "record locks from its parent (fcntl(2)).\""),
    ("record-locks", "exec", "kept", "fcntl(2): \"Record locks are not inherited by a child "
                                     "created via fork(2), but are preserved across an "
                                     "execve(2).\""),
    ("ofd-locks", "fork", "shared", "fcntl(2): \"open file description locks are inherited "
                                    "across fork(2) (and clone(2) with CLONE_FILES)\""),
    ("flock-locks", "fork", "shared", "flock(2): \"duplicate file descriptors (created by, for "
                                      "example, fork(2) or dup(2)) refer to the same lock, and "
                                      "this lock may be modified or released using any of "
                                      "these file descriptors.\""),
    ("flock-locks", "exec", "kept", "flock(2): \"Locks created by flock() are preserved across "
                                    "an execve(2).\""),
    ("mlock", "fork", "reset", "fork(2): \"The child does not inherit its parent's memory locks "
                               "(mlock(2), mlockall(2)).\""),
    ("mlock", "exec", "reset", "execve(2): \"Memory locks are not preserved (mlock(2), "
                               "mlockall(2)).\""),
    ("altstack", "fork", "copied", "sigaltstack(2): \"A child process created via fork(2) "
                                   "inherits a copy of its parent's alternate signal stack "
                                   "settings.\""),
    ("altstack", "clone-vm", "reset", "sigaltstack(2): \"unless the clone flags include CLONE_VM "
                                      "and do not include CLONE_VFORK, in which case any "
                                      "alternate signal stack that was established in the "
                                      "parent is disabled in the child process.\""),
    ("altstack", "exec", "reset", "execve(2): \"Any alternate signal stack is not preserved "
                                  "(sigaltstack(2)).\""),
    ("altstack", "pthread_create", "reset", "pthread_create(3): \"The new thread does not "
                                            "inherit the creating thread's alternate signal "
                                            "stack (sigaltstack(2)).\""),
    ("atexit-handlers", "fork", "copied", "atexit(3): \"When a child process is created via "
                                          "fork(2), it inherits copies of its parent's "
                                          "registrations.\""),
    ("atexit-handlers", "exec", "reset", "execve(2): \"Exit handlers are not preserved "
                                         "(atexit(3), on_exit(3)).\""),
    ("root", "fork", "copied", "chroot(2): \"A child process created via fork(2) inherits its "
                               "parent's root directory.\""),
    ("root", "exec", "kept", "chroot(2): \"The root directory is left unchanged by "
                             "execve(2).\""),
    ("root", "clone-fs", "shared", "clone(2): CLONE_FS \"This includes the root of the "
                                   "filesystem [...] Any call to chroot(2) [...] also affects "
                                   "the other process.\""),
    ("root", "clone-files", "copied", "clone(2): \"If CLONE_FS is not set, the child process "
                                      "works on a copy of the filesystem information\""),
    ("mlockall", "fork", "reset", "fork(2): \"The child does not inherit its parent's memory "
                                  "locks (mlock(2), mlockall(2)).\""),
    ("mlockall", "exec", "reset", "execve(2): \"Memory locks are not preserved (mlock(2), "
                                  "mlockall(2)).\""),
    # the parent's own exit signal is SIGUSR1 (a clone child's)
    ("exit-signal", "fork", "reset", "fork(2): \"The termination signal of the child is "
                                     "always SIGCHLD (see clone(2)).\""),
    ("exit-signal", "exec", "reset", "execve(2): \"The termination signal is reset to "
                                     "SIGCHLD (see clone(2)).\""),
    ("semadj", "fork", "reset", "fork(2): \"The child does not inherit semaphore adjustments "
                                "from its parent (semop(2))\""),
    ("semadj", "pthread_create", "shared", "clone(2) CLONE_SYSVSEM: \"the child and the "
                                           "calling process share a single list of System V "
                                           "semaphore adjustment (semadj) values\""),
    ("semadj", "exec", "kept", "semop(2): \"they are inherited across an execve(2) system "
                               "call\""),
    ("exit-signal", "pthread_create", "reset", "clone(2) CLONE_THREAD: \"When a CLONE_THREAD "
                                               "thread terminates, the thread that created "
                                               "it is not sent a SIGCHLD (or other "
                                               "termination) signal\""),
])
def test_a_cell_says_what_the_man_page_says(model_rows: dict[str, dict[str, str | None]],
                                            attribute: str, method: str, outcome: str,
                                            source: str) -> None:
    assert model_rows[attribute][method] == outcome, source


def test_the_table_in_the_docs_is_the_models(
        model_rows: dict[str, dict[str, str | None]]) -> None:
    """docs/atlas.md is `forklab atlas --markdown`: its outcomes are the model's now."""
    found = {}
    for line in DOCS.read_text().splitlines():
        match = re.match(r"\| `([a-z-]+)` \(.*?\) \| (.*) \|$", line)
        if match:
            cells = [c.strip() for c in match.group(2).split(" | ")]
            found[match.group(1)] = {m.id: (None if c == "—" else c.split()[0])
                                     for m, c in zip(atlas.METHODS, cells)}
    assert found == model_rows


def test_json_has_every_row_and_every_cell(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["atlas", "--json", "--backend", "sim"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in document["methods"]] == [m.id for m in atlas.METHODS]
    rows = document["attributes"]
    assert [r["id"] for r in rows] == [a.id for a in atlas.ATTRIBUTES]
    for row in rows:
        assert set(row["cells"]) == {m.id for m in atlas.METHODS}
        for cell in row["cells"].values():
            assert cell["outcome"] in (*atlas.OUTCOMES, None)
            assert cell["kernel"] == "unavailable"  # the model alone was asked
