/* proc_common.h -- helpers shared by the proc_*.c kernel-fact programs
 * (all but proc_stdio.c, whose kv() adds a per-case key prefix).
 *
 * Each program starts with `#include "proc_common.h"` before any other
 * header: the harness compiles one .c file at a time, and "..." includes
 * are found next to the source file.  Every helper is static and marked
 * unused, since not every program uses every one.
 *
 * Reporting is "key=value" lines written with write(2), never stdio.
 */
#ifndef PROC_COMMON_H
#define PROC_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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

/* errno as its symbolic name ("ENOENT"); "0" for no error. */
static __attribute__((unused)) const char *ename(int e)
{
    if (e == 0)
        return "0";
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

#endif /* PROC_COMMON_H */
