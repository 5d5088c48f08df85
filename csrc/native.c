/* C helpers for forklab's real backend, called from Python through cffi.
 * See native.h for what each one does. */
#define _GNU_SOURCE
#include "native.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_kcmp
#define SYS_kcmp 312
#endif
#define KCMP_FILE 0
#define KCMP_VM 1

/* PAGEMAP_SCAN (Linux 6.7), declared here for older kernel headers. */
#define FL_PAGE_IS_PRESENT (1 << 3)
#define FL_PAGE_IS_SWAPPED (1 << 4)
#define FL_PAGE_IS_PFNZERO (1 << 5)
struct fl_page_region {
    uint64_t start, end, categories;
};
struct fl_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define FL_PAGEMAP_SCAN _IOWR('f', 16, struct fl_pm_scan_arg)

#define PAGE 4096ULL
#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define KPF_ZERO_PAGE 24
#define CHUNK 8192          /* pagemap entries read at once */
#define REGIONS 1024        /* PAGEMAP_SCAN regions per call */
#define FALLBACK_MAX (1ULL << 26) /* pages the slow path will walk (256 GiB) */

int fl_spawn_probe(const char *path, char *const argv[], char *const envp[], int chan_fd,
                   int out_fd, int err_fd, const char *cwd, int *pid_out)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t all, none;
    int rc;

    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        return rc;
    if ((rc = posix_spawnattr_init(&at)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    /* dup2 first: the sources may sit on 0..2 themselves */
    rc = posix_spawn_file_actions_adddup2(&fa, chan_fd, FL_FIRST_CHANNEL_FD);
    if (!rc)
        rc = posix_spawn_file_actions_adddup2(&fa, out_fd, FL_FIRST_CHANNEL_FD + 1);
    if (!rc)
        rc = posix_spawn_file_actions_adddup2(&fa, err_fd, FL_FIRST_CHANNEL_FD + 2);
    if (!rc)
        rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!rc)
        rc = posix_spawn_file_actions_adddup2(&fa, FL_FIRST_CHANNEL_FD + 1, 1);
    if (!rc)
        rc = posix_spawn_file_actions_adddup2(&fa, FL_FIRST_CHANNEL_FD + 2, 2);
    if (!rc)
        rc = posix_spawn_file_actions_addclose(&fa, FL_FIRST_CHANNEL_FD + 1);
    if (!rc)
        rc = posix_spawn_file_actions_addclose(&fa, FL_FIRST_CHANNEL_FD + 2);
    if (!rc && cwd)
        rc = posix_spawn_file_actions_addchdir_np(&fa, cwd);
    sigfillset(&all);
    sigemptyset(&none);
    if (!rc)
        rc = posix_spawnattr_setsigdefault(&at, &all);
    if (!rc)
        rc = posix_spawnattr_setsigmask(&at, &none);
    if (!rc)
        rc = posix_spawnattr_setpgroup(&at, 0);
    if (!rc)
        rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                               POSIX_SPAWN_SETPGROUP);
    if (!rc) {
        pid_t pid = -1;
        rc = posix_spawn(&pid, path, &fa, &at, argv, envp);
        if (!rc)
            *pid_out = pid;
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

int fl_set_subreaper(int on)
{
    return prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) == 0 ? 0 : -errno;
}

int fl_get_subreaper(void)
{
    int on = 0;
    return prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0) == 0 ? on : -errno;
}

int fl_kcmp_file(int pid1, int pid2, int fd1, int fd2)
{
    long r = syscall(SYS_kcmp, pid1, pid2, KCMP_FILE, fd1, fd2);
    return r < 0 ? -errno : (int)r;
}

int fl_kcmp_vm(int pid1, int pid2)
{
    long r = syscall(SYS_kcmp, pid1, pid2, KCMP_VM, 0, 0);
    return r < 0 ? -errno : (int)r;
}

int fl_pidfd_open(int pid)
{
    long r = syscall(SYS_pidfd_open, pid, 0);
    return r < 0 ? -errno : (int)r;
}

int fl_syscall_number(const char *name)
{
#define KNOWN(call) {#call, SYS_##call}
    static const struct {
        const char *name;
        long nr;
    } known[] = {
#ifdef SYS_read
        KNOWN(read),
#endif
#ifdef SYS_recvmsg
        KNOWN(recvmsg),
#endif
#ifdef SYS_wait4
        KNOWN(wait4),
#endif
#ifdef SYS_waitid
        KNOWN(waitid),
#endif
#ifdef SYS_nanosleep
        KNOWN(nanosleep),
#endif
#ifdef SYS_clock_nanosleep
        KNOWN(clock_nanosleep),
#endif
    };
#undef KNOWN
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].name, name) == 0)
            return (int)known[i].nr;
    return -1;
}

