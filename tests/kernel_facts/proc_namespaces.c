/* proc_namespaces.c -- which namespaces a new process, thread or image is in,
 * what unshare(2) and clone3's CLONE_NEW* flags do, and the PID namespace's
 * own rules (pid 1, orphans, the death of its init).
 *
 * Every case runs in a child of its own ("case child"), so that nothing this
 * program unshares outlives the case.  Run as root, and as nobody
 * (`setpriv --reuid=65534 --regid=65534 --clear-groups`): then every kind but
 * user is EPERM, unless a user namespace was made first.
 *
 * Keys: KIND is pid, mnt, uts, ipc, net or user.
 *   unshare.KIND        0 or the errno of unshare(CLONE_NEWKIND)
 *   unshare.KIND.moved  1 if the caller's /proc/self/ns/KIND changed
 *   clone.KIND          "new", "same", or the errno of clone3(CLONE_NEWKIND)
 *   fork.KIND / vfork.KIND / spawn.KIND / thread.KIND / exec.KIND
 *                       "same" or "new": after unshare(CLONE_NEWKIND) in the
 *                       case child, the new process's (thread's, image's)
 *                       namespace against the case child's
 */
#include "proc_common.h"

#include <linux/sched.h>
#include "clone3_vm.h"
#include <pthread.h>
#include <sched.h>
#include <spawn.h>

extern char **environ;

static const char *KINDS[] = {"pid", "mnt", "uts", "ipc", "net", "user"};
static const int FLAGS[] = {CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC,
                            CLONE_NEWNET, CLONE_NEWUSER};
#define NKINDS 6

static char self_exe[4096];

/* The inode of /proc/PID/ns/KIND (pid: "pid", the process's own; 0 if unreadable). */
static unsigned long ns_of(const char *who, const char *kind)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%s/ns/%s", who, kind);
    return stat(path, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

static long clone3_raw(unsigned long long flags)
{
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.flags = flags;
    a.exit_signal = SIGCHLD;
    return syscall(SYS_clone3, &a, sizeof a);
}

/* Run fn in a case child; wait for it. */
static void in_child(void (*fn)(int), int arg)
{
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        fn(arg);
        _exit(0);
    }
    int st = reap(pid, 10000);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        kv("case_failed", "%d", arg);
}

static void unshare_case(int i)
{
    unsigned long before = ns_of("self", KINDS[i]);
    int r = unshare(FLAGS[i]);
    char key[64];
    snprintf(key, sizeof key, "unshare.%s", KINDS[i]);
    kv(key, "%s", r == 0 ? "0" : ename(errno));
    snprintf(key, sizeof key, "unshare.%s.moved", KINDS[i]);
    kv(key, "%d", ns_of("self", KINDS[i]) != before);
}

static void clone_case(int i)
{
    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    unsigned long before = ns_of("self", KINDS[i]);
    long pid = clone3_raw(FLAGS[i]);
    if (pid == 0) {
        unsigned long mine = ns_of("self", KINDS[i]);
        char c = mine != before ? 'n' : 's';
        if (write(p[1], &c, 1) != 1)
            _exit(3);
        if (FLAGS[i] == CLONE_NEWPID) {
            long ids[2] = {getpid(), getppid()};
            if (write(p[1], ids, sizeof ids) != sizeof ids)
                _exit(3);
        }
        _exit(0);
    }
    char key[64];
    snprintf(key, sizeof key, "clone.%s", KINDS[i]);
    if (pid < 0) {
        kv(key, "%s", ename(errno));
        return;
    }
    char c = '?';
    if (read(p[0], &c, 1) != 1)
        c = '?';
    kv(key, "%s", c == 'n' ? "new" : c == 's' ? "same" : "?");
    if (FLAGS[i] == CLONE_NEWPID) {
        long ids[2] = {-1, -1};
        if (read(p[0], ids, sizeof ids) != sizeof ids)
            ids[0] = -1;
        kv("clone.pid.getpid", "%ld", ids[0]);
        kv("clone.pid.getppid", "%ld", ids[1]);
    }
    reap(pid, 2000);
}

/* After unshare(CLONE_NEWKIND) (if it works): where fork, vfork, posix_spawn,
 * pthread_create and execve put the new one.  For pid, the new process is in
 * pid_for_children; the thread and the image are read from "pid". */
static const char *KIND_NOW;
static void *thread_reads(void *arg)
{
    char who[64];
    snprintf(who, sizeof who, "self/task/%ld", (long)syscall(SYS_gettid));
    *(unsigned long *)arg = ns_of(who, KIND_NOW);
    return NULL;
}

static const char *cmp(unsigned long a, unsigned long b)
{
    return a == 0 || b == 0 ? "?" : a == b ? "same" : "new";
}

