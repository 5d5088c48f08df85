"""The cffi builder (API mode) for ``forklab.real._native``.

setup.py names it in ``cffi_modules``; the C sources stay in ``csrc/``. The
declarations cffi needs are read from the headers themselves, csrc/protocol.h
(the driver-probe protocol: constants, message and state structs) and
csrc/native.h (the helpers): every ``#define FL_*`` becomes a constant whose
value the compiler takes from the header, and cffi checks each struct's layout
against the compiled one. So the driver can never disagree with the probe it
talks to, and no list of names is kept by hand.
"""
from __future__ import annotations

import re
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
HEADERS = ("protocol.h", "native.h")

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_CONSTANT = re.compile(r"#\s*define\s+(FL_\w+)\s+\S")


def declarations(header: str) -> str:
    """A header as cffi's cdef reads it: comments gone, each ``#define FL_NAME value``
    as ``#define FL_NAME ...`` (the value comes from the compiled header), every other
    preprocessor line (guards, includes) dropped."""
    lines = []
    for line in _COMMENT.sub(" ", header).splitlines():
        stripped = line.strip()
        constant = _CONSTANT.match(stripped)
        if constant:
            lines.append(f"#define {constant.group(1)} ...")
        elif not stripped.startswith("#"):
            lines.append(line)
    return "\n".join(lines) + "\n"


CDEF = "".join(declarations((CSRC / name).read_text()) for name in HEADERS)

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "forklab.real._native",
    '#include "native.h"',
    sources=[str(Path("csrc") / "native.c")],
    include_dirs=[str(Path("csrc"))],
    extra_compile_args=["-O2", "-Wall"],
    depends=[str(Path("csrc") / name) for name in HEADERS],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
