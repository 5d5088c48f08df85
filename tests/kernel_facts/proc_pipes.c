/* proc_pipes.c -- writers on a full pipe or a pipe nobody reads: stdio's
 * flushes (printf, exit), write(2) itself, and GNU cat.
 *
 *  exit_flush.*   exit() flushes stdout into a pipe with no reader: SIGPIPE ends
 *                 the process, or (SIGPIPE ignored) EPIPE and exit()'s status.
 *  vfork_flush.*  the same in a vfork child: the parent's FILE afterwards
 *                 (__fpending, __fbufsize): killed inside write(2), the child
 *                 never returns to libio, so the bytes are still buffered.
 *  stdio_full.*   exit() and printf sleep in write(2) while the pipe is full.
 *  write_room.*   write(2) of n > free room writes what fits and sleeps for the
 *                 rest; n <= PIPE_BUF is atomic (nothing written until it fits).
 *  cat_*          GNU cat: its status on a broken pipe (SIGPIPE default, ignored,
 *                 blocked), with its input as its output, the offset it shares.
 *  cat_full.*     cat sleeping in write(2) on a full pipe reads nothing more.
 */
#include "proc_common.h"

#include <stdio_ext.h>
#include <sys/ioctl.h>

static const char PAGE4K[4096] = {0};

static int in_pipe(int fd)
{
    int n = -1;
    ioctl(fd, FIONREAD, &n);
    return n;
}

