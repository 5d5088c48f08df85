/* Shared helpers for the mem_*.c kernel-fact programs.
 *
 * The other mem_*.c programs start with `#define MEM_COMMON_NO_MAIN` and
 * `#include "mem_common.c"`.  Built on its own, this file is itself a fact
 * program: it prints the environment facts the memory experiments rely on.
 *
 * Conventions (the simulator copies them):
 *   - every scenario mapping lives in its own region starting at 16 TiB
 *     (0x100000000000, 512 GiB aligned, so it owns a fresh PUD table);
 *     mapping i sits at slot_addr(i) = 16 TiB + i * 2 GiB (1 GiB aligned,
 *     1 GiB gap between slots), mapped with MAP_FIXED_NOREPLACE;
 *   - madvise(MADV_NOHUGEPAGE) on every mapping unless THP is the topic;
 *   - minor faults are counted with getrusage() around the access loop only;
 *     an access touches the first byte of every 4 KiB page through volatile;
 *   - page state comes from /proc/PID/pagemap, read without touching pages:
 *     bit 63 present, bit 61 file-page/shared-anon, bit 56 exclusively
 *     mapped, bits 0-54 PFN; a PFN is the (huge) zero page when its
 *     /proc/kpageflags entry has bit 24 (KPF_ZERO_PAGE);
 *   - VmPTE (kB) comes from /proc/PID/status, as a delta against a baseline
 *     read just before the scenario mapping is touched.
 *
 * Exit status 2 means the harness itself failed (not a kernel fact).
 */
#ifndef MEM_COMMON_C
#define MEM_COMMON_C

#define _GNU_SOURCE
/* not every program uses every helper */
#pragma GCC diagnostic ignored "-Wunused-function"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#define MADV_KEEPONFORK 19
#endif

#define PAGE 4096UL
#define KiB 1024UL
#define MiB (1024UL * KiB)
#define GiB (1024UL * MiB)
#define REGION_BASE 0x100000000000UL /* 16 TiB, 512 GiB aligned */

#define PM_PRESENT (1ULL << 63)
#define PM_FILE (1ULL << 61)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define KPF_ZERO_PAGE 24
#define KPF_COMPOUND_HEAD 15
#define KPF_THP 22

