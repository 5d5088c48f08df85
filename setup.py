"""Build steps setuptools cannot express in pyproject.toml: the cffi extension
(forklab.real._native, from forklab/real/ffi_build.py) and the probe program
(csrc/probe.c -> forklab/real/forklab-probe), both compiled at install time
with the same C compiler. Everything else lives in pyproject.toml."""
from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

PROBE_SOURCE = os.path.join("csrc", "probe.c")
PROBE_NAME = "forklab-probe"


class build_ext_with_probe(build_ext):
    """build_ext, plus the probe: an executable shipped inside the package."""

    def _probe_path(self) -> str:
        native = self.get_ext_fullpath("forklab.real._native")
        return os.path.join(os.path.dirname(native), PROBE_NAME)

    def run(self) -> None:
        super().run()
        if sys.platform.startswith("linux"):
            self.build_probe()

    def build_probe(self) -> None:
        target = self._probe_path()
        depends = [PROBE_SOURCE, os.path.join("csrc", "protocol.h")]
        if not self.force and os.path.exists(target) and all(
                os.path.getmtime(target) >= os.path.getmtime(d) for d in depends):
            return
        os.makedirs(os.path.dirname(target), exist_ok=True)
        objects = self.compiler.compile(
            [PROBE_SOURCE], output_dir=self.build_temp,
            include_dirs=["csrc"], extra_postargs=["-O2", "-pthread", "-fno-strict-aliasing"],
        )
        self.compiler.link_executable(
            objects, PROBE_NAME, output_dir=os.path.dirname(target),
            extra_postargs=["-pthread"],
        )

    def get_outputs(self) -> list[str]:
        outputs = super().get_outputs()
        if sys.platform.startswith("linux"):
            outputs.append(self._probe_path())
        return outputs


setup(
    cffi_modules=["forklab/real/ffi_build.py:ffibuilder"] if sys.platform.startswith("linux")
    else [],
    cmdclass={"build_ext": build_ext_with_probe},
)
