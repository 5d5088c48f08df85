/* proc_exit.c -- exit statuses as waitpid reports them, death by signal,
 * and who becomes the parent of an orphan.
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
#include <sys/resource.h>

static void status_case(const char *prefix, int how)
{
    pid_t c = fork();
    if (c == 0) {
        child_guard();
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);   /* no core file: WCOREDUMP 0 */
        switch (how) {
        case 0: exit(3);
        case 1: exit(256 + 3);
        case 2: exit(-1);
        case 3: { volatile int *p = NULL; *p = 1; break; }
        case 4: abort();
        case 5: pause(); break;
        }
        _exit(99);
    }
    if (how == 5) {
        wait_blocked(pdir(c), -1, 2000);
        kill(c, SIGKILL);
    }
    int st = reap(c, 3000);
    char k[128];
    snprintf(k, sizeof k, "%s.raw_status", prefix);
    kv(k, "%d", st);
    snprintf(k, sizeof k, "%s.WIFEXITED", prefix);
    kv(k, "%d", WIFEXITED(st) ? 1 : 0);
    if (WIFEXITED(st)) {
        snprintf(k, sizeof k, "%s.WEXITSTATUS", prefix);
        kv(k, "%d", WEXITSTATUS(st));
    } else if (WIFSIGNALED(st)) {
        snprintf(k, sizeof k, "%s.WTERMSIG", prefix);
        kv(k, "%d", WTERMSIG(st));
        snprintf(k, sizeof k, "%s.WCOREDUMP", prefix);
        kv(k, "%d", WCOREDUMP(st) ? 1 : 0);
    }
}

/* Is pid an ancestor of ours (or init)? */
static int is_ancestor_or_init(pid_t pid)
{
    if (pid == 1)
        return 1;
    pid_t p = getppid();
    for (int i = 0; i < 64 && p > 1; i++) {
        if (p == pid)
            return 1;
        char v[32];
        proc_status(pdir(p), "PPid", v, sizeof v);
        p = atoi(v);
    }
    return 0;
}

/* A forks B and exits; B reports its new parent on the result pipe. */
static void orphan_case(const char *prefix)
{
    int res[2], sync[2];
    if (pipe(res) < 0 || pipe(sync) < 0)
        _exit(2);
    pid_t a = fork();
    if (a == 0) {
        pid_t b = fork();
        if (b == 0) {
            close(res[0]);
            close(sync[0]);
            pid_t old = getppid();
            close(sync[1]);   /* A may exit now */
            long end = now_ms() + 3000;
            while (getppid() == old && now_ms() < end)
                sleep_ms(1);
            pid_t now = getppid();
            int info[3] = {old, now, getpid()};
            if (write(res[1], info, sizeof info) != sizeof info)
                _exit(3);
            _exit(0);
        }
        /* A waits until B has noted its first parent: B holds the only
         * other write end of sync and closes it then. */
        close(res[1]);
        close(sync[1]);
        char ch;
        while (read(sync[0], &ch, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(sync[0]);
    close(sync[1]);
    close(res[1]);
    int st = reap(a, 2000);
    (void)st;
    int info[3] = {-1, -1, -1};
    if (read(res[0], info, sizeof info) != sizeof info)
        info[0] = info[1] = info[2] = -1;
    close(res[0]);
    char k[128], v[64];
    snprintf(k, sizeof k, "%s.old_parent_was_A", prefix);
    kv(k, "%d", info[0] == a);
    snprintf(k, sizeof k, "%s.new_ppid_is_1", prefix);
    kv(k, "%d", info[1] == 1);
    snprintf(k, sizeof k, "%s.new_ppid_is_us", prefix);
    kv(k, "%d", info[1] == getpid());
    snprintf(k, sizeof k, "%s.new_parent_is_ancestor_or_init", prefix);
    kv(k, "%d", is_ancestor_or_init(info[1]));
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", info[1]);
    if (slurp(path, v, sizeof v) < 0)
        snprintf(v, sizeof v, "?");
    v[strcspn(v, "\n")] = 0;
    snprintf(k, sizeof k, "%s.new_parent_comm", prefix);
    kv(k, "%s", v);
    /* B exits right after reporting: reap it if it became our child,
     * otherwise wait until it has exited (reaping is then its new
     * parent's job; this environment's init reaps lazily). */
    if (info[2] > 0) {
        if (info[1] == getpid())
            reap(info[2], 2000);
        long end = now_ms() + 1000;
        char st;
        while ((st = proc_state(pdir(info[2]))) != '?' && st != 'Z' && now_ms() < end)
            sleep_ms(2);
    }
}

int main(void)
{
    alarm(30);
    clean_signals();
    status_case("exit3", 0);
    status_case("exit259", 1);
    status_case("exit_minus1", 2);
    status_case("segv", 3);
    status_case("abort", 4);
    status_case("sigkill", 5);

    int sub = -1;
    prctl(PR_GET_CHILD_SUBREAPER, &sub);
    kv("self.is_subreaper", "%d", sub);
    orphan_case("orphan_plain");
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    orphan_case("orphan_subreaper");
    return 0;
}