static void creators_case(int i)
{
    const char *kind = KINDS[i];
    KIND_NOW = kind;
    if (unshare(FLAGS[i]) < 0)
        return;
    /* the namespace a new process of ours is put in: for pid, the caller's own
     * (pid_for_children cannot be read until the namespace has its init) */
    unsigned long expect = ns_of("self", kind);
    char key[64], who[64];
    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    unsigned long got = 0;

    pid_t pid = fork();
    if (pid == 0) {
        unsigned long mine = ns_of("self", kind);
        if (write(p[1], &mine, sizeof mine) != sizeof mine)
            _exit(3);
        _exit(0);
    }
    if (pid > 0 && read(p[0], &got, sizeof got) != sizeof got)
        got = 0;
    snprintf(key, sizeof key, "fork.%s", kind);
    kv(key, "%s", pid < 0 ? ename(errno) : cmp(got, expect));
    if (FLAGS[i] == CLONE_NEWPID)  /* (the child, a zombie now, keeps the namespace) */
        kv("fork.pid.in_children_ns", "%d", got == ns_of("self", "pid_for_children"));
    if (pid > 0)
        reap(pid, 2000);
    if (FLAGS[i] == CLONE_NEWPID) {
        /* the namespace's init is gone: a second process cannot enter it */
        pid = fork();
        if (pid == 0)
            _exit(0);
        kv("fork.pid.again", "%s", pid < 0 ? ename(errno) : "0");
        if (pid > 0)
            reap(pid, 2000);
        return;  /* the other creators would meet the dead namespace too */
    }

    pid = vfork();
    if (pid == 0) {
        unsigned long mine = ns_of("self", kind);
        if (write(p[1], &mine, sizeof mine) != sizeof mine)
            _exit(3);
        _exit(0);
    }
    got = 0;
    if (pid > 0 && read(p[0], &got, sizeof got) != sizeof got)
        got = 0;
    snprintf(key, sizeof key, "vfork.%s", kind);
    kv(key, "%s", pid < 0 ? ename(errno) : cmp(got, expect));
    if (pid > 0)
        reap(pid, 2000);

    /* posix_spawn of ourselves in "report" mode: it writes its inode to fd p[1] */
    char fdarg[16];
    snprintf(fdarg, sizeof fdarg, "%d", p[1]);
    char *argv[] = {self_exe, "report", (char *)kind, fdarg, NULL};
    int r = posix_spawn(&pid, self_exe, NULL, NULL, argv, environ);
    got = 0;
    if (r == 0 && read(p[0], &got, sizeof got) != sizeof got)
        got = 0;
    snprintf(key, sizeof key, "spawn.%s", kind);
    kv(key, "%s", r != 0 ? ename(r) : cmp(got, expect));
    if (r == 0)
        reap(pid, 2000);

    pthread_t t;
    got = 0;
    r = pthread_create(&t, NULL, thread_reads, &got);
    if (r == 0)
        pthread_join(t, NULL);
    snprintf(key, sizeof key, "thread.%s", kind);
    kv(key, "%s", r != 0 ? ename(r) : cmp(got, ns_of("self", kind)));

    /* execve: the case child becomes the reporter; its own parent compares */
    snprintf(who, sizeof who, "exec.%s", kind);
    pid = fork();  /* (in the namespaces of the case child, as checked above) */
    if (pid == 0) {
        execve(self_exe, argv, environ);
        _exit(4);
    }
    got = 0;
    if (pid > 0 && read(p[0], &got, sizeof got) != sizeof got)
        got = 0;
    kv(who, "%s", pid < 0 ? ename(errno) : cmp(got, expect));
    if (pid > 0)
        reap(pid, 2000);
}

/* After unshare(CLONE_NEWPID): a thread can no longer be made. */
static void *nothing(void *arg)
{
    return arg;
}

static void pid_thread_case(int unused)
{
    (void)unused;
    if (unshare(CLONE_NEWPID) < 0)
        return;
    pthread_t t;
    int r = pthread_create(&t, NULL, nothing, NULL);
    kv("unshare.pid.then_thread", "%s", r == 0 ? "0" : ename(r));
    if (r == 0)
        pthread_join(t, NULL);
}

/* unshare(CLONE_NEWUSER) in a process with two threads. */
static void *sleeper(void *arg)
{
    (void)arg;
    sleep_ms(500);
    return NULL;
}

static void user_threads_case(int unused)
{
    (void)unused;
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    int r = unshare(CLONE_NEWUSER);
    kv("unshare.user.threaded", "%s", r == 0 ? "0" : ename(errno));
    r = unshare(CLONE_NEWUTS);
    kv("unshare.uts.threaded", "%s", r == 0 ? "0" : ename(errno));
    pthread_join(t, NULL);
}

/* In a new user namespace: the other kinds are allowed (CAP_SYS_ADMIN there),
 * until an execve drops the capabilities (the uid is unmapped: not root there). */
