/* forklab's probe: the program every real scenario process runs.
 *
 * The driver (forklab/real/driver.py) starts the first probe with
 * posix_spawn and talks to every task (a process's main thread, or one of
 * its threads) over a control channel of its own: a SOCK_SEQPACKET socket at
 * a high fd (>= fd_floor: above every fd the scenario can have). Each command is one
 * scenario op, run with the real C library call the op names; the reply
 * carries what the driver needs to bind names (fd numbers, pids) and the
 * minor faults of the op's access loop. Everything the learner observes is
 * read from outside, through /proc.
 *
 * The runtime's rules, so that forklab itself never shows up in what is
 * observed:
 *  - the runtime never changes errno: it makes its own system calls with a
 *    raw `syscall` instruction (rt_sys), so only the scenario's libc calls
 *    write errno;
 *  - it never calls malloc or stdio: its buffers live on the task's stack,
 *    prefaulted at start, and its per-address-space state (struct fl_state,
 *    the mutexes of `lock`) in static memory;
 *  - its page tables are constant between ops: at start, and after every op
 *    that can change its layout (malloc, printf, a thread's stack, a spawn),
 *    `warm_up` touches one byte in every 2 MiB of every readable runtime
 *    mapping, so each has its page-table pages; the op's change in VmPTE is
 *    added to fl_state.runtime_pte_kb, which the driver subtracts. A fork
 *    child warms up the same mappings, so it has the same runtime tables as
 *    its parent at the fork (fork itself copies no table of a mapping without
 *    an anon_vma: the probe's text and read-only data, libc's, the vDSO);
 *  - "runtime mapping" means every mapping but the scenario's, which `mmap`
 *    records by 1 GiB slot (scenario_slots) — not every mapping outside the
 *    scenario region's address range;
 *  - faults are counted with getrusage(RUSAGE_THREAD) around the access loop
 *    alone, after a dry run of the same code that faults in the runtime's
 *    own pages first.
 *
 * The probe blocks no signal, and installs no signal handler of its own
 * outside an access loop (see on_access_fault); the handlers a scenario
 * sees are its own (`signal SIG catch`, `sigaction`).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <mqueue.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define PAGE 4096UL
#define SPAN_2M (2UL << 20)
#define REGION_SLOTS ((FL_REGION_END - FL_REGION_BASE) >> FL_SLOT_SHIFT)

/* ------------------------------------------------------------------ raw syscalls
 * Return the kernel's result (-errno on failure) and never touch errno. */
