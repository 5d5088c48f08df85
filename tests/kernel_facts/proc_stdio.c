/* proc_stdio.c -- what happens to stdio buffers across fork, _exit, exec and
 * vfork when stdout is a PIPE (as in `prog | cat`), so glibc fully buffers it.
 *
 * Every case runs in a child whose fd 1 is a pipe.  The child keeps the read
 * end too, so after each printf it can ask the kernel (ioctl FIONREAD) how
 * many bytes have really reached the pipe.  Nobody drains the pipe while the
 * case runs (all outputs are far below the 64 KiB pipe capacity); when the
 * case and all its descendants are gone, the harness reads what was collected.
 *
 * The case reports its own observations on a separate "side" pipe with
 * write(2); the top process forwards them and the collected bytes to its own
 * stdout, again only with write(2), as key=value lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int report_fd = 1;          /* where kv() writes */
static const char *key_prefix = "";  /* "case." inside a case */
static int pipe_rd = -1;           /* read end of the collected pipe */

static void kv(const char *key, const char *fmt, ...)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf, "%s%s=", key_prefix, key);
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

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void clean_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
}

/* Bytes that have reached the collected pipe so far. */
static int in_pipe(void)
{
    int n = -1;
    if (ioctl(pipe_rd, FIONREAD, &n) < 0)
        return -1;
    return n;
}

/* ---------------------------------------------------------------- cases */
/* Each case runs with fd 1 = the collected pipe and must end the process. */

static void c_exit_only(void)
{
    kv("bufsize_before_output", "%zu", __fbufsize(stdout));
    printf("hello\n");
    kv("bufsize", "%zu", __fbufsize(stdout));
    kv("in_pipe_after_printf", "%d", in_pipe());
    struct stat st;
    fstat(1, &st);
    kv("st_blksize", "%ld", (long)st.st_blksize);
    kv("BUFSIZ", "%d", BUFSIZ);
    exit(0);
}

static void c_fork_exit(void)
{
    printf("hello\n");
    kv("in_pipe_after_printf", "%d", in_pipe());
    pid_t p = fork();
    if (p == 0)
        exit(0);
    waitpid(p, NULL, 0);
    kv("in_pipe_after_child_exit", "%d", in_pipe());
    exit(0);
}

static void c_fflush_fork(void)
{
    printf("hello\n");
    fflush(stdout);
    pid_t p = fork();
    if (p == 0)
        exit(0);
    waitpid(p, NULL, 0);
    exit(0);
}

static void c_fork_child__exit(void)
{
    printf("hello\n");
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    exit(0);
}

static void c__exit(void)
{
    printf("hello\n");
    _exit(0);
}

static void c_exec(void)
{
    printf("hello\n");
    execl("/bin/true", "true", (char *)NULL);
    _exit(127);
}

static void c_vfork__exit(void)
{
    printf("hello\n");
    pid_t p = vfork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    kv("in_pipe_after_vfork_child", "%d", in_pipe());
    kv("bufsize_after_vfork_child", "%zu", __fbufsize(stdout));
    exit(0);
}

static void c_vfork_exit(void)
{
    printf("hello\n");
    pid_t p = vfork();
    if (p == 0)
        exit(0);          /* deliberately wrong: runs stdio cleanup in shared memory */
    waitpid(p, NULL, 0);
    kv("in_pipe_after_vfork_child", "%d", in_pipe());
    kv("bufsize_after_vfork_child", "%zu", __fbufsize(stdout));
    printf("after\n");
    kv("in_pipe_after_second_printf", "%d", in_pipe());
    exit(0);
}

