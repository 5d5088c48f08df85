/* proc_sched_prctl.c -- what fork, vfork, posix_spawn, pthread_create and execve
 * do with a task's scheduling and prctl attributes: nice, scheduling policy
 * (and SCHED_RESET_ON_FORK), CPU affinity, comm, dumpable, timer slack and
 * no_new_privs; and what a user other than root may change.
 *
 * The parent sets each attribute to a value no default has, makes the new task,
 * which reports its own values ("report" mode when a program is run) and then
 * changes each one; the parent reports its values after that.  Run as root;
 * the "unpriv" keys come from a child that gives up root (setresuid to 65534).
 */
#include "proc_common.h"

#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <sys/resource.h>

extern char **environ;

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

/* The calling task's values, as one line. */
static void values(char *out, size_t cap)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    char cpus[64] = "";
    for (int i = 0; i < 64; i++)
        if (CPU_ISSET(i, &set))
            snprintf(cpus + strlen(cpus), sizeof cpus - strlen(cpus), "%s%d",
                     cpus[0] ? "," : "", i);
    char comm[17] = "";
    prctl(PR_GET_NAME, comm);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    int policy = sched_getscheduler(0);
    snprintf(out, cap, "nice:%d policy:%d reset:%d cpus:%s comm:%s dumpable:%d "
             "slack:%d nnp:%d",
             nice, policy & ~SCHED_RESET_ON_FORK, (policy & SCHED_RESET_ON_FORK) != 0, cpus,
             comm, prctl(PR_GET_DUMPABLE), prctl(PR_GET_TIMERSLACK),
             prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
}

/* What the new task does: set every attribute it can to something else. */
static void change(void)
{
    setpriority(PRIO_PROCESS, 0, 3);
    struct sched_param sp = {0};
    sched_setscheduler(0, SCHED_OTHER, &sp);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof set, &set);
    prctl(PR_SET_NAME, "changed");
    prctl(PR_SET_DUMPABLE, 1);
    prctl(PR_SET_TIMERSLACK, 7000);
}

static char shared_line[256];

static void *thread_main(void *arg)
{
    (void)arg;
    values(shared_line, sizeof shared_line);
    change();
    return NULL;
}

static void report(const char *key, const char *line)
{
    kv(key, "%s", line);
}

static void set_parent(int last_cpu)
{
    setpriority(PRIO_PROCESS, 0, 5);
    struct sched_param sp = {0};
    sched_setscheduler(0, SCHED_BATCH, &sp);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(last_cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    prctl(PR_SET_NAME, "parentname");
    prctl(PR_SET_DUMPABLE, 0);
    prctl(PR_SET_TIMERSLACK, 123000);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static int last_allowed_cpu(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    int last = 0;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set))
            last = i;
    return last;
}

