/* proc_root.c -- the root directory (chroot(2)) under fork, vfork, clone(CLONE_FS),
 * pthread_create, posix_spawn and execve, and what a chrooted process can still
 * reach: the paths forklab's verbs use.
 *
 * Each case runs in a child "p" of this program that chroots into "sub" (a
 * scratch directory); this program, whose root stays "/", reads the roots of p
 * and of what p made from /proc/PID/root ("CASE.root=" the path below the scratch
 * directory, "/" for the machine's). p and its children wait on a pipe until
 * their roots are read. "unpriv.*": chroot by a user other than root.
 */
#include "proc_common.h"

#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <grp.h>

extern char **environ;
static char scratch[4096];
static char exe[4096];
static int go[2];   /* origin -> p and its children: "read; go on" */
static int ready[2]; /* p and its children -> origin: a pid to read, 0: done */
static char stack[256 * 1024];

static void tell(pid_t pid)
{
    int v = (int)pid;
    if (write(ready[1], &v, sizeof v) != sizeof v)
        _exit(90);
}

static void wait_go(void)
{
    char b;
    if (read(go[0], &b, 1) != 1)
        _exit(91);
}

/* origin: read the root of each pid told, each under CASE.KEY; 1 if a 0 (p is
 * done) came first. */
static int read_roots(const char *c, const char *const *keys)
{
    for (int i = 0; keys[i]; i++) {
        int pid;
        if (read(ready[0], &pid, sizeof pid) != sizeof pid || pid == 0)
            return 1;
        char path[64], link[4096], key[96];
        snprintf(path, sizeof path, "/proc/%d/root", pid);
        ssize_t n = readlink(path, link, sizeof link - 1);
        link[n > 0 ? n : 0] = 0;
        const char *shown = link;
        size_t len = strlen(scratch);
        if (strcmp(link, "/") != 0 && strncmp(link, scratch, len) == 0)
            shown = link[len] ? link + len + 1 : ".";
        snprintf(key, sizeof key, "%s.%s", c, keys[i]);
        kv(key, "%s", shown);
        if (write(go[1], "g", 1) != 1)
            return 1;
    }
    return 0;
}

static int chroot_inner(void *arg)
{
    (void)arg;
    tell(getpid());
    wait_go();
    return chroot("sub/inner") == 0 ? 0 : 1; /* relative to its cwd: the scratch's */
}

static void *thread_chroot(void *arg)
{
    (void)arg;
    if (chroot("sub/inner") != 0)
        return (void *)1;
    return NULL;
}

static void errno_of(const char *key, int rc)
{
    kv(key, "%s", rc == 0 ? "0" : ename(errno));
}

