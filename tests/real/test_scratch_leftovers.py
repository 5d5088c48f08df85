"""A run's directories outlive it only if its guard died too; the next forklab
removes them, and nothing else (docs/security.md)."""
from __future__ import annotations

import os
import subprocess

from forklab.real import procfs
from forklab.real.backend import RealBackend
from forklab.real.scratch import make_dir


def _ended_process_tag() -> str:
    """The pid and start time of a process that has ended (and been reaped)."""
    child = subprocess.Popen(["sleep", "5"])
    found = procfs.stat(child.pid)
    assert found is not None
    tag = f"{child.pid}.{found.starttime}"
    child.kill()
    child.wait()
    return tag


def test_the_next_forklab_removes_only_its_users_leftovers(tmp_path):
    dead = _ended_process_tag()
    leftover_run = tmp_path / f"forklab-run-{dead}-abc123"
    leftover_ctl = tmp_path / f"forklab-ctl-{dead}-xyz_9"
    for path in (leftover_run, leftover_ctl):
        (path / "sub").mkdir(parents=True)
        (path / "sub" / "data").write_bytes(b"x")
    target = tmp_path / "kept"
    target.mkdir()
    (target / "precious").write_bytes(b"y")
    link = tmp_path / f"forklab-run-{dead}-link"
    link.symlink_to(target)
    inside_link = leftover_run / "escape"
    inside_link.symlink_to(target)
    live = make_dir("run", str(tmp_path))  # this process's own, running
    other_user = tmp_path / f"forklab-run-{dead}-other"
    other_user.mkdir()
    if os.geteuid() == 0:  # only root can give a directory to another user
        os.chown(other_user, 65534, 65534)
    unrelated = tmp_path / "forklab-run-notatag"
    unrelated.mkdir()

    RealBackend(scratch_parent=str(tmp_path))

    assert not leftover_run.exists() and not leftover_ctl.exists()
    assert (target / "precious").read_bytes() == b"y"  # not reached through a link
    assert link.is_symlink() and os.path.isdir(live)
    assert other_user.is_dir() == (os.geteuid() == 0)
    assert unrelated.is_dir()
