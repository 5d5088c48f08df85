/* proc_exit_signal.c -- the exit signal: the signal a process's parent gets when
 * it ends (field 38 of /proc/PID/stat), set by clone(2)'s low byte or clone3's
 * exit_signal, and what fork, vfork, posix_spawn, pthread_create, clone and
 * execve do with it; who may wait for a child whose exit signal is not SIGCHLD.
 *
 * "origin" (a child subreaper) makes "p" with clone(SIGUSR1): a parent whose own
 * exit signal is not SIGCHLD, so that a creator that resets it shows. Each case
 * prints "CASE.exit_signal=N" (-1: none, a thread). "wait.*": the errno of each
 * kind of wait for a child whose exit signal is SIGUSR1 (0: it reaped it) and
 * which signal its parent got; "kill.*": a parent that does not handle that
 * signal; "orphan.*" and "exec_parent.*": what a reparenting and the parent's
 * exec do to it.
 */
#include "proc_common.h"

#include <pthread.h>
#include <sched.h>
#include <spawn.h>

extern char **environ;
static char exe[4096];
static char stack[256 * 1024];  /* for the clones p makes */
static char p_stack[256 * 1024]; /* p's own: glibc writes fn and arg at the top of a
                                  * new stack, in the caller's memory */
static volatile sig_atomic_t got_usr1, got_chld;

static void count(int sig)
{
    if (sig == SIGUSR1)
        got_usr1++;
    else if (sig == SIGCHLD)
        got_chld++;
}

static void handle_both(void)
{
    got_usr1 = got_chld = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
}

/* Field 38 of /proc/self/task/TID/stat. */
static int exit_signal_of(pid_t pid, pid_t tid)
{
    char path[96], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    if (slurp(path, buf, sizeof buf) < 0)
        return -99;
    char *p = strrchr(buf, ')');
    int field = 2;
    for (; p && *p; p++)
        if (*p == ' ' && ++field == 38)
            return atoi(p + 1);
    return -99;
}

static int my_exit_signal(void)
{
    return exit_signal_of(getpid(), (pid_t)syscall(SYS_gettid));
}

static void say(const char *c)
{
    char key[96];
    snprintf(key, sizeof key, "%s.exit_signal", c);
    kv(key, "%d", my_exit_signal());
}

static int exit_at_once(void *arg)
{
    (void)arg;
    return 0;
}

static int say_clone(void *arg)
{
    say((const char *)arg);
    return 0;
}

static void *say_thread(void *arg)
{
    say((const char *)arg);
    return NULL;
}

static pid_t clone_with(int (*fn)(void *), void *arg, int sig)
{
    return clone(fn, stack + sizeof stack, sig, arg);
}

static pid_t clone_p(int (*fn)(void *))
{
    return clone(fn, p_stack + sizeof p_stack, SIGUSR1, NULL);
}

/* The waits of a parent for a child whose exit signal is SIGUSR1. */
static void waits(void)
{
    handle_both();
    pid_t c = clone_with(exit_at_once, NULL, SIGUSR1);
    for (long end = now_ms() + 5000; proc_state(pdir(c)) != 'Z' && now_ms() < end;)
        sleep_ms(2);
    int st;
    errno = 0;
    kv("wait.pid", "%d", waitpid(c, &st, WNOHANG) < 0 ? errno : 0);
    errno = 0;
    kv("wait.any", "%d", waitpid(-1, &st, WNOHANG) < 0 ? errno : 0);
    siginfo_t si;
    errno = 0;
    kv("wait.waitid", "%d", waitid(P_PID, (id_t)c, &si, WEXITED | WNOHANG) < 0 ? errno : 0);
    kv("wait.zombie", "%d", proc_state(pdir(c)) == 'Z');
    errno = 0;
    kv("wait.wclone", "%d", waitpid(c, &st, __WCLONE) == c ? 0 : errno);
    kv("wait.got_usr1", "%d", (int)got_usr1);
    kv("wait.got_chld", "%d", (int)got_chld);
    /* __WALL and __WCLONE: a SIGCHLD child is waited for with __WALL, not __WCLONE */
    pid_t f = fork();
    if (f == 0)
        _exit(0);
    sleep_ms(100);
    errno = 0;
    kv("wait.wclone_of_fork", "%d", waitpid(f, &st, __WCLONE | WNOHANG) < 0 ? errno : 0);
    kv("wait.wall_of_fork", "%d", waitpid(f, &st, __WALL) == f ? 0 : errno);
    c = clone_with(exit_at_once, NULL, SIGUSR1);
    kv("wait.wall", "%d", waitpid(c, &st, __WALL) == c ? 0 : errno);
}

