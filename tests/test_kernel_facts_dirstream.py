"""Directory streams on the real kernel (tests/kernel_facts/proc_dirstream.c).

The facts the model of ``opendir`` and ``readdir`` follows (forklab/sim/dirstreams.py).
"""
from __future__ import annotations

from kernel_facts.harness import expect, facts


def test_a_stream_is_a_close_on_exec_fd_and_a_buffer():
    expect(facts("proc_dirstream"), {
        "cloexec": 1, "exec": 0,  # glibc's opendir opens with O_CLOEXEC
        "entries": 3,  # ".", ".." and the one file
        # one getdents64 reads a small directory whole: the offset is at its end (ext4's
        # end of a hashed directory, where forklab's scratch directory is)
        "offset_after_first": (1 << 63) - 1,
    })


def test_fork_copies_the_buffer_and_shares_the_offset():
    expect(facts("proc_dirstream"), {
        "after.child_reads": 2,  # its copy of the two entries left in the buffer
        "before.child_reads": 0,  # an empty buffer, and the shared offset at the end
        "rewind.child_reads": 3,  # the fd moved back to the start
        # a closed fd: readdir with nothing buffered fails
        "closed": "EBADF",
    })


def test_a_read_of_a_directory_at_its_end_is_einval():
    expect(facts("proc_dir_read"), {
        # read(2): "EISDIR fd refers to a directory"
        "start": "EISDIR", "last_fitting": "EISDIR",
        # ...but vfs_read checks the range first (rw_verify_area): "EINVAL ... the file
        # position is ... such that pos + count overflows"; ext4's end is LLONG_MAX
        "offset_after": (1 << 63) - 1,
        "after_readdir": "EINVAL", "dup_to_0": "EINVAL", "one_past": "EINVAL",
        "one_byte_at_end": "EINVAL",
    })
