/* proc_death_faults.c -- the minor faults of a process that dies of a fault,
 * and who can still read them.
 *
 * A child maps 8 pages of a 4-page file (shared) and writes every page: the
 * first 4 fault, the 5th is past the end of the file (SIGBUS). A SIGBUS
 * handler reads the process's minor faults (RUSAGE_SELF) at the fatal fault,
 * sends them to the parent, puts SIG_DFL back and returns; the write faults
 * again and the kernel ends the child. Cases:
 *   zombie   the parent neither waits nor ignores SIGCHLD: the zombie's
 *            /proc/PID/stat is read before the parent reaps it;
 *   ignored  the parent ignores SIGCHLD: the child is reaped at once;
 *   waiting  the parent is already blocked in wait4 when the child dies.
 *
 * Keys: CASE.loop_faults (handler count - count before the loop),
 * CASE.signal, CASE.proc_after_exit (zombie|gone, read once the pidfd says
 * the child has exited; not for "waiting", which races the parent's reap),
 * ignored.waitid (what waiting for the child gets), zombie.stat_minus_handler (faults between the
 * handler's count and the end: the fatal fault is not counted),
 * waiting.rusage_minus_handler (what wait4 reports, less the handler's count).
 */
#include "proc_common.h"

#include <sys/mman.h>
#include <sys/resource.h>

#define PAGE 4096

static int rep[2];
static int go_pipe[2];
static char *area;

static long minflt_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static void on_bus(int sig)
{
    long n = minflt_self();
    if (write(rep[1], &n, sizeof n) != sizeof n)
        _exit(91);
    signal(sig, SIG_DFL);
}

/* A fork child's stack pages are write-protected until written: write the
 * stack where the measured part runs and the kernel puts the signal frame,
 * so that only the loop's own accesses fault. */
static __attribute__((noinline)) void write_stack_below(void)
{
    volatile char stack[64 * 1024];
    for (size_t i = 0; i < sizeof stack; i += 512)
        stack[i] = 0;
}

/* Runs where write_stack_below's frame was. */
static __attribute__((noinline)) void measured(void)
{
    char go;
    if (read(go_pipe[0], &go, 1) != 1) /* the parent has its pidfd */
        _exit(94);
    long before = minflt_self();
    if (write(rep[1], &before, sizeof before) != sizeof before)
        _exit(92);
    for (int i = 0; i < 8; i++)
        area[i * PAGE] = 1;
}

static void child(void)
{
    child_guard();
    signal(SIGBUS, on_bus);
    on_bus(0); /* once, so that the handler's own code is in memory */
    signal(SIGBUS, on_bus);
    write_stack_below();
    measured();
    _exit(0); /* never reached */
}

static long read_long(void)
{
    long v = -1;
    if (read(rep[0], &v, sizeof v) != sizeof v)
        return -1;
    return v;
}

/* Wait for the pidfd to say the child has exited, then see what /proc has. */
static const char *after_exit(int pidfd, pid_t pid)
{
    struct pollfd p = {pidfd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1)
        return "?";
    return proc_state(pdir(pid)) == 'Z' ? "zombie" : "gone";
}

static void run_case(const char *name)
{
    char key[128];
    if (pipe(rep) < 0 || pipe(go_pipe) < 0)
        _exit(93);
    int waiting = strcmp(name, "waiting") == 0;
    signal(SIGCHLD, strcmp(name, "ignored") == 0 ? SIG_IGN : SIG_DFL);
    pid_t pid = fork();
    if (pid == 0)
        child();
    /* the pidfd before the child can die: it waits for "go" */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    read_long(); /* the handler's first call, made by the child itself */
    if (write(go_pipe[1], "g", 1) != 1)
        _exit(95);
    long before = read_long();
    long at_fault;
    const char *after;
    long stat_minflt = -1;
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    if (waiting) {
        wait4(pid, &status, 0, &ru);
        at_fault = read_long();
        after = NULL;
    } else {
        at_fault = read_long();
        after = after_exit(pidfd, pid);
        if (strcmp(after, "zombie") == 0) {
            char path[64], buf[1024];
            snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
            if (slurp(path, buf, sizeof buf) > 0) {
                char *p = strrchr(buf, ')');
                /* fields after ')': state ppid pgrp session tty tpgid flags minflt */
                if (p)
                    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %ld", &stat_minflt);
            }
            waitpid(pid, &status, 0);
        } else {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            snprintf(key, sizeof key, "%s.waitid", name);
            kv(key, "%s", waitid(P_PID, pid, &si, WEXITED) == 0 ? "reaped" : ename(errno));
            status = 0;
        }
    }
    snprintf(key, sizeof key, "%s.loop_faults", name);
    kv(key, "%ld", at_fault - before);
    if (after) {
        snprintf(key, sizeof key, "%s.proc_after_exit", name);
        kv(key, "%s", after);
    }
    if (stat_minflt >= 0) {
        snprintf(key, sizeof key, "%s.stat_minus_handler", name);
        kv(key, "%ld", stat_minflt - at_fault);
    }
    if (waiting) {
        snprintf(key, sizeof key, "%s.rusage_minus_handler", name);
        kv(key, "%ld", ru.ru_minflt - at_fault);
    }
    if (status) {
        snprintf(key, sizeof key, "%s.signal", name);
        kv(key, "%s", WIFSIGNALED(status) ? sigabbrev_np(WTERMSIG(status)) : "none");
    }
    close(pidfd);
    close(rep[0]);
    close(rep[1]);
    close(go_pipe[0]);
    close(go_pipe[1]);
    signal(SIGCHLD, SIG_DFL);
}

int main(void)
{
    clean_signals();
    int fd = open("death.bin", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    static char page[PAGE];
    for (int i = 0; i < 4; i++)
        if (write(fd, page, PAGE) != PAGE)
            return 1;
    area = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (area == MAP_FAILED)
        return 1;
    run_case("zombie");
    run_case("ignored");
    run_case("waiting");
    return 0;
}
