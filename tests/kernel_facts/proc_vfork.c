/* proc_vfork.c -- what a vfork parent looks like while its child has not
 * yet called exec or _exit, and which signals can reach it.
 *
 * Top process T forks a subject S.  S calls vfork(); the vfork child V
 * blocks in read(2) on a control pipe, so S stays suspended inside vfork.
 * T inspects S through /proc, then closes the control pipe to release V.
 * T is made a child subreaper so that V, if S dies first, is reparented to
 * T and can be reaped here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

/* ---- reporting: "key=value" lines written with write(2), never stdio ---- */
static int report_fd = 1;

static __attribute__((unused)) void kv(const char *key, const char *fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s=", key);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof buf - n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    if (write(report_fd, buf, n) != n)
        _exit(90);
}

static __attribute__((unused)) long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static __attribute__((unused)) void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* Start from a known signal state whatever the caller left us. */
static __attribute__((unused)) void clean_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
}

/* Child side: die with the parent so nothing outlives the experiment. */
static __attribute__((unused)) void child_guard(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* Wait for pid at most ms; on timeout SIGKILL it and reap.  Returns the wait
 * status, or -1 if it had to be killed, or -2 if it was not our child. */
static __attribute__((unused)) int reap(pid_t pid, int ms)
{
    long end = now_ms() + ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return -2;
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_ms(2);
    }
}

/* ---- /proc readers; dir is "/proc/PID" or "/proc/PID/task/TID" ---- */
static __attribute__((unused)) int slurp(const char *path, char *buf, size_t sz)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sz - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return (int)n;
}

static __attribute__((unused)) const char *pdir(pid_t pid)
{
    static char d[4][64];
    static int i;
    i = (i + 1) % 4;
    snprintf(d[i], sizeof d[i], "/proc/%d", (int)pid);
    return d[i];
}

/* State letter from DIR/stat ('?' when gone). */
static __attribute__((unused)) char proc_state(const char *dir)
{
    char path[128], buf[1024];
    snprintf(path, sizeof path, "%s/stat", dir);
    if (slurp(path, buf, sizeof buf) < 0)
        return '?';
    char *p = strrchr(buf, ')');
    return p && p[1] && p[2] ? p[2] : '?';
}

/* First field of DIR/syscall: the syscall number it is blocked in;
 * -2 "running", -3 unreadable; -1 means blocked but not in a syscall. */
static __attribute__((unused)) long proc_syscall(const char *dir)
{
    char path[128], buf[512];
    snprintf(path, sizeof path, "%s/syscall", dir);
    if (slurp(path, buf, sizeof buf) < 0)
        return -3;
    if (strncmp(buf, "running", 7) == 0)
        return -2;
    return strtol(buf, NULL, 10);
}

static __attribute__((unused)) void proc_wchan(const char *dir, char *out, size_t sz)
{
    char path[128];
    snprintf(path, sizeof path, "%s/wchan", dir);
    if (slurp(path, out, sz) < 0)
        snprintf(out, sz, "?");
}

/* Value of "Field:" in DIR/status, e.g. field "SigPnd". */
static __attribute__((unused)) void proc_status(const char *dir, const char *field, char *out, size_t sz)
{
    char path[128], buf[4096];
    snprintf(path, sizeof path, "%s/status", dir);
    snprintf(out, sz, "?");
    if (slurp(path, buf, sizeof buf) < 0)
        return;
    size_t fl = strlen(field);
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            char *v = line + fl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(out, sz, "%s", v);
            return;
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* Poll until DIR sleeps (S or D) inside syscall nr (or any if nr < 0). */
static __attribute__((unused)) int wait_blocked(const char *dir, long nr, int ms)
{
    long end = now_ms() + ms;
    while (now_ms() < end) {
        char s = proc_state(dir);
        if ((s == 'S' || s == 'D') && (nr < 0 || proc_syscall(dir) == nr))
            return 1;
        sleep_ms(2);
    }
    return 0;
}

/* Poll until /proc/PID/comm equals name (e.g. after an exec). */
static __attribute__((unused)) int wait_comm(pid_t pid, const char *name, int ms)
{
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    long end = now_ms() + ms;
    while (now_ms() < end) {
        if (slurp(path, buf, sizeof buf) > 0) {
            buf[strcspn(buf, "\n")] = 0;
            if (strcmp(buf, name) == 0)
                return 1;
        }
        sleep_ms(2);
    }
    return 0;
}

static volatile sig_atomic_t handled;
static void on_usr1(int s)
{
    (void)s;
    handled = 1;
}

/* Start S; returns S's pid and V's pid through *vpid; ctl is V's leash. */
static pid_t start_subject(pid_t *vpid, int *ctl_w)
{
    int ctl[2], info[2];
    if (pipe(ctl) < 0 || pipe(info) < 0)
        _exit(2);
    pid_t s = fork();
    if (s == 0) {
        child_guard();
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);   /* SIGQUIT case: no core file */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
        close(ctl[1]);
        close(info[0]);
        pid_t v = vfork();
        if (v == 0) {
            pid_t me = getpid();
            if (write(info[1], &me, sizeof me) != sizeof me)
                _exit(3);
            char c;
            while (read(ctl[0], &c, 1) < 0 && errno == EINTR)
                ;
            _exit(0);
        }
        /* back in S after V is gone: exit 10 + "handler ran" */
        waitpid(v, NULL, 0);
        _exit(10 + handled);
    }
    close(ctl[0]);
    close(info[1]);
    if (read(info[0], vpid, sizeof *vpid) != sizeof *vpid)
        *vpid = -1;
    close(info[0]);
    *ctl_w = ctl[1];
    return s;
}

