/* C helpers the driver calls through cffi (forklab/real/ffi_build.py). */
#ifndef FORKLAB_NATIVE_H
#define FORKLAB_NATIVE_H

#include <stdint.h>

#include "protocol.h"

struct fl_counts {
    int64_t present;     /* pages with a present PTE (or PMD) */
    int64_t exclusive;   /* present pages with pagemap's exclusive bit (56) */
    int64_t zero_scan;   /* pages PAGEMAP_SCAN calls PFNZERO; -1 if the ioctl is missing */
    int64_t zero_kpf;    /* pages whose frame has KPF_ZERO_PAGE; -1 without frame numbers */
    int64_t swapped;     /* pages in swap (not present) */
    int64_t pfn_visible; /* 1 if pagemap showed this user any frame number */
};

/* posix_spawn the first probe: fd 0 /dev/null, 1 and 2 the given pipes, the
 * channel at FL_FIRST_CHANNEL_FD, cwd the scratch directory, default
 * dispositions, an empty mask, a process group of its own. 0 or an errno. */
int fl_spawn_probe(const char *path, char *const argv[], char *const envp[], int chan_fd,
                   int out_fd, int err_fd, const char *cwd, int *pid_out);

int fl_set_subreaper(int on);   /* 0 or -errno */
int fl_get_subreaper(void);     /* 0/1 or -errno */
int fl_kcmp_file(int pid1, int pid2, int fd1, int fd2); /* 0 same, >0 differ, -errno */
int fl_kcmp_vm(int pid1, int pid2); /* 0: one address space (vfork, clone vm) */
int fl_pidfd_open(int pid);     /* fd or -errno */
int fl_pidfd_send_signal(int pidfd, int sig); /* 0 or -errno */
/* The number of system call NAME on the architecture forklab was built for
 * (from the C library's <sys/syscall.h>), or -1 if it has no such call. */
int fl_syscall_number(const char *name);

/* Count the pages of [start, start + npages * 4096) from /proc/PID/pagemap
 * (and /proc/kpageflags when kpf_fd >= 0). Never faults the process.
 * 0 or -errno. */
int fl_scan(int pagemap_fd, int kpf_fd, uint64_t start, uint64_t npages, struct fl_counts *out);

/* Pages at the same offset that map the same frame in two processes
 * (frame numbers needed: root). -errno on failure, -ENODATA if this user
 * sees no frame numbers. */
int64_t fl_shared(int pagemap_a, int pagemap_b, uint64_t start, uint64_t npages);


/* A System V semaphore set the run made: the value of its semaphore 0 (semctl
 * GETVAL), or -errno; when it was made (sem_ctime, which only semctl's setting
 * calls change: forklab never makes them), or -errno; remove it (IPC_RMID) if it
 * is still the one made then: 0 or -errno. */
int fl_sem_value(int id);
int64_t fl_sem_made(int id);
int fl_sem_remove(int id, int64_t made);

/* Whether PAGEMAP_SCAN works on this pagemap fd: 1, 0 or -errno. */
int fl_have_pagemap_scan(int pagemap_fd);

#endif
