"""Python and the probe read one protocol: csrc/protocol.h, through the built extension."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from forklab.real._native import ffi, lib

from forklab import layout
from forklab.scenario.validate import MAX_TEXT

ROOT = Path(__file__).resolve().parents[2]
HEADER = (ROOT / "csrc" / "protocol.h").read_text()


def declarations(header: str) -> str:
    """ffi_build.declarations of the source tree (the builder reads csrc/, which an
    installed forklab does not have)."""
    spec = importlib.util.spec_from_file_location(
        "ffi_build", ROOT / "forklab" / "real" / "ffi_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.declarations(header)


def test_every_constant_of_the_header_is_in_the_extension() -> None:
    defined = re.findall(r"^#define (FL_\w+) ", HEADER, re.MULTILINE)
    assert len(defined) > 80
    assert [name for name in defined if not hasattr(lib, name)] == []


def test_every_constant_python_uses_is_in_the_header() -> None:
    used = {name for path in (ROOT / "forklab").rglob("*.py")
            for name in re.findall(r"\blib\.(FL_\w+)", path.read_text())}
    assert used  # the driver and the backend read the protocol's names
    defined = set(re.findall(r"^#define (FL_\w+) ", HEADER, re.MULTILINE))
    assert sorted(used - defined) == []


def test_layout_is_the_probes() -> None:
    """The simulator's region (forklab/layout.py) is the one the probe marks its slots in."""
    assert layout.REGION_BASE == lib.FL_REGION_BASE
    assert layout.REGION_END == lib.FL_REGION_END
    assert layout.PMD_SPAN == 1 << lib.FL_SLOT_SHIFT


def test_the_probe_takes_every_text_the_language_allows() -> None:
    """A writefd or printf text of MAX_TEXT bytes fits one message to the probe."""
    assert lib.FL_MAX_DATA == MAX_TEXT


def test_message_structs_have_the_compiled_layout() -> None:
    """cffi checked the declared structs against the compiler's; the driver relies on
    the header's order: fixed fields, then the argument or value array."""
    assert ffi.offsetof("struct fl_cmd", "a") == 8
    assert ffi.sizeof("struct fl_cmd") == 8 + 8 * 8
    assert ffi.offsetof("struct fl_reply", "v") == 8
    assert ffi.sizeof("struct fl_reply") == 8 + 12 * 8


def test_declarations_keep_what_cdef_reads() -> None:
    header = """#ifndef X_H
#define X_H
#include <stdint.h>
/* a comment with #define FL_NOT_ME 1 in it */
#define FL_ONE 1   /* one
                    * spanning lines */
#define FL_BIG (8 * 1024)
struct fl_s {
    int32_t a; // trailing
};
#endif
"""
    text = declarations(header)
    assert re.findall(r"#define \w+ .*", text) == ["#define FL_ONE ...", "#define FL_BIG ..."]
    assert "struct fl_s {" in text and "int32_t a;" in text
    assert "comment" not in text and "trailing" not in text and "include" not in text


def test_the_system_call_numbers_are_the_kernel_s():
    """The driver reads /proc/PID/syscall; the numbers it compares with come from
    the C headers forklab was built with, and must be the running kernel's."""
    import subprocess
    import time

    from forklab.real import procfs

    sleeper = subprocess.Popen(["sleep", "5"])
    reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        for proc, call in ((sleeper, "clock_nanosleep"), (reader, "read")):
            with open(f"/proc/{proc.pid}/syscall") as f:
                assert int(f.read().split()[0]) == procfs.SYSCALLS[call]
    finally:
        sleeper.kill()
        reader.kill()
        sleeper.wait()
        reader.wait()
