"""Timers, the alternate signal stack and file locks across fork, vfork, posix_spawn,
pthread_create and execve: what the kernel does (tests/kernel_facts/proc_timers.c,
proc_locks.c), which the model copies. Each expected value is the man page's sentence,
quoted beside it."""
from __future__ import annotations

from kernel_facts.harness import expect, facts

EAGAIN = 11


def test_alarm_and_interval_timers() -> None:
    got = facts("proc_timers")
    expect(got, {
        "parent.alarm": 100, "parent.virtual": 100, "parent.prof": 100,
        # alarm(2): "seconds remaining", rounded to the nearest second (99.6 s -> 100)
        "alarm.rounds": 100,
        # setitimer(2): "A child created via fork(2) does not inherit its parent's interval
        # timers"; a vfork or posix_spawn child is such a child
        **{f"{who}.{timer}": 0 for who in ("fork", "vfork", "spawn")
           for timer in ("alarm", "virtual", "prof")},
        # "Interval timers are preserved across an execve(2)" (alarm is ITIMER_REAL)
        "exec_armed.alarm": 100, "exec_armed.virtual": 100, "exec_armed.prof": 100,
        # the timers are the process's: a thread sees them, and its alarm() is the process's
        "thread.alarm": 100, "thread.virtual": 100, "thread_alarm_seen": 50,
    })


def test_posix_timers() -> None:
    got = facts("proc_timers")
    expect(got, {
        "timer_create": 0, "parent.timers": 1, "before_exec.timers": 1,
        # timer_create(2): "A child created by fork(2) does not inherit its parent's timers"
        "fork.timers": 0, "vfork.timers": 0, "spawn.timers": 0,
        # "the timers of a process are disarmed and deleted during execve(2)"
        "exec_armed.timers": 0,
        # "The timers created by timer_create() are shared by all threads of a process"
        "thread.timers": 1,
    })


def test_alternate_signal_stack() -> None:
    got = facts("proc_timers")
    expect(got, {
        "parent.altstack": 65536,
        # sigaltstack(2): "A child created via fork(2) inherits a copy of its parent's
        # alternate signal stack settings"; the same for vfork (CLONE_VM with CLONE_VFORK)
        "fork.altstack": 65536, "vfork.altstack": 65536,
        # "The alternate signal stack settings are reset to default by execve(2)"
        "exec_armed.altstack": 0, "spawn.altstack": 0,
        # pthread_create(3): "The new thread does not inherit the creating thread's
        # alternate signal stack"
        "thread.altstack": 0,
    })


def test_record_locks_belong_to_the_process() -> None:
    got = facts("proc_locks")
    expect(got, {
        "posix.set": 0, "posix.parent.locks": "POSIX WRITE",
        # fork(2): "The child does not inherit process-associated record locks from its
        # parent"; fcntl(2): so the child cannot take the lock its parent holds
        "posix.fork.locks": "none", "posix.fork.posix_take": EAGAIN,
        "posix.spawn.locks": "none",
        # fcntl(2): "Record locks are ... preserved across an execve(2)"
        "posix.child_set": 0, "posix.exec.locks": "POSIX WRITE",
        # "shared by the threads of a process": a thread's lock is the process's
        "thread.locks": "POSIX WRITE", "thread.posix_take": 0,
        # "If a process closes any file descriptor referring to a file, then all of the
        # process's locks on that file are released"
        "posix.after_other_close.locks": "none",
        "posix.relock": 0, "posix.upgrade_read": 0, "posix.after_read.locks": "POSIX READ",
        "posix.unlock": 0, "posix.after_unlock.locks": "none",
        # (what fdinfo lists: a lock set again in the same mode through another description
        # stays where it was; in the other mode it moves)
        "posix.same_mode.first": "POSIX WRITE", "posix.same_mode.second": "none",
        "posix.other_mode.first": "none", "posix.other_mode.second": "POSIX READ",
    })


def test_ofd_and_flock_locks_belong_to_the_open_file_description() -> None:
    got = facts("proc_locks")
    expect(got, {
        # fcntl(2): "Open file description locks ... are associated with an open file
        # description": a fork child holds it too, and its change is the parent's
        "ofd.set": 0, "ofd.parent.locks": "OFDLCK WRITE", "ofd.fork.locks": "OFDLCK WRITE",
        "ofd.fork_take": 0, "ofd.after_child_change.locks": "OFDLCK READ",
        "ofd.spawn.locks": "OFDLCK READ",
        # another open of the file conflicts, and closing it releases nothing
        "ofd.other_description_take": EAGAIN, "ofd.posix_conflict": EAGAIN,
        "ofd.after_other_close.locks": "OFDLCK WRITE",
        # flock(2): "Locks created by flock() are associated with an open file description
        # ... duplicate file descriptors (created by, for example, fork(2) ...) refer to
        # the same lock ... may be ... released using any of these file descriptors"
        "flock.set": 0, "flock.parent.locks": "FLOCK WRITE", "flock.fork.locks": "FLOCK WRITE",
        "flock.fork_unlock": 0, "flock.after_child_change.locks": "none",
        "flock.other_description_take": EAGAIN,
        "flock.after_other_close.locks": "FLOCK WRITE",
        # flock locks and fcntl record locks do not see each other on Linux
        "flock.posix_independent": 0,
    })