int main(void)
{
    alarm(30);
    clean_signals();
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char v[128];

    /* Case 1: look at the suspended parent; a caught signal stays pending. */
    pid_t vp, s;
    int ctl;
    s = start_subject(&vp, &ctl);
    kv("vfork_parent.blocked_seen", "%d", wait_blocked(pdir(s), -1, 3000));
    kv("vfork_parent.stat_state", "%c", proc_state(pdir(s)));
    proc_status(pdir(s), "State", v, sizeof v);
    kv("vfork_parent.status_State", "%s", v);
    kv("vfork_parent.syscall_nr", "%ld", proc_syscall(pdir(s)));
    kv("vfork_parent.SYS_vfork", "%d", SYS_vfork);
    proc_wchan(pdir(s), v, sizeof v);
    kv("vfork_parent.wchan", "%s", v);
    wait_blocked(pdir(vp), 0, 3000);
    kv("vfork_child.stat_state", "%c", proc_state(pdir(vp)));
    kv("vfork_child.syscall_nr", "%ld", proc_syscall(pdir(vp)));
    proc_wchan(pdir(vp), v, sizeof v);
    kv("vfork_child.wchan", "%s", v);

    kill(s, SIGUSR1);
    sleep_ms(50);
    kv("vfork_parent_after_sigusr1.stat_state", "%c", proc_state(pdir(s)));
    proc_status(pdir(s), "ShdPnd", v, sizeof v);
    kv("vfork_parent_after_sigusr1.ShdPnd", "%s", v);
    close(ctl);
    int st = reap(s, 3000);
    kv("vfork_parent_after_sigusr1.handler_ran_after_release", "%d",
       st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 11);

    /* Case 2: a signal whose default action kills (SIGTERM) does kill the
     * suspended parent at once; the vfork child carries on. */
    s = start_subject(&vp, &ctl);
    wait_blocked(pdir(s), -1, 3000);
    wait_blocked(pdir(vp), 0, 3000);
    kill(s, SIGTERM);
    st = reap(s, 2000);
    kv("vfork_parent_sigterm.killed_by", "%s",
       st >= 0 && WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "not_killed");
    kv("vfork_parent_sigterm.child_still_blocked", "%c", proc_state(pdir(vp)));
    proc_status(pdir(vp), "PPid", v, sizeof v);
    kv("vfork_parent_sigterm.child_new_parent_is_subreaper", "%d", atoi(v) == getpid());
    close(ctl);
    st = reap(vp, 3000);
    kv("vfork_parent_sigterm.child_exit", "%d", st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    /* Case 3: a fatal signal whose default action also dumps core (SIGQUIT)
     * is NOT turned into an immediate kill: the parent stays in D until the
     * child lets go, and only then dies of it. */
    s = start_subject(&vp, &ctl);
    wait_blocked(pdir(s), -1, 3000);
    wait_blocked(pdir(vp), 0, 3000);
    kill(s, SIGQUIT);
    sleep_ms(100);
    kv("vfork_parent_sigquit.stat_state", "%c", proc_state(pdir(s)));
    proc_status(pdir(s), "ShdPnd", v, sizeof v);
    kv("vfork_parent_sigquit.ShdPnd", "%s", v);
    close(ctl);
    st = reap(s, 2000);
    kv("vfork_parent_sigquit.killed_by_after_release", "%s",
       st >= 0 && WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "not_killed");
    reap(vp, 3000);

    /* Case 4: SIGKILL, too. */
    s = start_subject(&vp, &ctl);
    wait_blocked(pdir(s), -1, 3000);
    kill(s, SIGKILL);
    st = reap(s, 2000);
    kv("vfork_parent_sigkill.killed_by", "%s",
       st >= 0 && WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "not_killed");
    close(ctl);
    reap(vp, 3000);
    return 0;
}
