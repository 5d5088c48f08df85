"""A run's shared-memory objects live in the run's own namespace of /dev/shm and
are gone when it ends; the next forklab removes those a dead forklab left, and
nothing else (docs/scenario-language.md, "Files")."""
from __future__ import annotations

import os
import subprocess

from realkit import run_with

from forklab.real import procfs
from forklab.real.backend import RealBackend
from forklab.real.scratch import SHM_DIR, make_dir, shm_name


def _shm_entries() -> set[str]:
    return set(os.listdir(SHM_DIR))


def test_a_runs_objects_are_named_in_its_namespace_and_removed_at_its_end():
    names = []
    for run, world in run_with("parent: shm_open box create -> b\nparent: ftruncate b 1p"):
        assert world.processes["parent"].last_result == 0
        ours = os.path.basename(run.scratch) + "-"
        names.append(shm_name(run.scratch, "box").lstrip("/"))
        assert names[0].startswith(ours)
        # other forklab runs on this machine may hold objects too: only the run's own count
        assert {e for e in _shm_entries() if e.startswith(ours)} == {names[0]}
    assert names and names[0] not in _shm_entries()  # unlinked when the run closed


def test_the_next_forklab_removes_only_leftovers_of_dead_runs(tmp_path):
    child = subprocess.Popen(["sleep", "5"])
    found = procfs.stat(child.pid)
    assert found is not None
    dead = f"{child.pid}.{found.starttime}"
    child.kill()
    child.wait()
    live = os.path.basename(make_dir("run", str(tmp_path)))  # this process's own
    left = os.path.join(SHM_DIR, f"forklab-run-{dead}-abc123-box")
    kept = os.path.join(SHM_DIR, f"{live}-box")
    unrelated = os.path.join(SHM_DIR, f"forklab-fileio-test-{os.getpid()}")
    for path in (left, kept, unrelated):
        with open(path, "wb") as f:
            f.write(b"x")
    try:
        RealBackend(scratch_parent=str(tmp_path))
        assert not os.path.exists(left)
        assert os.path.exists(kept) and os.path.exists(unrelated)
    finally:
        for path in (left, kept, unrelated):
            if os.path.exists(path):
                os.unlink(path)
