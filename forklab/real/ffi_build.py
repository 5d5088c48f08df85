"""The cffi builder (API mode) for ``forklab.real._native``.

setup.py names it in ``cffi_modules``; the C sources stay in ``csrc/``. The
protocol constants are declared here too, so that the driver reads them from
the compiled extension and can never disagree with the probe it talks to.
"""
from __future__ import annotations

from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"

CONSTANTS = ["FL_PROTOCOL_VERSION", "FL_FD_MIN", "FL_FIRST_CHANNEL_FD", "FL_MAX_DATA", "FL_READ_SIZE", "FL_MAX_LOCKS", "FL_MAX_ATFORK", "FL_STACK_SIZE", "FL_MAX_STACKS", "FL_R_DONE", "FL_R_HELLO", "FL_R_FAIL", "FL_R_BEGIN", "FL_H_PID", "FL_H_TID", "FL_H_CHANNEL", "FL_H_ERRNO_ADDR", "FL_H_STATE_ADDR", "FL_H_SPAWN_NS", "FL_H_TOKEN", "FL_H_ORIGIN", "FL_H_VERSION", "FL_H_RUNTIME_PTE", "FL_O_IMAGE", "FL_O_FORK", "FL_O_VFORK", "FL_O_CLONE", "FL_O_THREAD", "FL_V_RESULT", "FL_V_RESULT2", "FL_V_FAULTS", "FL_V_ELAPSED_NS", "FL_STATE_MAGIC", "FL_OP_INIT", "FL_OP_PING", "FL_OP_MMAP", "FL_OP_MUNMAP", "FL_OP_WRITE", "FL_OP_READ", "FL_OP_MADVISE", "FL_OP_MPROTECT", "FL_OP_FORK", "FL_OP_VFORK", "FL_OP_CLONE", "FL_OP_SPAWN", "FL_OP_EXEC", "FL_OP_EXIT", "FL_OP__EXIT", "FL_OP_WAIT", "FL_OP_KILL", "FL_OP_THREAD", "FL_OP_THREAD_EXIT", "FL_OP_OPEN", "FL_OP_PIPE", "FL_OP_DUP", "FL_OP_DUP2", "FL_OP_CLOSE", "FL_OP_CLOEXEC", "FL_OP_CLOSE_RANGE", "FL_OP_WRITEFD", "FL_OP_READFD", "FL_OP_PRINTF", "FL_OP_FFLUSH", "FL_OP_SETVBUF", "FL_OP_LOCK", "FL_OP_UNLOCK", "FL_OP_ATFORK", "FL_OP_MALLOC", "FL_OP_FREE", "FL_OP_SIGNAL", "FL_OP_BLOCK", "FL_OP_UNBLOCK", "FL_OP_RAISE", "FL_OP_SLEEP", "FL_PROG_PROBE", "FL_PROG_PROGRAM", "FL_PROG_MISSING", "FL_SP_SETSID", "FL_SP_SETPGROUP", "FL_SP_SIGMASK", "FL_SP_SIGDEF"]

CDEF = """
struct fl_counts {
    int64_t present;
    int64_t exclusive;
    int64_t zero_scan;
    int64_t zero_kpf;
    int64_t swapped;
    int64_t pfn_visible;
};
int fl_spawn_probe(const char *path, char *const argv[], char *const envp[], int chan_fd,
                   int out_fd, int err_fd, const char *cwd, int *pid_out);
int fl_set_subreaper(int on);
int fl_get_subreaper(void);
int fl_kcmp_file(int pid1, int pid2, int fd1, int fd2);
int fl_pidfd_open(int pid);
int fl_pidfd_send_signal(int pidfd, int sig);
int fl_scan(int pagemap_fd, int kpf_fd, uint64_t start, uint64_t npages, struct fl_counts *out);
int64_t fl_shared(int pagemap_a, int pagemap_b, uint64_t start, uint64_t npages);
int fl_have_pagemap_scan(int pagemap_fd);
int fl_pidfd_exit_status(int pidfd, int *status);
""" + "".join(f"#define {name} ...\n" for name in CONSTANTS)

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "forklab.real._native",
    '#include "native.h"',
    sources=[str(Path("csrc") / "native.c")],
    include_dirs=[str(Path("csrc"))],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
