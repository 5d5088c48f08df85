/* forklab-bench: how long one way of creating a process takes, measured in C
 * so that nothing of Python's sits between the clock and the call.
 *
 *   forklab-bench METHOD [--size BYTES] [--touch write|read|none] [--thp]
 *                 [--maps N] [--maps-touch write|none] [--fds N] [--threads N]
 *                 [--reps N] [--warmup N] [--retouch] [--evict BYTES]
 *
 * It maps SIZE bytes of private anonymous memory and touches every page, adds
 * N one-page mappings, N open fds and N sleeping threads, then times REPS
 * creations by METHOD and prints one line per repetition: the microseconds,
 * as forklab's spawn_us means them (docs/scenario-language.md):
 *
 *   fork            the fork() call in the parent; the child _exits
 *   fork_exec       fork(), until the child's execve of /bin/true has closed
 *                   its close-on-exec fds (a pipe the parent reads sees EOF)
 *   vfork_exec      vfork(), until the parent resumes: the child has exec'd
 *   vfork           vfork() until the child runs; the child _exits
 *   posix_spawn     the whole posix_spawn() of /bin/true
 *   clone_vm_vfork  clone(CLONE_VM|CLONE_VFORK) until the child runs
 *   zygote          fork() in a small helper forked before anything was mapped
 *   exec            execve of /bin/true alone, by a fork child of this process,
 *                   until it closed its close-on-exec fds
 *
 * --retouch writes the SIZE bytes again before each repetition: a fork after
 * it must write-protect every page in the parent, where a fork after a fork
 * finds them read-only already.
 *
 * --evict BYTES maps and writes that many bytes of fresh memory before each
 * repetition (unmapped after it): the call finds the CPU's caches full of
 * other data, as a scenario's call does after a `write` of a large new
 * mapping. fork leaves that memory out (MADV_DONTFORK): only the caches
 * change, not what the call copies.
 *
 * Mappings are placed as forklab places a scenario's (forklab/layout.py):
 * each on a fresh 1 GiB boundary from 16 TiB, with 1 GiB free after it.
 *
 * Every child is reaped before the next repetition and before exit. SIGINT,
 * SIGTERM and SIGHUP stop the run between repetitions (status 130); errors go
 * to stderr with status 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE 4096UL
#define GIB (1UL << 30)
#define REGION_BASE 0x100000000000UL /* 16 TiB, as forklab/layout.py */
#define TRUE_PATH "/bin/true"
#define CHILD_STACK (64 * 1024)

extern char **environ;

static volatile sig_atomic_t stopping;
static uintptr_t cursor = REGION_BASE;
static char *true_argv[] = {"true", NULL};

