/* proc_signals.c -- signal state across fork and exec, SIGCHLD and zombies,
 * blocked/ignored/pending interplay, and what cannot be caught or blocked.
 *
 * Signal sets are reported exactly as /proc/PID/status prints them: 16 hex
 * digits, bit (N-1) for signal N.  SIGHUP=1 -> 0x1, SIGUSR1=10 -> 0x200,
 * SIGUSR2=12 -> 0x800, SIGTERM=15 -> 0x4000, SIGCHLD=17 -> 0x10000.
 */
#include "proc_common.h"

static volatile sig_atomic_t handled;
static void on_sig(int s)
{
    (void)s;
    handled++;
}

static void catch_sig(int s, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(s, &sa, NULL);
}

static void block(int s, int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, s);
    sigprocmask(how, &set, NULL);
}

/* Report the five signal fields of DIR/status under "prefix.". */
static void report_sigs(const char *prefix, const char *dir)
{
    static const char *f[] = {"SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"};
    for (int i = 0; i < 5; i++) {
        char v[64], k[128];
        proc_status(dir, f[i], v, sizeof v);
        snprintf(k, sizeof k, "%s.%s", prefix, f[i]);
        kv(k, "%s", v);
    }
}

/* Run fn in a fresh subprocess (so every case starts from a clean state). */
static void sub(const char *name, void (*fn)(void))
{
    pid_t p = fork();
    if (p == 0) {
        child_guard();
        fn();
        _exit(0);
    }
    int st = reap(p, 10000);
    if (st != 0) {
        char k[128];
        snprintf(k, sizeof k, "%s.subprocess_status", name);
        kv(k, "%d", st);
    }
}

/* The usual "mixed" signal state: SIGTERM caught, SIGUSR2 ignored,
 * SIGUSR1 and SIGHUP blocked; SIGUSR1 pending on the thread (raise ->
 * tgkill), SIGHUP pending on the process (kill). */
static void mixed_state(void)
{
    catch_sig(SIGTERM, 0);
    signal(SIGUSR2, SIG_IGN);
    block(SIGUSR1, SIG_BLOCK);
    block(SIGHUP, SIG_BLOCK);
    raise(SIGUSR1);
    kill(getpid(), SIGHUP);
}