static void c_vfork_exec(void)
{
    printf("hello\n");
    pid_t p = vfork();
    if (p == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    waitpid(p, NULL, 0);
    kv("in_pipe_after_vfork_child", "%d", in_pipe());
    exit(0);
}

static void c_linebuf(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("hello\n");
    kv("in_pipe_after_printf", "%d", in_pipe());
    pid_t p = fork();
    if (p == 0)
        exit(0);
    waitpid(p, NULL, 0);
    exit(0);
}

static void c_linebuf_partial(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("partial");
    kv("in_pipe_after_printf", "%d", in_pipe());
    pid_t p = fork();
    if (p == 0)
        exit(0);
    waitpid(p, NULL, 0);
    exit(0);
}

static void c_unbuf(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("hello\n");
    kv("in_pipe_after_printf", "%d", in_pipe());
    pid_t p = fork();
    if (p == 0)
        exit(0);
    waitpid(p, NULL, 0);
    exit(0);
}

static char big[9001];

static void print_n(int n)
{
    memset(big, 'x', n);
    big[n - 1] = '\n';
    big[n] = 0;
    printf("%s", big);
}

static void c_ten_1000(void)
{
    char list[256] = "";
    int len = 0;
    for (int i = 0; i < 10; i++) {
        print_n(1000);
        len += snprintf(list + len, sizeof list - len, "%s%d", i ? "," : "", in_pipe());
    }
    kv("in_pipe_after_each", "%s", list);
    exit(0);
}

static int single_size;
static void c_single(void)
{
    print_n(single_size);
    kv("in_pipe_after_printf", "%d", in_pipe());
    exit(0);
}

static void c_100_then_5000(void)
{
    print_n(100);
    kv("in_pipe_after_first", "%d", in_pipe());
    print_n(5000);
    kv("in_pipe_after_second", "%d", in_pipe());
    exit(0);
}

/* ---------------------------------------------------------------- runner */

static void run_case(const char *name, void (*fn)(void))
{
    int out[2], side[2];
    if (pipe(out) < 0 || pipe(side) < 0)
        _exit(2);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.", name);
    pid_t pid = fork();
    if (pid < 0)
        _exit(2);
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], 1);
        close(out[1]);
        pipe_rd = out[0];
        close(side[0]);
        report_fd = side[1];
        key_prefix = prefix;
        fn();
        _exit(99);
    }
    setpgid(pid, pid);
    close(out[1]);
    close(side[1]);

    /* Forward the case's own reports until every holder of the side pipe is
     * gone (the case and any child it made), bounded. */
    long deadline = now_ms() + 5000;
    char buf[16384];
    int timed_out = 0;
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = {side[0], POLLIN, 0};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        ssize_t n = read(side[0], buf, sizeof buf);
        if (n <= 0)
            break;
        if (write(1, buf, n) != n)
            _exit(2);
    }
    close(side[0]);
    if (timed_out)
        kill(-pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);

    /* Everything is over: now read what reached the collected pipe. */
    size_t got = 0;
    static char coll[65536];
    for (;;) {
        struct pollfd pf = {out[0], POLLIN, 0};
        if (poll(&pf, 1, 2000) <= 0) {
            kill(-pid, SIGKILL);
            timed_out = 1;
            break;
        }
        ssize_t n = read(out[0], coll + got, sizeof coll - 1 - got);
        if (n <= 0)
            break;
        got += n;
    }
    close(out[0]);

    /* Show the collected text with newlines as "\n"; long outputs by size. */
    char esc[256];
    size_t e = 0;
    for (size_t i = 0; i < got && e < sizeof esc - 3; i++) {
        if (coll[i] == '\n') {
            esc[e++] = '\\';
            esc[e++] = 'n';
        } else {
            esc[e++] = coll[i];
        }
    }
    esc[e] = 0;
    char key[160];
    snprintf(key, sizeof key, "%scollected_bytes", prefix);
    kv(key, "%zu", got);
    if (got <= 64) {
        snprintf(key, sizeof key, "%scollected", prefix);
        kv(key, "%s", esc);
    }
    snprintf(key, sizeof key, "%sexit", prefix);
    if (timed_out)
        kv(key, "timeout");
    else if (WIFEXITED(st))
        kv(key, "%d", WEXITSTATUS(st));
    else
        kv(key, "signal%d", WTERMSIG(st));
}

int main(void)
{
    alarm(60);
    clean_signals();
    run_case("exit_only", c_exit_only);
    run_case("fork_exit", c_fork_exit);
    run_case("fflush_fork", c_fflush_fork);
    run_case("fork_child__exit", c_fork_child__exit);
    run_case("_exit", c__exit);
    run_case("exec", c_exec);
    run_case("vfork__exit", c_vfork__exit);
    run_case("vfork_exit", c_vfork_exit);
    run_case("vfork_exec", c_vfork_exec);
    run_case("linebuf", c_linebuf);
    run_case("linebuf_partial", c_linebuf_partial);
    run_case("unbuf", c_unbuf);
    run_case("ten_1000", c_ten_1000);
    int sizes[] = {4095, 4096, 5000, 8192, 9000};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "single_%d", sizes[i]);
        single_size = sizes[i];
        run_case(name, c_single);
    }
    run_case("100_then_5000", c_100_then_5000);
    return 0;
}