#if defined(__x86_64__)
static inline long rt_sys(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static inline long rt_sys(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory", "cc");
    return x0;
}
#else
static inline long rt_sys(long n, long a, long b, long c, long d, long e, long f)
{
    int saved = errno;
    long r = syscall(n, a, b, c, d, e, f);
    if (r == -1)
        r = -errno;
    errno = saved;
    return r;
}
#endif

#define SYS0(n) rt_sys((n), 0, 0, 0, 0, 0, 0)
#define SYS1(n, a) rt_sys((n), (long)(a), 0, 0, 0, 0, 0)
#define SYS2(n, a, b) rt_sys((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define SYS3(n, a, b, c) rt_sys((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SYS4(n, a, b, c, d) rt_sys((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SYS6(n, a, b, c, d, e, f) \
    rt_sys((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static inline int rt_close(int fd) { return (int)SYS1(SYS_close, fd); }
static inline long rt_read(int fd, void *buf, size_t n) { return SYS3(SYS_read, fd, buf, n); }
static inline int rt_open(const char *path, int flags)
{
    return (int)SYS4(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0);
}
static inline int rt_fcntl(int fd, int cmd, long arg) { return (int)SYS3(SYS_fcntl, fd, cmd, arg); }
static inline int rt_getpid(void) { return (int)SYS0(SYS_getpid); }
static inline int rt_gettid(void) { return (int)SYS0(SYS_gettid); }
static inline void rt_close_range(unsigned lo, unsigned hi)
{
    if (lo <= hi)
        SYS3(SYS_close_range, lo, hi, 0);
}
static __attribute__((noreturn)) void rt_exit_group(int code)
{
    for (;;)
        SYS1(SYS_exit_group, code);
}

/* clock_gettime goes through the vDSO and writes errno only on failure,
 * which CLOCK_MONOTONIC never has. */
static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------------ state
 * Static memory belongs to the address space: fork copies it, vfork and
 * CLONE_VM share it, exec discards it. Per-task state lives on the stack. */
static struct fl_state fl_state = {FL_STATE_MAGIC, 0};
static int scratch_fd = -1;
/* /proc, opened as the image starts: the probe's own reads of /proc/self go
 * through it, so that they work below a root (chroot) that has no /proc. */
static int proc_fd = -1;
/* forklab's own fds live at or above this number, above every fd the
 * scenario's ops can give it (the driver computes it for the run and passes
 * it on in FORKLAB_FD_FLOOR; each image hands it on to what it spawns or
 * execs). */
static int fd_floor = FL_FD_MIN;
static char probe_path[4096];
static char connect_name[108];
static pthread_mutex_t fl_locks[FL_MAX_LOCKS]; /* all-zero is PTHREAD_MUTEX_INITIALIZER */
static int atfork_lock[FL_MAX_ATFORK];
static int atfork_count;
static int stacks_used;
static int exit_code_of[65]; /* the status each `sigaction SIG exit CODE` handler exits with */
static volatile unsigned char read_sink;
/* The 1 GiB slots of the scenario region that hold a scenario mapping (set by
 * `mmap`, never cleared: the layout never gives a slot to a second mapping).
 * The region's address range alone does not say what is the scenario's: only
 * a slot `mmap` marked is, whatever else the kernel may place in the range. */
static uint64_t scenario_slots[REGION_SLOTS / 64];

/* ------------------------------------------------------------------ task attributes
 * Timers and the alternate stack, as the task's own calls read them (see struct
 * fl_task_attrs). Raw system calls: the runtime never changes errno. */
static struct fl_task_attrs task_attrs[FL_MAX_TASK_ATTRS];
static int task_attrs_used;

static struct fl_task_attrs *attrs_of(int64_t tid)
{
    int used = __atomic_load_n(&task_attrs_used, __ATOMIC_SEQ_CST);
    for (int i = 0; i < used && i < FL_MAX_TASK_ATTRS; i++)
        if (task_attrs[i].tid == tid)
            return &task_attrs[i];
    int i = __atomic_fetch_add(&task_attrs_used, 1, __ATOMIC_SEQ_CST);
    if (i >= FL_MAX_TASK_ATTRS)
        return NULL;
    task_attrs[i].tid = tid;
    return &task_attrs[i];
}

static int64_t timeval_ns(const struct timeval *tv)
{
    return (int64_t)tv->tv_sec * 1000000000LL + (int64_t)tv->tv_usec * 1000;
}

/* The process's interval timers, into its main thread's record. */
static void refresh_timers(void)
{
    struct fl_task_attrs *a = attrs_of(rt_getpid());
    struct itimerval it;
    if (!a)
        return;
    SYS2(SYS_getitimer, ITIMER_REAL, &it);
    int64_t real = timeval_ns(&it.it_value);
    a->real_until_ns = real ? now_ns() + real : 0;
    SYS2(SYS_getitimer, ITIMER_VIRTUAL, &it);
    a->virtual_ns = timeval_ns(&it.it_value);
    SYS2(SYS_getitimer, ITIMER_PROF, &it);
    a->prof_ns = timeval_ns(&it.it_value);
}

/* This task's alternate stack, into its record. */
static struct fl_task_attrs *refresh_altstack(void)
{
    struct fl_task_attrs *a = attrs_of(rt_gettid());
    stack_t ss;
    if (a && SYS2(SYS_sigaltstack, NULL, &ss) == 0)
        a->altstack = (ss.ss_flags & SS_DISABLE) ? 0 : (int64_t)ss.ss_size;
    return a;
}

/* atexit handlers: each prints the text of the last one registered and not yet run. */
static char *atexit_text[FL_MAX_ATEXIT];

static void run_atexit_handler(void)
{
    if (fl_state.atexit_count > 0)
        fputs(atexit_text[--fl_state.atexit_count], stdout);
}

struct task {
    int ch;      /* this task's channel */
    int is_main; /* a process's only or main thread (not a `thread`) */
    int second_fd; /* a second fd the command carried (clone's cgroup), or -1 */
    sigjmp_buf top; /* the start of its loop, where a child with its own copy of
                     * the memory begins again (see restart_as_child) */
};

/* How a child that restarts at its parent task's loop begins: set by the
 * child alone, in its own copy of static memory, just before the jump. */
static struct {
    int ch;
    int origin;
    int shares_files;
    int64_t spawn_ns;
    int64_t token;
} restart;

static __attribute__((noreturn)) void task_loop(struct task *t);

/* ------------------------------------------------------------------ channel */
static long rt_send(int ch, const struct fl_reply *r, const void *data, size_t len)
{
    /* Whatever the op was, the driver reads dumpable from fl_state after the reply. */
    __atomic_store_n(&fl_state.dumpable, (int32_t)SYS1(SYS_prctl, PR_GET_DUMPABLE),
                     __ATOMIC_RELAXED);
    struct iovec iov[2] = {{(void *)r, sizeof *r}, {(void *)data, len}};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = len ? 2 : 1;
    long n;
    do
        n = SYS3(SYS_sendmsg, ch, &mh, MSG_NOSIGNAL);
    while (n == -EINTR);
    return n;
}

/* Move an fd to forklab's range (>= fd_floor), close-on-exec. */
static int rt_lift(int fd)
{
    if (fd < 0 || fd >= fd_floor)
        return fd;
    int high = rt_fcntl(fd, F_DUPFD_CLOEXEC, fd_floor);
    rt_close(fd);
    return high;
}

/* One command; *fd and *second get the fds it carried (lifted), or -1. Returns
 * the message length, 0 on EOF, -errno on failure. */
static long rt_recv(int ch, void *buf, size_t cap, int *fd, int *second)
{
    union {
        char space[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {buf, cap};
    struct msghdr mh;
    long n;
    *fd = *second = -1;
    for (;;) {
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = u.space;
        mh.msg_controllen = sizeof u.space;
        n = SYS3(SYS_recvmsg, ch, &mh, MSG_CMSG_CLOEXEC);
        if (n != -EINTR)
            break;
    }
    if (n < 0)
        return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int fds[4];
        memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)(count < 4 ? count : 4));
        for (int i = 0; i < count && i < 4; i++) {
            if (*fd == -1)
                *fd = rt_lift(fds[i]);
            else if (*second == -1)
                *second = rt_lift(fds[i]);
            else
                rt_close(fds[i]);
        }
    }
    if (*second < -1 || (*second >= 0 && *fd < -1)) { /* see below */
        if (*second >= 0)
            rt_close(*second);
        if (*fd >= 0)
            rt_close(*fd);
        long err = *second < -1 ? *second : *fd;
        *fd = *second = -1;
        return err;
    }
    if (mh.msg_flags & MSG_CTRUNC) /* no fd slot was free to receive it in */
        return -EMFILE;
    if (*fd < -1) { /* received, but no slot free in forklab's range */
        long err = *fd;
        *fd = -1;
        return err;
    }
    if (mh.msg_flags & MSG_TRUNC)
        return -EMSGSIZE;
    return n;
}

static void reply_fail(int ch, const char *why)
{
    struct fl_reply r;
    memset(&r, 0, sizeof r);
    r.kind = FL_R_FAIL;
    r.err = errno;
    rt_send(ch, &r, why, strlen(why));
}

/* ------------------------------------------------------------------ /proc/self */
static long vm_pte_kb(void)
{
    char buf[4096];
    int fd = (int)SYS4(SYS_openat, proc_fd, "self/status", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    long n = 0, got;
    while (n < (long)sizeof buf - 1 && (got = rt_read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += got;
    rt_close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *p = strstr(buf, "\nVmPTE:");
    if (!p)
        return 0; /* a kernel thread or a zombie; never for a probe */
    p += 7;
    long kb = 0;
    while (*p == ' ' || *p == '\t')
        p++;
    while (*p >= '0' && *p <= '9')
        kb = kb * 10 + (*p++ - '0');
    return kb;
}

static unsigned long parse_hex(const char **s)
{
    unsigned long v = 0;
    for (;;) {
        char c = **s;
        if (c >= '0' && c <= '9')
            v = v * 16 + (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (unsigned long)(c - 'a' + 10);
        else
            return v;
        (*s)++;
    }
}

static void mark_scenario(unsigned long start, unsigned long len)
{
    if (len == 0 || start < FL_REGION_BASE || start >= FL_REGION_END ||
        len > FL_REGION_END - start)
        return;
    for (unsigned long k = (start - FL_REGION_BASE) >> FL_SLOT_SHIFT;
         k <= (start + len - 1 - FL_REGION_BASE) >> FL_SLOT_SHIFT; k++)
        __atomic_fetch_or(&scenario_slots[k / 64], 1ULL << (k % 64), __ATOMIC_SEQ_CST);
}

static int is_scenario(unsigned long a)
{
    if (a < FL_REGION_BASE || a >= FL_REGION_END)
        return 0;
    unsigned long k = (a - FL_REGION_BASE) >> FL_SLOT_SHIFT;
    return (int)(__atomic_load_n(&scenario_slots[k / 64], __ATOMIC_SEQ_CST) >> (k % 64) & 1);
}

static void warm_line(const char *line)
{
    const char *s = line;
    unsigned long start = parse_hex(&s);
    if (*s != '-')
        return;
    s++;
    unsigned long end = parse_hex(&s);
    if (*s != ' ')
        return;
    s++;
    if (s[0] != 'r')
        return; /* never touch what cannot be read */
    if (strstr(line, "[vvar") || strstr(line, "[vsyscall]"))
        return; /* special pages that may not be readable */
    unsigned long a = start;
    while (a < end) {
        if (is_scenario(a)) { /* never the scenario's own mappings */
            a = (a & ~((1UL << FL_SLOT_SHIFT) - 1)) + (1UL << FL_SLOT_SHIFT);
            continue;
        }
        read_sink = *(volatile unsigned char *)a;
        a = (a & ~(SPAN_2M - 1)) + SPAN_2M;
    }
}

/* Run fn on each line of /proc/self/maps. */
static void for_each_map_line(void (*fn)(const char *line))
{
    char buf[4096 + 512];
    int fd = (int)SYS4(SYS_openat, proc_fd, "self/maps", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    size_t have = 0;
    for (;;) {
        long got = rt_read(fd, buf + have, sizeof buf - 1 - have);
        if (got <= 0)
            break;
        have += (size_t)got;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            fn(line);
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
        if (have >= sizeof buf - 1)
            have = 0; /* an absurdly long line: drop it */
    }
    rt_close(fd);
}

/* Give every readable runtime mapping its page-table pages (see top). */
static void warm_up(void)
{
    for_each_map_line(warm_line);
    /* The vDSO's data pages ([vvar], skipped above) as the runtime's clock
     * reads them, so that its first now_ns() after the baseline maps nothing. */
    (void)now_ns();
}

/* Fault in every page of a readable runtime mapping as mlock's populate would
 * (writes in a private writable one, reads elsewhere), so that an mlockall
 * measured afterwards takes only the scenario's faults. */
static void populate_line(const char *line)
{
    const char *s = line;
    unsigned long start = parse_hex(&s);
    if (*s != '-')
        return;
    s++;
    unsigned long end = parse_hex(&s);
    if (*s != ' ' || s[1] != 'r' || is_scenario(start))
        return;
    if (strstr(line, "[vvar") || strstr(line, "[vsyscall]"))
        return;
    int advice = s[2] == 'w' && s[4] == 'p' ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
    SYS3(SYS_madvise, start, end - start, advice); /* an I/O mapping refuses: nothing */
}

/* Run an op that may change the runtime's own layout; charge the change in
 * page tables to the runtime (see top). */
#define RUNTIME_CHANGE(body)                                                \
    do {                                                                    \
        long before_ = vm_pte_kb();                                         \
        body;                                                               \
        int keep_errno_ = errno;                                            \
        warm_up();                                                          \
        long after_ = vm_pte_kb();                                          \
        if (before_ >= 0 && after_ >= 0)                                    \
            __atomic_fetch_add(&fl_state.runtime_pte_kb, after_ - before_,  \
                               __ATOMIC_SEQ_CST);                           \
        errno = keep_errno_;                                                \
    } while (0)

static __attribute__((noinline)) void prefault_stack(void)
{
    volatile char area[640 * 1024];
    for (size_t i = 0; i < sizeof area; i += PAGE)
        area[i] = 0;
    area[sizeof area - 1] = 0;
}

/* Close every forklab fd this task does not need (its channel, the scratch
 * directory and /proc stay). */
static void close_forklab_fds(int keep)
{
    int kept[3] = {keep, scratch_fd, proc_fd};
    for (int i = 1; i < 3; i++) /* in order */
        for (int j = i; j > 0 && kept[j] < kept[j - 1]; j--) {
            int t = kept[j];
            kept[j] = kept[j - 1];
            kept[j - 1] = t;
        }
    int from = fd_floor;
    for (int i = 0; i < 3; i++) {
        if (kept[i] < from)
            continue;
        if (kept[i] > from)
            rt_close_range((unsigned)from, (unsigned)kept[i] - 1);
        from = kept[i] + 1;
    }
    rt_close_range((unsigned)from, ~0U);
}

/* The task's pid and tid as the driver numbers them: in a PID namespace the run
 * made, getpid() is the namespace's number (1 for its init), but /proc, which is
 * the driver's, names the task by the driver's numbers: /proc/thread-self is
 * "PID/task/TID". */
static void own_ids(int64_t *pid, int64_t *tid)
{
    char link[64];
    long n = SYS4(SYS_readlinkat, proc_fd, "thread-self", link, sizeof link - 1);
    char *task = NULL;
    if (n > 0) {
        link[n] = 0;
        task = strstr(link, "/task/");
    }
    if (task == NULL) {  /* no /proc: the namespace's numbers are the driver's */
        *pid = rt_getpid();
        *tid = rt_gettid();
        return;
    }
    *pid = strtol(link, NULL, 10);
    *tid = strtol(task + 6, NULL, 10);
}

/* A POSIX message queue of its own: made (one message of 16 bytes, so that a run's
 * queues stay far below RLIMIT_MSGQUEUE) and unlinked at once, so no name outlives
 * the call; the queue goes with its last fd. Returns the fd, or -1 with errno. */
/* ------------------------------------------------------------------ cgroups */
/* Move the calling thread's process into the group `name` below the run's group
 * (`dir`), making it first if need be, with this process's own credentials; no
 * `dir`: fail as forklab failed to make the run's group (errno `err`). */
static long op_cgroup(int dir, const char *name, int err)
{
    if (dir < 0) {
        errno = err;
        return -1;
    }
    char procs[96];
    if (snprintf(procs, sizeof procs, "%s/cgroup.procs", name) >= (int)sizeof procs) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int before = errno; /* a group made before is no failure of the call: keep errno */
    if (mkdirat(dir, name, 0755) < 0) {
        if (errno != EEXIST)
            return -1;
        errno = before;
    }
    int fd = openat(dir, procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long ret = write(fd, "0", 1) < 0 ? -1 : 0;
    int e = errno;
    close(fd);
    errno = e;
    return ret;
}

static int op_mq_open(const char *name)
{
    struct mq_attr attr = {.mq_maxmsg = 1, .mq_msgsize = 16};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q != (mqd_t)-1) {
        int e = errno;
        mq_unlink(name);
        errno = e;
    }
    return (int)q;
}

/* Directory streams (`opendir`, `readdir`), by fd: glibc's own, whose buffer is in
 * this memory (fork copies it, exec drops it) and whose fd's offset a fork shares. */
static DIR *dir_streams[512];

static int op_opendir(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int fd = dirfd(d);
    if (fd < 0 || fd >= (int)(sizeof dir_streams / sizeof dir_streams[0])) {
        closedir(d);  /* (the fd limit keeps a script's fds below 512) */
        errno = EMFILE;
        return -1;
    }
    dir_streams[fd] = d;  /* a stream left on this number (its fd was closed) is dropped */
    return fd;
}

static int op_readdir(int64_t fd)
{
    if (fd < 0 || fd >= (int64_t)(sizeof dir_streams / sizeof dir_streams[0]) ||
        dir_streams[fd] == NULL) {
        errno = EBADF;
        return 0;
    }
    return readdir(dir_streams[fd]) != NULL;
}

/* Record the calling task's parent-death signal where the driver reads it, by the
 * task's id as the driver numbers it (see own_ids): in its own slot, or the first
 * free one (a full table starts again: a task records itself when it says hello and
 * after each change, so only tasks long gone are lost). */
static void note_pdeathsig(void)
{
    int sig = 0;
    prctl(PR_GET_PDEATHSIG, &sig);
    int64_t pid, tid64;
    own_ids(&pid, &tid64); /* the driver's numbers, as the hello gives them */
    int32_t tid = (int32_t)tid64;
    long free_slot = -1;
    for (size_t i = 0; i < sizeof fl_state.pdeath_tid / sizeof fl_state.pdeath_tid[0]; i++) {
        if (fl_state.pdeath_tid[i] == tid) {
            fl_state.pdeath_sig[i] = sig;
            return;
        }
        if (free_slot < 0 && fl_state.pdeath_tid[i] == 0)
            free_slot = (long)i;
    }
    if (free_slot < 0) {
        memset(fl_state.pdeath_tid, 0, sizeof fl_state.pdeath_tid);
        free_slot = 0;
    }
    fl_state.pdeath_tid[free_slot] = tid;
    fl_state.pdeath_sig[free_slot] = sig;
}

static void send_hello(struct task *t, int origin, int64_t spawn_ns, int64_t token)
{
    note_pdeathsig();
    struct fl_reply r;
    memset(&r, 0, sizeof r);
    r.kind = FL_R_HELLO;
    r.err = errno;
    own_ids(&r.v[FL_H_PID], &r.v[FL_H_TID]);
    r.v[FL_H_CHANNEL] = t->ch;
    r.v[FL_H_ERRNO_ADDR] = (int64_t)(intptr_t)&errno;
    r.v[FL_H_STATE_ADDR] = (int64_t)(intptr_t)&fl_state;
    r.v[FL_H_SPAWN_NS] = spawn_ns;
    r.v[FL_H_TOKEN] = token;
    r.v[FL_H_ORIGIN] = origin;
    r.v[FL_H_VERSION] = FL_PROTOCOL_VERSION;
    r.v[FL_H_RUNTIME_PTE] = fl_state.runtime_pte_kb;
    if (t->is_main)
        refresh_timers();
    r.v[FL_H_ATTRS_ADDR] = (int64_t)(intptr_t)refresh_altstack();
    rt_send(t->ch, &r, NULL, 0);
}

/* A new process begins: keep only its own channel (unless the fd table is
 * shared), give its runtime its page tables, say hello. */
static void child_begin(struct task *t, int origin, int64_t spawn_ns, int64_t token,
                        int shares_files)
{
    if (!shares_files)
        close_forklab_fds(t->ch);
    warm_up();
    send_hello(t, origin, spawn_ns, token);
}

/* A process that shares its parent's memory (vfork, clone vm): its task runs
 * in frames of its own, below the parent's or on a stack of its own, and
 * leaves the parent's frames alone. Never returns. */
static __attribute__((noreturn)) void child_start(int ch, int origin, int64_t spawn_ns,
                                                  int64_t token, int shares_files)
{
    struct task t = {.ch = ch, .is_main = 1, .second_fd = -1};
    child_begin(&t, origin, spawn_ns, token, shares_files);
    task_loop(&t);
}

/* A process with its own copy of the memory (fork, clone without vm) runs on
 * its copy of the stack of the task that made it. Starting its loop below
 * that task's frames would stack one loop on another, a generation at a time,
 * until a thread's stack overflows (a thread forks, its child forks, and the
 * grandchild's child dies of SIGSEGV); instead it goes back to the top of
 * that task's loop, in its own copy, and begins there: every generation runs
 * at the same depth. */
static __attribute__((noreturn)) void restart_as_child(struct task *t, int ch, int origin,
                                                       int64_t spawn_ns, int64_t token,
                                                       int shares_files)
{
    restart.ch = ch;
    restart.origin = origin;
    restart.shares_files = shares_files;
    restart.spawn_ns = spawn_ns;
    restart.token = token;
    siglongjmp(t->top, 1);
}

/* ------------------------------------------------------------------ memory ops */

/* A fault that kills the process in an access loop (SIGSEGV, SIGBUS) ends it
 * before the loop can reply, and the process may be gone from /proc before
 * the driver can read it (reaped at once because its parent ignores SIGCHLD,
 * or by a parent already waiting). So for the loop alone the probe catches
 * both signals: the handler sends the process's minor faults at the fault
 * (FL_R_FAULTED; the fatal fault itself is not counted), gives both signals
 * back the scenario's dispositions (a `clone sighand` sibling shares them and
 * lives on) and returns; the access faults again and the kernel ends the
 * process exactly as it would have. */
static int fault_ch = -1; /* where the handler reports; -1 in the dry run */
static struct sigaction scenario_segv, scenario_bus;

/* On a page of its own, called once in the dry run, so that nothing it runs
 * before it reads the count faults. */
__attribute__((noinline, aligned(4096))) static void on_access_fault(int sig, siginfo_t *info,
                                                                     void *uc)
{
    struct rusage ru;
    struct fl_reply r;
    (void)info;
    (void)uc;
    SYS2(SYS_getrusage, RUSAGE_SELF, &ru);
    memset(&r, 0, sizeof r);
    r.kind = FL_R_FAULTED;
    r.v[0] = ru.ru_minflt;
    rt_send(fault_ch, &r, NULL, 0);
    if (sig == SIGSEGV || sig == SIGBUS) { /* both: a clone sharing the handlers */
        sigaction(SIGSEGV, &scenario_segv, NULL); /* outlives this process */
        sigaction(SIGBUS, &scenario_bus, NULL);
    }
}

/* The stack below the access loop, where the kernel writes a signal frame
 * and the handler runs: written once in the dry run, so that neither takes a
 * fault (a fork child's stack pages are write-protected until written). */
static __attribute__((noinline)) void write_stack_below(void)
{
    volatile char area[32 * 1024];
    for (size_t i = 0; i < sizeof area; i += 512)
        area[i] = 0;
    area[sizeof area - 1] = 0;
}

/* The access loop, on a page of its own so that the dry run faults in all
 * of its code. Returns the minor faults the loop itself took. */
__attribute__((noinline, aligned(4096))) static long access_pages(volatile unsigned char *p,
                                                                  long pages, int value,
                                                                  int write, int ch)
{
    struct rusage a, b;
    struct fl_reply begin;
    if (ch < 0) { /* the dry run */
        write_stack_below();
        on_access_fault(0, NULL, NULL);
    }
    /* The process's faults so far, before the loop: if the loop kills the
     * process, the driver sets the count of FL_R_FAULTED against it. The dry
     * run sends to fd -1 (EBADF), so the same code runs both times. */
    SYS2(SYS_getrusage, RUSAGE_SELF, &a);
    memset(&begin, 0, sizeof begin);
    begin.kind = FL_R_BEGIN;
    begin.v[0] = a.ru_minflt;
    rt_send(ch, &begin, NULL, 0);
    SYS2(SYS_getrusage, RUSAGE_THREAD, &a);
    if (write) {
        for (long i = 0; i < pages; i++)
            p[i * (long)PAGE] = (unsigned char)value;
    } else {
        unsigned char sum = 0;
        for (long i = 0; i < pages; i++)
            sum += p[i * (long)PAGE];
        read_sink = sum;
    }
    SYS2(SYS_getrusage, RUSAGE_THREAD, &b);
    return b.ru_minflt - a.ru_minflt;
}

static long touch(int ch, unsigned long addr, long pages, int value, int write)
{
    struct sigaction catch_fault;
    memset(&catch_fault, 0, sizeof catch_fault);
    catch_fault.sa_sigaction = on_access_fault;
    catch_fault.sa_flags = SA_SIGINFO;
    sigemptyset(&catch_fault.sa_mask);
    fault_ch = -1;
    access_pages((volatile unsigned char *)addr, 0, value, write, -1); /* dry run */
    fault_ch = ch;
    sigaction(SIGSEGV, &catch_fault, &scenario_segv);
    sigaction(SIGBUS, &catch_fault, &scenario_bus);
    long faults = access_pages((volatile unsigned char *)addr, pages, value, write, ch);
    sigaction(SIGSEGV, &scenario_segv, NULL);
    sigaction(SIGBUS, &scenario_bus, NULL);
    return faults;
}

/* Open a path inside the scratch directory: never outside it, whatever
 * links or dots it holds. Sets errno as the C library would. */
static int open_scratch(const char *path, int flags, int mode)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)flags;
    how.mode = (flags & O_CREAT) ? (uint64_t)mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, scratch_fd, path, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS)
        fd = openat(scratch_fd, path, flags | O_NOFOLLOW, mode);
    return (int)fd;
}

/* ------------------------------------------------------------------ signals */
/* The recording handler (`catch`): counts each run in fl_state, which the
 * driver reads (P.sig_received). */
static void on_signal(int sig, siginfo_t *info, void *uc)
{
    (void)info;
    (void)uc;
    if (sig > 0 && sig < 65)
        __atomic_fetch_add(&fl_state.received[sig], 1, __ATOMIC_RELAXED);
}

/* `sigaction SIG exit CODE`: the one kind of handler a fault may run, since it
 * never returns to the faulting instruction. */
static void on_signal_exit(int sig)
{
    _exit(sig > 0 && sig < 65 ? exit_code_of[sig] : 1);
}

static int op_sigaction(const struct fl_cmd *c)
{
    struct sigaction sa;
    int sig = (int)c->a[0];
    int64_t fl = c->a[2];
    if (sig < 1 || sig >= 65)
        return -1;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (c->a[1] == 2) {
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO;
    } else if (c->a[1] == 3) {
        exit_code_of[sig] = (int)c->a[3];
        sa.sa_handler = on_signal_exit;
    } else {
        sa.sa_handler = c->a[1] == 1 ? SIG_IGN : SIG_DFL;
    }
    sa.sa_flags |= (fl & FL_SA_NORESTART ? 0 : SA_RESTART) |
                   (fl & FL_SA_RESETHAND ? SA_RESETHAND : 0) |
                   (fl & FL_SA_NODEFER ? SA_NODEFER : 0) |
                   (fl & FL_SA_NOCLDWAIT ? SA_NOCLDWAIT : 0) |
                   (fl & FL_SA_NOCLDSTOP ? SA_NOCLDSTOP : 0);
    return sigaction(sig, &sa, NULL);
}

/* ------------------------------------------------------------------ atfork */
#define ATFORK_SLOT(a, b)                                                            \
    static void prepare_##a##_##b(void)                                              \
    {                                                                                \
        pthread_mutex_lock(&fl_locks[atfork_lock[(a) * 8 + (b)]]);                   \
    }                                                                                \
    static void parent_##a##_##b(void)                                               \
    {                                                                                \
        pthread_mutex_unlock(&fl_locks[atfork_lock[(a) * 8 + (b)]]);                 \
    }                                                                                \
    static void child_##a##_##b(void)                                                \
    {                                                                                \
        pthread_mutex_unlock(&fl_locks[atfork_lock[(a) * 8 + (b)]]);                 \
    }
#define ATFORK8(a)                                                                   \
    ATFORK_SLOT(a, 0) ATFORK_SLOT(a, 1) ATFORK_SLOT(a, 2) ATFORK_SLOT(a, 3)          \
        ATFORK_SLOT(a, 4) ATFORK_SLOT(a, 5) ATFORK_SLOT(a, 6) ATFORK_SLOT(a, 7)
ATFORK8(0) ATFORK8(1) ATFORK8(2) ATFORK8(3) ATFORK8(4) ATFORK8(5) ATFORK8(6) ATFORK8(7)
#define ATFORK_FNS(a, b) {prepare_##a##_##b, parent_##a##_##b, child_##a##_##b}
#define ATFORK_ROW(a)                                                                \
    ATFORK_FNS(a, 0), ATFORK_FNS(a, 1), ATFORK_FNS(a, 2), ATFORK_FNS(a, 3),          \
        ATFORK_FNS(a, 4), ATFORK_FNS(a, 5), ATFORK_FNS(a, 6), ATFORK_FNS(a, 7)
static void (*const atfork_fns[FL_MAX_ATFORK][3])(void) = {
    ATFORK_ROW(0), ATFORK_ROW(1), ATFORK_ROW(2), ATFORK_ROW(3),
    ATFORK_ROW(4), ATFORK_ROW(5), ATFORK_ROW(6), ATFORK_ROW(7),
};

/* ------------------------------------------------------------------ thread-id words
 * glibc starts every thread (and the child of every fork) with
 * CLONE_CHILD_CLEARTID on the thread-id word of its descriptor, so that the
 * kernel writes 0 there when the thread ends, for pthread_join. When a
 * process with several threads ends, every thread but the last to leave the
 * address space makes that write. A fork write-protects all the parent's
 * written private pages, descriptors included: a descriptor not written since
 * is copied on that write, a minor fault of the process's exit, in the
 * runtime's memory (tests/kernel_facts/proc_exit_threads.c). If an access
 * loop kills the process, the driver counts the faults from the loop's start
 * to the process's death, and would count those too. So after every fork the
 * parent writes each word with the value it holds: the copies are made then,
 * by the runtime, and the exit writes find their pages writable. */
static int *tid_words[FL_MAX_STACKS + 1]; /* the words of this address space's threads */

static int *own_tid_word(void)
{
    int *word = NULL;
    return SYS2(SYS_prctl, PR_GET_TID_ADDRESS, &word) == 0 ? word : NULL;
}

static void add_tid_word(void)
{
    int *word = own_tid_word();
    for (size_t i = 0; word && i < sizeof tid_words / sizeof tid_words[0]; i++) {
        int *none = NULL;
        if (__atomic_compare_exchange_n(&tid_words[i], &none, word, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return;
    }
}

static void drop_tid_word(void)
{
    int *word = own_tid_word();
    for (size_t i = 0; word && i < sizeof tid_words / sizeof tid_words[0]; i++) {
        int *mine = word;
        __atomic_compare_exchange_n(&tid_words[i], &mine, NULL, 0, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
    }
}

/* In the parent after a fork: take the copies now (see above). An atomic add
 * of 0 writes a word without changing it, whatever its thread does. */
static void rewrite_tid_words(void)
{
    for (size_t i = 0; i < sizeof tid_words / sizeof tid_words[0]; i++) {
        int *word = __atomic_load_n(&tid_words[i], __ATOMIC_SEQ_CST);
        if (word)
            __atomic_fetch_add(word, 0, __ATOMIC_SEQ_CST);
    }
}

/* In a child with its own copy of the memory: the only thread is its own. */
static void reset_tid_words(void)
{
    memset(tid_words, 0, sizeof tid_words);
    add_tid_word();
}

/* ------------------------------------------------------------------ stacks */

/* A stack for a thread or a CLONE_VM child: a mapping of its own, kept to
 * small pages; it is never freed (a scenario makes at most a few hundred). */
static void *new_stack(void)
{
    if (__atomic_fetch_add(&stacks_used, 1, __ATOMIC_SEQ_CST) >= FL_MAX_STACKS)
        return NULL;
    long p = SYS6(SYS_mmap, 0, FL_STACK_SIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (p < 0 && p > -4096)
        return NULL;
    SYS3(SYS_madvise, p, FL_STACK_SIZE, MADV_NOHUGEPAGE);
    return (void *)p;
}

/* ------------------------------------------------------------------ clone3 */
struct clone_ctx {
    int ch;
    int shares_files;
    int is_vfork;
    int64_t t0;
    int64_t token;
    struct task *copied; /* the caller's task, when the child has a copy of its memory */
    int cgroup_fd;       /* CLONE_INTO_CGROUP's group, or -1: the caller closes its own */
};

static int clone_child(void *arg)
{
    struct clone_ctx c = *(struct clone_ctx *)arg;
    int64_t spawn_ns = c.is_vfork ? now_ns() - c.t0 : 0;
    if (c.cgroup_fd >= 0 && !c.shares_files)
        rt_close(c.cgroup_fd);
    if (c.copied)
        restart_as_child(c.copied, c.ch, FL_O_CLONE, spawn_ns, c.token, c.shares_files);
    child_start(c.ch, FL_O_CLONE, spawn_ns, c.token, c.shares_files);
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL /* Linux 5.7 */
#endif

struct fl_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup; /* CLONE_ARGS_SIZE_VER2: CLONE_INTO_CGROUP */
};

#if defined(__x86_64__)
/* long fl_clone3(struct fl_clone_args *args, size_t size, int (*fn)(void *), void *arg)
 * The child runs fn(arg) on the stack the arguments name (or on its copy of
 * the caller's stack), then exits with what fn returns. */
long fl_clone3(struct fl_clone_args *args, size_t size, int (*fn)(void *), void *arg);
__asm__(".text\n"
        ".globl fl_clone3\n"
        ".type fl_clone3,@function\n"
        "fl_clone3:\n"
        "    push %r12\n"
        "    push %r13\n"
        "    sub $8, %rsp\n"
        "    mov %rdx, %r12\n"
        "    mov %rcx, %r13\n"
        "    mov $435, %eax\n"
        "    syscall\n"
        "    test %rax, %rax\n"
        "    jnz 1f\n"
        "    xor %ebp, %ebp\n"
        "    and $-16, %rsp\n"
        "    mov %r13, %rdi\n"
        "    call *%r12\n"
        "    mov %eax, %edi\n"
        "    mov $231, %eax\n"
        "    syscall\n"
        "    hlt\n"
        "1:\n"
        "    add $8, %rsp\n"
        "    pop %r13\n"
        "    pop %r12\n"
        "    ret\n"
        ".size fl_clone3, .-fl_clone3\n");
#define HAVE_FL_CLONE3 1
#endif

/* ------------------------------------------------------------------ threads */
static void *thread_main(void *arg)
{
    struct task t = {(int)(intptr_t)arg, 0, -1};
    add_tid_word();
    send_hello(&t, FL_O_THREAD, 0, 0);
    task_loop(&t);
}

/* ------------------------------------------------------------------ ops */

/* NUL-separated strings in a command's data. */
static int split_strings(char *data, size_t len, char **out, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len && n < max) {
        out[n++] = data + i;
        size_t l = strnlen(data + i, len - i);
        i += l + 1;
    }
    return n;
}

static __attribute__((noinline)) void op_fork(struct task *t, struct fl_cmd *c, int fd,
                                              struct fl_reply *r)
{
    int64_t t0 = now_ns();
    pid_t pid = fork();
    int64_t t1 = now_ns();
    if (pid == 0)
        restart_as_child(t, fd, FL_O_FORK, 0, c->a[0], 0);
    if (pid > 0)
        rewrite_tid_words();
    int e = errno;
    if (fd >= 0)
        rt_close(fd);
    r->v[FL_V_RESULT] = pid;
    r->v[FL_V_ELAPSED_NS] = t1 - t0;
    errno = e;
}

/* The vfork child runs its ops in frames below this one, on the parent's
 * stack, and never returns into it: it leaves by exec or by exiting. */
static __attribute__((noinline)) void op_vfork(struct task *t, struct fl_cmd *c, int fd,
                                               struct fl_reply *r)
{
    volatile int64_t t0 = now_ns();
    volatile int64_t token = c->a[0];
    volatile int chfd = fd;
    pid_t pid = vfork();
    if (pid == 0)
        child_start(chfd, FL_O_VFORK, now_ns() - t0, token, 0);
    int e = errno;
    if (fd >= 0)
        rt_close(fd);
    r->v[FL_V_RESULT] = pid;
    errno = e;
    (void)t;
}

static __attribute__((noinline)) void op_clone(struct task *t, struct fl_cmd *c, int fd,
                                               struct fl_reply *r)
{
#ifdef HAVE_FL_CLONE3
    uint64_t flags = (uint64_t)c->a[1];
    int pidfd = -1;
    struct fl_clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = flags;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = (uint64_t)c->a[2];
    struct clone_ctx local = {fd, (flags & CLONE_FILES) != 0, (flags & CLONE_VFORK) != 0, 0,
                              c->a[0], (flags & CLONE_VM) ? NULL : t, -1};
    struct clone_ctx *ctx = &local;
    if (flags & CLONE_VM) {
        /* A stack of its own, and the context on it: the parent's frame may be
         * gone by the time the child reads it. */
        char *stack = NULL;
        RUNTIME_CHANGE(stack = new_stack());
        if (!stack) {
            errno = ENOMEM;
            r->v[FL_V_RESULT] = -1;
            if (fd >= 0)
                rt_close(fd);
            return;
        }
        ctx = (struct clone_ctx *)(stack + FL_STACK_SIZE - 256);
        _Static_assert(sizeof *ctx <= 256, "the context fits above the child's stack");
        *ctx = local;
        args.stack = (uint64_t)(uintptr_t)stack;
        args.stack_size = FL_STACK_SIZE - 256;
    }
    ctx->t0 = now_ns();
    if (flags & CLONE_INTO_CGROUP) {
        args.cgroup = (uint64_t)t->second_fd;
        ctx->cgroup_fd = t->second_fd;
    }
    long ret = fl_clone3(&args, sizeof args, clone_child, ctx);
    int64_t t1 = now_ns();
    if (ret > 0 && !(flags & CLONE_VM))
        rewrite_tid_words();
    if (ret < 0) {
        errno = (int)-ret; /* as glibc's syscall() would */
        ret = -1;
    }
    int e = errno;
    if (fd >= 0 && !(flags & CLONE_FILES))
        rt_close(fd);
    else if (fd >= 0 && ret < 0)
        rt_close(fd);
    r->v[FL_V_RESULT] = ret;
    r->v[FL_V_RESULT2] = (flags & CLONE_PIDFD) ? pidfd : -1;
    r->v[FL_V_ELAPSED_NS] = t1 - ctx->t0;
    errno = e;
#else
    (void)c;
    (void)r;
    if (fd >= 0)
        rt_close(fd);
    reply_fail(t->ch, "clone is not supported on this architecture");
#endif
}

/* The environment a new image gets: the scenario's (environ, as execv passes it),
 * then forklab's own variables; the probe removes those when it starts. */
static int scenario_envp(char **out, int cap, char *const *own)
{
    int n = 0;
    for (char **e = environ; e && *e; e++) {
        if (n >= cap - 8)
            return -1;
        out[n++] = *e;
    }
    for (; own && *own; own++)
        out[n++] = *own;
    out[n] = NULL;
    return n;
}

static void drop_forklab_variables(void)
{
    static const char *const own[] = {"FORKLAB_CHAN", "FORKLAB_CONNECT", "FORKLAB_TOKEN",
                                      "FORKLAB_FIRST", "FORKLAB_PROBE", "FORKLAB_FD_FLOOR"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        unsetenv(own[i]);
}

static void op_spawn(struct task *t, struct fl_cmd *c, char *data, size_t len,
                     struct fl_reply *r)
{
    char *s[600];
    int n = split_strings(data, len, s, 600);
    int nargs = (int)c->a[5], nactions = (int)c->a[6];
    if (n < 2 + nargs + nactions || nargs < 1) {
        reply_fail(t->ch, "malformed spawn");
        r->kind = 0;
        return;
    }
    char *address = s[0], *path = s[1];
    char **argv = &s[2];
    char **actions = &s[2 + nargs];
    char *argv_z[64];
    int na = nargs < 63 ? nargs : 63;
    memcpy(argv_z, argv, sizeof(char *) * (size_t)na);
    argv_z[na] = NULL;

    char env_connect[160], env_token[64], env_probe[4200], env_floor[48];
    char *own[5] = {NULL, NULL, NULL, NULL, NULL};
    int kind = (int)c->a[4];
    if (kind == FL_PROG_PROBE) {
        snprintf(env_connect, sizeof env_connect, "FORKLAB_CONNECT=%s", address);
        snprintf(env_token, sizeof env_token, "FORKLAB_TOKEN=%lld", (long long)c->a[0]);
        snprintf(env_probe, sizeof env_probe, "FORKLAB_PROBE=%s", probe_path);
        snprintf(env_floor, sizeof env_floor, "FORKLAB_FD_FLOOR=%d", fd_floor);
        own[0] = env_connect;
        own[1] = env_token;
        own[2] = env_probe;
        own[3] = env_floor;
        path = probe_path;
    }
    char *envp[FL_MAX_ENV + 8];
    if (scenario_envp(envp, FL_MAX_ENV + 8, own) < 0) {
        r->v[FL_V_RESULT] = -1;
        r->v[FL_V_RESULT2] = E2BIG;
        errno = E2BIG;
        return;
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    for (int i = 0; i < nactions; i++) {
        char *a = actions[i];
        char *rest = a + 1;
        if (a[0] == 'c') {
            posix_spawn_file_actions_addclose(&fa, atoi(rest));
        } else if (a[0] == 'd') {
            int from = atoi(rest);
            char *colon = strchr(rest, ':');
            posix_spawn_file_actions_adddup2(&fa, from, colon ? atoi(colon + 1) : from);
        } else if (a[0] == 'o') {
            /* o NUM:FLAGS:PATH */
            int num = atoi(rest);
            char *c1 = strchr(rest, ':');
            char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c1 && c2)
                posix_spawn_file_actions_addopen(&fa, num, c2 + 1, atoi(c1 + 1), 0666);
        } else if (a[0] == 'f') {
            posix_spawn_file_actions_addclosefrom_np(&fa, atoi(rest));
        } else if (a[0] == 'h') {
            posix_spawn_file_actions_addchdir_np(&fa, rest);
        }
    }
    short flags = 0;
    if (c->a[1] & FL_SP_SETSID)
        flags |= POSIX_SPAWN_SETSID;
    if (c->a[1] & FL_SP_SETPGROUP) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&at, 0);
    }
    if (c->a[1] & FL_SP_SIGMASK) {
        sigset_t m;
        sigemptyset(&m);
        for (int sig = 1; sig < 64; sig++)
            if ((uint64_t)c->a[2] & (1ULL << sig))
                sigaddset(&m, sig);
        posix_spawnattr_setsigmask(&at, &m);
        flags |= POSIX_SPAWN_SETSIGMASK;
    }
    if (c->a[1] & FL_SP_SIGDEF) {
        sigset_t m;
        sigemptyset(&m);
        for (int sig = 1; sig < 64; sig++)
            if ((uint64_t)c->a[3] & (1ULL << sig))
                sigaddset(&m, sig);
        posix_spawnattr_setsigdefault(&at, &m);
        flags |= POSIX_SPAWN_SETSIGDEF;
    }
    posix_spawnattr_setflags(&at, flags);

    pid_t pid = -1;
    int rc = 0;
    int64_t t0 = 0, t1 = 0;
    t0 = now_ns();
    rc = posix_spawn(&pid, path, &fa, &at, argv_z, envp);
    t1 = now_ns();
    int e = errno;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    r->v[FL_V_RESULT] = rc == 0 ? pid : -1;
    r->v[FL_V_RESULT2] = rc;
    r->v[FL_V_ELAPSED_NS] = t1 - t0;
    errno = e;
}

static void op_exec(struct task *t, struct fl_cmd *c, char *data, size_t len,
                    struct fl_reply *r)
{
    char *s[64];
    int n = split_strings(data, len, s, 63);
    if (n < 1) {
        reply_fail(t->ch, "malformed exec");
        r->kind = 0;
        return;
    }
    int kind = (int)c->a[0];
    char *path = s[0];
    char *argv[64];
    char env_chan[64], env_probe[4200], env_floor[48];
    char *own[4] = {NULL, NULL, NULL, NULL};
    argv[0] = path;
    for (int i = 1; i < n; i++)
        argv[i] = s[i];
    argv[n] = NULL;
    if (kind == FL_PROG_PROBE) {
        snprintf(env_chan, sizeof env_chan, "FORKLAB_CHAN=%d", t->ch);
        snprintf(env_probe, sizeof env_probe, "FORKLAB_PROBE=%s", probe_path);
        snprintf(env_floor, sizeof env_floor, "FORKLAB_FD_FLOOR=%d", fd_floor);
        own[0] = env_chan;
        own[1] = env_probe;
        own[2] = env_floor;
        path = probe_path;
        argv[0] = probe_path;
    }
    char *envp[FL_MAX_ENV + 8];
    if (scenario_envp(envp, FL_MAX_ENV + 8, own) < 0) {
        r->v[FL_V_RESULT] = -1;
        errno = E2BIG;
        return;
    }
    if (kind == FL_PROG_PROBE)
        rt_fcntl(t->ch, F_SETFD, 0); /* the one forklab fd exec keeps */
    execve(path, argv, envp);
    int e = errno;
    if (kind == FL_PROG_PROBE)
        rt_fcntl(t->ch, F_SETFD, FD_CLOEXEC);
    r->v[FL_V_RESULT] = -1;
    errno = e;
}

static void op_thread(struct task *t, int fd, struct fl_reply *r)
{
    int rc = EAGAIN;
    RUNTIME_CHANGE({
        void *stack = new_stack();
        if (stack) {
            pthread_attr_t attr;
            pthread_t th;
            pthread_attr_init(&attr);
            pthread_attr_setstack(&attr, stack, FL_STACK_SIZE);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            rc = pthread_create(&th, &attr, thread_main, (void *)(intptr_t)fd);
            pthread_attr_destroy(&attr);
        }
    });
    if (rc != 0 && fd >= 0)
        rt_close(fd);
    r->v[FL_V_RESULT] = rc;
    (void)t;
}

/* ------------------------------------------------- identity and working directory */
/* chdir into a scratch directory: opened beneath the scratch directory (never
 * outside it), then fchdir; errno as chdir(2) would set it. */
static int op_chdir(const char *path, int absolute)
{
    int fd = absolute ? open("/dev/null", O_PATH | O_DIRECTORY | O_CLOEXEC)
                      : open_scratch(path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = fchdir(fd);
    int e = errno;
    rt_close(fd);
    errno = e;
    return rc;
}

/* chroot into a scratch directory (or /dev/null, ENOTDIR unless the root holds a
 * directory of that name): opened beneath the scratch directory, made the cwd for
 * chroot("."), and the cwd put back; errno as chroot(2) would set it (the lookup's
 * ENOENT or ENOTDIR first, then EPERM). */
static int op_chroot(const char *path, int absolute)
{
    int fd = absolute ? open("/dev/null", O_PATH | O_DIRECTORY | O_CLOEXEC)
                      : open_scratch(path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int old = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int rc = old < 0 ? -1 : fchdir(fd);
    if (rc == 0)
        rc = chroot(".");
    int e = errno;
    if (old >= 0 && fchdir(old) != 0 && rc == 0)
        e = errno; /* never: the old cwd is held open */
    if (old >= 0)
        rt_close(old);
    rt_close(fd);
    errno = e;
    return rc;
}

/* ------------------------------------------------------------------ scheduling, prctl */
static long op_sched_prctl(const struct fl_cmd *c, const char *data, size_t len)
{
    switch (c->op) {
    case FL_OP_NICE:
        return setpriority(PRIO_PROCESS, 0, (int)c->a[0]);
    case FL_OP_SCHED: {
        struct sched_param sp = {0};
        return sched_setscheduler(0, (int)c->a[0], &sp);
    }
    case FL_OP_AFFINITY: {
        uint64_t mask[8];
        for (int i = 0; i < 8; i++)
            mask[i] = (uint64_t)c->a[i];
        return sched_setaffinity(0, sizeof mask, (cpu_set_t *)(void *)mask);
    }
    case FL_OP_PRCTL:
        switch (c->a[0]) {
        case FL_PR_NAME: {
            char name[16] = {0}; /* TASK_COMM_LEN: the kernel keeps 15 bytes */
            memcpy(name, data, len < sizeof name - 1 ? len : sizeof name - 1);
            return prctl(PR_SET_NAME, name, 0, 0, 0);
        }
        case FL_PR_DUMPABLE:
            return prctl(PR_SET_DUMPABLE, (unsigned long)c->a[1], 0, 0, 0);
        case FL_PR_TIMERSLACK:
            return prctl(PR_SET_TIMERSLACK, (unsigned long)c->a[1], 0, 0, 0);
        case FL_PR_NO_NEW_PRIVS:
            return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        }
        break;
    }
    errno = EINVAL;
    return -1;
}

/* ------------------------------------------------------------------ credentials */
static long op_creds(const struct fl_cmd *c)
{
    switch (c->op) {
    case FL_OP_SETRESUID:
        return setresuid((uid_t)c->a[0], (uid_t)c->a[1], (uid_t)c->a[2]);
    case FL_OP_SETRESGID:
        return setresgid((gid_t)c->a[0], (gid_t)c->a[1], (gid_t)c->a[2]);
    case FL_OP_SETGROUPS: {
        gid_t groups[7];
        size_t n = c->a[0] < 0 ? 0 : c->a[0] > 7 ? 7 : (size_t)c->a[0];
        for (size_t i = 0; i < n; i++)
            groups[i] = (gid_t)c->a[1 + i];
        return setgroups(n, groups);
    }
    case FL_OP_CAPDROP: {
        int cap = (int)c->a[0];
        if (cap < 0 || cap >= 64) {
            errno = EINVAL;
            return -1;
        }
        if (c->a[1] && prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0) != 0)
            return -1;
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        if (syscall(SYS_capget, &h, d) != 0)
            return -1;
        uint32_t keep = ~(1u << (cap % 32));
        d[cap / 32].effective &= keep;
        d[cap / 32].permitted &= keep;
        d[cap / 32].inheritable &= keep;
        return syscall(SYS_capset, &h, d);
    }
    }
    errno = EINVAL;
    return -1;
}

static int signal_in_range(int64_t sig)
{
    return sig >= 1 && sig < 65;
}

/* FL_OP_SHMAT: a System V segment as a mapping. The segment is removed as soon as it
 * is attached, so the kernel destroys it with its last attachment: nothing of it can
 * outlive the run, even if forklab is killed (only a kill between shmget and shmctl,
 * two syscalls apart, could leave it). Returns the address or -1 (errno set). */
/* mmap at a0 (a1 bytes, a2 prot, a3 flags) of fd, as a raw system call measured
 * alone: under mlockall(MCL_FUTURE) the kernel faults the new mapping in, and those
 * faults are the op's (FL_V_FAULTS); none otherwise. */
static void *mmap_counted(const struct fl_cmd *c, int fd, struct fl_reply *r)
{
    struct rusage before, after;
    SYS2(SYS_getrusage, RUSAGE_THREAD, &after); /* a dry run: the frame's pages */
    SYS2(SYS_getrusage, RUSAGE_THREAD, &before);
    long p = SYS6(SYS_mmap, c->a[0], c->a[1], c->a[2], c->a[3] | MAP_FIXED_NOREPLACE, fd, 0);
    SYS2(SYS_getrusage, RUSAGE_THREAD, &after);
    r->v[FL_V_FAULTS] = after.ru_minflt - before.ru_minflt;
    if (p < 0 && p > -4096) {
        errno = (int)-p;
        return MAP_FAILED;
    }
    return (void *)p;
}

static int64_t attach_sysv_segment(const struct fl_cmd *c, struct fl_reply *r)
{
    int id = shmget(IPC_PRIVATE, (size_t)c->a[1], 0600 | (int)c->a[4]);
    if (id < 0)
        return -1;
    /* before the mapping exists, so that no warm_up ever touches it */
    mark_scenario((unsigned long)c->a[0], (unsigned long)c->a[1]);
    struct rusage before, after; /* faults as for mmap_counted */
    SYS2(SYS_getrusage, RUSAGE_THREAD, &after);
    SYS2(SYS_getrusage, RUSAGE_THREAD, &before);
    long got = SYS3(SYS_shmat, id, c->a[0], c->a[2]);
    SYS2(SYS_getrusage, RUSAGE_THREAD, &after);
    r->v[FL_V_FAULTS] = after.ru_minflt - before.ru_minflt;
    void *p = got < 0 && got > -4096 ? (void *)-1 : (void *)got;
    int e = got < 0 && got > -4096 ? (int)-got : errno;
    shmctl(id, IPC_RMID, NULL);
    if (p == (void *)-1) {
        errno = e;
        return -1;
    }
    SYS3(SYS_madvise, p, c->a[1], c->a[3]);
    return (int64_t)(intptr_t)p;
}

static void run_op(struct task *t, struct fl_cmd *c, char *data, size_t len, int fd)
{
    struct fl_reply r;
    memset(&r, 0, sizeof r);
    r.kind = FL_R_DONE;
    const void *out = NULL;
    size_t out_len = 0;
    char rbuf[FL_READ_SIZE];

    switch (c->op) {
    case FL_OP_INIT:
        if (fd >= 0) {
            if (scratch_fd >= 0 && scratch_fd != fd)
                rt_close(scratch_fd);
            scratch_fd = fd;
            fd = -1;
        }
        break;
    case FL_OP_PING:
        break;

    /* memory */
    case FL_OP_MMAP: {
        int mfd = -1;
        int e;
        if (c->a[5] >= 0) {
            mfd = open_scratch(data, (int)c->a[5] | O_CLOEXEC, 0);
            if (mfd < 0) {
                r.v[FL_V_RESULT] = -1;
                break;
            }
        }
        /* before the mapping exists, so that no warm_up ever touches it */
        mark_scenario((unsigned long)c->a[0], (unsigned long)c->a[1]);
        void *p = mmap_counted(c, mfd, &r);
        e = errno;
        if (p != MAP_FAILED)
            SYS3(SYS_madvise, p, c->a[1], c->a[4]);
        if (mfd >= 0)
            rt_close(mfd);
        r.v[FL_V_RESULT] = p == MAP_FAILED ? -1 : (int64_t)(intptr_t)p;
        errno = e;
        break;
    }
    case FL_OP_MUNMAP:
        r.v[FL_V_RESULT] = munmap((void *)(uintptr_t)c->a[0], (size_t)c->a[1]);
        break;
    case FL_OP_WRITE:
        r.v[FL_V_FAULTS] = touch(t->ch, (unsigned long)c->a[0], c->a[1], (int)c->a[2], 1);
        break;
    case FL_OP_READ:
        r.v[FL_V_FAULTS] = touch(t->ch, (unsigned long)c->a[0], c->a[1], 0, 0);
        break;
    case FL_OP_MADVISE:
        r.v[FL_V_RESULT] = madvise((void *)(uintptr_t)c->a[0], (size_t)c->a[1], (int)c->a[2]);
        break;
    case FL_OP_MPROTECT: { /* a locked private VMA made writable is populated: faults */
        struct rusage before, after;
        int e;
        SYS2(SYS_getrusage, RUSAGE_THREAD, &after); /* a dry run, as for mlock */
        mprotect((void *)(uintptr_t)c->a[0], 0, (int)c->a[2]);
        SYS2(SYS_getrusage, RUSAGE_THREAD, &before);
        r.v[FL_V_RESULT] = mprotect((void *)(uintptr_t)c->a[0], (size_t)c->a[1], (int)c->a[2]);
        e = errno;
        SYS2(SYS_getrusage, RUSAGE_THREAD, &after);
        r.v[FL_V_FAULTS] = after.ru_minflt - before.ru_minflt;
        errno = e;
        break;
    }
    case FL_OP_MLOCK: { /* the faults that populating the range took */
        struct rusage before, after;
        int e;
        /* a dry run first: after a fork, the stack this writes and the wrapper's
         * page would fault in the measured call otherwise */
        SYS2(SYS_getrusage, RUSAGE_THREAD, &after);
        mlock((void *)(uintptr_t)c->a[0], 0);
        SYS2(SYS_getrusage, RUSAGE_THREAD, &before);
        r.v[FL_V_RESULT] = mlock((void *)(uintptr_t)c->a[0], (size_t)c->a[1]);
        e = errno;
        SYS2(SYS_getrusage, RUSAGE_THREAD, &after);
        r.v[FL_V_FAULTS] = after.ru_minflt - before.ru_minflt;
        errno = e;
        break;
    }
    case FL_OP_MLOCKALL: { /* the faults that populating the scenario's mappings took */
        struct rusage before, after;
        int e;
        if (c->a[0] & MCL_CURRENT) /* the runtime's own faults first, unmeasured */
            RUNTIME_CHANGE(for_each_map_line(populate_line));
        SYS2(SYS_getrusage, RUSAGE_THREAD, &after); /* a dry run, as for mlock */
        SYS2(SYS_getrusage, RUSAGE_THREAD, &before);
        r.v[FL_V_RESULT] = SYS1(SYS_mlockall, c->a[0]);
        SYS2(SYS_getrusage, RUSAGE_THREAD, &after);
        e = r.v[FL_V_RESULT] < 0 ? (int)-r.v[FL_V_RESULT] : errno;
        if (r.v[FL_V_RESULT] < 0)
            r.v[FL_V_RESULT] = -1;
        r.v[FL_V_FAULTS] = after.ru_minflt - before.ru_minflt;
        errno = e;
        break;
    }
    case FL_OP_MUNLOCKALL:
        r.v[FL_V_RESULT] = munlockall();
        break;
    case FL_OP_MREMAP: { /* growing a locked mapping faults the new pages in */
        struct rusage before, after;
        void *p;
        int e;
        e = errno;
        SYS2(SYS_getrusage, RUSAGE_THREAD, &after); /* a dry run, as for mlock */
        mremap(NULL, 0, 0, 0);                      /* EINVAL at once */
        errno = e;
        SYS2(SYS_getrusage, RUSAGE_THREAD, &before);
        p = mremap((void *)(uintptr_t)c->a[0], (size_t)c->a[1], (size_t)c->a[2], (int)c->a[3]);
        e = errno;
        SYS2(SYS_getrusage, RUSAGE_THREAD, &after);
        r.v[FL_V_RESULT] = p == MAP_FAILED ? -1 : (int64_t)(intptr_t)p;
        r.v[FL_V_FAULTS] = after.ru_minflt - before.ru_minflt;
        errno = e;
        break;
    }
    case FL_OP_MUNLOCK:
        r.v[FL_V_RESULT] = munlock((void *)(uintptr_t)c->a[0], (size_t)c->a[1]);
        break;

    /* processes */
    case FL_OP_FORK:
        op_fork(t, c, fd, &r);
        fd = -1;
        break;
    case FL_OP_VFORK:
        op_vfork(t, c, fd, &r);
        fd = -1;
        break;
    case FL_OP_CLONE:
        op_clone(t, c, fd, &r);
        fd = -1;
        break;
    case FL_OP_SPAWN:
        /* the file actions are malloc'd, the helper's stack mmap'd: all runtime */
        RUNTIME_CHANGE(op_spawn(t, c, data, len, &r));
        break;
    case FL_OP_EXEC:
        op_exec(t, c, data, len, &r);
        break;
    case FL_OP_EXIT:
        exit((int)c->a[0]);
    case FL_OP__EXIT:
        _exit((int)c->a[0]);
    case FL_OP_WAIT: {
        int status = 0;
        r.v[FL_V_RESULT] = waitpid((pid_t)c->a[0], &status, (int)c->a[1]);
        r.v[FL_V_RESULT2] = status;
        break;
    }
    case FL_OP_WAITID: {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        r.v[FL_V_RESULT] = waitid((idtype_t)c->a[0], (id_t)c->a[1], &info,
                                  WEXITED | (int)c->a[2]);
        r.v[1] = info.si_pid;
        r.v[2] = info.si_code;
        r.v[3] = info.si_status;
        break;
    }
    case FL_OP_KILL:
        if (fd < 0) { /* no pidfd: the kernel reaped it before the driver could pin it */
            errno = ESRCH;
            r.v[FL_V_RESULT] = -1;
            break;
        }
        r.v[FL_V_RESULT] = syscall(SYS_pidfd_send_signal, fd, (int)c->a[0], NULL, 0);
        break;
    case FL_OP_THREAD:
        op_thread(t, fd, &r);
        fd = -1;
        break;
    case FL_OP_THREAD_EXIT:
        drop_tid_word();
        r.err = errno;
        rt_send(t->ch, &r, NULL, 0);
        rt_close(t->ch);
        pthread_exit(NULL);

    /* files */
    case FL_OP_OPEN:
        if (c->a[1])
            r.v[FL_V_RESULT] = open("/dev/null", (int)c->a[0], 0666);
        else
            r.v[FL_V_RESULT] = open_scratch(data, (int)c->a[0], 0666);
        break;
    case FL_OP_PIPE: {
        int p[2] = {-1, -1};
        r.v[FL_V_RESULT] = pipe2(p, (int)c->a[0]);
        r.v[FL_V_RESULT2] = p[0];
        r.v[2] = p[1];
        break;
    }
    case FL_OP_DUP:
        r.v[FL_V_RESULT] = c->a[1] ? fcntl((int)c->a[0], F_DUPFD_CLOEXEC, 0) : dup((int)c->a[0]);
        break;
    case FL_OP_DUP2:
        r.v[FL_V_RESULT] = dup2((int)c->a[0], (int)c->a[1]);
        break;
    case FL_OP_CLOSE:
        r.v[FL_V_RESULT] = close((int)c->a[0]);
        break;
    case FL_OP_CLOEXEC:
        r.v[FL_V_RESULT] = fcntl((int)c->a[0], F_SETFD, c->a[1] ? FD_CLOEXEC : 0);
        break;
    case FL_OP_CLOSE_RANGE: {
        /* forklab's own fds sit above every scenario fd: a range that reaches
         * them stops just below (what the scenario can observe is the same). */
        unsigned lo = (unsigned)c->a[0];
        unsigned hi = c->a[1] < 0 ? ~0U : (unsigned)c->a[1];
        if (hi >= (unsigned)fd_floor && lo < (unsigned)fd_floor)
            hi = (unsigned)fd_floor - 1;
        r.v[FL_V_RESULT] = close_range(lo, hi, (int)c->a[2]);
        break;
    }
    case FL_OP_WRITEFD:
        r.v[FL_V_RESULT] = write((int)c->a[0], data, len);
        break;
    case FL_OP_READFD: {
        ssize_t n = read((int)c->a[0], rbuf, sizeof rbuf);
        r.v[FL_V_RESULT] = n;
        if (n > 0) {
            out = rbuf;
            out_len = (size_t)n;
        }
        break;
    }
    case FL_OP_LSEEK:
        r.v[FL_V_RESULT] = lseek((int)c->a[0], (off_t)c->a[1], (int)c->a[2]);
        break;
    case FL_OP_PREAD: {
        size_t want = c->a[2] < 0 || c->a[2] > FL_READ_SIZE ? FL_READ_SIZE : (size_t)c->a[2];
        ssize_t n = pread((int)c->a[0], rbuf, want, (off_t)c->a[1]);
        r.v[FL_V_RESULT] = n;
        if (n > 0) {
            out = rbuf;
            out_len = (size_t)n;
        }
        break;
    }
    case FL_OP_PWRITE:
        r.v[FL_V_RESULT] = pwrite((int)c->a[0], data, len, (off_t)c->a[1]);
        break;
    case FL_OP_FTRUNCATE:
        r.v[FL_V_RESULT] = ftruncate((int)c->a[0], (off_t)c->a[1]);
        break;
    case FL_OP_UNSHARE:
        r.v[FL_V_RESULT] = unshare((int)c->a[0]);
        break;
    case FL_OP_OPENDIR:  /* glibc's opendir mallocs its buffer: in a thread, a new arena */
        RUNTIME_CHANGE(r.v[FL_V_RESULT] = op_opendir(data));
        break;
    case FL_OP_READDIR:
        r.v[FL_V_RESULT] = op_readdir(c->a[0]);
        break;
    case FL_OP_MQ_OPEN:
        r.v[FL_V_RESULT] = op_mq_open(data);
        break;
    case FL_OP_CGROUP:
        r.v[FL_V_RESULT] = op_cgroup(fd, data, (int)c->a[0]);
        break;
    case FL_OP_SEMGET:
        r.v[FL_V_RESULT] = semget(IPC_PRIVATE, 1, 0600);
        break;
    case FL_OP_SEMOP: {
        struct sembuf op = {0, (short)c->a[1], (short)((c->a[2] ? SEM_UNDO : 0) | IPC_NOWAIT)};
        r.v[FL_V_RESULT] = semop((int)c->a[0], &op, 1);
        break;
    }
    case FL_OP_MEMFD:
        r.v[FL_V_RESULT] = memfd_create(data, (unsigned)c->a[0]);
        break;
    case FL_OP_SHM_OPEN:
        r.v[FL_V_RESULT] = shm_open(data, (int)c->a[0], 0600);
        break;
    case FL_OP_SHM_UNLINK:
        r.v[FL_V_RESULT] = shm_unlink(data);
        break;
    case FL_OP_SHMAT:
        r.v[FL_V_RESULT] = attach_sysv_segment(c, &r);
        break;
    case FL_OP_MMAP_FD: {
        int e;
        mark_scenario((unsigned long)c->a[0], (unsigned long)c->a[1]);
        void *p = mmap_counted(c, (int)c->a[5], &r);
        e = errno;
        if (p != MAP_FAILED)
            SYS3(SYS_madvise, p, c->a[1], c->a[4]);
        r.v[FL_V_RESULT] = p == MAP_FAILED ? -1 : (int64_t)(intptr_t)p;
        errno = e;
        break;
    }
    case FL_OP_PRINTF:
        RUNTIME_CHANGE(r.v[FL_V_RESULT] = (int64_t)fwrite(data, 1, len, stdout));
        break;
    case FL_OP_FFLUSH:
        RUNTIME_CHANGE(r.v[FL_V_RESULT] = fflush(stdout));
        break;
    case FL_OP_SETVBUF:
        RUNTIME_CHANGE(r.v[FL_V_RESULT] = setvbuf(stdout, NULL, (int)c->a[0], BUFSIZ));
        break;

    /* threads and locks */
    case FL_OP_LOCK:
        if (c->a[0] < 0 || c->a[0] >= FL_MAX_LOCKS) {
            reply_fail(t->ch, "lock index out of range");
            return;
        }
        r.v[FL_V_RESULT] = pthread_mutex_lock(&fl_locks[c->a[0]]);
        break;
    case FL_OP_UNLOCK:
        if (c->a[0] < 0 || c->a[0] >= FL_MAX_LOCKS) {
            reply_fail(t->ch, "lock index out of range");
            return;
        }
        r.v[FL_V_RESULT] = pthread_mutex_unlock(&fl_locks[c->a[0]]);
        break;
    case FL_OP_TRYLOCK:
        if (c->a[0] < 0 || c->a[0] >= FL_MAX_LOCKS) {
            reply_fail(t->ch, "lock index out of range");
            return;
        }
        r.v[FL_V_RESULT] = pthread_mutex_trylock(&fl_locks[c->a[0]]);
        break;
    case FL_OP_MUTEX: {
        /* before the mutex's first use (the parser sees to it) */
        pthread_mutexattr_t attr;
        if (c->a[0] < 0 || c->a[0] >= FL_MAX_LOCKS || pthread_mutexattr_init(&attr) != 0) {
            reply_fail(t->ch, "lock index out of range");
            return;
        }
        r.v[FL_V_RESULT] = pthread_mutexattr_settype(&attr, (int)c->a[1]);
        if (r.v[FL_V_RESULT] == 0)
            r.v[FL_V_RESULT] = pthread_mutex_init(&fl_locks[c->a[0]], &attr);
        pthread_mutexattr_destroy(&attr);
        break;
    }
    case FL_OP_ATFORK: {
        if (c->a[0] < 0 || c->a[0] >= FL_MAX_LOCKS || atfork_count >= FL_MAX_ATFORK) {
            reply_fail(t->ch, "too many atfork registrations");
            return;
        }
        int k = atfork_count++;
        atfork_lock[k] = (int)c->a[0];
        RUNTIME_CHANGE(r.v[FL_V_RESULT] = pthread_atfork(atfork_fns[k][0], atfork_fns[k][1],
                                                          atfork_fns[k][2]));
        fl_state.atfork_count = (uint32_t)atfork_count;
        break;
    }
    case FL_OP_MALLOC:
        RUNTIME_CHANGE(r.v[FL_V_RESULT] = (int64_t)(intptr_t)malloc((size_t)c->a[0]));
        break;
    case FL_OP_FREE:
        RUNTIME_CHANGE(free((void *)(intptr_t)c->a[0]));
        break;

    /* signals */
    case FL_OP_SIGNAL: /* signal(): a2 is 0, so SA_RESTART, as glibc's */
    case FL_OP_SIGACTION:
        r.v[FL_V_RESULT] = op_sigaction(c);
        break;
    case FL_OP_BLOCK:
    case FL_OP_UNBLOCK: {
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, (int)c->a[0]);
        r.v[FL_V_RESULT] =
            pthread_sigmask(c->op == FL_OP_BLOCK ? SIG_BLOCK : SIG_UNBLOCK, &m, NULL);
        break;
    }
    case FL_OP_RAISE:
        r.v[FL_V_RESULT] = raise((int)c->a[0]);
        break;
    case FL_OP_TGKILL:
        if (c->a[1] <= 0) { /* the driver knows the thread is gone */
            errno = ESRCH;
            r.v[FL_V_RESULT] = -1;
        } else {
            r.v[FL_V_RESULT] = syscall(SYS_tgkill, (pid_t)c->a[0], (pid_t)c->a[1], (int)c->a[2]);
        }
        break;
    case FL_OP_SLEEP: {
        struct timespec ts = {(time_t)(c->a[0] / 1000000000LL), (long)(c->a[0] % 1000000000LL)};
        r.v[FL_V_RESULT] = nanosleep(&ts, NULL);
        break;
    }
    case FL_OP_CHDIR:
        r.v[FL_V_RESULT] = op_chdir(data, (int)c->a[0]);
        break;
    case FL_OP_CHROOT:
        r.v[FL_V_RESULT] = op_chroot(data, (int)c->a[0]);
        break;
    case FL_OP_UMASK:
        r.v[FL_V_RESULT] = umask((mode_t)c->a[0]);
        break;
    case FL_OP_SETPGID:
        r.v[FL_V_RESULT] = setpgid((pid_t)c->a[0], (pid_t)c->a[1]);
        break;
    case FL_OP_SETSID:
        r.v[FL_V_RESULT] = setsid();
        break;
    case FL_OP_SETENV: {
        char *nv[2] = {NULL, NULL};
        if (split_strings(data, len, nv, 2) != 2) {
            reply_fail(t->ch, "malformed setenv");
            return;
        }
        /* glibc's environ and its strings are malloc'd: a thread's first allocation
         * maps an arena of its own, which is the runtime's, as for FL_OP_MALLOC */
        RUNTIME_CHANGE(r.v[FL_V_RESULT] = setenv(nv[0], nv[1], 1));
        break;
    }
    case FL_OP_UNSETENV:
        RUNTIME_CHANGE(r.v[FL_V_RESULT] = unsetenv(data));
        break;
    case FL_OP_SETRLIMIT: {
        struct rlimit lim;
        getrlimit((int)c->a[0], &lim);
        lim.rlim_cur = c->a[1] < 0 ? RLIM_INFINITY : (rlim_t)c->a[1];
        if (!c->a[3])
            lim.rlim_max = c->a[2] < 0 ? RLIM_INFINITY : (rlim_t)c->a[2];
        r.v[FL_V_RESULT] = setrlimit((int)c->a[0], &lim);
        break;
    }
    case FL_OP_PDEATHSIG:
        r.v[FL_V_RESULT] = prctl(PR_SET_PDEATHSIG, (unsigned long)c->a[0]);
        if (r.v[FL_V_RESULT] == 0)
            note_pdeathsig();
        break;
    case FL_OP_NICE:
    case FL_OP_SCHED:
    case FL_OP_AFFINITY:
    case FL_OP_PRCTL:
        r.v[FL_V_RESULT] = op_sched_prctl(c, data, len);
        break;
    case FL_OP_SETRESUID:
    case FL_OP_SETRESGID:
    case FL_OP_SETGROUPS:
    case FL_OP_CAPDROP:
        r.v[FL_V_RESULT] = op_creds(c);
        break;
    /* timers, file locks, the alternate stack, exit handlers */
    case FL_OP_ALARM:
        r.v[FL_V_RESULT] = alarm((unsigned)c->a[0]);
        refresh_timers();
        break;
    case FL_OP_SETITIMER: {
        struct itimerval it = {{0, 0}, {(time_t)c->a[1], 0}};
        r.v[FL_V_RESULT] = setitimer((int)c->a[0], &it, NULL);
        refresh_timers();
        break;
    }
    case FL_OP_TIMER_CREATE: {
        struct sigevent ev;
        timer_t id;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGALRM;
        r.v[FL_V_RESULT] = timer_create(CLOCK_MONOTONIC, &ev, &id);
        if (r.v[FL_V_RESULT] == 0 && c->a[0] > 0) {
            struct itimerspec spec = {{0, 0}, {(time_t)c->a[0], 0}};
            r.v[FL_V_RESULT] = timer_settime(id, 0, &spec, NULL);
        }
        break;
    }
    case FL_OP_SIGALTSTACK: {
        stack_t ss = {.ss_sp = NULL, .ss_flags = SS_DISABLE, .ss_size = 0};
        if (c->a[0] > 0) { /* a stack of its own, never freed: a handler may be on it */
            void *p = MAP_FAILED;
            RUNTIME_CHANGE(p = mmap(NULL, (size_t)c->a[0], PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
            if (p == MAP_FAILED) {
                r.v[FL_V_RESULT] = -1;
                break;
            }
            ss = (stack_t){.ss_sp = p, .ss_flags = 0, .ss_size = (size_t)c->a[0]};
        }
        r.v[FL_V_RESULT] = sigaltstack(&ss, NULL);
        refresh_altstack();
        break;
    }
    case FL_OP_FCNTL_LOCK: {
        struct flock fl = {.l_type = (short)c->a[2], .l_whence = SEEK_SET, .l_start = 0,
                           .l_len = 0, .l_pid = 0};
        r.v[FL_V_RESULT] = fcntl((int)c->a[0], (int)c->a[1], &fl);
        break;
    }
    case FL_OP_FLOCK:
        r.v[FL_V_RESULT] = flock((int)c->a[0], (int)c->a[1] | LOCK_NB);
        break;
    case FL_OP_ATEXIT: {
        if (fl_state.atexit_count >= FL_MAX_ATEXIT) {
            reply_fail(t->ch, "too many atexit handlers");
            return;
        }
        char *text = NULL;
        RUNTIME_CHANGE(text = strndup(data, len));
        if (!text) {
            r.v[FL_V_RESULT] = -1;
            break;
        }
        atexit_text[fl_state.atexit_count] = text;
        RUNTIME_CHANGE(r.v[FL_V_RESULT] = atexit(run_atexit_handler));
        if (r.v[FL_V_RESULT] == 0)
            fl_state.atexit_count++;
        break;
    }
    default:
        if (fd >= 0)
            rt_close(fd);
        reply_fail(t->ch, "unknown op");
        return;
    }
    if (fd >= 0)
        rt_close(fd);
    if (r.kind == 0)
        return; /* already answered */
    r.err = errno;
    rt_send(t->ch, &r, out, out_len);
}

static __attribute__((noreturn)) void task_loop(struct task *t)
{
    struct {
        struct fl_cmd h;
        char data[FL_MAX_DATA + 1];
    } m;
    if (sigsetjmp(t->top, 0)) { /* a child, back here from restart_as_child */
        t->ch = restart.ch;
        t->is_main = 1;
        reset_tid_words();
        child_begin(t, restart.origin, restart.spawn_ns, restart.token, restart.shares_files);
    }
    for (;;) {
        int fd;
        long n = rt_recv(t->ch, &m, sizeof m - 1, &fd, &t->second_fd);
        if (n == -EMFILE || n == -ENFILE) {
            struct rlimit lim;
            SYS4(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &lim);
            char why[200];
            snprintf(why, sizeof why,
                     "no fd was free for a new task's channel: forklab keeps its own fds "
                     "from %d up to the fd limit (%llu); raise it with `ulimit -n`",
                     fd_floor, (unsigned long long)lim.rlim_cur);
            errno = (int)-n;
            reply_fail(t->ch, why);
            continue;
        }
        if (n == 0 || (n < 0 && n != -EMSGSIZE)) {
            /* The driver is gone: nothing may outlive it. */
            rt_exit_group(111);
        }
        if (n < (long)sizeof m.h || m.h.len != (uint32_t)(n - (long)sizeof m.h)) {
            if (fd >= 0)
                rt_close(fd);
            if (t->second_fd >= 0)
                rt_close(t->second_fd);
            t->second_fd = -1;
            reply_fail(t->ch, "malformed command");
            continue;
        }
        m.data[m.h.len] = 0;
        run_op(t, &m.h, m.data, m.h.len, fd);
        if (t->second_fd >= 0) {
            rt_close(t->second_fd);
            t->second_fd = -1;
        }
    }
}

/* ------------------------------------------------------------------ start */
/* glibc's first pthread_exit (or thread cancellation) dlopen()s libgcc_s.so.1
 * for its forced unwind: five new runtime mappings, and page tables for them,
 * after the op has replied (a `thread_exit` op cannot charge them to the
 * runtime with RUNTIME_CHANGE: its task is gone). Load it now, before the
 * baseline, the way glibc does (RTLD_NOW; never unloaded), so that the later
 * dlopen only finds it loaded and maps nothing. */
static void load_unwinder(void)
{
    (void)dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NODELETE);
}

static int connect_driver(const char *name)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t l = strlen(name);
    if (l + 1 > sizeof sa.sun_path || l == 0)
        return -1;
    /* A path in a directory only forklab's user can enter: never an abstract
     * name, which any local user could read in /proc/net/unix and connect to. */
    memcpy(sa.sun_path, name, l);
    int fd = (int)SYS3(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    fd = rt_lift(fd);
    long rc;
    do
        rc = SYS3(SYS_connect, fd, &sa, offsetof(struct sockaddr_un, sun_path) + l + 1);
    while (rc == -EINTR);
    if (rc < 0) {
        rt_close(fd);
        return -1;
    }
    return fd;
}

/* Every process of a run shares one CPU (children inherit the affinity).
 * Whether a write fault after fork reuses a page or copies it depends on a
 * per-CPU batch of new pages holding an extra reference, which the fault
 * drains only on its own CPU: on one CPU the answer is always the same. */
static void pin_to_one_cpu(void)
{
    unsigned long mask[16];
    memset(mask, 0, sizeof mask);
    long n = SYS3(SYS_sched_getaffinity, 0, sizeof mask, mask);
    if (n <= 0)
        return;
    for (unsigned i = 0; i < (unsigned)n * 8; i++) {
        if (mask[i / (8 * sizeof mask[0])] >> (i % (8 * sizeof mask[0])) & 1) {
            unsigned long one[16];
            memset(one, 0, sizeof one);
            one[i / (8 * sizeof one[0])] = 1UL << (i % (8 * sizeof one[0]));
            SYS3(SYS_sched_setaffinity, 0, sizeof one, one);
            return;
        }
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const char *chan = getenv("FORKLAB_CHAN");
    const char *conn = getenv("FORKLAB_CONNECT");
    const char *token = getenv("FORKLAB_TOKEN");
    const char *first = getenv("FORKLAB_FIRST");
    const char *probe = getenv("FORKLAB_PROBE");
    const char *floor_text = getenv("FORKLAB_FD_FLOOR");
    if (floor_text && atoi(floor_text) > FL_FD_MIN)
        fd_floor = atoi(floor_text);
    if (probe)
        snprintf(probe_path, sizeof probe_path, "%s", probe);
    else
        snprintf(probe_path, sizeof probe_path, "/proc/self/exe");

    int ch = -1;
    if (chan) {
        ch = atoi(chan);
        if (rt_fcntl(ch, F_GETFD, 0) < 0)
            rt_exit_group(112);
        rt_fcntl(ch, F_SETFD, FD_CLOEXEC);
        if (first && first[0] == '1') {
            /* Started clean: nothing of the driver's but the channel. */
            rt_close_range(3, (unsigned)ch - 1);
            rt_close_range((unsigned)ch + 1, ~0U);
            pin_to_one_cpu();
        }
        ch = rt_lift(ch); /* to the run's floor, if it is above the fd it came on */
    } else if (conn) {
        snprintf(connect_name, sizeof connect_name, "%s", conn);
        ch = connect_driver(connect_name);
    }
    if (ch < 0) {
        static const char msg[] =
            "forklab-probe: run by forklab's real backend only (no control channel)\n";
        SYS3(SYS_write, 2, msg, sizeof msg - 1);
        rt_exit_group(112);
    }

    /* No core files in the scratch directory when a scenario dies of SIGSEGV. */
    struct rlimit no_core = {0, 0};
    SYS4(SYS_prlimit64, 0, RLIMIT_CORE, &no_core, NULL);

    proc_fd = rt_lift(rt_open("/proc", O_PATH | O_DIRECTORY));
    prefault_stack();
    add_tid_word();
    load_unwinder();
    warm_up();
    fl_state.runtime_pte_kb = vm_pte_kb();
    fl_state.locks_addr = (uint64_t)(uintptr_t)fl_locks;
    fl_state.mutex_size = sizeof(pthread_mutex_t);
    fl_state.stdout_wbase_addr = (uint64_t)(uintptr_t)&stdout->_IO_write_base;
    fl_state.stdout_wptr_addr = (uint64_t)(uintptr_t)&stdout->_IO_write_ptr;
    fl_state.environ_addr = (uint64_t)(uintptr_t)&environ;
    drop_forklab_variables(); /* the scenario's environment starts empty */

    struct task t = {ch, 1, -1};
    errno = 0; /* a fresh image: errno starts at 0 */
    send_hello(&t, FL_O_IMAGE, 0, token ? atoll(token) : 0);
    task_loop(&t);
}