static void die(const char *what)
{
    fprintf(stderr, "harness failure: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void put(const char *key, long value)
{
    printf("%s=%ld\n", key, value);
}

static void put_str(const char *key, const char *value)
{
    printf("%s=%s\n", key, value);
}

static uintptr_t slot_addr(int slot)
{
    return REGION_BASE + (uintptr_t)slot * 2 * GiB;
}

/* mmap exactly at addr (MAP_FIXED_NOREPLACE), then madvise(advice) unless 0. */
static char *map_at(uintptr_t addr, size_t len, int prot, int flags, int fd,
                    off_t off, int advice)
{
    void *p = mmap((void *)addr, len, prot, flags | MAP_FIXED_NOREPLACE, fd, off);
    if (p == MAP_FAILED)
        die("mmap");
    if (p != (void *)addr) {
        errno = EEXIST;
        die("mmap landed elsewhere");
    }
    if (advice && madvise(p, len, advice) != 0)
        die("madvise(advice)");
    return p;
}

/* Private anonymous read/write mapping in slot `slot`, MADV_NOHUGEPAGE. */
static char *map_anon(int slot, size_t len)
{
    return map_at(slot_addr(slot), len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, MADV_NOHUGEPAGE);
}

static long minflt(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        die("getrusage");
    return ru.ru_minflt;
}

/* Touch the first byte of every page; return the minor faults it took. */
static long write_pages(char *p, size_t len)
{
    volatile char *v = p;
    long before = minflt();
    for (size_t off = 0; off < len; off += PAGE)
        v[off] = 1;
    return minflt() - before;
}

static long read_pages(char *p, size_t len)
{
    volatile char *v = p;
    char sink = 0;
    long before = minflt();
    for (size_t off = 0; off < len; off += PAGE)
        sink += v[off];
    long after = minflt();
    (void)sink;
    return after - before;
}

/* Whole small /proc file into buf (NUL-terminated); no malloc, so reading
 * it never changes this process's own memory map. */
static void read_small_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    size_t got = 0;
    ssize_t n;
    if (fd < 0)
        die(path);
    while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    close(fd);
}

/* VmPTE in kB of pid (0 = self). */
static long vmpte_kb(pid_t pid)
{
    char path[64], buf[8192];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    read_small_file(path, buf, sizeof buf);
    char *line = strstr(buf, "\nVmPTE:");
    if (!line) {
        errno = ENOENT;
        die("VmPTE missing");
    }
    return strtol(line + 8, NULL, 10);
}

/* Raw pagemap entries for npages pages starting at addr in pid (0 = self). */
static void read_pagemap(pid_t pid, const void *addr, size_t npages, uint64_t *out)
{
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/pagemap");
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die("open pagemap");
    size_t want = npages * sizeof(uint64_t), got = 0;
    off_t off = (off_t)((uintptr_t)addr / PAGE * sizeof(uint64_t));
    while (got < want) {
        ssize_t n = pread(fd, (char *)out + got, want - got, off + (off_t)got);
        if (n <= 0)
            die("read pagemap");
        got += (size_t)n;
    }
    close(fd);
}

static uint64_t kpageflags(uint64_t pfn)
{
    static int fd = -1;
    uint64_t flags = 0;
    if (pfn == 0) /* not present, or PFNs hidden (not root) */
        return 0;
    if (fd < 0 && (fd = open("/proc/kpageflags", O_RDONLY)) < 0)
        die("open kpageflags");
    if (pread(fd, &flags, sizeof flags, (off_t)(pfn * sizeof flags)) != sizeof flags)
        die("read kpageflags");
    return flags;
}

static int pfn_is_zero(uint64_t pfn)
{
    return (kpageflags(pfn) >> KPF_ZERO_PAGE) & 1;
}

struct pmstat {
    long present, exclusive, zero, file;
};

/* Scratch buffers for pagemap entries.  Static and prefaulted at start-up
 * (see mem_init) so that inspecting memory never grows the heap or the
 * stack, which could add page tables of its own and disturb VmPTE. */
#define CHUNK 4096
static uint64_t pm_a[CHUNK], pm_b[CHUNK];

static struct pmstat pm_stat(pid_t pid, const void *addr, size_t len)
{
    struct pmstat s = {0, 0, 0, 0};
    for (size_t done = 0; done < len / PAGE; done += CHUNK) {
        size_t n = len / PAGE - done < CHUNK ? len / PAGE - done : CHUNK;
        read_pagemap(pid, (const char *)addr + done * PAGE, n, pm_a);
        for (size_t i = 0; i < n; i++) {
            uint64_t e = pm_a[i];
            if (!(e & PM_PRESENT))
                continue;
            s.present++;
            s.exclusive += (e & PM_EXCLUSIVE) != 0;
            s.file += (e & PM_FILE) != 0;
            s.zero += pfn_is_zero(e & PM_PFN_MASK);
        }
    }
    return s;
}

static void put_stat(const char *prefix, struct pmstat s)
{
    char key[128];
    snprintf(key, sizeof key, "%s_present", prefix);
    put(key, s.present);
    snprintf(key, sizeof key, "%s_exclusive", prefix);
    put(key, s.exclusive);
    snprintf(key, sizeof key, "%s_zero", prefix);
    put(key, s.zero);
    snprintf(key, sizeof key, "%s_file", prefix);
    put(key, s.file);
}

/* Pages at the same offset that are present in both a and b with the same PFN. */
static long shared_with(pid_t a, pid_t b, const void *addr, size_t len)
{
    long same = 0;
    for (size_t done = 0; done < len / PAGE; done += CHUNK) {
        size_t n = len / PAGE - done < CHUNK ? len / PAGE - done : CHUNK;
        read_pagemap(a, (const char *)addr + done * PAGE, n, pm_a);
        read_pagemap(b, (const char *)addr + done * PAGE, n, pm_b);
        for (size_t i = 0; i < n; i++)
            if ((pm_a[i] & PM_PRESENT) && (pm_b[i] & PM_PRESENT) &&
                (pm_a[i] & PM_PFN_MASK) == (pm_b[i] & PM_PFN_MASK))
                same++;
    }
    return same;
}

/* PFN of the page at addr in pid, 0 if not present. */
static uint64_t pfn_of(pid_t pid, const void *addr)
{
    uint64_t e;
    read_pagemap(pid, addr, 1, &e);
    return (e & PM_PRESENT) ? (e & PM_PFN_MASK) : 0;
}

/* ---- a forked child that does memory accesses on command ----------------
 * The child blocks on a pipe read between commands, so the parent can inspect
 * /proc/CHILD/pagemap and /proc/CHILD/status while the child is paused.
 */
enum { OP_READ = 1, OP_WRITE, OP_VMPTE, OP_EXIT };

struct cmd {
    int op;
    uintptr_t addr;
    size_t len;
};

struct agent {
    pid_t pid;
    int cmd_w, res_r;
    int status; /* valid once reaped */
    int reaped;
};

static void prefault_stack(void);

static void agent_loop(int cmd_r, int res_w)
{
    struct cmd c;
    prefault_stack(); /* break COW on our stack before measuring anything */
    for (;;) {
        ssize_t n = read(cmd_r, &c, sizeof c);
        if (n != sizeof c)
            _exit(0);
        long r = 0;
        switch (c.op) {
        case OP_READ:
            r = read_pages((char *)c.addr, c.len);
            break;
        case OP_WRITE:
            r = write_pages((char *)c.addr, c.len);
            break;
        case OP_VMPTE:
            r = vmpte_kb(0);
            break;
        case OP_EXIT:
            _exit(0);
        }
        if (write(res_w, &r, sizeof r) != sizeof r)
            _exit(3);
    }
}

/* fork() a paused child agent. */
static struct agent agent_fork(void)
{
    int cmd[2], res[2];
    struct agent a = {0, -1, -1, 0, 0};
    if (pipe(cmd) || pipe(res))
        die("pipe");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(cmd[1]);
        close(res[0]);
        agent_loop(cmd[0], res[1]);
        _exit(0);
    }
    prefault_stack();
    close(cmd[0]);
    close(res[1]);
    a.pid = pid;
    a.cmd_w = cmd[1];
    a.res_r = res[0];
    return a;
}

