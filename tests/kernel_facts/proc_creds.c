/* proc_creds.c -- what fork, vfork, pthread_create, posix_spawn and execve do with
 * the credentials: real/effective/saved user and group ids, supplementary groups
 * and capabilities; and what glibc's setresuid does to the other threads.
 *
 * Run as root. The parent takes real and saved ids 65534 (nobody), keeps the
 * effective ids 0, takes the supplementary group 65534 and drops CAP_CHOWN from
 * its effective, permitted and inheritable sets (capset); each new task reports
 * its own values ("report" mode when a program runs) and changes them. The
 * "unpriv" keys come from a child that gives up root entirely.
 */
#include "proc_common.h"

#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <spawn.h>

extern char **environ;

#define CAP_CHOWN_BIT 0
#define CAP_MKNOD_BIT 27

static void status_field(const char *name, char *out, size_t cap)
{
    char buf[8192];
    out[0] = 0;
    if (slurp("/proc/thread-self/status", buf, sizeof buf) < 0)
        return;
    size_t l = strlen(name);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, name, l) == 0 && line[l] == ':') {
            char *v = line + l + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(out, cap, "%s", v);
            for (char *c = out; *c; c++)
                if (*c == '\t' || *c == ' ')
                    *c = ',';
            return;
        }
    }
}

/* The calling thread's values, as one line. */
static void values(char *out, size_t cap)
{
    char uid[64], gid[64], groups[128], eff[32], prm[32], inh[32], bnd[32];
    status_field("Uid", uid, sizeof uid);
    status_field("Gid", gid, sizeof gid);
    status_field("Groups", groups, sizeof groups);
    status_field("CapEff", eff, sizeof eff);
    status_field("CapPrm", prm, sizeof prm);
    status_field("CapInh", inh, sizeof inh);
    status_field("CapBnd", bnd, sizeof bnd);
    snprintf(out, cap, "uid:%s gid:%s groups:%s eff:%s prm:%s inh:%s bnd:%s dumpable:%d",
             uid, gid, groups, eff, prm, inh, bnd, prctl(PR_GET_DUMPABLE));
}

static int drop_cap(int bit)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d))
        return errno;
    d[bit / 32].effective &= ~(1u << (bit % 32));
    d[bit / 32].permitted &= ~(1u << (bit % 32));
    d[bit / 32].inheritable &= ~(1u << (bit % 32));
    return syscall(SYS_capset, &h, d) ? errno : 0;
}

static char shared_line[512];
static char *self_path;

static void *thread_main(void *arg)
{
    (void)arg;
    values(shared_line, sizeof shared_line);
    drop_cap(CAP_MKNOD_BIT);  /* its own: the main thread keeps it */
    setresuid(0, 0, 0);       /* glibc: every thread of the process */
    return NULL;
}

static void exec_report(const char *key)
{
    char *argv[] = {self_path, "report", (char *)key, NULL};
    execve("/proc/self/exe", argv, environ);
    _exit(127);
}

static void run_and_wait(void (*fn)(void))
{
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

static void set_parent(void)
{
    gid_t g = 65534;
    kv("set.groups", "%d", setgroups(1, &g) ? errno : 0);
    kv("set.gid", "%d", setresgid(65534, 0, 65534) ? errno : 0);
    kv("set.uid", "%d", setresuid(65534, 0, 65534) ? errno : 0);
    kv("set.cap", "%d", drop_cap(CAP_CHOWN_BIT));
}

static void case_main(void)
{
    char line[512];
    set_parent();
    values(line, sizeof line);
    kv("parent", "%s", line);

    pid_t pid = fork();
    if (pid == 0) {
        values(line, sizeof line);
        kv("fork.child", "%s", line);
        setresuid(0, 0, 0);
        setgroups(0, NULL);
        drop_cap(CAP_MKNOD_BIT);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    values(line, sizeof line);
    kv("fork.parent_after", "%s", line);

    static char vline[512];
    pid = vfork();
    if (pid == 0) {
        values(vline, sizeof vline);
        syscall(SYS_setresuid, 0, 0, 0);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    kv("vfork.child", "%s", vline);
    values(line, sizeof line);
    kv("vfork.parent_after", "%s", line);

    char *sargv[] = {self_path, "report", "spawn.child", NULL};
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, sargv, environ) == 0)
        waitpid(pid, NULL, 0);

    pid = fork();
    if (pid == 0)
        exec_report("exec.image");
    waitpid(pid, NULL, 0);

    /* a thread: its own caps; glibc's setresuid changes every thread's ids */
    pthread_t th;
    pthread_create(&th, NULL, thread_main, NULL);
    pthread_join(th, NULL);
    kv("thread.new", "%s", shared_line);
    values(line, sizeof line);
    kv("thread.parent_after", "%s", line);
}

/* Dropped from the bounding set too: exec does not give it back. */
static void case_bounding(void)
{
    kv("bounding.drop", "%d", prctl(PR_CAPBSET_DROP, CAP_MKNOD_BIT, 0, 0, 0) ? errno : 0);
    drop_cap(CAP_MKNOD_BIT);
    exec_report("bounding.exec");
}

/* no_new_privs: an exec that would give capabilities back gives none, and the
 * effective ids become the real ones. */
static void case_nnp(void)
{
    set_parent();
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    exec_report("nnp.exec");
}

static void case_nnp_root(void)
{
    drop_cap(CAP_CHOWN_BIT);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    exec_report("nnp_root.exec");
}

/* root (all ids 0) that dropped a capability: exec gives it back, and the gain makes
 * the new image not dumpable (commit_creds, after exec chose 1). */
static void case_root_gain(void)
{
    drop_cap(CAP_CHOWN_BIT);
    exec_report("root_gain.exec");
}

static void case_unpriv(void)
{
    char line[512];
    if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
        _exit(1);
    values(line, sizeof line);
    kv("unpriv.start", "%s", line);
    gid_t g = 65534;
    kv("unpriv.setresuid_root", "%d", setresuid(0, 65534, 65534) ? errno : 0);
    kv("unpriv.setresuid_own", "%d", setresuid(65534, 65534, 65534) ? errno : 0);
    kv("unpriv.setresgid_root", "%d", setresgid(65534, 0, 65534) ? errno : 0);
    kv("unpriv.setgroups", "%d", setgroups(1, &g) ? errno : 0);
    kv("unpriv.capdrop", "%d", drop_cap(CAP_CHOWN_BIT));
    kv("unpriv.bounding", "%d", prctl(PR_CAPBSET_DROP, CAP_MKNOD_BIT, 0, 0, 0) ? errno : 0);
}

int main(int argc, char **argv)
{
    char line[512];
    self_path = argv[0];
    if (argc > 2 && strcmp(argv[1], "report") == 0) {
        values(line, sizeof line);
        kv(argv[2], "%s", line);
        return 0;
    }
    values(line, sizeof line);
    kv("initial", "%s", line);
    run_and_wait(case_main);
    run_and_wait(case_bounding);
    run_and_wait(case_nnp);
    run_and_wait(case_nnp_root);
    run_and_wait(case_root_gain);
    run_and_wait(case_unpriv);
    return 0;
}