int fl_pidfd_send_signal(int pidfd, int sig)
{
    long r = syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
    return r < 0 ? -errno : 0;
}

static int pread_all(int fd, void *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EIO;
        got += (size_t)r;
    }
    return 0;
}

/* One PAGEMAP_SCAN call from *start; returns regions filled (>= 0) or -errno,
 * and moves *start to where the walk ended. */
static long scan_once(int fd, uint64_t *start, uint64_t end, struct fl_page_region *vec)
{
    struct fl_pm_scan_arg arg;
    memset(&arg, 0, sizeof arg);
    arg.size = sizeof arg;
    arg.start = *start;
    arg.end = end;
    arg.vec = (uint64_t)(uintptr_t)vec;
    arg.vec_len = REGIONS;
    arg.category_anyof_mask = FL_PAGE_IS_PRESENT | FL_PAGE_IS_SWAPPED;
    arg.return_mask = FL_PAGE_IS_PRESENT | FL_PAGE_IS_SWAPPED | FL_PAGE_IS_PFNZERO;
    long n = ioctl(fd, FL_PAGEMAP_SCAN, &arg);
    if (n < 0)
        return -errno;
    if (arg.walk_end <= *start && n == 0)
        arg.walk_end = end; /* nothing more to find */
    /* Linux 6.18 can report regions past walk_end (walk_end at a 1 GiB boundary,
     * regions to the end of the range) and reports them again from walk_end on
     * the next call: keep only what lies below walk_end, or they count twice. */
    if (arg.walk_end > *start) {
        long kept = 0;
        while (kept < n && vec[kept].start < arg.walk_end) {
            if (vec[kept].end > arg.walk_end)
                vec[kept].end = arg.walk_end;
            kept++;
        }
        n = kept;
    }
    *start = arg.walk_end;
    return n;
}

int fl_have_pagemap_scan(int pagemap_fd)
{
    struct fl_page_region vec[REGIONS];
    uint64_t start = 0;
    long n = scan_once(pagemap_fd, &start, PAGE, vec);
    if (n >= 0)
        return 1;
    if (n == -ENOTTY || n == -EINVAL || n == -EOPNOTSUPP)
        return 0;
    return (int)n;
}

struct kpf_cache {
    uint64_t pfn[1024];
    uint64_t flags[1024];
};

static int kpf_lookup(int kpf_fd, struct kpf_cache *cache, uint64_t pfn, uint64_t *flags)
{
    unsigned slot = (unsigned)((pfn * 0x9E3779B97F4A7C15ULL) >> 54);
    if (cache->pfn[slot] == pfn + 1) {
        *flags = cache->flags[slot];
        return 0;
    }
    int rc = pread_all(kpf_fd, flags, sizeof *flags, (off_t)(pfn * 8));
    if (rc < 0)
        return rc;
    cache->pfn[slot] = pfn + 1;
    cache->flags[slot] = *flags;
    return 0;
}

/* Read the pagemap entries of [addr, addr + n pages) and count them. */
static int count_entries(int pagemap_fd, int kpf_fd, struct kpf_cache *cache, uint64_t addr,
                         uint64_t n, struct fl_counts *out, int count_present)
{
    uint64_t entries[CHUNK];
    while (n > 0) {
        uint64_t k = n < CHUNK ? n : CHUNK;
        int rc = pread_all(pagemap_fd, entries, k * 8, (off_t)(addr / PAGE * 8));
        if (rc < 0)
            return rc;
        for (uint64_t i = 0; i < k; i++) {
            uint64_t e = entries[i];
            if (!(e & PM_PRESENT)) {
                if (count_present && (e & PM_SWAP))
                    out->swapped++;
                continue;
            }
            if (count_present)
                out->present++;
            if (e & PM_EXCLUSIVE)
                out->exclusive++;
            uint64_t pfn = e & PM_PFN_MASK;
            if (pfn) {
                out->pfn_visible = 1;
                if (kpf_fd >= 0) {
                    uint64_t flags;
                    if (kpf_lookup(kpf_fd, cache, pfn, &flags) == 0) {
                        if (out->zero_kpf < 0)
                            out->zero_kpf = 0;
                        if (flags & (1ULL << KPF_ZERO_PAGE))
                            out->zero_kpf++;
                    }
                }
            }
        }
        addr += k * PAGE;
        n -= k;
    }
    return 0;
}

