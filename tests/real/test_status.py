"""real_backend_status(): available, or why not and how to build — and the
simulator stays usable when the extension is missing (runs even unbuilt)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import forklab


def test_status_is_a_pair_with_a_reason():
    from forklab.real import real_backend_status

    ok, why = real_backend_status()
    assert isinstance(ok, bool) and isinstance(why, str) and why


def test_without_the_extension_the_simulator_works_and_status_says_how_to_build():
    tree = tempfile.mkdtemp(prefix="forklab-unbuilt-")
    try:
        package = Path(forklab.__file__).resolve().parent
        shutil.copytree(package, os.path.join(tree, "forklab"),
                        ignore=shutil.ignore_patterns("__pycache__", "_native*", "forklab-probe"))
        code = (
            "import sys\n"
            "from forklab.real import real_backend_status\n"
            "ok, why = real_backend_status()\n"
            "assert not ok, why\n"
            "assert 'pip install .' in why, why\n"
            "try:\n"
            "    from forklab.real import RealBackend\n"
            "except ImportError as err:\n"
            "    assert 'pip install .' in str(err)\n"
            "else:\n"
            "    raise SystemExit('RealBackend imported without its extension')\n"
            "from forklab.sim.backend import SimBackend\n"
            "from forklab.scenario.parse import parse_text\n"
            "from forklab.runner import run_scenario\n"
            "s = parse_text('id = \"x\"\\ntitle = \"x\"\\nsummary = \"x\"\\n[[step]]\\n"
            "do = \"parent: fork -> c\"\\n')\n"
            "assert run_scenario(SimBackend(), s).ok\n"
            "print('ok')\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60, cwd=tree, env=dict(os.environ, PYTHONPATH=tree),
                              check=False)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