static void agent_reap(struct agent *a)
{
    if (a->reaped)
        return;
    close(a->cmd_w);
    close(a->res_r);
    if (waitpid(a->pid, &a->status, 0) != a->pid)
        die("waitpid");
    a->reaped = 1;
}

#define AGENT_DIED (-1000000L)

/* Run one command in the child; returns its result (minor faults for
 * OP_READ/OP_WRITE).  If the child dies doing it, the child is reaped and
 * AGENT_DIED is returned; a->status then says how it died. */
static long agent_do(struct agent *a, int op, const void *addr, size_t len)
{
    struct cmd c = {op, (uintptr_t)addr, len};
    long r;
    if (a->reaped)
        return AGENT_DIED;
    if (write(a->cmd_w, &c, sizeof c) != sizeof c)
        die("write cmd");
    if (read(a->res_r, &r, sizeof r) != sizeof r) {
        agent_reap(a);
        return AGENT_DIED;
    }
    return r;
}

static void agent_exit(struct agent *a)
{
    if (!a->reaped) {
        struct cmd c = {OP_EXIT, 0, 0};
        if (write(a->cmd_w, &c, sizeof c) != sizeof c)
            die("write cmd");
    }
    agent_reap(a);
}

/* Signal that killed a reaped child, 0 if it exited normally. */
static int agent_signal(const struct agent *a)
{
    return WIFSIGNALED(a->status) ? WTERMSIG(a->status) : 0;
}

/* VmPTE of a child forked from this process when it has no scenario mapping
 * yet: the "fork baseline" to subtract from later children's VmPTE. */
static long child_baseline_vmpte(void)
{
    struct agent a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0); /* make sure the child is running its loop */
    long kb = vmpte_kb(a.pid);
    agent_exit(&a);
    return kb;
}

/* The same, for a child forked now without [p, p + len) (MADV_DONTFORK for that one
 * fork): taken just before the fork it is the baseline of, since the parent's own page
 * tables change as it runs (the kernel frees a PTE table that a madvise or free()
 * empties, where ASLR put it), and a baseline taken earlier may count one more. */
static __attribute__((unused)) long child_baseline_vmpte_without(void *p, size_t len)
{
    madvise(p, len, MADV_DONTFORK);
    long kb = child_baseline_vmpte();
    madvise(p, len, MADV_DOFORK);
    return kb;
}