static void user_then_case(int unused)
{
    (void)unused;
    if (unshare(CLONE_NEWUSER) < 0)
        return;
    int r = unshare(CLONE_NEWUTS);
    kv("user_then.uts", "%s", r == 0 ? "0" : ename(errno));
    kv("user_then.getuid", "%d", (int)getuid());
    pid_t pid = fork();
    if (pid == 0) {
        r = unshare(CLONE_NEWIPC);
        kv("user_then.fork_ipc", "%s", r == 0 ? "0" : ename(errno));
        _exit(0);
    }
    reap(pid, 2000);
    pid = fork();
    if (pid == 0) {
        char *argv[] = {self_exe, "try_unshare", NULL};
        execve(self_exe, argv, environ);
        _exit(4);
    }
    reap(pid, 2000);
}

/* Flag mixes forklab's clone can ask for. */
static void mixes_case(int unused)
{
    (void)unused;
    static const struct { const char *key; unsigned long long flags; } mix[] = {
        {"mix.newpid_vm_sighand", CLONE_NEWPID | CLONE_VM | CLONE_SIGHAND},
        {"mix.newuser_vm_sighand", CLONE_NEWUSER | CLONE_VM | CLONE_SIGHAND},
        {"mix.newpid_files", CLONE_NEWPID | CLONE_FILES},
        {"mix.newuser_files", CLONE_NEWUSER | CLONE_FILES},
        {"mix.all", CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                    CLONE_NEWUSER},
    };
    for (unsigned n = 0; n < sizeof mix / sizeof mix[0]; n++) {
        /* with CLONE_VM the child would share our stack: a vfork-like clone3 that
         * exits at once is not possible from C, so a CLONE_VM mix is asked with a
         * stack and an exit-only child (as proc_clone.c does) */
        struct clone_args a;
        memset(&a, 0, sizeof a);
        a.flags = mix[n].flags;
        a.exit_signal = SIGCHLD;
        static char stack[16384] __attribute__((aligned(16)));
        long ret;
        if (a.flags & CLONE_VM) {
            a.stack = (unsigned long long)(unsigned long)stack;
            a.stack_size = sizeof stack;
            ret = clone3_vm_probe(&a);
        } else {
            ret = syscall(SYS_clone3, &a, sizeof a);
            if (ret == 0)
                _exit(0);
            if (ret < 0)
                ret = -errno;
        }
        kv(mix[n].key, "%s", ret > 0 ? "0" : ename((int)-ret));
        if (ret > 0)
            reap(ret, 2000);
    }
}

/* In a new PID namespace (clone3 CLONE_NEWPID): an orphan goes to the
 * namespace's init; when the init dies, every other member is killed. */
static void pid_ns_rules_case(int unused)
{
    (void)unused;
    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    long init = clone3_raw(CLONE_NEWPID);
    if (init == 0) {
        close(p[0]);
        pid_t middle = fork();
        if (middle == 0) {
            pid_t orphan = fork();
            if (orphan == 0) {
                sleep_ms(200);  /* its parent has exited by now */
                long pp = getppid();
                if (write(p[1], &pp, sizeof pp) != sizeof pp)
                    _exit(3);
                sleep_ms(5000);  /* until the init's death kills it */
                _exit(0);
            }
            _exit(0);
        }
        reap(middle, 2000);
        sleep_ms(400);
        _exit(0);  /* the init dies: the orphan must die with it */
    }
    close(p[1]);
    long pp = -1;
    if (read(p[0], &pp, sizeof pp) != sizeof pp)
        pp = -1;
    kv("pidns.orphan_parent", "%ld", pp);
    long start = now_ms();
    char c;
    ssize_t n = read(p[0], &c, 1);  /* EOF once the orphan is gone too */
    kv("pidns.orphan_killed_with_init", "%d", n == 0 && now_ms() - start < 3000);
    reap(init, 2000);
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    self_exe[n > 0 ? n : 0] = 0;
    if (argc == 4 && strcmp(argv[1], "report") == 0) {
        unsigned long mine = ns_of("self", argv[2]);
        int fd = atoi(argv[3]);
        return write(fd, &mine, sizeof mine) == sizeof mine ? 0 : 3;
    }
    if (argc == 2 && strcmp(argv[1], "try_unshare") == 0) {
        int r = unshare(CLONE_NEWIPC);
        kv("user_then.exec_ipc", "%s", r == 0 ? "0" : ename(errno));
        return 0;
    }
    kv("euid", "%d", (int)geteuid());
    for (int i = 0; i < NKINDS; i++) {
        in_child(unshare_case, i);
        in_child(clone_case, i);
        in_child(creators_case, i);
    }
    in_child(pid_thread_case, 0);
    in_child(user_threads_case, 0);
    in_child(user_then_case, 0);
    in_child(mixes_case, 0);
    in_child(pid_ns_rules_case, 0);
    return 0;
}
