"""File offsets, positioned I/O and shared memory objects on the real kernel
(tests/kernel_facts/proc_offsets.c, proc_shm.c).

The facts the model of ``lseek``, ``pread``, ``pwrite``, ``ftruncate``,
``memfd``, ``shm_open``, ``mmap fd=``, ``P.offset(FD)``, ``P.pipe_fill(FD)`` and
``P.last_result`` follows (forklab/sim/fdops.py, forklab/sim/mman.py). A result is the call's return value, or ``-1:ERRNO``.
"""
from __future__ import annotations

from kernel_facts.harness import expect, facts


def test_lseek_moves_the_offset_and_refuses_what_has_no_offset():
    expect(facts("proc_offsets"), {
        "lseek.set": 3, "lseek.cur": 5, "lseek.cur_back": 1,
        "lseek.end": 10, "lseek.end_past": 16,
        "lseek.negative": "-1:EINVAL", "lseek.pos_after_negative": 16,
        "lseek.cur_before_start": "-1:EINVAL",
        "lseek.byte_16": "Z", "lseek.hole_byte": 0, "lseek.pread_all": 17,
        "lseek.pipe_read_end": "-1:ESPIPE", "lseek.pipe_write_end": "-1:ESPIPE",
        "lseek.pipe_pos": 0,
        "null.lseek": 0, "null.lseek_end": 0, "null.pos_after_write": 0,
        "null.pos_after_lseek": 0,
    })


def test_pread_and_pwrite_leave_the_offset_alone():
    expect(facts("proc_offsets"), {
        "pwrite.at_6": 5, "pwrite.pos_after": 0, "pread.all": 11, "pread.hole_byte_0": 0,
        "pread.count_3": 3, "pread.count_3_data": "orl", "pread.past_end": 0,
        "pread.pos_after": 0, "pread.negative": "-1:EINVAL", "pwrite.negative": "-1:EINVAL",
        "pwrite.read_only": "-1:EBADF", "pread.write_only": "-1:EBADF",
        "pread.pipe": "-1:ESPIPE", "pwrite.pipe": "-1:ESPIPE",
        "null.pread": 0, "null.pwrite": 3, "dir.pread": "-1:EISDIR",
    })


def test_append_writes_go_to_the_end_even_pwrite():
    expect(facts("proc_offsets"), {
        "append.write": 3, "append.pwrite_0": 2, "append.pos": 3, "append.lseek_0": 0,
        "append.write_after_lseek": 1, "append.pos_after_write": 6,
        "append.content": "abcXYQ",
    })


def test_ftruncate_keeps_the_offset_and_needs_a_writable_regular_file():
    expect(facts("proc_offsets"), {
        "ftruncate.shrink": 0, "ftruncate.pos_kept": 10, "ftruncate.write_after": 1,
        "ftruncate.size_after_write": 11, "ftruncate.gap_byte": 0, "ftruncate.grow": 0,
        "ftruncate.size_after_grow": 20, "ftruncate.read_at_pos": 9,
        "ftruncate.append_fd": 0, "ftruncate.read_only": "-1:EINVAL",
        "ftruncate.negative": "-1:EINVAL", "ftruncate.pipe": "-1:EINVAL",
        "null.ftruncate": "-1:EINVAL", "dir.ftruncate": "-1:EINVAL",
    })


def test_fork_and_dup_share_the_offset_a_second_open_does_not():
    expect(facts("proc_offsets"), {
        "share.fork_pos": 5, "share.dup_pos": 5, "share.other_pos": 0,
        "share.read_through_dup": "f", "share.pos_after_dup_read": 6,
    })


def test_fionread_counts_the_bytes_waiting_from_either_end():
    expect(facts("proc_offsets"), {
        "fionread.empty": 0, "fionread.read_end": 6, "fionread.write_end": 6,
        "fionread.after_read_4": 2,
    })


def test_directories_and_pidfds():
    got = facts("proc_offsets")
    expect(got, {
        "dir.lseek_set": 5, "dir.lseek_cur": 7,
        "pidfd.lseek": "-1:ESPIPE", "pidfd.pread": "-1:EINVAL", "pidfd.pwrite": "-1:EINVAL",
    })
    # pidfs (Linux 6.9) refuses to change its inodes; before it, ftruncate saw no regular file
    assert got["pidfd.ftruncate"] in ("-1:EOPNOTSUPP", "-1:EINVAL")
    # a directory's end is its file system's: ext4's hashed directories end at 2**63 - 1
    assert got["dir.lseek_end"] == str((1 << 63) - 1) or got["dir.lseek_end"].startswith("-1:")


def test_memfd_is_an_anonymous_regular_file_that_fork_shares():
    expect(facts("proc_shm"), {
        "memfd.cloexec": 0, "memfd_cloexec.cloexec": 1, "memfd.accmode_rdwr": 1,
        "memfd.link": "/memfd:buf (deleted)", "memfd.regular": 1, "memfd.size": 0,
        "memfd.ftruncate": 0, "memfd.pread_sees_store": 1, "memfd.byte": "Q",
        "memfd.child_store_seen": "C",
    })


def test_shm_open_names_one_object_for_every_opener():
    expect(facts("proc_shm"), {
        "shm.missing": "ENOENT", "shm.cloexec": 1, "shm.ftruncate": 0,
        "shm.second_open_store_seen": "U", "shm.left_behind": 0,
    })


def test_what_mmap_of_an_open_fd_refuses():
    expect(facts("proc_shm"), {
        "mmap.ro_fd_shared_rw": "-1:EACCES", "mmap.ro_fd_private_rw": "ok",
        "mmap.ro_fd_shared_ro": "ok", "mmap.memfd_rx_private": "ok",
        "mmap.wo_fd_private": "-1:EACCES", "mmap.append_fd_shared_rw": "ok",
        "mmap.pipe": "-1:ENODEV", "mmap.dev_null_private": "-1:ENODEV",
        "mmap.dev_null_shared": "-1:ENODEV", "mmap.directory": "-1:ENODEV",
        "mmap.pidfd": "-1:ENODEV", "mmap.closed_fd": "-1:EBADF",
    })
