"""Build steps setuptools cannot express in pyproject.toml: the cffi extension
(forklab.real._native, from forklab/real/ffi_build.py) and three programs shipped
inside the package, the probe (csrc/probe.c -> forklab/real/forklab-probe), the
timing program of `forklab bench` (csrc/bench.c -> forklab/real/forklab-bench)
and the cleanup guard (csrc/guard.c -> forklab/real/forklab-guard), all compiled at
install time with the same C compiler, and copied into the checkout as well (see
docs/commands.md, "From a checkout"). Everything else lives in pyproject.toml."""
from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

# name -> (source, other files it depends on)
PROGRAMS = {
    "forklab-probe": ("probe.c", ["protocol.h"]),
    "forklab-bench": ("bench.c", []),
    "forklab-guard": ("guard.c", []),
}


class build_ext_with_programs(build_ext):
    """build_ext, plus the programs: executables shipped inside forklab.real."""

    def _program_path(self, name: str) -> str:
        native = self.get_ext_fullpath("forklab.real._native")
        return os.path.join(os.path.dirname(native), name)

    def run(self) -> None:
        super().run()
        if sys.platform.startswith("linux"):
            for name in PROGRAMS:
                self.build_program(name)
            self.copy_into_checkout()

    def copy_into_checkout(self) -> None:
        """Put what was built beside the sources too: forklab started from this checkout
        (python -m forklab, forklab serve) then finds what pip install just built."""
        checkout = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forklab", "real")
        if not os.path.isdir(checkout):
            return
        for built in self.get_outputs():
            target = os.path.join(checkout, os.path.basename(built))
            if os.path.abspath(built) != os.path.abspath(target):
                self.copy_file(built, target)

    def build_program(self, name: str) -> None:
        source, headers = PROGRAMS[name]
        target = self._program_path(name)
        depends = [os.path.join("csrc", f) for f in (source, *headers)]
        if not self.force and os.path.exists(target) and all(
                os.path.getmtime(target) >= os.path.getmtime(d) for d in depends):
            return
        os.makedirs(os.path.dirname(target), exist_ok=True)
        objects = self.compiler.compile(
            [depends[0]], output_dir=self.build_temp,
            include_dirs=["csrc"], extra_postargs=["-O2", "-pthread", "-fno-strict-aliasing"],
        )
        self.compiler.link_executable(
            objects, name, output_dir=os.path.dirname(target),
            extra_postargs=["-pthread"],
        )

    def get_outputs(self) -> list[str]:
        outputs = super().get_outputs()
        if sys.platform.startswith("linux"):
            outputs.extend(self._program_path(name) for name in PROGRAMS)
        return outputs


setup(
    cffi_modules=["forklab/real/ffi_build.py:ffibuilder"] if sys.platform.startswith("linux")
    else [],
    cmdclass={"build_ext": build_ext_with_programs},
)
