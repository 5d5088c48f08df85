/* proc_userns_caps.c -- the capabilities a new user namespace gives, and the
 * checks they do not pass.
 *
 * unshare(CLONE_NEWUSER) gives the caller every capability in the new namespace
 * (its CapEff is full), but capable() checks the initial user namespace, where it
 * now has none (cap_capable: a namespace's capabilities reach only it and the
 * namespaces below it). setpriority lowering nice (can_nice: CAP_SYS_NICE),
 * setrlimit raising a hard limit (CAP_SYS_RESOURCE) and leaving SCHED_IDLE use
 * capable(); PR_CAPBSET_DROP uses the caller's own namespace. Runs in a child;
 * as root and as nobody alike.
 *
 * Keys (0, or the errno):
 *   capeff_full        1 if /proc/self/status CapEff has every capability up to
 *                      /proc/sys/kernel/cap_last_cap after unshare
 *   nice_lower         setpriority(PRIO_PROCESS, 0, -2)
 *   rlimit_raise       setrlimit(RLIMIT_NOFILE): the hard limit lowered by one (always
 *                      allowed), then raised back
 *   sched_leave_idle   SCHED_IDLE, then back to SCHED_OTHER
 *   capbset_drop       prctl(PR_CAPBSET_DROP, CAP_SYS_TIME)
 *   nested_user        unshare(CLONE_NEWUSER) again: create_user_ns refuses a creator
 *                      whose ids are unmapped in its own user namespace
 *   nested_user_mapped the same in a child that first wrote its uid_map and gid_map
 */
#include "proc_common.h"

#include <sched.h>
#include <sys/resource.h>
#include <linux/capability.h>

static const char *result(int r)
{
    return r == 0 ? "0" : ename(errno);
}

static unsigned long long full_set(void)
{
    char text[16] = "";
    slurp("/proc/sys/kernel/cap_last_cap", text, sizeof text);
    return (1ULL << (atoi(text) + 1)) - 1;
}

int main(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        unsigned long long want = full_set();
        if (unshare(CLONE_NEWUSER) < 0) {
            kv("unshare", "%s", ename(errno));
            _exit(0);
        }
        char eff[64] = "";
        proc_status("/proc/self", "CapEff", eff, sizeof eff);
        kv("capeff_full", "%d", strtoull(eff, NULL, 16) == want);
        kv("nice_lower", "%s", result(setpriority(PRIO_PROCESS, 0, -2)));
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_max -= 1;
        if (rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_max += 1;
        kv("rlimit_raise", "%s", result(setrlimit(RLIMIT_NOFILE, &rl)));
        struct sched_param none = {0};
        sched_setscheduler(0, SCHED_IDLE, &none);
        kv("sched_leave_idle", "%s", result(sched_setscheduler(0, SCHED_OTHER, &none)));
        kv("capbset_drop", "%s", result(prctl(PR_CAPBSET_DROP, CAP_SYS_TIME, 0, 0, 0)));
        kv("nested_user", "%s", result(unshare(CLONE_NEWUSER)));
        _exit(0);
    }
    reap(pid, 5000);
    pid = fork();
    if (pid == 0) {
        char line[64];
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (unshare(CLONE_NEWUSER) < 0)
            _exit(0);
        int fd = open("/proc/self/setgroups", O_WRONLY);
        if (fd >= 0) {
            (void)!write(fd, "deny", 4);
            close(fd);
        }
        snprintf(line, sizeof line, "%d %d 1", (int)uid, (int)uid);
        fd = open("/proc/self/uid_map", O_WRONLY);
        (void)!write(fd, line, strlen(line));
        close(fd);
        snprintf(line, sizeof line, "%d %d 1", (int)gid, (int)gid);
        fd = open("/proc/self/gid_map", O_WRONLY);
        (void)!write(fd, line, strlen(line));
        close(fd);
        kv("nested_user_mapped", "%s", result(unshare(CLONE_NEWUSER)));
        _exit(0);
    }
    reap(pid, 5000);
    return 0;
}