static void fail(const char *what)
{
    fprintf(stderr, "forklab-bench: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void usage(const char *why)
{
    fprintf(stderr, "forklab-bench: %s\n", why);
    exit(2);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static void reap(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail("waitpid");
}

/* Read until EOF: the other ends of the pipe are all closed. */
static void wait_eof(int fd)
{
    char buf[64];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return;
        if (n < 0 && errno != EINTR)
            fail("read");
    }
}

/* ------------------------------------------------------------ the parent's state */

static char *map_next(size_t len, int thp)
{
    void *want = (void *)cursor;
    char *p = mmap(want, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        fail("mmap");
    if (p != want)
        usage("mmap did not place the mapping where asked (kernel too old?)");
    if (madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0)
        fail("madvise");
    cursor += ((len + GIB - 1) / GIB) * GIB + GIB;
    return p;
}

static void touch(char *p, size_t len, char how)
{
    volatile char *v = p;
    for (size_t off = 0; off < len; off += PAGE) {
        if (how == 'w')
            v[off] = 1;
        else if (how == 'r')
            (void)v[off];
    }
}

/* A fresh buffer of len bytes written one byte a page, as a scenario's `write`
 * of a new mapping does: each page is zeroed by the fault that maps it. fork
 * leaves it out (MADV_DONTFORK). */
static char *evict(size_t len)
{
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail("mmap");
    if (madvise(p, len, MADV_DONTFORK) != 0)
        fail("madvise");
    touch(p, len, 'w');
    return p;
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

/* ------------------------------------------------------------ the methods */

static double time_fork(void)
{
    int64_t t0 = now_ns();
    pid_t pid = fork();
    int64_t t1 = now_ns();
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        fail("fork");
    reap(pid);
    return (double)(t1 - t0) / 1000;
}

/* fork (timed from t0 when start_at_fork, else from the child's own stamp just
 * before execve), until the child's exec closes the close-on-exec pipe. */
static double time_fork_exec(int start_at_fork, volatile int64_t *stamp)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        fail("pipe2");
    int64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        if (stamp)
            *stamp = now_ns();
        execve(TRUE_PATH, true_argv, environ);
        _exit(127);
    }
    if (pid < 0)
        fail("fork");
    close(p[1]);
    wait_eof(p[0]);
    int64_t t1 = now_ns();
    close(p[0]);
    reap(pid);
    return (double)(t1 - (start_at_fork ? t0 : *stamp)) / 1000;
}

static double time_vfork_exec(void)
{
    int64_t t0 = now_ns();
    pid_t pid = vfork();
    if (pid == 0) {
        execve(TRUE_PATH, true_argv, environ);
        _exit(127);
    }
    int64_t t1 = now_ns();
    if (pid < 0)
        fail("vfork");
    reap(pid);
    return (double)(t1 - t0) / 1000;
}

static double time_vfork(volatile int64_t *stamp)
{
    int64_t t0 = now_ns();
    pid_t pid = vfork();
    if (pid == 0) {
        *stamp = now_ns();
        _exit(0);
    }
    if (pid < 0)
        fail("vfork");
    reap(pid);
    return (double)(*stamp - t0) / 1000;
}

static double time_posix_spawn(void)
{
    pid_t pid;
    int64_t t0 = now_ns();
    int err = posix_spawn(&pid, TRUE_PATH, NULL, NULL, true_argv, environ);
    int64_t t1 = now_ns();
    if (err) {
        errno = err;
        fail("posix_spawn");
    }
    reap(pid);
    return (double)(t1 - t0) / 1000;
}

struct clone_arg {
    int64_t t0;
    int64_t running; /* written by the child: it shares this memory */
};

static int clone_child(void *arg)
{
    struct clone_arg *a = arg;
    a->running = now_ns();
    _exit(0);
}

static double time_clone_vm_vfork(char *stack)
{
    struct clone_arg a = {0, 0};
    a.t0 = now_ns();
    pid_t pid = clone(clone_child, stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    if (pid < 0)
        fail("clone");
    reap(pid);
    return (double)(a.running - a.t0) / 1000;
}

/* The zygote: forked before anything is mapped; for each request byte it
 * forks a child that _exits at once, times its own fork() call, reaps the
 * child and replies with the nanoseconds. It ends at EOF on its request pipe,
 * or with its parent. */
struct zygote {
    pid_t pid;
    int req, resp;
};

static struct zygote start_zygote(void)
{
    int req[2], resp[2];
    if (pipe2(req, O_CLOEXEC) != 0 || pipe2(resp, O_CLOEXEC) != 0)
        fail("pipe2");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
        signal(SIGINT, SIG_IGN); /* the parent decides when to stop */
        close(req[1]);
        close(resp[0]);
        char c;
        while (read(req[0], &c, 1) == 1) {
            int64_t t0 = now_ns();
            pid_t child = fork();
            int64_t t1 = now_ns();
            if (child == 0)
                _exit(0);
            int64_t ns = child < 0 ? -1 : t1 - t0;
            if (child > 0)
                reap(child);
            if (write(resp[1], &ns, sizeof ns) != sizeof ns)
                _exit(2);
        }
        _exit(0);
    }
    close(req[0]);
    close(resp[1]);
    return (struct zygote){pid, req[1], resp[0]};
}

static double time_zygote(struct zygote *z)
{
    char c = 1;
    int64_t ns;
    if (write(z->req, &c, 1) != 1)
        fail("write to the zygote");
    ssize_t n;
    while ((n = read(z->resp, &ns, sizeof ns)) < 0 && errno == EINTR)
        ;
    if (n != sizeof ns || ns < 0)
        usage("the zygote could not fork");
    return (double)ns / 1000;
}

static void stop_zygote(struct zygote *z)
{
    close(z->req);
    close(z->resp);
    reap(z->pid);
}

/* ------------------------------------------------------------ main */

static long number(const char *text, const char *what)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || v < 0)
        usage(what);
    return (long)v;
}

/* Run on one CPU, as every process of a scenario does on the real backend, so
 * the times are the ones forklab verify compares. A child that must start on
 * another CPU waits for it to wake: in a VM that is an interrupt through the
 * hypervisor, tens to hundreds of microseconds of noise on a 20 us vfork. */
