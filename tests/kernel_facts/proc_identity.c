/* proc_identity.c -- what fork, vfork, clone(CLONE_FS), posix_spawn,
 * pthread_create and execve do with a process's identity and its fs and
 * environment attributes: pid, parent, process group, session, umask, working
 * directory, root, environment, resource limits, the exit signal and the
 * parent-death signal.
 *
 * The parent gives each attribute a value no default has (umask 027, cwd
 * "sub", its own process group, FL_X=1 in its environment, RLIMIT_NOFILE soft
 * 200, RLIMIT_CORE soft 0, PR_SET_PDEATHSIG SIGUSR2), then each creator's new
 * task reports its values ("CASE.KEY=VALUE") and, where it can act, changes
 * umask, cwd and FL_X; the parent then reports its own again ("CASE.parent_*").
 * "unpriv.*": the same calls by a user other than root (uid 65534).
 */
#include "proc_common.h"

#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <grp.h>
#include <sys/resource.h>

extern char **environ;
static pid_t parent_pid, parent_pgid, parent_sid;
static char exe[4096];

static void cwd_base(char *out, size_t sz)
{
    char buf[4096];
    if (!getcwd(buf, sizeof buf)) {
        snprintf(out, sz, "?");
        return;
    }
    char *slash = strrchr(buf, '/');
    snprintf(out, sz, "%s", slash ? slash + 1 : buf);
}

/* Field 38 of /proc/self/task/TID/stat: the signal the parent gets at the end. */
static int exit_signal(pid_t tid)
{
    char path[96], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    if (slurp(path, buf, sizeof buf) < 0)
        return -99;
    char *p = strrchr(buf, ')');
    int field = 2;
    for (; p && *p; p++)
        if (*p == ' ' && ++field == 38)
            return atoi(p + 1);
    return -99;
}

static void report(const char *c)
{
    char key[96], cwd[256];
    mode_t old = umask(0);
    umask(old);
    cwd_base(cwd, sizeof cwd);
    struct rlimit nofile, core;
    getrlimit(RLIMIT_NOFILE, &nofile);
    getrlimit(RLIMIT_CORE, &core);
    int pdeath = -1;
    prctl(PR_GET_PDEATHSIG, &pdeath);
    const char *x = getenv("FL_X");
#define R(k, ...) (snprintf(key, sizeof key, "%s." k, c), kv(key, __VA_ARGS__))
    R("same_pid", "%d", getpid() == parent_pid);
    R("parent_is_creator", "%d", getppid() == parent_pid);
    R("same_pgid", "%d", getpgid(0) == parent_pgid);
    R("same_sid", "%d", getsid(0) == parent_sid);
    R("umask", "%03o", (unsigned)old);
    R("cwd", "%s", cwd);
    R("env", "%s", x ? x : "(unset)");
    R("nofile_soft", "%lld", (long long)nofile.rlim_cur);
    R("core_soft", "%lld", (long long)core.rlim_cur);
    R("pdeathsig", "%d", pdeath);
    R("exit_signal", "%d", exit_signal((pid_t)syscall(SYS_gettid)));
#undef R
}

/* What the new task does once it has reported: change what it can. */
static void change(void)
{
    setenv("FL_X", "2", 1);
    umask(077);
    if (chdir("..") != 0)
        _exit(91);
}

static void parent_after(const char *c)
{
    char key[96], cwd[256];
    mode_t old = umask(027);
    cwd_base(cwd, sizeof cwd);
    snprintf(key, sizeof key, "%s.parent_umask", c);
    kv(key, "%03o", (unsigned)old);
    snprintf(key, sizeof key, "%s.parent_cwd", c);
    kv(key, "%s", cwd);
    const char *x = getenv("FL_X");
    snprintf(key, sizeof key, "%s.parent_env", c);
    kv(key, "%s", x ? x : "(unset)");
    setenv("FL_X", "1", 1);
    if (strcmp(cwd, "sub") != 0 && chdir("sub") != 0)
        _exit(92);
}

static int clone_fs_child(void *arg)
{
    (void)arg;
    report("clone_fs");
    change();
    return 0;
}

static int clone_plain_child(void *arg)
{
    (void)arg;
    report("clone");
    change();
    return 0;
}

static void *thread_main(void *arg)
{
    (void)arg;
    report("thread");
    change();
    return NULL;
}

/* The parent-death signal is sent when the THREAD that made the child ends. */
static void *thread_forks(void *arg)
{
    pid_t *out = arg;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        sleep_ms(3000);
        _exit(0);
    }
    *out = pid;
    sleep_ms(100); /* the child has set its pdeathsig */
    return NULL;
}