/* ---- SIGSEGV probe in this process ------------------------------------- */
static sigjmp_buf probe_jmp;
static volatile sig_atomic_t probe_sig;

static void probe_handler(int sig)
{
    probe_sig = sig;
    siglongjmp(probe_jmp, 1);
}

/* Access one byte (write if do_write); returns the signal it raised (0 if
 * none) and stores the minor faults taken in *faults. */
static int probe_access(char *p, int do_write, long *faults)
{
    struct sigaction sa, old_segv, old_bus;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = probe_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    probe_sig = 0;
    volatile char *v = p;
    long before = minflt();
    if (sigsetjmp(probe_jmp, 1) == 0) {
        if (do_write)
            v[0] = 1;
        else
            (void)v[0];
    }
    *faults = minflt() - before;
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    return probe_sig;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Write to the next 256 KiB of stack below us, so stack pages (and their
 * page tables) exist and are not shared copy-on-write with a parent or a
 * child when faults are counted. */
static void __attribute__((noinline)) prefault_stack(void)
{
    volatile char buf[256 * 1024];
    for (size_t i = 0; i < sizeof buf; i += PAGE / 2)
        buf[i] = 0;
    (void)buf[0];
}

static char stdout_buf[1 << 16];
static cpu_set_t mem_orig_cpus; /* affinity before mem_init pinned us */

/* Undo mem_init's pinning (for timing, where a child on the same CPU would
 * preempt the parent and be counted in the parent's time). */
static void unpin_cpu(void)
{
    sched_setaffinity(0, sizeof mem_orig_cpus, &mem_orig_cpus);
}

/* Runs before main(): pin to one CPU, fix stdout's buffer, prefault the
 * scratch buffers and the stack. */
static void __attribute__((constructor)) mem_init(void)
{
    cpu_set_t set;
    /* One CPU: a page freshly added to another CPU's LRU batch holds an
     * extra reference, which makes a write fault copy a page it could
     * otherwise reuse.  Pinning keeps every batch drainable. */
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        mem_orig_cpus = set;
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET(cpu, &set)) {
                CPU_ZERO(&set);
                CPU_SET(cpu, &set);
                sched_setaffinity(0, sizeof set, &set);
                break;
            }
    }
    setvbuf(stdout, stdout_buf, _IOFBF, sizeof stdout_buf);
    signal(SIGPIPE, SIG_IGN); /* a dead child shows up as EPIPE, not death */
    memset(pm_a, 0, sizeof pm_a);
    memset(pm_b, 0, sizeof pm_b);
    prefault_stack();
    vmpte_kb(0);
}

#endif /* MEM_COMMON_C */

#ifndef MEM_COMMON_NO_MAIN
/* Environment facts the other memory programs rely on. */
static void put_file_word(const char *key, const char *path)
{
    char buf[256];
    if (access(path, R_OK) != 0) {
        put_str(key, "unknown");
        return;
    }
    read_small_file(path, buf, sizeof buf);
    /* sysfs THP files mark the active choice as [choice] */
    char *l = strchr(buf, '['), *r = l ? strchr(l, ']') : NULL;
    if (l && r) {
        *r = 0;
        put_str(key, l + 1);
    } else {
        buf[strcspn(buf, "\n")] = 0;
        put_str(key, buf[0] ? buf : "unknown");
    }
}

int main(void)
{
    put("page_size", sysconf(_SC_PAGESIZE));
    put_file_word("thp_enabled", "/sys/kernel/mm/transparent_hugepage/enabled");
    put_file_word("thp_pmd_size", "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
    put_file_word("thp_use_zero_page", "/sys/kernel/mm/transparent_hugepage/use_zero_page");

    char *p = map_anon(0, 2 * PAGE);
    read_pages(p, PAGE);      /* first page: zero page */
    write_pages(p + PAGE, PAGE); /* second page: private anon page */
    uint64_t zpfn = pfn_of(0, p), apfn = pfn_of(0, p + PAGE);
    put("pfn_visible", apfn != 0);
    put("read_maps_zero_page", pfn_is_zero(zpfn));
    put("written_page_is_zero_page", pfn_is_zero(apfn));
    munmap(p, 2 * PAGE);
    return 0;
}
#endif
