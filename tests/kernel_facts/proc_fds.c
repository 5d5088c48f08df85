/* proc_fds.c -- pipes and EOF across fork/exec, close-on-exec bookkeeping
 * (close_range, dup family) and the basic fd error numbers, SIGPIPE/EPIPE.
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

static const char *ename(int e)
{
    if (e == 0)
        return "0";
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

static int cloexec(int fd)
{
    int f = fcntl(fd, F_GETFD);
    return f < 0 ? -1 : (f & FD_CLOEXEC) != 0;
}

/* ---- Q11: reader blocks while any write end is open ---- */
/* mode 0: child holds the write end, closes it when ctl reaches EOF.
 * mode 1: write end is O_CLOEXEC, child execs /bin/sleep.
 * mode 2: write end inherited WITHOUT cloexec, child execs /bin/sleep. */
static void pipe_eof(const char *prefix, int mode)
{
    int ctl[2];
    if (pipe(ctl) < 0)
        _exit(2);
    pid_t s = fork();
    if (s == 0) {
        child_guard();
        close(ctl[1]);
        int p[2];
        if (pipe2(p, mode == 1 ? O_CLOEXEC : 0) < 0)
            _exit(2);
        pid_t c = fork();
        if (c == 0) {
            child_guard();
            close(p[0]);
            if (mode == 0) {
                char ch;
                while (read(ctl[0], &ch, 1) < 0 && errno == EINTR)
                    ;
                close(p[1]);
                pause();          /* still alive, write end gone */
                _exit(0);
            }
            execl("/bin/sleep", "sleep", "5", (char *)NULL);
            _exit(127);
        }
        close(p[1]);
        char k[128];
        if (mode == 2) {
            struct pollfd pf = {p[0], POLLIN, 0};
            int r = poll(&pf, 1, 500);
            snprintf(k, sizeof k, "%s.eof_within_500ms", prefix);
            kv(k, "%d", r == 1);
            snprintf(k, sizeof k, "%s.child_is_sleep", prefix);
            kv(k, "%d", wait_comm(c, "sleep", 1000));
        } else {
            char buf[8];
            ssize_t n = read(p[0], buf, sizeof buf);   /* blocks */
            snprintf(k, sizeof k, "%s.read_returned", prefix);
            kv(k, "%zd", n);
            char st = proc_state(pdir(c));
            snprintf(k, sizeof k, "%s.child_alive_at_eof", prefix);
            kv(k, "%d", st == 'S' || st == 'R');
            if (mode == 1) {
                snprintf(k, sizeof k, "%s.child_is_sleep", prefix);
                kv(k, "%d", wait_comm(c, "sleep", 1000));
            }
        }
        kill(c, SIGKILL);
        reap(c, 2000);
        _exit(0);
    }
    close(ctl[0]);
    if (mode == 0) {
        char k[128], v[64];
        snprintf(k, sizeof k, "%s.reader_blocked", prefix);
        kv(k, "%d", wait_blocked(pdir(s), 0, 2000));
        sleep_ms(100);
        snprintf(k, sizeof k, "%s.reader_state", prefix);
        kv(k, "%c", proc_state(pdir(s)));
        snprintf(k, sizeof k, "%s.reader_syscall_nr", prefix);
        kv(k, "%ld", proc_syscall(pdir(s)));
        proc_wchan(pdir(s), v, sizeof v);
        snprintf(k, sizeof k, "%s.reader_wchan", prefix);
        kv(k, "%s", v);
    }
    close(ctl[1]);
    reap(s, 5000);
}

/* ---- Q14: close-on-exec bookkeeping ---- */
static void cloexec_facts(void)
{
    int a = open("/dev/null", O_RDONLY);
    int b = open("/dev/null", O_RDONLY);
    kv("close_range.before", "%d,%d", cloexec(a), cloexec(b));
    int r = close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    kv("close_range.return", "%d", r);
    kv("close_range.after", "%d,%d", cloexec(a), cloexec(b));
    kv("close_range.fds_still_open", "%d", fcntl(a, F_GETFD) >= 0 && fcntl(b, F_GETFD) >= 0);
    kv("close_range.stdio_untouched", "%d,%d,%d", cloexec(0), cloexec(1), cloexec(2));

    int d = dup(a);
    kv("dup.cloexec", "%d", cloexec(d));
    kv("dup2.cloexec", "%d", cloexec(dup2(a, 20)));
    kv("dup3_O_CLOEXEC.cloexec", "%d", cloexec(dup3(a, 21, O_CLOEXEC)));
    kv("dup3_0.cloexec", "%d", cloexec(dup3(a, 22, 0)));
    kv("F_DUPFD.cloexec", "%d", cloexec(fcntl(a, F_DUPFD, 0)));
    kv("F_DUPFD_CLOEXEC.cloexec", "%d", cloexec(fcntl(a, F_DUPFD_CLOEXEC, 0)));
    errno = 0;
    r = dup2(a, a);
    kv("dup2_same_fd.return_is_fd", "%d", r == a);
    kv("dup2_same_fd.cloexec_kept", "%d", cloexec(a));
    errno = 0;
    r = dup3(a, a, 0);
    kv("dup3_same_fd.errno", "%s", r < 0 ? ename(errno) : "0");

    /* dup returns the lowest free number. */
    close(b);
    kv("dup.lowest_free", "%d", dup(a) == b);

    close_range(3, ~0U, 0);
}

