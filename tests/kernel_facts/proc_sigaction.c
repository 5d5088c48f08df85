/* proc_sigaction.c -- sigaction's flags, queued real-time signals, signals
 * directed to one thread, and a fault handler that exits.
 *
 * Each case runs in a fresh child (so a signal that kills ends only the case)
 * and reports key=value lines; the parent reports how the child ended.
 *
 * Keys:
 *   resethand.*   SA_RESETHAND: the handler runs once, the disposition is
 *                 SIG_DFL after it (SigCgt loses the bit), the next one kills.
 *   nocldwait_*.* SA_NOCLDWAIT (with a handler, and with SIG_DFL): the child is
 *                 reaped by the kernel (wait gets ECHILD), and whether the
 *                 handler still runs.
 *   nocldwait_blocked.wait: a wait already sleeping when the last child ends.
 *   queue.*       a real-time signal sent 3 times while blocked is delivered
 *                 3 times after unblock; a standard signal, once.
 *   thread.*      tgkill to a thread that blocks the signal: pending on that
 *                 thread only (not in the process's SigPnd/ShdPnd), the handler
 *                 runs on that thread when it unblocks, not on the main thread.
 *   segv_exit.*   a SIGSEGV handler that calls _exit(CODE): the exit status.
 *   nodefer.*     a handler raising its own signal: nested with SA_NODEFER,
 *                 after the handler returns without it.
 *   spawn_*.*     a posix_spawn whose chdir action fails, with SIGCHLD default,
 *                 ignored, or SA_NOCLDWAIT: what it returns, and errno after it
 *                 (the helper child shares the caller's thread pointer, so its
 *                 errno; then glibc waits for the helper).
 */
#include "proc_common.h"

#include <pthread.h>
#include <spawn.h>
#include <sys/mman.h>

extern char **environ;

static volatile sig_atomic_t count[65];
static volatile sig_atomic_t depth, max_depth;
static volatile pid_t ran_on;

static void on_sig(int s)
{
    count[s]++;
    ran_on = (pid_t)syscall(SYS_gettid);
}

static void on_sig_nested(int s)
{
    depth++;
    if (depth > max_depth)
        max_depth = depth;
    if (count[s]++ == 0)
        raise(s);
    depth--;
}

static void on_segv_exit(int s)
{
    (void)s;
    _exit(42);
}

static void install(int sig, void (*h)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void block(int sig, int how)
{
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, sig);
    pthread_sigmask(how, &m, NULL);
}

static void report_end(const char *name, pid_t pid)
{
    char key[128];
    int st = reap(pid, 5000);
    snprintf(key, sizeof key, "%s.end", name);
    if (st >= 0 && WIFEXITED(st))
        kv(key, "exit %d", WEXITSTATUS(st));
    else if (st >= 0 && WIFSIGNALED(st))
        kv(key, "signal %d", WTERMSIG(st));
    else
        kv(key, "?");
}

static int has_bit(const char *mask, int sig)
{
    unsigned long long m = strtoull(mask, NULL, 16);
    return (int)(m >> (sig - 1) & 1);
}

static void resethand(void)
{
    char cgt[64];
    install(SIGUSR1, on_sig, SA_RESETHAND | SA_RESTART);
    proc_status("/proc/self", "SigCgt", cgt, sizeof cgt);
    kv("resethand.caught_before", "%d", has_bit(cgt, SIGUSR1));
    raise(SIGUSR1);
    kv("resethand.handled", "%d", (int)count[SIGUSR1]);
    proc_status("/proc/self", "SigCgt", cgt, sizeof cgt);
    kv("resethand.caught_after", "%d", has_bit(cgt, SIGUSR1));
    struct sigaction old;
    sigaction(SIGUSR1, NULL, &old);
    kv("resethand.dfl_after", "%d", old.sa_handler == SIG_DFL);
    raise(SIGUSR1); /* kills */
    kv("resethand.survived", "1");
}

static void nocldwait(const char *name, void (*h)(int))
{
    char key[128];
    if (h)
        install(SIGCHLD, h, SA_NOCLDWAIT | SA_RESTART);
    else {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sa.sa_flags = SA_NOCLDWAIT;
        sigaction(SIGCHLD, &sa, NULL);
    }
    pid_t c = fork();
    if (c == 0)
        _exit(3);
    sleep_ms(100);
    snprintf(key, sizeof key, "%s.proc", name);
    kv(key, "%s", proc_state(pdir(c)) == '?' ? "gone" : "present");
    errno = 0;
    int st;
    pid_t r = waitpid(c, &st, 0);
    snprintf(key, sizeof key, "%s.wait", name);
    kv(key, "%d %s", r == c ? 0 : (int)r, ename(r < 0 ? errno : 0));
    snprintf(key, sizeof key, "%s.handled", name);
    kv(key, "%d", (int)count[SIGCHLD]);
}

static void nocldwait_blocked(void)
{
    int go[2];
    install(SIGCHLD, on_sig, SA_NOCLDWAIT | SA_RESTART);
    if (pipe(go) < 0)
        _exit(96);
    pid_t c = fork();
    if (c == 0) {
        char b;
        _exit(read(go[0], &b, 1) == 1 ? 3 : 93);
    }
    pid_t parent = getpid();
    pid_t helper = fork();
    if (helper == 0) { /* lets c go once the parent sleeps in wait4 */
        wait_blocked(pdir(parent), SYS_wait4, 5000);
        _exit(write(go[1], "g", 1) == 1 ? 0 : 95);
    }
    errno = 0;
    int st;
    pid_t r = waitpid(c, &st, 0);
    kv("nocldwait_blocked.wait", "%d %s", r == c ? 0 : (int)r, ename(r < 0 ? errno : 0));
}

