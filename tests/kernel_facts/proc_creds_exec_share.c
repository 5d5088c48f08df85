/* proc_creds_exec_share.c -- what an exec as root gives back after a capability
 * was dropped, alone and while another process shares the fs_struct (CLONE_FS).
 *
 * Root's exec makes the bounding set its permitted capabilities: one dropped with
 * capset comes back, capabilities are "gained", and commit_creds then makes the
 * image not dumpable (fs.suid_dumpable) and clears the parent-death signal.  An
 * exec whose fs_struct another process shares is unsafe (check_unsafe_exec:
 * LSM_UNSAFE_SHARE), and cap_bprm_creds_from_file gives it no more than it had.
 * Run as root.
 *
 * Keys, for an exec in a fork child (fork.*) and in a clone(CLONE_FS) child whose
 * creator waits (share.*):
 *   chown_back      1 if CAP_CHOWN is in the new image's permitted set
 *   dumpable        PR_GET_DUMPABLE in the new image
 *   pdeathsig       PR_GET_PDEATHSIG in the new image (SIGUSR1 set before the exec)
 */
#include "proc_common.h"

#include <sched.h>
#include <linux/capability.h>

extern char **environ;

static void report(const char *prefix)
{
    char key[64], prm[64] = "";
    proc_status("/proc/self", "CapPrm", prm, sizeof prm);
    unsigned long long bits = strtoull(prm, NULL, 16);
    snprintf(key, sizeof key, "%s.chown_back", prefix);
    kv(key, "%d", (int)((bits >> CAP_CHOWN) & 1));
    snprintf(key, sizeof key, "%s.dumpable", prefix);
    kv(key, "%d", prctl(PR_GET_DUMPABLE));
    int sig = 0;
    prctl(PR_GET_PDEATHSIG, &sig);
    snprintf(key, sizeof key, "%s.pdeathsig", prefix);
    kv(key, "%d", sig);
}

static void drop_chown(void)
{
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &head, data) < 0)
        _exit(2);
    for (int i = 0; i < 2; i++)
        if (i == CAP_CHOWN / 32) {
            unsigned bit = 1u << (CAP_CHOWN % 32);
            data[i].effective &= ~bit;
            data[i].permitted &= ~bit;
            data[i].inheritable &= ~bit;
        }
    if (syscall(SYS_capset, &head, data) < 0)
        _exit(3);
}

static void exec_self(const char *prefix, const char *self)
{
    prctl(PR_SET_PDEATHSIG, SIGUSR1);
    char *argv[] = {(char *)self, "report", (char *)prefix, NULL};
    execve(self, argv, environ);
    _exit(4);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "report") == 0) {
        report(argv[2]);
        return 0;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 2;
    self[n] = 0;
    drop_chown();
    signal(SIGUSR1, SIG_IGN);  /* the clone child's death signal would be sent to us */
    pid_t pid = fork();
    if (pid == 0)
        exec_self("fork", self);
    reap(pid, 5000);
    pid = (pid_t)syscall(SYS_clone, CLONE_FS | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0)
        exec_self("share", self);
    reap(pid, 5000);
    return 0;
}