/* A child whose exit signal's default action ends the parent. */
static void kills(void)
{
    pid_t g = fork();
    if (g == 0) {
        clean_signals();
        clone_with(exit_at_once, NULL, SIGUSR1);
        sleep_ms(2000);
        _exit(0);
    }
    int st = reap(g, 5000);
    kv("kill.parent_signal", "%d", st >= 0 && WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int orphan_child(void *arg)
{
    int fd = *(int *)arg;
    pid_t parent = getppid();
    for (long end = now_ms() + 5000; getppid() == parent && now_ms() < end;)
        sleep_ms(2); /* until its parent has ended: it is origin's then */
    char b[16];
    int n = snprintf(b, sizeof b, "%d", my_exit_signal());
    if (write(fd, b, (size_t)n) < 0)
        return 1;
    return 0;
}

/* origin (a subreaper) adopts an orphan whose exit signal was SIGUSR1. */
static void orphan(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pid_t mid = fork();
    if (mid == 0) {
        clone_with(orphan_child, &fds[1], SIGUSR1);
        _exit(0);
    }
    reap(mid, 5000);
    char b[16] = {0};
    if (read(fds[0], b, sizeof b - 1) < 0)
        b[0] = '?';
    kv("orphan.exit_signal", "%s", b);
    int st;
    errno = 0;
    pid_t r = waitpid(-1, &st, 0); /* no __WALL: it is a SIGCHLD child now */
    kv("orphan.reaped_plainly", "%d", r > 0);
    close(fds[0]);
    close(fds[1]);
}

static int exec_self(int (*fn)(void *), void *arg)
{
    (void)fn;
    char *argv[] = {exe, (char *)arg, NULL};
    execve(exe, argv, environ);
    return 127;
}

static int exec_child(void *arg)
{
    return exec_self(NULL, arg);
}

static void *exec_thread(void *arg)
{
    exec_self(NULL, arg);
    return NULL;
}

/* p: the parent whose own exit signal is SIGUSR1. */
static int p_main(void *arg)
{
    (void)arg;
    say("p");
    pid_t c = fork();
    if (c == 0) {
        say("fork");
        _exit(0);
    }
    reap(c, 5000);
    c = vfork();
    if (c == 0) {
        say("vfork");
        _exit(0);
    }
    reap(c, 5000);
    char *sargv[] = {exe, "say", "spawn", NULL};
    if (posix_spawn(&c, exe, NULL, NULL, sargv, environ) == 0)
        reap(c, 5000);
    pthread_t th;
    pthread_create(&th, NULL, say_thread, "thread");
    pthread_join(th, NULL);
    signal(SIGUSR2, SIG_IGN);
    c = clone_with(say_clone, "clone_usr2", SIGUSR2);
    int st;
    waitpid(c, &st, __WALL);
    c = clone_with(say_clone, "clone_none", 0);
    waitpid(c, &st, __WALL);
    /* a clone child of p's that execs (its leader): kept */
    signal(SIGUSR1, SIG_IGN);
    c = clone_with(exec_child, "exec_child", SIGUSR1);
    waitpid(c, &st, __WALL);
    signal(SIGUSR1, SIG_DFL);
    waits();
    kills();
    return 0;
}

/* An exec by p's second thread: the thread becomes the leader. */
static int p_thread_exec(void *arg)
{
    (void)arg;
    pthread_t th;
    pthread_create(&th, NULL, exec_thread, "exec_thread");
    pthread_join(th, NULL); /* never returns: the exec ends this thread */
    return 0;
}

/* Ends once its parent runs the image "after_exec" and catches SIGCHLD there. */
static int end_after_parent_exec(void *arg)
{
    (void)arg;
    char dir[32], caught[64];
    snprintf(dir, sizeof dir, "/proc/%d", (int)getppid());
    for (long end = now_ms() + 5000; now_ms() < end; sleep_ms(2)) {
        proc_status(dir, "SigCgt", caught, sizeof caught);
        if (strtoull(caught, NULL, 16) & (1ULL << (SIGCHLD - 1)))
            break;
    }
    return 0;
}

/* p execs with a child whose exit signal is SIGUSR1: which signal comes? */
static int p_exec_parent(void *arg)
{
    (void)arg;
    clone_with(end_after_parent_exec, NULL, SIGUSR1);
    exec_self(NULL, "after_exec");
    return 1;
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return 1;
    exe[n] = 0;
    if (argc > 1 && strcmp(argv[1], "say") == 0) {
        say(argv[2]);
        return 0;
    }
    if (argc > 1 && (strcmp(argv[1], "exec_child") == 0 ||
                     strcmp(argv[1], "exec_thread") == 0 ||
                     strcmp(argv[1], "exec_leader") == 0)) {
        say(argv[1]);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "after_exec") == 0) {
        handle_both();
        int st;
        pid_t r = waitpid(-1, &st, __WALL);
        kv("exec_parent.reaped", "%d", r > 0);
        kv("exec_parent.got_usr1", "%d", (int)got_usr1);
        kv("exec_parent.got_chld", "%d", (int)got_chld);
        return 0;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    clean_signals();
    signal(SIGUSR1, SIG_IGN); /* origin: p's end is told by SIGUSR1 */
    int st;
    pid_t p = clone_p(p_main);
    waitpid(p, &st, __WALL);
    kv("p.ended_normally", "%d", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    p = clone_p(p_thread_exec);
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)p);
    for (long end = now_ms() + 5000; now_ms() < end; sleep_ms(2)) {
        int k = slurp(path, buf, sizeof buf);
        if (k > 0 && memmem(buf, (size_t)k, "exec_thread", 11))
            break;
    }
    kv("exec_leader_of_p.exit_signal", "%d", exit_signal_of(p, p));
    waitpid(p, &st, __WALL);
    p = clone_p(p_exec_parent);
    waitpid(p, &st, __WALL);
    orphan();
    return 0;
}