static void errno_facts(void)
{
    errno = 0;
    int fd = open("does_not_exist", O_RDONLY);
    kv("open_missing.errno", "%s", fd < 0 ? ename(errno) : "opened");
    fd = open("created", O_WRONLY | O_CREAT, 0644);
    char c;
    errno = 0;
    ssize_t n = read(fd, &c, 1);
    kv("read_on_wronly.errno", "%s", n < 0 ? ename(errno) : "ok");
    close(fd);
    fd = open("created", O_RDONLY);
    errno = 0;
    n = write(fd, "x", 1);
    kv("write_on_rdonly.errno", "%s", n < 0 ? ename(errno) : "ok");
    close(fd);
    errno = 0;
    n = read(fd, &c, 1);
    kv("read_on_closed.errno", "%s", n < 0 ? ename(errno) : "ok");
    errno = 0;
    kv("close_closed.errno", "%s", close(fd) < 0 ? ename(errno) : "ok");
}

/* ---- Q14: writing to a pipe nobody can read ---- */
static volatile sig_atomic_t got_pipe;
static void on_pipe(int s)
{
    (void)s;
    got_pipe++;
}

static void sigpipe_case(const char *prefix, int mode)
{
    int res[2];
    if (pipe(res) < 0)
        _exit(2);
    pid_t c = fork();
    if (c == 0) {
        child_guard();
        close(res[0]);
        if (mode == 1)
            signal(SIGPIPE, SIG_IGN);
        if (mode == 2) {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGPIPE);
            sigprocmask(SIG_BLOCK, &set, NULL);
        }
        if (mode == 3) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_pipe;
            sigaction(SIGPIPE, &sa, NULL);
        }
        int p[2];
        if (pipe(p) < 0)
            _exit(2);
        close(p[0]);
        errno = 0;
        ssize_t n = write(p[1], "x", 1);
        int e = errno;
        char line[256], v1[32], v2[32];
        proc_status("/proc/self", "SigPnd", v1, sizeof v1);
        proc_status("/proc/self", "ShdPnd", v2, sizeof v2);
        int len = snprintf(line, sizeof line, "%s.write=%zd\n%s.errno=%s\n%s.SigPnd=%s\n%s.ShdPnd=%s\n%s.handler_ran=%d\n",
                           prefix, n, prefix, ename(e), prefix, v1, prefix, v2, prefix, (int)got_pipe);
        if (write(res[1], line, len) != len)
            _exit(3);
        _exit(0);
    }
    close(res[1]);
    char buf[1024];
    ssize_t got = 0, n;
    while ((n = read(res[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += n;
    close(res[0]);
    if (got > 0 && write(1, buf, got) != got)
        _exit(2);
    int st = reap(c, 3000);
    char k[128];
    snprintf(k, sizeof k, "%s.writer", prefix);
    if (st >= 0 && WIFSIGNALED(st))
        kv(k, "killed_by_%s", sigabbrev_np(WTERMSIG(st)));
    else if (st >= 0 && WIFEXITED(st))
        kv(k, "exit%d", WEXITSTATUS(st));
    else
        kv(k, "?");
}

int main(void)
{
    alarm(30);
    clean_signals();
    close_range(3, ~0U, 0);
    pipe_eof("pipe_child_holds", 0);
    pipe_eof("pipe_cloexec_exec", 1);
    pipe_eof("pipe_inherited_exec", 2);
    cloexec_facts();
    errno_facts();
    sigpipe_case("sigpipe_default", 0);
    sigpipe_case("sigpipe_ignored", 1);
    sigpipe_case("sigpipe_blocked", 2);
    sigpipe_case("sigpipe_caught", 3);
    return 0;
}