static void unprivileged(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(93);
        errno = 0;
        kv("unpriv.chroot", "%d", chroot(".") == 0 ? 0 : errno);
        struct rlimit l;
        getrlimit(RLIMIT_NOFILE, &l);
        l.rlim_max += 1;
        kv("unpriv.raise_hard", "%d", setrlimit(RLIMIT_NOFILE, &l) == 0 ? 0 : errno);
        getrlimit(RLIMIT_NOFILE, &l);
        l.rlim_max -= 1;
        kv("unpriv.lower_hard", "%d", setrlimit(RLIMIT_NOFILE, &l) == 0 ? 0 : errno);
        l.rlim_cur = l.rlim_max + 1;
        kv("unpriv.soft_above_hard", "%d", setrlimit(RLIMIT_NOFILE, &l) == 0 ? 0 : errno);
        _exit(0);
    }
    reap(pid, 5000);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "report") == 0) {
        parent_pid = (pid_t)atoi(argv[2]);
        parent_pgid = (pid_t)atoi(argv[3]);
        parent_sid = (pid_t)atoi(argv[4]);
        report(argv[5]);
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return 1;
    exe[n] = 0;
    if (mkdir("sub", 0755) != 0 && errno != EEXIST)
        return 2;
    /* a session of our own (so the parent's session and group are not the test
     * runner's), and the values no default has */
    if (fork() != 0) {
        int st;
        wait(&st);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
    }
    setsid();
    if (chdir("sub") != 0)
        return 4;
    umask(027);
    setenv("FL_X", "1", 1);
    struct rlimit l;
    getrlimit(RLIMIT_NOFILE, &l);
    l.rlim_cur = 200;
    setrlimit(RLIMIT_NOFILE, &l);
    getrlimit(RLIMIT_CORE, &l);
    l.rlim_cur = 0;
    setrlimit(RLIMIT_CORE, &l);
    prctl(PR_SET_PDEATHSIG, SIGUSR2);
    signal(SIGUSR2, SIG_IGN);
    parent_pid = getpid();
    parent_pgid = getpgid(0);
    parent_sid = getsid(0);
    kv("parent.group_leader", "%d", parent_pgid == parent_pid);
    report("parent");

    pid_t pid = fork();
    if (pid == 0) {
        report("fork");
        change();
        _exit(0);
    }
    reap(pid, 5000);
    parent_after("fork");

    pid = vfork();
    if (pid == 0) {
        report("vfork");
        change();
        _exit(0);
    }
    reap(pid, 5000);
    parent_after("vfork");

    static char stack[256 * 1024];
    pid = clone(clone_fs_child, stack + sizeof stack, CLONE_FS | SIGCHLD, NULL);
    reap(pid, 5000);
    parent_after("clone_fs");
    /* a child whose end the parent learns of by SIGUSR1: waited for with __WALL */
    signal(SIGUSR1, SIG_IGN);
    pid = clone(clone_plain_child, stack + sizeof stack, SIGUSR1, NULL);
    kv("clone.exit_signal_given", "%d", SIGUSR1);
    int cst;
    waitpid(pid, &cst, __WALL);
    parent_after("clone");

    pthread_t th;
    pthread_create(&th, NULL, thread_main, NULL);
    pthread_join(th, NULL);
    parent_after("thread");

    char a1[16], a2[16], a3[16];
    snprintf(a1, sizeof a1, "%d", (int)parent_pid);
    snprintf(a2, sizeof a2, "%d", (int)parent_pgid);
    snprintf(a3, sizeof a3, "%d", (int)parent_sid);
    char *sargv[] = {exe, "report", a1, a2, a3, "spawn", NULL};
    if (posix_spawn(&pid, exe, NULL, NULL, sargv, environ) == 0)
        reap(pid, 5000);
    char *empty[] = {NULL};
    sargv[5] = "spawn_empty_env";
    if (posix_spawn(&pid, exe, NULL, NULL, sargv, empty) == 0)
        reap(pid, 5000);

    /* exec: the same process, a new image; a forked child that sets its own
     * pdeathsig first (fork reset it), so that exec's answer shows */
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGUSR2);
        char b1[16];
        snprintf(b1, sizeof b1, "%d", (int)getpid());
        char *eargv[] = {exe, "report", b1, a2, a3, "exec", NULL};
        execve(exe, eargv, environ);
        _exit(94);
    }
    reap(pid, 5000);
    pid = fork();
    if (pid == 0) {
        char b1[16];
        snprintf(b1, sizeof b1, "%d", (int)getpid());
        char *eargv[] = {exe, "report", b1, a2, a3, "exec_empty_env", NULL};
        execve(exe, eargv, empty);
        _exit(94);
    }
    reap(pid, 5000);

    /* setpgid and setsid */
    pid = fork();
    if (pid == 0) {
        sleep_ms(3000);
        _exit(0);
    }
    kv("setpgid.child_own_group", "%d", setpgid(pid, 0) == 0 && getpgid(pid) == pid);
    kv("setpgid.child_back", "%d", setpgid(pid, parent_pgid) == 0 && getpgid(pid) == parent_pgid);
    errno = 0;
    kv("setsid.group_leader", "%d", setsid() == -1 ? errno : 0);
    kill(pid, SIGKILL);
    reap(pid, 5000);
    pid = fork();
    if (pid == 0) {
        pid_t s = setsid();
        kv("setsid.child_new", "%d", s == getpid() && getpgid(0) == getpid());
        errno = 0;
        kv("setsid.child_again", "%d", setsid() == -1 ? errno : 0);
        errno = 0;
        kv("setpgid.session_leader", "%d", setpgid(0, parent_pgid) == -1 ? errno : 0);
        _exit(0);
    }
    reap(pid, 5000);
    /* a child that made a session of its own: its parent cannot move it */
    int go[2];
    if (pipe(go) != 0)
        return 5;
    pid = fork();
    if (pid == 0) {
        setsid();
        char c = 0;
        if (write(go[1], &c, 1) != 1)
            _exit(95);
        sleep_ms(3000);
        _exit(0);
    }
    char c;
    if (read(go[0], &c, 1) != 1)
        return 6;
    errno = 0;
    kv("setpgid.other_session", "%d", setpgid(pid, parent_pgid) == -1 ? errno : 0);
    kill(pid, SIGKILL);
    reap(pid, 5000);

    /* pdeathsig fires when the thread that made the child ends */
    pid_t orphan = 0;
    pthread_create(&th, NULL, thread_forks, &orphan);
    pthread_join(th, NULL);
    int st = reap(orphan, 2000);
    kv("pdeathsig.thread_exit_kills", "%d", st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    if (geteuid() == 0)
        unprivileged();
    return 0;
}
