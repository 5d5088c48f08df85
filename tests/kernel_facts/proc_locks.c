/* proc_locks.c -- who owns a record lock (fcntl F_SETLK), an open file
 * description lock (F_OFD_SETLK) and a flock(2) lock, and what fork,
 * posix_spawn, pthread_create and execve do with each.
 *
 * "WHO.KIND" is what /proc/self/fdinfo/FD shows of the locks on the file fd 3
 * (a scratch file the parent opened) refers to: the "lock:" lines, as
 * "POSIX WRITE", "OFDLCK READ", "FLOCK WRITE", joined by "+" ("none": no
 * line).  The kernel lists a lock there when it was set through that open file
 * description and its owner is the reading process's fd table (a record lock)
 * or the open file description itself (OFD and flock locks); "WHO.KIND_take"
 * is the errno of taking the same lock again, non-blocking, from WHO (0: it
 * could).  The thread's lock replaces the process's own (one owner).
 */
#include "proc_common.h"

#include <pthread.h>
#include <spawn.h>
#include <sys/file.h>

extern char **environ;

static void show(const char *key, int fd)
{
    char path[64], buf[4096], out[512] = "";
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    if (slurp(path, buf, sizeof buf) < 0) {
        kv(key, "unreadable");
        return;
    }
    for (char *line = strstr(buf, "lock:"); line; line = strstr(line + 1, "lock:")) {
        char kind[16], advisory[16], mode[16];
        if (sscanf(line, "lock: %*d: %15s %15s %15s", kind, advisory, mode) == 3) {
            if (*out)
                strcat(out, "+");
            strcat(out, kind);
            strcat(out, " ");
            strcat(out, mode);
        }
    }
    kv(key, "%s", *out ? out : "none");
}

static int setlk(int fd, int cmd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, cmd, &fl) < 0 ? errno : 0;
}

static int take_flock(int fd, int how)
{
    return flock(fd, how | LOCK_NB) < 0 ? errno : 0;
}

/* What WHO sees of fd 3, and whether it can take each kind of lock itself. */
static void report(const char *who, int try)
{
    char k[64];
    snprintf(k, sizeof k, "%s.locks", who);
    show(k, 3);
    if (!try)
        return;
    snprintf(k, sizeof k, "%s.posix_take", who);
    kv(k, "%d", setlk(3, F_SETLK, F_WRLCK));
}

static void *thread_main(void *arg)
{
    (void)arg;
    report("thread", 0);
    kv("thread.posix_take", "%d", setlk(3, F_SETLK, F_WRLCK));
    return NULL;
}

static void fresh(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd != 3) {
        dup2(fd, 3);
        close(fd);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) {  /* an exec'd or spawned image: fd 3 is still open */
        report(argv[1], 0);
        return 0;
    }
    char path[] = "/tmp/forklab-locks-XXXXXX";
    int tmp = mkstemp(path);
    close(tmp);

    /* record locks: the process owns them */
    fresh(path);
    kv("posix.set", "%d", setlk(3, F_SETLK, F_WRLCK));
    report("posix.parent", 0);
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        report("posix.fork", 1);
        _exit(0);
    }
    reap(pid, 5000);
    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, NULL);
    char *args[] = {argv[0], "posix.spawn", NULL};
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) == 0)
        reap(pid, 5000);
    /* the trap: closing ANY fd of the file drops the process's record locks */
    int other = open(path, O_RDONLY);
    close(other);
    report("posix.after_other_close", 0);
    kv("posix.relock", "%d", setlk(3, F_SETLK, F_WRLCK));
    kv("posix.upgrade_read", "%d", setlk(3, F_SETLK, F_RDLCK));
    report("posix.after_read", 0);
    kv("posix.unlock", "%d", setlk(3, F_SETLK, F_UNLCK));
    report("posix.after_unlock", 0);
    pid = fork();
    if (pid == 0) {  /* a child's own lock, then its exec */
        child_guard();
        kv("posix.child_set", "%d", setlk(3, F_SETLK, F_WRLCK));
        char *exec_args[] = {argv[0], "posix.exec", NULL};
        execve("/proc/self/exe", exec_args, environ);
        _exit(99);
    }
    reap(pid, 5000);

    /* set again through another description of the file: in the same mode the lock
     * stays on the first description, in the other mode it moves to the new one */
    fresh(path);
    int second = open(path, O_RDWR);
    setlk(3, F_SETLK, F_WRLCK);
    setlk(second, F_SETLK, F_WRLCK);
    show("posix.same_mode.first", 3);
    show("posix.same_mode.second", second);
    setlk(second, F_SETLK, F_RDLCK);
    show("posix.other_mode.first", 3);
    show("posix.other_mode.second", second);
    close(second);

    /* OFD locks: the open file description owns them */
    fresh(path);
    kv("ofd.set", "%d", setlk(3, F_OFD_SETLK, F_WRLCK));
    report("ofd.parent", 0);
    other = open(path, O_RDONLY);
    kv("ofd.other_description_take", "%d", setlk(other, F_OFD_SETLK, F_RDLCK));
    kv("ofd.posix_conflict", "%d", setlk(other, F_SETLK, F_RDLCK));
    close(other);
    report("ofd.after_other_close", 0);
    pid = fork();
    if (pid == 0) {
        child_guard();
        report("ofd.fork", 0);
        kv("ofd.fork_take", "%d", setlk(3, F_OFD_SETLK, F_RDLCK));
        _exit(0);
    }
    reap(pid, 5000);
    report("ofd.after_child_change", 0);
    args[1] = "ofd.spawn";
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) == 0)
        reap(pid, 5000);

    /* flock: the open file description owns it too */
    fresh(path);
    kv("flock.set", "%d", take_flock(3, LOCK_EX));
    report("flock.parent", 0);
    other = open(path, O_RDONLY);
    kv("flock.other_description_take", "%d", take_flock(other, LOCK_SH));
    kv("flock.posix_independent", "%d", setlk(other, F_SETLK, F_RDLCK));
    close(other);
    report("flock.after_other_close", 0);
    pid = fork();
    if (pid == 0) {
        child_guard();
        report("flock.fork", 0);
        kv("flock.fork_unlock", "%d", take_flock(3, LOCK_UN));
        _exit(0);
    }
    reap(pid, 5000);
    report("flock.after_child_change", 0);
    close(3);
    unlink(path);
    return 0;
}
