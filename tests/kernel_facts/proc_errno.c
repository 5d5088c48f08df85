/* proc_errno.c -- whose errno is it?  vfork children share the parent's
 * memory (errno included); fork children have their own copy; posix_spawn
 * returns the error number instead of setting errno, and reaps the failed
 * child itself.
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
#include <spawn.h>

extern char **environ;

static void report_children_left(const char *key)
{
    errno = 0;
    int st;
    pid_t r = waitpid(-1, &st, WNOHANG);
    int e = errno;
    char k[128];
    snprintf(k, sizeof k, "%s.waitpid_any", key);
    kv(k, "%d", (int)r);
    snprintf(k, sizeof k, "%s.waitpid_any_errno", key);
    kv(k, "%s", e == ECHILD ? "ECHILD" : e ? strerrorname_np(e) : "0");
}

static const char *ename(int e)
{
    if (e == 0)
        return "0";
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

static void spawn_case(const char *key, const char *path, int use_p,
                       posix_spawn_file_actions_t *fa)
{
    char *argv[] = {(char *)path, NULL};
    pid_t pid = -12345;
    errno = 0;
    int r = use_p ? posix_spawnp(&pid, path, fa, NULL, argv, environ)
                  : posix_spawn(&pid, path, fa, NULL, argv, environ);
    int e = errno;
    char k[128];
    snprintf(k, sizeof k, "%s.return", key);
    kv(k, "%s", ename(r));
    snprintf(k, sizeof k, "%s.errno_after", key);
    kv(k, "%s", ename(e));
    snprintf(k, sizeof k, "%s.pid_written", key);
    kv(k, "%d", pid != -12345);
    if (r == 0) {
        int st = reap(pid, 3000);
        snprintf(k, sizeof k, "%s.child_status", key);
        kv(k, "%s%d", st >= 0 && WIFEXITED(st) ? "exit" : "raw", st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : st);
    }
    report_children_left(key);
}

int main(void)
{
    alarm(30);
    clean_signals();
    char *argv_bad[] = {"nonexistent", NULL};
    char *argv_true[] = {"true", NULL};

    /* 1. vfork child: failed execve writes ENOENT into the shared errno. */
    errno = 0;
    pid_t p = vfork();
    if (p == 0) {
        execve("/nonexistent", argv_bad, environ);
        _exit(127);
    }
    int e = errno;
    int st = reap(p, 3000);
    kv("vfork_failed_exec.parent_errno", "%s", ename(e));
    kv("vfork_failed_exec.child_exit", "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    /* Contrast: vfork child whose exec succeeds leaves errno alone. */
    errno = 0;
    p = vfork();
    if (p == 0) {
        execve("/bin/true", argv_true, environ);
        _exit(127);
    }
    e = errno;
    reap(p, 3000);
    kv("vfork_ok_exec.parent_errno", "%s", ename(e));

    /* 2. fork child: errno after its failed exec is its own copy. */
    int fds[2];
    if (pipe(fds) < 0)
        return 2;
    errno = 0;
    p = fork();
    if (p == 0) {
        child_guard();
        close(fds[0]);
        execve("/nonexistent", argv_bad, environ);
        int ce = errno;
        if (write(fds[1], &ce, sizeof ce) < 0)
            _exit(3);
        _exit(127);
    }
    close(fds[1]);
    int child_errno = -1;
    if (read(fds[0], &child_errno, sizeof child_errno) != sizeof child_errno)
        child_errno = -1;
    close(fds[0]);
    e = errno;
    st = reap(p, 3000);
    kv("fork_failed_exec.child_errno", "%s", ename(child_errno));
    kv("fork_failed_exec.parent_errno", "%s", ename(e));
    kv("fork_failed_exec.child_exit", "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    /* 3. posix_spawn failures come back as the return value. */
    spawn_case("spawn_ok", "/bin/true", 0, NULL);
    spawn_case("spawn_nonexistent", "/nonexistent", 0, NULL);
    spawn_case("spawnp_nonexistent", "no-such-program-forklab", 1, NULL);

    int fd = open("not_executable", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "hello\n", 6) != 6)
        return 2;
    close(fd);
    spawn_case("spawn_not_executable", "./not_executable", 0, NULL);

    fd = open("no_magic", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0 || write(fd, "exit 0\n", 7) != 7)
        return 2;
    close(fd);
    spawn_case("spawn_no_magic", "./no_magic", 0, NULL);

    /* 4. a failing file action: open of a missing file without O_CREAT. */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 5, "missing_file", O_RDONLY, 0);
    spawn_case("spawn_bad_addopen", "/bin/true", 0, &fa);
    posix_spawn_file_actions_destroy(&fa);
    return 0;
}
