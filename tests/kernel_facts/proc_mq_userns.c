/* proc_mq_userns.c -- mq_open in an IPC namespace that a new user namespace owns.
 *
 * Each IPC namespace has its own mqueue file system, whose superblock belongs to
 * the user namespace that owns the IPC namespace.  Creating a queue creates an
 * inode there, and the VFS refuses to create one whose owner (the caller's fsuid
 * and fsgid) has no mapping in that user namespace (may_create:
 * fsuidgid_has_mapping, EOVERFLOW).  A user namespace nobody wrote a uid_map for
 * maps nothing.  Each case runs in a child of its own.
 *
 * Keys (0, or the errno of the named call):
 *   user_then_ipc        unshare(USER), unshare(IPC|NET), mq_open
 *   user_then_ipc.setresuid  then setresuid(0,0,0): uid 0 is unmapped there too
 *   user_and_ipc         unshare(USER|IPC) in one call, mq_open
 *   user_only            unshare(USER), mq_open (the IPC namespace is the initial one's)
 *   ipc_then_user        unshare(IPC) as the caller, then unshare(USER), mq_open (root only)
 *   mapped               unshare(USER), write uid_map and gid_map for the caller's ids,
 *                        unshare(IPC), mq_open
 */
#include "proc_common.h"

#include <mqueue.h>
#include <sched.h>

static const char *try_mq_open(void)
{
    char name[64];
    snprintf(name, sizeof name, "/forklab-fact-%d", (int)getpid());
    struct mq_attr attr = {.mq_maxmsg = 1, .mq_msgsize = 16};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1)
        return ename(errno);
    mq_unlink(name);
    return "0";
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Unshare these namespace sets in turn; then mq_open; report as KEY. */
static void run_case(const char *key, int first, int second, int map_ids)
{
    pid_t pid = fork();
    if (pid != 0) {
        reap(pid, 5000);
        return;
    }
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(first) < 0) {
        kv(key, "unshare:%s", ename(errno));
        _exit(0);
    }
    if (map_ids) {
        char line[64];
        snprintf(line, sizeof line, "%d %d 1\n", (int)uid, (int)uid);
        write_file("/proc/self/setgroups", "deny");
        if (write_file("/proc/self/uid_map", line) < 0)
            kv(key, "uid_map:%s", ename(errno));
        snprintf(line, sizeof line, "%d %d 1\n", (int)gid, (int)gid);
        if (write_file("/proc/self/gid_map", line) < 0)
            kv(key, "gid_map:%s", ename(errno));
    }
    if (second && unshare(second) < 0) {
        kv(key, "unshare:%s", ename(errno));
        _exit(0);
    }
    kv(key, "%s", try_mq_open());
    if (strcmp(key, "user_then_ipc") == 0)
        kv("user_then_ipc.setresuid", "%s", setresuid(0, 0, 0) == 0 ? "0" : ename(errno));
    _exit(0);
}

int main(void)
{
    run_case("user_then_ipc", CLONE_NEWUSER, CLONE_NEWIPC | CLONE_NEWNET, 0);
    run_case("user_and_ipc", CLONE_NEWUSER | CLONE_NEWIPC, 0, 0);
    run_case("user_only", CLONE_NEWUSER, 0, 0);
    run_case("ipc_then_user", CLONE_NEWIPC, CLONE_NEWUSER, 0);
    run_case("mapped", CLONE_NEWUSER, CLONE_NEWIPC, 1);
    return 0;
}
