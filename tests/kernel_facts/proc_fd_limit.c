/* proc_fd_limit.c -- RLIMIT_NOFILE and the lowest free fd.
 *
 * With the soft limit set to 16, and fds 0, 2 and 15 (the report) open:
 * open(2) takes 1, 3, 4, ... 14 (13 fds), every fd below the limit, and then
 * fails with EMFILE; pipe(2) with a single fd free fails with EMFILE and takes
 * neither; dup(2) takes that last fd.
 *
 * With no fd free, clone3 with CLONE_PIDFD fails with EMFILE and makes no
 * child (copy_process takes the pidfd's number before anything else).
 *
 * Keys: opened (how many opens succeeded), open_errno, highest (the last fd
 * open gave), pipe_one_free (return errno), pipe_took_fd (whether the free fd
 * was taken anyway), dup_last (the fd dup returned), clone_pidfd_none_free
 * (return errno), clone_made_child (whether a child exists to wait for).
 */
#include "proc_common.h"

#include <linux/sched.h>
#include <stdint.h>
#include <sys/resource.h>

int main(void)
{
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = 16;
    if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
        return 1;
    for (int fd = 3; fd < 64; fd++) /* whatever the harness left open */
        close(fd);
    report_fd = dup2(1, 15); /* report through the last fd, keep 1 for the count */
    close(1);
    int opened = 0, highest = -1, fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0) {
        opened++;
        highest = fd;
    }
    kv("open_errno", "%s", ename(errno));
    kv("opened", "%d", opened);
    kv("highest", "%d", highest);
    close(highest); /* one fd free: 14 */
    int p[2];
    int r = pipe(p);
    kv("pipe_one_free", "%d %s", r, r < 0 ? ename(errno) : "0");
    kv("pipe_took_fd", "%d", fcntl(highest, F_GETFD) >= 0);
    kv("dup_last", "%d", dup(0));
    struct clone_args args;
    memset(&args, 0, sizeof args);
    int pidfd = -1;
    args.flags = CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0)
        _exit(0);
    kv("clone_pidfd_none_free", "%ld %s", pid < 0 ? -1L : 0L, pid < 0 ? ename(errno) : "0");
    kv("clone_made_child", "%d", waitpid(-1, NULL, 0) > 0);
    return 0;
}