static void status_kv(const char *prefix, int st)
{
    char k[128];
    snprintf(k, sizeof k, "%s.term_signal", prefix);
    kv(k, "%d", st >= 0 && WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    snprintf(k, sizeof k, "%s.exit_code", prefix);
    kv(k, "%d", st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void fill(int fd, int pages)
{
    for (int i = 0; i < pages; i++)
        if (write(fd, PAGE4K, sizeof PAGE4K) != (ssize_t)sizeof PAGE4K)
            _exit(80);
}

/* ---- exit() flushing into a pipe nobody reads ---- */
static void exit_flush(const char *prefix, int ignore)
{
    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    close(p[0]);
    pid_t c = fork();
    if (c == 0) {
        child_guard();
        if (ignore)
            signal(SIGPIPE, SIG_IGN);
        dup2(p[1], 1);
        close(p[1]);
        printf("x");
        exit(3);
    }
    close(p[1]);
    status_kv(prefix, reap(c, 2000));
}

/* A helper whose stdout is the broken pipe vforks a child that calls exit(). */
static void vfork_flush(const char *prefix, int ignore)
{
    int rep[2];
    if (pipe(rep) < 0)
        _exit(2);
    pid_t h = fork();
    if (h == 0) {
        child_guard();
        close(rep[0]);
        report_fd = rep[1];
        if (ignore)
            signal(SIGPIPE, SIG_IGN);
        int p[2];
        if (pipe(p) < 0)
            _exit(2);
        close(p[0]);
        dup2(p[1], 1);
        close(p[1]);
        printf("y");
        char k[128];
        snprintf(k, sizeof k, "%s.bufsize_before", prefix);
        kv(k, "%zu", __fbufsize(stdout));
        pid_t c = vfork();
        if (c == 0)
            exit(5);
        int st = -1;
        waitpid(c, &st, 0);
        status_kv(prefix, st);
        snprintf(k, sizeof k, "%s.pending_after", prefix);
        kv(k, "%zu", __fpending(stdout));
        snprintf(k, sizeof k, "%s.bufsize_after", prefix);
        kv(k, "%zu", __fbufsize(stdout));
        _exit(0);  /* never flush the test's stdout */
    }
    close(rep[1]);
    char buf[1024];
    ssize_t n;
    while ((n = read(rep[0], buf, sizeof buf)) > 0)
        if (write(1, buf, n) != n)
            _exit(90);
    close(rep[0]);
    reap(h, 2000);
}

/* ---- stdio on a full pipe ---- */
static void stdio_full(void)
{
    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    pid_t c = fork();
    if (c == 0) {
        child_guard();
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        fill(1, 16);
        printf("a");
        exit(7);
    }
    close(p[1]);
    kv("stdio_full.exit_sleeps_in_write", "%d", wait_blocked(pdir(c), SYS_write, 2000));
    kv("stdio_full.in_pipe_while_exit_sleeps", "%d", in_pipe(p[0]));
    char buf[65536];
    ssize_t first = read(p[0], buf, sizeof buf);
    kv("stdio_full.first_read", "%zd", first);
    status_kv("stdio_full", reap(c, 2000));
    ssize_t rest = read(p[0], buf, sizeof buf);
    kv("stdio_full.rest", "%.*s", (int)(rest > 0 ? rest : 0), buf);
    close(p[0]);

    /* printf of 9000 bytes with 15 pages waiting: its two whole pages go in one
     * write(2), one fits, and printf sleeps in the middle of the call */
    if (pipe(p) < 0)
        _exit(2);
    c = fork();
    if (c == 0) {
        child_guard();
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        fill(1, 15);
        static char big[9000];
        memset(big, 'y', sizeof big);
        fwrite(big, 1, sizeof big, stdout);
        pause();
        _exit(0);
    }
    close(p[1]);
    kv("stdio_printf.sleeps_in_write", "%d", wait_blocked(pdir(c), SYS_write, 2000));
    kv("stdio_printf.in_pipe_while_asleep", "%d", in_pipe(p[0]));
    kv("stdio_printf.first_read", "%zd", read(p[0], buf, sizeof buf));
    kv("stdio_printf.back_in_pause", "%d", wait_blocked(pdir(c), SYS_pause, 2000));
    kv("stdio_printf.then_in_pipe", "%d", in_pipe(p[0]));
    kill(c, SIGKILL);
    reap(c, 2000);
    close(p[0]);
}

/* ---- write(2): partial above PIPE_BUF, atomic up to it ---- */
static void write_room(const char *prefix, int chunk, int chunks, int size)
{
    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    pid_t c = fork();
    if (c == 0) {
        child_guard();
        close(p[0]);
        static char buf[16384];
        for (int i = 0; i < chunks; i++)
            if (write(p[1], buf, chunk) != chunk)
                _exit(80);
        if (write(p[1], buf, size) != size)
            _exit(81);
        pause();
        _exit(0);
    }
    close(p[1]);
    char k[128];
    snprintf(k, sizeof k, "%s.sleeps_in_write", prefix);
    kv(k, "%d", wait_blocked(pdir(c), SYS_write, 2000));
    snprintf(k, sizeof k, "%s.in_pipe_while_asleep", prefix);
    kv(k, "%d", in_pipe(p[0]));
    kill(c, SIGKILL);
    reap(c, 2000);
    close(p[0]);
}

/* ---- GNU cat ---- */
enum { SIG_DEFAULT, SIG_IGNORED, SIG_BLOCKED };

/* fork, set up fds 0 and 1 (and stderr into errp, if given), exec cat */
static pid_t start_cat(int in, int out, int sigpipe, int errp)
{
    pid_t c = fork();
    if (c == 0) {
        child_guard();
        if (sigpipe == SIG_IGNORED)
            signal(SIGPIPE, SIG_IGN);
        if (sigpipe == SIG_BLOCKED) {
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, SIGPIPE);
            sigprocmask(SIG_BLOCK, &s, NULL);
        }
        int err = errp >= 0 ? errp : open("/dev/null", O_WRONLY);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execl("/bin/cat", "cat", (char *)NULL);
        _exit(127);
    }
    return c;
}

static void cat_broken_pipe(const char *prefix, int sigpipe)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        _exit(2);
    close(out[0]);
    if (write(in[1], "data", 4) != 4)
        _exit(2);
    close(in[1]);
    pid_t c = start_cat(in[0], out[1], sigpipe, -1);
    close(in[0]);
    close(out[1]);
    status_kv(prefix, reap(c, 2000));
}

static void cat_files(void)
{
    int f = open("cat-log", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (f < 0 || write(f, "abc", 3) != 3)
        _exit(2);
    /* input and output the same file, input read from the start */
    int in = open("cat-log", O_RDONLY | O_CLOEXEC);
    int errp[2];
    if (pipe2(errp, O_CLOEXEC) < 0)
        _exit(2);
    pid_t c = start_cat(in, f, SIG_DEFAULT, errp[1]);
    close(errp[1]);
    status_kv("cat_same_file", reap(c, 2000));
    char msg[256];
    ssize_t n = read(errp[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = 0;
    char *nl = strchr(msg, '\n');
    if (nl)
        *nl = 0;
    kv("cat_same_file.stderr", "%s", msg);
    close(errp[0]);
    struct stat sb;
    fstat(f, &sb);
    kv("cat_same_file.size_after", "%lld", (long long)sb.st_size);

    /* one open file as input and output, its offset at the end: nothing to copy */
    c = start_cat(f, f, SIG_DEFAULT, -1);
    status_kv("cat_same_open_file_at_end", reap(c, 2000));
    fstat(f, &sb);
    kv("cat_same_open_file_at_end.size_after", "%lld", (long long)sb.st_size);

    /* the offset cat shares with its parent: read to the end */
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    c = start_cat(in, devnull, SIG_DEFAULT, -1);
    status_kv("cat_shared_offset", reap(c, 2000));
    kv("cat_shared_offset.parent_offset", "%lld", (long long)lseek(in, 0, SEEK_CUR));
    close(devnull);
    close(in);
    close(f);
    unlink("cat-log");

    /* stdout read-only: fails only when there is something to write */
    int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
    c = start_cat(ro, ro, SIG_DEFAULT, -1);
    status_kv("cat_read_only_stdout_empty_input", reap(c, 2000));
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0 || write(p[1], "data", 4) != 4)
        _exit(2);
    close(p[1]);
    c = start_cat(p[0], ro, SIG_DEFAULT, -1);
    status_kv("cat_read_only_stdout_with_input", reap(c, 2000));
    close(p[0]);
    close(ro);
}

static void cat_full(void)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        _exit(2);
    pid_t c = start_cat(in[0], out[1], SIG_DEFAULT, -1);
    close(in[0]);
    close(out[1]);
    fill(in[1], 16);
    long end = now_ms() + 2000;
    while (in_pipe(out[0]) < 65536 && now_ms() < end)
        sleep_ms(2);
    kv("cat_full.output_after_16_pages", "%d", in_pipe(out[0]));
    fill(in[1], 1);
    kv("cat_full.sleeps_in_write", "%d", wait_blocked(pdir(c), SYS_write, 2000));
    kv("cat_full.input_while_asleep", "%d", in_pipe(in[1]));
    /* it reads nothing meanwhile: its input takes 16 pages more, not one byte beyond */
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    int room = 0;
    while (write(in[1], PAGE4K, sizeof PAGE4K) == (ssize_t)sizeof PAGE4K)
        room += (int)sizeof PAGE4K;
    kv("cat_full.input_room_while_asleep", "%d", room);
    close(in[1]);
    close(out[0]);
    kill(c, SIGKILL);
    reap(c, 2000);
}

int main(void)
{
    clean_signals();
    exit_flush("exit_flush", 0);
    exit_flush("exit_flush_ignored", 1);
    vfork_flush("vfork_flush", 0);
    vfork_flush("vfork_flush_ignored", 1);
    stdio_full();
    write_room("write_room_partial", 4096, 15, 10000);
    write_room("write_room_atomic", 4000, 16, 100);
    cat_broken_pipe("cat_sigpipe_default", SIG_DEFAULT);
    cat_broken_pipe("cat_sigpipe_ignored", SIG_IGNORED);
    cat_broken_pipe("cat_sigpipe_blocked", SIG_BLOCKED);
    cat_files();
    cat_full();
    return 0;
}
