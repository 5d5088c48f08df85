/* proc_fds.c -- pipes and EOF across fork/exec, close-on-exec bookkeeping
 * (close_range, dup family) and the basic fd error numbers, SIGPIPE/EPIPE.
 */
#include "proc_common.h"

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