static void queue(void)
{
    int rt = SIGRTMIN + 1;
    char pnd[64];
    install(rt, on_sig, SA_RESTART);
    install(SIGUSR2, on_sig, SA_RESTART);
    block(rt, SIG_BLOCK);
    block(SIGUSR2, SIG_BLOCK);
    for (int i = 0; i < 3; i++) {
        kill(getpid(), rt);
        kill(getpid(), SIGUSR2);
    }
    proc_status("/proc/self", "ShdPnd", pnd, sizeof pnd);
    kv("queue.pending_rt", "%d", has_bit(pnd, rt));
    block(rt, SIG_UNBLOCK);
    block(SIGUSR2, SIG_UNBLOCK);
    kv("queue.rtmin", "%d", SIGRTMIN);
    kv("queue.rt_handled", "%d", (int)count[rt]);
    kv("queue.std_handled", "%d", (int)count[SIGUSR2]);
}

static int thread_go[2], thread_done[2];
static volatile pid_t thread_tid;

static void *blocker(void *arg)
{
    char b;
    (void)arg;
    block(SIGUSR1, SIG_BLOCK);
    thread_tid = (pid_t)syscall(SYS_gettid);
    if (read(thread_go[0], &b, 1) != 1)
        _exit(93);
    block(SIGUSR1, SIG_UNBLOCK);
    if (write(thread_done[1], "d", 1) != 1)
        _exit(95);
    return NULL;
}

static void thread_directed(void)
{
    char pnd[64], tpnd[64], dir[64];
    install(SIGUSR1, on_sig, SA_RESTART);
    if (pipe(thread_go) < 0 || pipe(thread_done) < 0)
        _exit(96);
    pthread_t t;
    pthread_create(&t, NULL, blocker, NULL);
    while (!thread_tid)
        sleep_ms(1);
    syscall(SYS_tgkill, getpid(), thread_tid, SIGUSR1);
    kv("thread.handled_before", "%d", (int)count[SIGUSR1]);
    proc_status("/proc/self", "SigPnd", pnd, sizeof pnd);
    kv("thread.main_pending", "%d", has_bit(pnd, SIGUSR1));
    proc_status("/proc/self", "ShdPnd", pnd, sizeof pnd);
    kv("thread.shared_pending", "%d", has_bit(pnd, SIGUSR1));
    snprintf(dir, sizeof dir, "/proc/self/task/%d", (int)thread_tid);
    proc_status(dir, "SigPnd", tpnd, sizeof tpnd);
    kv("thread.thread_pending", "%d", has_bit(tpnd, SIGUSR1));
    if (write(thread_go[1], "g", 1) != 1)
        _exit(95);
    char b;
    if (read(thread_done[0], &b, 1) != 1)
        _exit(93);
    kv("thread.handled_after", "%d", (int)count[SIGUSR1]);
    kv("thread.ran_on", "%s", ran_on == thread_tid ? "target" : ran_on == getpid() ? "main" : "?");
    pthread_join(t, NULL);
}

static void segv_exit(void)
{
    install(SIGSEGV, on_segv_exit, 0);
    volatile char *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[0] = 1;
    kv("segv_exit.survived", "1");
}

static void nodefer(const char *name, int flags)
{
    char key[128];
    install(SIGUSR1, on_sig_nested, flags);
    raise(SIGUSR1);
    snprintf(key, sizeof key, "%s.handled", name);
    kv(key, "%d", (int)count[SIGUSR1]);
    snprintf(key, sizeof key, "%s.max_depth", name);
    kv(key, "%d", (int)max_depth);
}

static void failed_spawn(const char *name, void (*h)(int), int flags, int ignore)
{
    char key[128];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ignore ? SIG_IGN : h ? h : SIG_DFL;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, "missing-dir");
    char *argv[] = {"true", NULL};
    pid_t pid;
    errno = 0;
    int rc = posix_spawn(&pid, "/bin/true", &fa, NULL, argv, environ);
    int e = errno;
    snprintf(key, sizeof key, "%s.result", name);
    kv(key, "%s %s", ename(rc), ename(e));
}

static void spawn_default(void) { failed_spawn("spawn_default", NULL, 0, 0); }
static void spawn_ignore(void) { failed_spawn("spawn_ignore", NULL, 0, 1); }
static void spawn_nocldwait(void) { failed_spawn("spawn_nocldwait", on_sig, SA_NOCLDWAIT, 0); }

static void nodefer_on(void) { nodefer("nodefer", SA_NODEFER); }
static void nodefer_off(void) { nodefer("defer", 0); }
static void nocldwait_handler(void) { nocldwait("nocldwait_handler", on_sig); }
static void nocldwait_default(void) { nocldwait("nocldwait_default", NULL); }

static void run_case(const char *name, void (*body)(void))
{
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        body();
        _exit(0);
    }
    report_end(name, pid);
}

int main(void)
{
    clean_signals();
    run_case("resethand", resethand);
    run_case("nocldwait_handler", nocldwait_handler);
    run_case("nocldwait_default", nocldwait_default);
    run_case("nocldwait_blocked", nocldwait_blocked);
    run_case("queue", queue);
    run_case("thread", thread_directed);
    run_case("segv_exit", segv_exit);
    run_case("nodefer", nodefer_on);
    run_case("defer", nodefer_off);
    run_case("spawn_default", spawn_default);
    run_case("spawn_ignore", spawn_ignore);
    run_case("spawn_nocldwait", spawn_nocldwait);
    return 0;
}
