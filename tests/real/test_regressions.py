"""Regressions: scenarios where the real backend once disagreed with the kernel
(and the simulator). Each runs on the kernel and every expectation must hold."""
from __future__ import annotations

import pytest
from scenario_text import StepText, scenario_text

from forklab.real.backend import RealBackend
from forklab.runner import run_scenario
from forklab.scenario.parse import parse_text

THREAD_EXIT_VM_PTE = """\
id = "real-bug-thread-exit-vm-pte"
title = "pthread_exit adds 4 KiB to vm_pte"
summary = "§4: vm_pte counts page tables of the scenario's mappings only. glibc's first pthread_exit dlopen()s libgcc_s.so.1 for unwinding (5 new mappings); the probe replies before pthread_exit and never charges those tables to its runtime."

[[step]]
do = '''
parent: thread -> t1
parent/t1: exit
'''
expect = ["parent.vm_pte == 0", "parent.threads == 1"]

[[step]]
do = "parent: fork -> child"
expect = ["child.vm_pte == 0"]
"""

SHM_BYTE_NOT_PRESENT = """\
id = "real-bug-shm-byte-not-present"
title = "byte() of a non-present page of shared anonymous memory"
summary = "§4: byte is the byte at OFFSET, read without faulting. The memory holds 5 (a read shows it), but the real backend answers 0 for a page not present in this process."

[[step]]
do = '''
parent: mmap shm 1MiB anon shared
parent: write shm = 5
parent: fork -> child
'''
expect = ["child.shm.present == 0", "child.shm.byte(0) == 5"]

[[step]]
do = "parent: madvise shm dontneed"
expect = ["parent.shm.present == 0", "parent.shm.byte(0) == 5"]

[[step]]
do = "child: read shm[0:1p]"
expect = ["child.shm.byte(0) == 5"]
"""

FILE_EOF = """\
id = "real-bug-file-eof"
title = "byte() past a file's end inside its last page, and faults of an access that dies"
summary = "(1) §4 byte: offset 100 of a 3-byte file's page reads 0 (a load succeeds), and the real backend says 0 once the page is present but None before. (2) §4 faults/minflt: the kernel counts the minor fault that mapped page 0 before page 1 raised SIGBUS (seen in C with getrusage); the real backend reports 0 for an access loop that killed the process."

[[step]]
do = '''
parent: mmap f 4p file=data.bin shared
parent: spawn /bin/true open=1:data.bin -> t
parent: open data.bin wo -> w
parent: writefd w "abc"
'''
expect = ["parent.f.byte(2) == 99", "parent.f.byte(100) == 0", "parent.f.byte(1p) == None"]

[[step]]
do = '''
parent: fork -> c
c: read f
'''
expect = ["c.term_signal == 'SIGBUS'", "c.minflt == 1"]
"""


# thread-exit-vm-pte: glibc's first pthread_exit dlopen()s libgcc_s.so.1; the probe
#   loads it before its page-table baseline.
# shm-byte-not-present: byte() of shared anonymous memory not present in this
#   process reads the shmem object (through /proc/PID/map_files).
# file-eof: byte() past a file's end inside its last page is 0; an access loop
#   that dies of SIGBUS counts the faults it took first.
@pytest.mark.parametrize("text", [
    THREAD_EXIT_VM_PTE,
    # no process has the page present: its byte is read through map_files, root's only
    pytest.param(SHM_BYTE_NOT_PRESENT, marks=pytest.mark.forklab_real(root=True)),
    FILE_EOF,
], ids=['thread-exit-vm-pte', 'shm-byte-not-present', 'file-eof'])
def test_every_expectation_holds(text):
    result = run_scenario(RealBackend(), parse_text(text))
    assert result.error is None, result.error
    failed = [(j.text, j.value) for step in result.steps for j in step.expectations
              if j.ok is not True]
    assert not failed
    assert sum(len(step.expectations) for step in result.steps) >= 3


def test_a_writer_asleep_on_a_full_stdout_pipe_is_not_blocked():
    """/bin/cat copies 2 MiB into stdout while its parent waits for it: each time
    the 64 KiB pipe fills, cat sleeps in write until forklab's drain reads. The
    step once settled in that moment (every task asleep), with cat 'running' and
    the parent 'blocked', about one run in four on a busy machine."""
    text = scenario_text(StepText(
        "parent: mmap m 2MiB file=big.bin shared\nparent: write m = 65\n"
        "parent: spawn /bin/cat open=0:big.bin -> cat\nparent: wait cat",
        ("cat.exit_code == 0", "len(stdout) == 1048576")))
    for _ in range(6):
        result = run_scenario(RealBackend(), parse_text(text))
        assert result.error is None, result.error
        assert [j.ok for j in result.steps[0].expectations] == [True, True]
