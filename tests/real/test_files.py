"""File verbs, stdio and errno on the real kernel."""
from __future__ import annotations

from realkit import observations, run_steps


def test_the_world_at_start():
    (obs,) = observations("")
    assert obs["parent.fds"] == [0, 1, 2]
    assert not any(obs[f"parent.cloexec({fd})"] for fd in (0, 1, 2))
    assert obs["parent.errno"] is None
    assert obs["parent.sig_ignored"] == obs["parent.sig_caught"] == []
    assert obs["parent.sig_blocked"] == obs["parent.sig_pending"] == []
    assert obs["parent.threads"] == 1 and obs["stdout"] == ""


def test_open_pipe_dup_dup2_close_cloexec():
    obs = observations(
        "parent: open data.txt rw create -> f\nparent: pipe cloexec -> r, w",
        "parent: dup f -> g\nparent: dup f cloexec -> h\nparent: dup2 f 9",
        "parent: close g\nparent: cloexec f on\nparent: cloexec r off",
        "parent: open nowhere/file -> bad")
    assert obs[0]["parent.fds"] == [0, 1, 2, 3, 4, 5]
    assert obs[0]["parent.cloexec(4)"] and obs[0]["parent.cloexec(5)"]
    assert obs[1]["parent.fds"] == [0, 1, 2, 3, 4, 5, 6, 7, 9]
    assert obs[1]["parent.cloexec(7)"] and not obs[1]["parent.cloexec(6)"]
    assert not obs[1]["parent.cloexec(9)"]
    assert obs[2]["parent.fds"] == [0, 1, 2, 3, 4, 5, 7, 9]
    assert obs[2]["parent.cloexec(3)"] and not obs[2]["parent.cloexec(4)"]
    assert obs[3]["parent.errno"] == "ENOENT"


def test_close_range_with_cloexec_and_to_max():
    obs = observations("parent: pipe -> r, w\nparent: pipe -> r2, w2",
                       "parent: close_range 4 5 cloexec", "parent: close_range 3 max",
                       "parent: fork -> c")
    assert obs[1]["parent.cloexec(4)"] and obs[1]["parent.cloexec(5)"]
    assert not obs[1]["parent.cloexec(3)"]
    assert obs[2]["parent.fds"] == [0, 1, 2]
    assert obs[3]["c.state"] == "running"  # forklab's own fds were not in the range


def test_same_file_after_fork_and_dup():
    steps = run_steps("parent: open data create -> f\nparent: dup f -> g\n"
                      "parent: open data -> h\nparent: fork -> c")
    w = next(steps)
    q = w.queries
    assert q.same_file("parent", 3, "parent", 4) is True  # dup: one description
    assert q.same_file("parent", 3, "parent", 5) is False  # opened twice: two
    assert q.same_file("parent", 3, "c", 3) is True  # fork shares descriptions
    assert q.same_file("parent", 3, "c", 7) is False  # not open
    steps.close()


def test_writefd_readfd_last_read_and_eof():
    ws = run_steps("parent: pipe -> r, w\nparent: writefd w \"hello\\n\"\nparent: readfd r",
                   "parent: close w\nparent: readfd r")
    w = next(ws)
    assert w.processes["parent"].last_read == "hello\n"
    w = next(ws)
    assert w.processes["parent"].last_read == ""
    ws.close()


def test_stdout_is_a_pipe_fully_buffered():
    obs = observations("parent: printf \"a\"", "parent: fflush", "parent: setvbuf none\n"
                       "parent: printf \"b\"")
    assert [o["stdout"] for o in obs] == ["", "a", "ab"]
    obs = observations("parent: printf \"x\"\nparent: fork -> d\nd: exit 0\nparent: exit 0")
    assert obs[0]["stdout"] == "xx"  # the fork copied the unflushed buffer


def test_exit_flushes_and__exit_does_not():
    obs = observations("parent: fork -> a\nparent: fork -> b\n"
                       "a: printf \"A\"\nb: printf \"B\"\na: exit 0\nb: _exit 0")
    assert obs[0]["stdout"] == "A"


def test_cat_copies_a_pipe_to_stdout():
    obs = observations("parent: pipe -> r, w\nparent: spawn /bin/cat dup2=r:0 close=w -> cat",
                       "parent: writefd w \"meow\"", "parent: close w\nparent: wait cat")
    assert obs[0]["cat.state"] == "blocked"  # waits for input that has not come
    assert obs[1]["stdout"] == "meow"
    assert obs[2]["cat.state"] == "reaped" and obs[2]["cat.exit_code"] == 0


def test_errno_changes_only_as_libc_changes_it():
    obs = observations("parent: open missing.txt -> f", "parent: pipe -> r, w",
                       "parent: close 77", "parent: fork -> c", "c: exec probe")
    assert [o["parent.errno"] for o in obs] == ["ENOENT", "ENOENT", "EBADF", "EBADF", "EBADF"]
    assert obs[3]["c.errno"] == "EBADF"  # fork copies errno with the memory
    assert obs[4]["c.errno"] is None  # exec starts a fresh C library


def test_open_cannot_leave_the_scratch_directory():
    for run, w in _with_symlink():
        assert w.processes["parent"].errno in ("EXDEV", "ELOOP")
        assert "secret" not in w.fd_names


def _with_symlink():
    """A link leading out of the scratch directory, planted by hand (no verb can
    make one): open through it fails."""
    import os

    from scenario_text import scenario_text

    from forklab.real.backend import RealBackend
    from forklab.scenario.parse import parse_text

    scenario = parse_text(scenario_text("parent: open out -> secret"))
    with RealBackend().start(scenario) as run:
        os.symlink("/etc/passwd", os.path.join(run.scratch, "out"))
        for op in scenario.steps[0].ops:
            run.apply(op)
        yield run, run.observe()


def test_forklab_s_fds_start_above_every_fd_the_scenario_can_have():
    """Fds come lowest first: 3 open at start, plus what the ops can add (a pipe 2,
    open/dup/dup2 1, a clone pidfd 1, a spawn file action 1), bounded below by 900."""
    from forklab.real.backend import fd_floor
    from forklab.scenario.parse import parse_text

    def floor(do: str) -> int:
        return fd_floor(parse_text(f'id = "f"\ntitle = "t"\nsummary = "s"\n'
                                   f'[[step]]\ndo = """\n{do}\n"""\n'))

    assert floor("parent: fork -> c") == 900
    assert floor("repeat 1000: parent: open /dev/null -> f") == 1003
    assert floor("repeat 600: parent: pipe -> r, w") == 1203
    assert floor("repeat 500: parent: pipe -> r, w\nrepeat 100: parent: clone pidfd -> c\n"
                 "repeat 100: parent: spawn /bin/true close=0 dup2=1:0 -> s") == 1303