/* A child that parks itself blocked in read(2) until ctl is closed. */
static pid_t parked_child(int ctl[2])
{
    if (pipe(ctl) < 0)
        _exit(2);
    pid_t p = fork();
    if (p == 0) {
        child_guard();
        close(ctl[1]);
        char c;
        while (read(ctl[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(ctl[0]);
    return p;
}

/* ---- Q3: fork ---- */
static void s_fork(void)
{
    mixed_state();
    report_sigs("fork.parent", "/proc/self");
    int ctl[2];
    pid_t c = parked_child(ctl);
    wait_blocked(pdir(c), 0, 2000);
    report_sigs("fork.child", pdir(c));
    close(ctl[1]);
    reap(c, 2000);
}

/* ---- Q3: exec ---- */
static void exec_sleep_and_report(const char *prefix, void (*setup)(void))
{
    pid_t p = fork();
    if (p == 0) {
        child_guard();
        if (setup)
            setup();
        execl("/bin/sleep", "sleep", "5", (char *)NULL);
        _exit(127);
    }
    char k[128];
    snprintf(k, sizeof k, "%s.exec_seen", prefix);
    kv(k, "%d", wait_comm(p, "sleep", 3000) && wait_blocked(pdir(p), -1, 3000));
    report_sigs(prefix, pdir(p));
    kill(p, SIGKILL);
    reap(p, 2000);
}

static void s_exec(void)
{
    exec_sleep_and_report("exec_clean", NULL);
    exec_sleep_and_report("exec", mixed_state);
}

/* ---- Q4: SIGCHLD ---- */
/* Fork a child that exits at once; wait until it is a zombie or gone. */
static const char *child_exits(pid_t *out)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    *out = p;
    long end = now_ms() + 2000;
    while (now_ms() < end) {
        char s = proc_state(pdir(p));
        if (s == 'Z')
            return "zombie";
        if (s == '?')
            return "gone";
        sleep_ms(1);
    }
    return "still_running";
}

static void report_wait(const char *prefix, pid_t p)
{
    char k[128];
    int st;
    errno = 0;
    alarm(5);
    pid_t r = waitpid(p, &st, 0);
    int e = errno;
    alarm(0);
    snprintf(k, sizeof k, "%s.waitpid", prefix);
    kv(k, "%s", r == p ? "reaped" : r < 0 && e == ECHILD ? "ECHILD" : "other");
}

static void s_sigchld_ign(void)
{
    signal(SIGCHLD, SIG_IGN);
    pid_t p;
    kv("sigchld_ign.child_after_exit", "%s", child_exits(&p));
    char v[64];
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("sigchld_ign.ShdPnd", "%s", v);
    report_wait("sigchld_ign", p);
}

static void s_sigchld_nocldwait(void)
{
    catch_sig(SIGCHLD, SA_NOCLDWAIT);
    pid_t p;
    kv("sigchld_nocldwait.child_after_exit", "%s", child_exits(&p));
    long end = now_ms() + 1000;
    while (!handled && now_ms() < end)
        sleep_ms(1);
    kv("sigchld_nocldwait.handler_ran", "%d", (int)handled);
    report_wait("sigchld_nocldwait", p);
}

static void s_sigchld_blocked(void)
{
    block(SIGCHLD, SIG_BLOCK);
    pid_t p;
    kv("sigchld_blocked.child_after_exit", "%s", child_exits(&p));
    char v[64];
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("sigchld_blocked.ShdPnd", "%s", v);
    report_wait("sigchld_blocked", p);
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("sigchld_blocked.ShdPnd_after_reap", "%s", v);
}

static void s_sigchld_ign_blocked(void)
{
    signal(SIGCHLD, SIG_IGN);
    block(SIGCHLD, SIG_BLOCK);
    pid_t p;
    kv("sigchld_ign_blocked.child_after_exit", "%s", child_exits(&p));
    char v[64];
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("sigchld_ign_blocked.ShdPnd", "%s", v);
    report_wait("sigchld_ign_blocked", p);
}

static void s_sigchld_default(void)
{
    pid_t p;
    kv("sigchld_default.child_after_exit", "%s", child_exits(&p));
    char v[64];
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("sigchld_default.ShdPnd", "%s", v);
    proc_status("/proc/self", "SigPnd", v, sizeof v);
    kv("sigchld_default.SigPnd", "%s", v);
    report_wait("sigchld_default", p);
}

/* ---- Q4: ignored/caught + blocked ---- */
static void s_ignored_blocked(void)
{
    char v[64];
    signal(SIGUSR2, SIG_IGN);
    kill(getpid(), SIGUSR2);
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("ignored_unblocked.ShdPnd", "%s", v);
    block(SIGUSR2, SIG_BLOCK);
    kill(getpid(), SIGUSR2);
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("ignored_blocked.ShdPnd", "%s", v);
    block(SIGUSR2, SIG_UNBLOCK);
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("ignored_blocked.ShdPnd_after_unblock", "%s", v);
}

static void s_caught_blocked(void)
{
    char v[64];
    catch_sig(SIGUSR1, 0);
    block(SIGUSR1, SIG_BLOCK);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);   /* a second one merges with the first */
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("caught_blocked.ShdPnd", "%s", v);
    kv("caught_blocked.handled_while_blocked", "%d", (int)handled);
    block(SIGUSR1, SIG_UNBLOCK);
    kv("caught_blocked.handled_after_unblock", "%d", (int)handled);
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("caught_blocked.ShdPnd_after_unblock", "%s", v);

    /* Real-time signals queue: two sends, two deliveries. */
    handled = 0;
    catch_sig(SIGRTMIN, 0);
    block(SIGRTMIN, SIG_BLOCK);
    kill(getpid(), SIGRTMIN);
    kill(getpid(), SIGRTMIN);
    block(SIGRTMIN, SIG_UNBLOCK);
    kv("rt_blocked_twice.handled_after_unblock", "%d", (int)handled);

    /* Setting SIG_IGN discards a pending blocked signal. */
    handled = 0;
    block(SIGUSR1, SIG_BLOCK);
    kill(getpid(), SIGUSR1);
    signal(SIGUSR1, SIG_IGN);
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("pending_then_ignored.ShdPnd", "%s", v);
}

/* ---- Q5: kill zombies, uncatchable signals ---- */
static void s_kill_zombie(void)
{
    pid_t p;
    kv("kill_zombie.child_after_exit", "%s", child_exits(&p));
    errno = 0;
    int r = kill(p, SIGTERM);
    kv("kill_zombie.return", "%d", r);
    kv("kill_zombie.errno", "%s", r ? strerrorname_np(errno) : "0");
    int st;
    waitpid(p, &st, 0);
    kv("kill_zombie.status_still_exit0", "%d", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    errno = 0;
    r = kill(p, SIGTERM);
    kv("kill_reaped.return", "%d", r);
    kv("kill_reaped.errno", "%s", r ? strerrorname_np(errno) : "0");
}

static void s_uncatchable(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    errno = 0;
    int r = sigaction(SIGKILL, &sa, NULL);
    kv("sigaction_SIGKILL_handler.return", "%d", r);
    kv("sigaction_SIGKILL_handler.errno", "%s", r ? strerrorname_np(errno) : "0");
    sa.sa_handler = SIG_IGN;
    errno = 0;
    r = sigaction(SIGKILL, &sa, NULL);
    kv("sigaction_SIGKILL_ign.errno", "%s", r ? strerrorname_np(errno) : "0");
    sa.sa_handler = SIG_DFL;
    errno = 0;
    r = sigaction(SIGKILL, &sa, NULL);
    kv("sigaction_SIGKILL_dfl.errno", "%s", r ? strerrorname_np(errno) : "0");
    r = sigaction(SIGKILL, NULL, &old);
    kv("sigaction_SIGKILL_query.return", "%d", r);
    errno = 0;
    r = signal(SIGSTOP, SIG_IGN) == SIG_ERR;
    kv("signal_SIGSTOP_ign.errno", "%s", r ? strerrorname_np(errno) : "0");

    sigset_t set, cur;
    sigemptyset(&set);
    sigaddset(&set, SIGKILL);
    sigaddset(&set, SIGSTOP);
    sigaddset(&set, SIGUSR1);
    r = sigprocmask(SIG_BLOCK, &set, NULL);
    kv("block_SIGKILL.return", "%d", r);
    sigprocmask(SIG_BLOCK, NULL, &cur);
    kv("block_SIGKILL.mask_has_SIGKILL", "%d", sigismember(&cur, SIGKILL));
    kv("block_SIGKILL.mask_has_SIGSTOP", "%d", sigismember(&cur, SIGSTOP));
    kv("block_SIGKILL.mask_has_SIGUSR1", "%d", sigismember(&cur, SIGUSR1));
    char v[64];
    proc_status("/proc/self", "SigBlk", v, sizeof v);
    kv("block_SIGKILL.SigBlk", "%s", v);
}

int main(void)
{
    alarm(60);
    clean_signals();
    sub("fork", s_fork);
    sub("exec", s_exec);
    sub("sigchld_ign", s_sigchld_ign);
    sub("sigchld_nocldwait", s_sigchld_nocldwait);
    sub("sigchld_blocked", s_sigchld_blocked);
    sub("sigchld_ign_blocked", s_sigchld_ign_blocked);
    sub("sigchld_default", s_sigchld_default);
    sub("ignored_blocked", s_ignored_blocked);
    sub("caught_blocked", s_caught_blocked);
    sub("kill_zombie", s_kill_zombie);
    sub("uncatchable", s_uncatchable);
    return 0;
}
