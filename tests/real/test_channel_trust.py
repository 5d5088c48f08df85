"""The probes' control channels answer to forklab alone.

Another local user must not be able to reach the socket that spawned probes
connect back to, nor win a probe's place on it; and no pid a probe reports is
adopted (and so later signalled or read) unless the kernel shows it is a child
of the process that created it.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest
from forklab.real._native import ffi, lib
from realkit import NOBODY
from scenario_text import scenario_text

from forklab.real.backend import RealBackend
from forklab.real.driver import DriverError, Flight, Reply
from forklab.scenario.parse import parse_text

# Run as another user: find every unix socket of the run under attack (its path,
# and any name /proc/net/unix shows to anyone that carries the run's pid, as the
# abstract names of old did) and try to claim a probe's place on it with forged
# hellos naming a victim, under many tokens.
ATTACKER = textwrap.dedent("""
    import json, socket, struct, sys, time
    target, victim, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    mark = "forklab-" + sys.argv[4]
    REPLY = struct.Struct("<Ii12q")
    tried, connected, errors = 0, 0, set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        names = {target}
        with open("/proc/net/unix") as f:
            for line in f.read().splitlines()[1:]:
                parts = line.split()
                if len(parts) > 7 and mark in parts[7]:
                    names.add(parts[7])
        for name in names:
            address = "\\0" + name[1:] if name.startswith("@") else name
            for token in range(1, 40):
                tried += 1
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.settimeout(0.5)
                try:
                    s.connect(address)
                except OSError as err:
                    errors.add(err.__class__.__name__)
                    s.close()
                    break
                connected += 1
                hello = [0] * 12
                hello[0] = victim  # FL_H_PID: not the connecting process
                hello[1] = victim
                hello[6] = token  # FL_H_TOKEN
                try:
                    s.send(REPLY.pack(2, 0, *hello))
                except OSError:
                    pass
                s.close()
        time.sleep(0.005)
    print(json.dumps({"tried": tried, "connected": connected, "errors": sorted(errors)}))
""")


def _other_user_python() -> str | None:
    for exe in dict.fromkeys([sys.executable, shutil.which("python3") or "", "/usr/bin/python3"]):
        if exe and subprocess.run(["setpriv", *NOBODY, exe, "-c", "pass"], cwd="/",
                                  capture_output=True, timeout=30, check=False).returncode == 0:
            return exe
    return None


@pytest.fixture
def victim():
    """A process of forklab's user that no run created: it must outlive every run."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


SPAWNS = """\
parent: spawn probe -> c1
c1: fork -> c2
parent: spawn probe -> c3
c3: spawn /bin/true -> c4
c3: wait c4"""


@pytest.mark.forklab_real(root=True)
def test_another_user_cannot_reach_or_hijack_a_run(victim):
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to act as another user")
    exe = _other_user_python()
    if exe is None:
        pytest.skip("no Python that another user can run")
    where = tempfile.mkdtemp(prefix="forklab-attacker-")
    script = os.path.join(where, "attacker.py")
    with open(script, "w") as f:
        f.write(ATTACKER)
    os.chmod(where, 0o755)
    os.chmod(script, 0o644)
    scenario = parse_text(scenario_text(SPAWNS, SPAWNS.replace("c", "d")))
    with RealBackend(timeout=30).start(scenario) as run:
        assert run.driver is not None
        address = run.driver.address
        assert os.stat(os.path.dirname(address)).st_mode & 0o077 == 0
        attacker = subprocess.Popen(
            ["setpriv", *NOBODY, exe, str(script), address, str(victim.pid), "3",
             str(os.getpid())],
            cwd="/", stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)  # the attacker is scanning and connecting
            for step in scenario.steps:
                for op in step.ops:
                    run.apply(op)
                run.observe()
                assert victim.pid not in run.driver.by_pid
            names = set(run.driver.procs)
        finally:
            try:
                out, _ = attacker.communicate(timeout=60)
            finally:
                if attacker.poll() is None:
                    attacker.kill()
                    attacker.wait()
                shutil.rmtree(where)
    report = json.loads(out)
    assert report["tried"] > 0
    assert report["connected"] == 0, report  # the kernel refused every connect
    assert "PermissionError" in report["errors"]
    assert names == {"parent", "c1", "c2", "c3", "c4", "d1", "d2", "d3", "d4"}
    assert victim.poll() is None  # never signalled
    assert not os.path.exists(os.path.dirname(address))  # the channel's directory is gone


def _forged_hello(pid: int, token: int) -> bytes:
    hello = ffi.new("struct fl_reply *", {"kind": lib.FL_R_HELLO})
    hello.v[lib.FL_H_PID] = pid
    hello.v[lib.FL_H_TID] = pid
    hello.v[lib.FL_H_TOKEN] = token
    hello.v[lib.FL_H_ORIGIN] = lib.FL_O_IMAGE
    hello.v[lib.FL_H_VERSION] = lib.FL_PROTOCOL_VERSION
    return bytes(ffi.buffer(hello))


def test_a_hello_with_the_right_token_from_a_stranger_is_refused():
    """Even forklab's own user, knowing a spawn's token, cannot take the place of
    the probe it starts: the peer must be a child of the spawning process."""
    scenario = parse_text(scenario_text("parent: fflush"))
    with RealBackend(timeout=30).start(scenario) as run:
        driver = run.driver
        assert driver is not None
        parent = driver.procs["parent"]
        assert parent.main is not None
        token = driver.token()
        flight = Flight(parent.main, "spawn", "spawn probe")
        driver.tokens[token] = flight
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.connect(driver.address)
            s.send(_forged_hello(os.getpid(), token))
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and not driver.unclaimed:
                driver.pump(0.05)
            while time.monotonic() < deadline and driver.unclaimed:
                driver.pump(0.05)
            assert flight.hello is None and flight.hello_sock is None
            assert token in driver.tokens  # still waiting for its real probe
            s.settimeout(2)
            assert s.recv(64) == b""  # dropped
        del driver.tokens[token]


def test_a_reported_pid_that_is_not_a_child_is_refused(victim):
    scenario = parse_text(scenario_text("parent: fflush"))
    with RealBackend(timeout=30).start(scenario) as run:
        driver = run.driver
        assert driver is not None
        with pytest.raises(DriverError, match="not a child"):
            driver.new_program("stranger", victim.pid, "parent", "/bin/sleep")
        assert "stranger" not in driver.procs
    assert victim.poll() is None  # still there after the run's cleanup


def test_a_thread_hello_must_name_a_thread_of_its_process():
    scenario = parse_text(scenario_text("parent: fflush"))
    with RealBackend(timeout=30).start(scenario) as run:
        driver = run.driver
        assert driver is not None
        parent = driver.procs["parent"]
        hello = Reply.parse(_forged_hello(parent.pid, 0))
        stranger = list(hello.v)
        stranger[lib.FL_H_TID] = os.getpid()  # a task of another process
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with ours, theirs, pytest.raises(DriverError, match="not a thread"):
            driver.new_thread(parent, "t", Reply(hello.kind, 0, tuple(stranger), b""), ours)
        assert "t" not in parent.threads