static void unprivileged(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            _exit(1);
        char line[256];
        values(line, sizeof line);
        report("unpriv.start", line);  /* dumpable after the uid change */
        struct rlimit nice_lim;
        getrlimit(RLIMIT_NICE, &nice_lim);
        kv("unpriv.rlimit_nice", "%ld", (long)nice_lim.rlim_cur);
        kv("unpriv.raise_nice", "%d", setpriority(PRIO_PROCESS, 0, 6) == 0 ? 0 : errno);
        kv("unpriv.same_nice", "%d", setpriority(PRIO_PROCESS, 0, 5) == 0 ? 0 : errno);
        kv("unpriv.lower_nice", "%d", setpriority(PRIO_PROCESS, 0, 5) == 0 ? 0 : errno);
        struct sched_param sp = {0};
        kv("unpriv.batch", "%d", sched_setscheduler(0, SCHED_BATCH, &sp) == 0 ? 0 : errno);
        kv("unpriv.batch_to_other", "%d",
           sched_setscheduler(0, SCHED_OTHER, &sp) == 0 ? 0 : errno);
        kv("unpriv.set_reset", "%d",
           sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &sp) == 0 ? 0 : errno);
        kv("unpriv.clear_reset", "%d",
           sched_setscheduler(0, SCHED_OTHER, &sp) == 0 ? 0 : errno);
        kv("unpriv.idle", "%d", sched_setscheduler(0, SCHED_IDLE | SCHED_RESET_ON_FORK, &sp)
           == 0 ? 0 : errno);
        kv("unpriv.idle_to_other", "%d",
           sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &sp) == 0 ? 0 : errno);
        kv("unpriv.idle_to_batch", "%d",
           sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &sp) == 0 ? 0 : errno);
        kv("unpriv.dumpable1", "%d", prctl(PR_SET_DUMPABLE, 1) == 0 ? 0 : errno);
        kv("unpriv.slack", "%d", prctl(PR_SET_TIMERSLACK, 9000) == 0 ? 0 : errno);
        kv("unpriv.nnp", "%d", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno);
        kv("unpriv.unset_nnp", "%d", prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0 ? 0 : errno);
        values(line, sizeof line);
        report("unpriv.end", line);
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    /* RLIMIT_NICE 25 (set by root, kept through the uid change): nice down to -5 */
    pid = fork();
    if (pid == 0) {
        struct rlimit lim = {25, 25};
        int set = setrlimit(RLIMIT_NICE, &lim) == 0 ? 0 : errno; /* CAP_SYS_RESOURCE */
        kv("rlimit25.set", "%d", set);
        if (set || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            _exit(1);
        kv("rlimit25.to_minus5", "%d", setpriority(PRIO_PROCESS, 0, -5) == 0 ? 0 : errno);
        kv("rlimit25.to_minus6", "%d", setpriority(PRIO_PROCESS, 0, -6) == 0 ? 0 : errno);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    char line[256];
    if (argc > 1 && strcmp(argv[1], "report") == 0) {
        values(line, sizeof line);
        report(argv[2], line);
        return 0;
    }
    values(line, sizeof line);
    report("initial", line);
    kv("dumpable2", "%d", prctl(PR_SET_DUMPABLE, 2) == 0 ? 0 : errno);
    int last = last_allowed_cpu();
    kv("last_cpu", "%d", last);

    set_parent(last);
    values(line, sizeof line);
    report("parent", line);

    /* fork */
    pid_t pid = fork();
    if (pid == 0) {
        values(line, sizeof line);
        report("fork.child", line);
        change();
        prctl(PR_SET_TIMERSLACK, 0); /* back to the child's default */
        values(line, sizeof line);
        report("fork.child_slack0", line);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    values(line, sizeof line);
    report("fork.parent_after", line);

    /* vfork: the child reads, changes, and ends; the parent reads after */
    static char vline[256];
    pid = vfork();
    if (pid == 0) {
        values(vline, sizeof vline);
        change();
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    report("vfork.child", vline);
    values(line, sizeof line);
    report("vfork.parent_after", line);
    prctl(PR_SET_DUMPABLE, 0);

    /* pthread_create */
    pthread_t th;
    pthread_create(&th, NULL, thread_main, NULL);
    pthread_join(th, NULL);
    report("thread.new", shared_line);
    values(line, sizeof line);
    report("thread.parent_after", line);

    /* posix_spawn, default attributes */
    char *sargv[] = {argv[0], "report", "spawn.child", NULL};
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, sargv, environ) == 0)
        waitpid(pid, NULL, 0);

    /* SCHED_RESET_ON_FORK with a negative nice (root) */
    struct sched_param sp = {0};
    setpriority(PRIO_PROCESS, 0, -3);
    sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &sp);
    values(line, sizeof line);
    report("reset.parent", line);
    pid = fork();
    if (pid == 0) {
        values(line, sizeof line);
        report("reset.child", line);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    pthread_create(&th, NULL, thread_main, NULL);
    pthread_join(th, NULL);
    report("reset.thread", shared_line);
    setpriority(PRIO_PROCESS, 0, 5);
    sched_setscheduler(0, SCHED_BATCH, &sp);

    unprivileged();

    /* exec: the same process, a new image (comm: the file's base name) */
    fflush(stdout);
    char *eargv[] = {argv[0], "report", "exec.image", NULL};
    execve("/proc/self/exe", eargv, environ);
    return 1;
}