static void pin_to_first_cpu(void)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &allowed)) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            sched_setaffinity(0, sizeof one, &one);
            return;
        }
    }
}

int main(int argc, char **argv)
{
    const char *method = NULL;
    size_t size = 0, evict_size = 0;
    char how = 'w', maps_how = 'n';
    int thp = 0, retouch = 0;
    long maps = 0, fds = 0, threads = 0, reps = 11, warmup = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--thp") == 0) {
            thp = 1;
            continue;
        }
        if (strcmp(a, "--retouch") == 0) {
            retouch = 1;
            continue;
        }
        if (a[0] != '-') {
            method = a;
            continue;
        }
        if (!v)
            usage("an option needs a value");
        i++;
        if (strcmp(a, "--size") == 0)
            size = (size_t)number(v, "--size: a number of bytes");
        else if (strcmp(a, "--touch") == 0 || strcmp(a, "--maps-touch") == 0) {
            if (strcmp(v, "write") && strcmp(v, "read") && strcmp(v, "none"))
                usage("--touch: write, read or none");
            *(strcmp(a, "--touch") == 0 ? &how : &maps_how) = v[0];
        } else if (strcmp(a, "--maps") == 0)
            maps = number(v, "--maps: a count");
        else if (strcmp(a, "--fds") == 0)
            fds = number(v, "--fds: a count");
        else if (strcmp(a, "--threads") == 0)
            threads = number(v, "--threads: a count");
        else if (strcmp(a, "--reps") == 0)
            reps = number(v, "--reps: a count");
        else if (strcmp(a, "--evict") == 0)
            evict_size = (size_t)number(v, "--evict: a number of bytes");
        else if (strcmp(a, "--warmup") == 0)
            warmup = number(v, "--warmup: a count");
        else
            usage("unknown option");
    }
    if (!method)
        usage("which method? fork fork_exec vfork vfork_exec posix_spawn clone_vm_vfork zygote exec");

    pin_to_first_cpu();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    int is_zygote = strcmp(method, "zygote") == 0;
    struct zygote z = {-1, -1, -1};
    if (is_zygote)
        z = start_zygote();

    /* Only the methods that need them get a shared page for the child's stamp
     * (exec, vfork) or a stack for clone: the parent of a timed fork has nothing
     * the harness added, so its fork costs what a plain program's does. */
    volatile int64_t *stamp = NULL;
    char *stack = NULL;
    if (strcmp(method, "exec") == 0 || strcmp(method, "vfork") == 0) {
        stamp = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (stamp == MAP_FAILED)
            fail("mmap");
    }
    if (strcmp(method, "clone_vm_vfork") == 0) {
        stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED)
            fail("mmap");
        memset(stack, 0, CHILD_STACK);
    }

    char *heap = NULL;
    if (size) {
        heap = map_next(size, thp);
        touch(heap, size, how);
    }
    for (long i = 0; i < maps; i++)
        touch(map_next(PAGE, 0), PAGE, maps_how);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0)
        fail("open /dev/null");
    for (long i = 1; i < fds; i++)
        if (dup(devnull) < 0)
            fail("dup");
    if (fds == 0)
        close(devnull);
    for (long i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, sleeper, NULL) != 0)
            usage("pthread_create failed");
    }

    int status = 0;
    for (long i = -warmup; i < reps; i++) {
        if (stopping) {
            status = 130;
            break;
        }
        if (retouch && heap)
            touch(heap, size, 'w');
        char *evicted = evict_size ? evict(evict_size) : NULL;
        double us;
        if (strcmp(method, "fork") == 0)
            us = time_fork();
        else if (strcmp(method, "fork_exec") == 0)
            us = time_fork_exec(1, NULL);
        else if (strcmp(method, "exec") == 0)
            us = time_fork_exec(0, stamp);
        else if (strcmp(method, "vfork") == 0)
            us = time_vfork(stamp);
        else if (strcmp(method, "vfork_exec") == 0)
            us = time_vfork_exec();
        else if (strcmp(method, "posix_spawn") == 0)
            us = time_posix_spawn();
        else if (strcmp(method, "clone_vm_vfork") == 0)
            us = time_clone_vm_vfork(stack);
        else if (is_zygote)
            us = time_zygote(&z);
        else
            usage("unknown method");
        if (evicted && munmap(evicted, evict_size) != 0)
            fail("munmap");
        if (i >= 0) {
            printf("%.3f\n", us);
            fflush(stdout);
        }
    }
    if (is_zygote)
        stop_zygote(&z);
    return status;
}