/* p: chroot into sub, then each case. */
static void p_main(const char *c)
{
    int dirfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (chroot("sub") != 0) {
        tell(0); /* the origin stops waiting for roots to read */
        _exit(92);
    }
    tell(getpid());
    wait_go();
    if (strcmp(c, "fork") == 0) {
        pid_t k = fork();
        if (k == 0) {
            tell(getpid());
            wait_go();
            if (chroot("sub/inner") != 0) /* relative to the cwd, which stayed */
                _exit(93);
            tell(getpid());
            wait_go();
            _exit(0);
        }
        reap(k, 5000);
        tell(getpid());
        wait_go();
    } else if (strcmp(c, "vfork") == 0) {
        pid_t k = vfork();
        if (k == 0) {
            tell(getpid());
            wait_go();
            _exit(0);
        }
        reap(k, 5000);
    } else if (strcmp(c, "clone_fs") == 0) {
        pid_t k = clone(chroot_inner, stack + sizeof stack, CLONE_FS | SIGCHLD, NULL);
        reap(k, 5000);
        tell(getpid());
        wait_go();
    } else if (strcmp(c, "thread") == 0) {
        pthread_t th;
        pthread_create(&th, NULL, thread_chroot, NULL);
        pthread_join(th, NULL);
        tell(getpid());
        wait_go();
    } else if (strcmp(c, "reach") == 0) {
        /* what a chrooted process can still reach */
        char *argv[] = {exe, NULL};
        errno_of("reach.exec_self", execve(exe, argv, environ));
        char *targv[] = {"/bin/true", NULL};
        errno_of("reach.exec_bin_true", execve("/bin/true", targv, environ));
        int efd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        kv("reach.proc_visible", "%d", efd >= 0);
        pid_t k;
        int rc = posix_spawn(&k, "/bin/true", NULL, NULL, targv, environ);
        kv("reach.spawn_bin_true", "%s", rc == 0 ? "0" : ename(rc));
        errno_of("reach.open_dev_null", open("/dev/null", O_RDONLY) >= 0 ? 0 : -1);
        /* a file in the new root named dev/null is what /dev/null now is */
        mkdir("/dev", 0755);
        int made = open("/dev/null", O_WRONLY | O_CREAT, 0644);
        struct stat st;
        kv("reach.dev_null_is_regular", "%d", made >= 0 && fstat(made, &st) == 0 &&
           S_ISREG(st.st_mode));
        /* paths below a directory fd opened before stay reachable */
        int fd = openat(dirfd, "data.txt", O_RDONLY | O_CLOEXEC);
        errno_of("reach.openat_old_dirfd", fd >= 0 ? 0 : -1);
        /* the cwd stays where it was, outside the new root */
        char cwd[4096];
        kv("reach.getcwd_outside", "%d", getcwd(cwd, sizeof cwd) == NULL || cwd[0] != '/');
        /* an absolute path of the old root is not found: a spawn's open action */
        char abs[8192];
        snprintf(abs, sizeof abs, "%s/data.txt", scratch);
        errno_of("reach.open_old_absolute", open(abs, O_RDONLY) >= 0 ? 0 : -1);
        errno_of("reach.chroot_file", chroot("/dev/null"));
        if (made >= 0)
            unlink("/dev/null");
        rmdir("/dev");
        /* chroot again, into a directory of the new root: below it */
        mkdir("/deeper", 0755);
        errno_of("reach.chroot_again", chroot("/deeper"));
        errno_of("reach.chroot_missing", chroot("missing"));
    }
    tell(0);
    _exit(0);
}

static void run(const char *c, const char *const *keys)
{
    pid_t p = fork();
    if (p == 0) {
        p_main(c);
        _exit(0);
    }
    int end;
    if (!read_roots(c, keys) && read(ready[0], &end, sizeof end) != sizeof end)
        end = -1;
    reap(p, 5000);
}

static void unprivileged(void)
{
    chmod(".", 0755); /* a test's temporary directory is root's alone */
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(93);
        errno_of("unpriv.chroot", chroot("sub"));
        errno_of("unpriv.chroot_missing", chroot("missing"));
        /* a user namespace of its own gives CAP_SYS_CHROOT there */
        if (unshare(CLONE_NEWUSER) == 0)
            errno_of("unpriv.chroot_in_userns", chroot("sub"));
        _exit(0);
    }
    reap(pid, 5000);
}

int main(void)
{
    if (!getcwd(scratch, sizeof scratch))
        return 1;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return 1;
    exe[n] = 0;
    mkdir("sub", 0755);
    mkdir("sub/inner", 0755);
    close(open("data.txt", O_WRONLY | O_CREAT, 0644));
    if (pipe(go) != 0 || pipe(ready) != 0)
        return 2;
    /* chroot needs CAP_SYS_CHROOT: a user other than root takes it in a user
     * namespace of its own, or reports why it cannot and runs no case */
    if (getuid() != 0 && unshare(CLONE_NEWUSER) != 0) {
        kv("origin.userns", "%s", ename(errno));
        return 0;
    }
    kv("origin.root", "%s", "/");
    static const char *const fork_keys[] = {"p", "child", "child_after", "p_after", NULL};
    run("fork", fork_keys);
    static const char *const vfork_keys[] = {"p", "child", NULL};
    run("vfork", vfork_keys);
    static const char *const clone_keys[] = {"p", "child", "p_after", NULL};
    run("clone_fs", clone_keys);
    static const char *const thread_keys[] = {"p", "p_after", NULL};
    run("thread", thread_keys);
    static const char *const reach_keys[] = {"p", NULL};
    run("reach", reach_keys);
    if (getuid() == 0)
        unprivileged();
    return 0;
}
