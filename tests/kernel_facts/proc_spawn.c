/* proc_spawn.c -- what posix_spawn does with the parent's signal state.
 *
 * The parent catches SIGUSR1, ignores SIGUSR2 and blocks SIGTERM; it spawns
 * /bin/sleep with various attributes and reads the sleeper's
 * /proc/PID/status once the exec has happened.
 * SIGHUP=0x1, SIGUSR1=0x200, SIGUSR2=0x800, SIGTERM=0x4000.
 */
#include "proc_common.h"

#include <spawn.h>

extern char **environ;

static void on_sig(int s)
{
    (void)s;
}

static void spawn_and_report(const char *prefix, posix_spawnattr_t *attr)
{
    char *argv[] = {"sleep", "5", NULL};
    pid_t pid;
    char k[128], v[64];
    int r = posix_spawn(&pid, "/bin/sleep", NULL, attr, argv, environ);
    snprintf(k, sizeof k, "%s.return", prefix);
    kv(k, "%d", r);
    if (r != 0)
        return;
    snprintf(k, sizeof k, "%s.exec_seen", prefix);
    kv(k, "%d", wait_comm(pid, "sleep", 3000) && wait_blocked(pdir(pid), -1, 3000));
    static const char *f[] = {"SigBlk", "SigIgn", "SigCgt", "SigPnd", "ShdPnd"};
    for (int i = 0; i < 5; i++) {
        proc_status(pdir(pid), f[i], v, sizeof v);
        snprintf(k, sizeof k, "%s.%s", prefix, f[i]);
        kv(k, "%s", v);
    }
    proc_status("/proc/self", "SigBlk", v, sizeof v);
    snprintf(k, sizeof k, "%s.parent_SigBlk_after", prefix);
    kv(k, "%s", v);
    kill(pid, SIGKILL);
    reap(pid, 2000);
}

int main(void)
{
    alarm(30);
    clean_signals();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGUSR2, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);

    char v[64];
    proc_status("/proc/self", "SigCgt", v, sizeof v);
    kv("parent.SigCgt", "%s", v);
    proc_status("/proc/self", "SigIgn", v, sizeof v);
    kv("parent.SigIgn", "%s", v);
    proc_status("/proc/self", "SigBlk", v, sizeof v);
    kv("parent.SigBlk", "%s", v);

    spawn_and_report("spawn_plain", NULL);

    posix_spawnattr_t a;
    posix_spawnattr_init(&a);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    posix_spawnattr_setsigdefault(&a, &set);
    posix_spawnattr_setflags(&a, POSIX_SPAWN_SETSIGDEF);
    spawn_and_report("spawn_setsigdef_usr2", &a);
    posix_spawnattr_destroy(&a);

    posix_spawnattr_init(&a);
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    posix_spawnattr_setsigmask(&a, &set);
    posix_spawnattr_setflags(&a, POSIX_SPAWN_SETSIGMASK);
    spawn_and_report("spawn_setsigmask_hup", &a);
    posix_spawnattr_destroy(&a);

    /* Pending signals of the parent are not inherited by a spawned child. */
    kill(getpid(), SIGTERM);   /* blocked: stays pending in the parent */
    proc_status("/proc/self", "ShdPnd", v, sizeof v);
    kv("parent_with_pending.ShdPnd", "%s", v);
    spawn_and_report("spawn_parent_pending", NULL);
    return 0;
}