int fl_scan(int pagemap_fd, int kpf_fd, uint64_t start, uint64_t npages, struct fl_counts *out)
{
    memset(out, 0, sizeof *out);
    out->zero_kpf = -1;
    struct kpf_cache *cache = calloc(1, sizeof *cache);
    struct fl_page_region *vec = malloc(sizeof *vec * REGIONS);
    if (!cache || !vec) {
        free(cache);
        free(vec);
        return -ENOMEM;
    }
    int rc = 0;
    uint64_t end = start + npages * PAGE;
    uint64_t at = start;
    long n = scan_once(pagemap_fd, &at, end, vec);
    if (n < 0) {
        /* No PAGEMAP_SCAN: walk every entry (bounded). */
        out->zero_scan = -1;
        if (npages > FALLBACK_MAX)
            rc = -E2BIG;
        else
            rc = count_entries(pagemap_fd, kpf_fd, cache, start, npages, out, 1);
        goto done;
    }
    for (;;) {
        for (long i = 0; i < n && rc == 0; i++) {
            uint64_t pages = (vec[i].end - vec[i].start) / PAGE;
            if (vec[i].categories & FL_PAGE_IS_PRESENT) {
                out->present += (int64_t)pages;
                if (vec[i].categories & FL_PAGE_IS_PFNZERO)
                    out->zero_scan += (int64_t)pages;
                rc = count_entries(pagemap_fd, kpf_fd, cache, vec[i].start, pages, out, 0);
            } else if (vec[i].categories & FL_PAGE_IS_SWAPPED) {
                out->swapped += (int64_t)pages;
            }
        }
        if (rc < 0 || at >= end)
            break;
        n = scan_once(pagemap_fd, &at, end, vec);
        if (n < 0) {
            rc = (int)n;
            break;
        }
    }
done:
    if (out->pfn_visible && kpf_fd >= 0 && out->zero_kpf < 0)
        out->zero_kpf = 0;
    if (!out->pfn_visible && out->present == 0 && kpf_fd >= 0)
        out->zero_kpf = 0; /* nothing present: nothing is the zero page */
    free(cache);
    free(vec);
    return rc;
}

static int64_t shared_run(int pa, int pb, uint64_t addr, uint64_t n, int *visible)
{
    uint64_t a[CHUNK], b[CHUNK];
    int64_t same = 0;
    while (n > 0) {
        uint64_t k = n < CHUNK ? n : CHUNK;
        int rc = pread_all(pa, a, k * 8, (off_t)(addr / PAGE * 8));
        if (rc == 0)
            rc = pread_all(pb, b, k * 8, (off_t)(addr / PAGE * 8));
        if (rc < 0)
            return rc;
        for (uint64_t i = 0; i < k; i++) {
            if (!(a[i] & PM_PRESENT))
                continue;
            uint64_t pfn = a[i] & PM_PFN_MASK;
            *visible |= pfn ? 1 : 2;
            if (pfn && (b[i] & PM_PRESENT) && (b[i] & PM_PFN_MASK) == pfn)
                same++;
        }
        addr += k * PAGE;
        n -= k;
    }
    return same;
}

int64_t fl_shared(int pagemap_a, int pagemap_b, uint64_t start, uint64_t npages)
{
    struct fl_page_region *vec = malloc(sizeof *vec * REGIONS);
    if (!vec)
        return -ENOMEM;
    int visible = 0;
    int64_t same = 0;
    uint64_t end = start + npages * PAGE, at = start;
    long n = scan_once(pagemap_a, &at, end, vec);
    if (n < 0) {
        same = npages > FALLBACK_MAX ? -E2BIG : shared_run(pagemap_a, pagemap_b, start, npages,
                                                           &visible);
        n = 0;
        at = end;
    }
    for (;;) {
        for (long i = 0; i < n && same >= 0; i++) {
            if (!(vec[i].categories & FL_PAGE_IS_PRESENT))
                continue;
            int64_t r = shared_run(pagemap_a, pagemap_b, vec[i].start,
                                   (vec[i].end - vec[i].start) / PAGE, &visible);
            same = r < 0 ? r : same + r;
        }
        if (same < 0 || at >= end)
            break;
        n = scan_once(pagemap_a, &at, end, vec);
        if (n < 0) {
            same = n;
            break;
        }
    }
    free(vec);
    if (same >= 0 && visible == 2)
        return -ENODATA; /* present pages, but this user sees no frame numbers */
    return same;
}

int fl_sem_value(int id)
{
    int v = semctl(id, 0, GETVAL);
    return v < 0 ? -errno : v;
}

int64_t fl_sem_made(int id)
{
    struct semid_ds ds;
    if (semctl(id, 0, IPC_STAT, &ds) != 0)
        return -errno;
    return (int64_t)ds.sem_ctime;
}

int fl_sem_remove(int id, int64_t made)
{
    if (fl_sem_made(id) != made)
        return -ESTALE; /* gone already, or the id names another set now */
    return semctl(id, 0, IPC_RMID) == 0 ? 0 : -errno;
}
