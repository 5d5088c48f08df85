/* proc_autoreap.c -- a child its parent does not wait for (SIGCHLD ignored: the
 * kernel reaps it at once) and a kill of it afterwards.
 *
 * exit_notify marks such a child dead and wakes its pidfd's pollers; release_task
 * frees its pid a moment later.  In between, kill() and pidfd_send_signal() still
 * find it (and return 0).  Once released, both are ESRCH, and pidfd_open too.
 *
 * Keys:
 *   released.kill           kill(pid, SIGTERM) once the pid is released: 0 or errno
 *   released.pidfd_signal   pidfd_send_signal of a pidfd taken while it lived
 *   released.pidfd_open     pidfd_open(pid) after the release
 *   released.waitpid        waitpid(pid): the kernel kept no status
 *   outside.live            pidfd_send_signal, from a process in a new PID namespace
 *                           (below a new user namespace), of a pidfd of a live process
 *                           outside it: the sender cannot see that pid
 *   outside.reaped          the same for a process outside that was reaped: the
 *                           namespace check comes first
 *   window.tries            children tried
 *   window.seen             how many still took signal 0 right after their pidfd
 *                           said they ended (timing: not asserted)
 */
#include "proc_common.h"

#include <sched.h>

static int pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_signal(int fd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

/* A child that waits for a byte, then _exits; its pidfd, taken while it lives. */
static pid_t child(int *pidfd, int *go)
{
    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        child_guard();
        (void)!read(p[0], &c, 1);
        _exit(0);
    }
    close(p[0]);
    *pidfd = pidfd_open(pid);
    *go = p[1];
    return pid;
}

static void wait_exited(int pidfd)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    while (poll(&pfd, 1, 5000) < 0 && errno == EINTR)
        ;
}

int main(void)
{
    signal(SIGCHLD, SIG_IGN);

    int pidfd, go;
    pid_t pid = child(&pidfd, &go);
    close(go);
    wait_exited(pidfd);
    long deadline = now_ms() + 2000;
    while (pidfd_signal(pidfd, 0) == 0 && now_ms() < deadline)
        sleep_ms(1);
    kv("released.kill", "%s", kill(pid, SIGTERM) == 0 ? "0" : ename(errno));
    kv("released.pidfd_signal", "%s", pidfd_signal(pidfd, SIGTERM) == 0 ? "0" : ename(errno));
    int again = pidfd_open(pid);
    kv("released.pidfd_open", "%s", again >= 0 ? "0" : ename(errno));
    kv("released.waitpid", "%s", waitpid(pid, NULL, WNOHANG) >= 0 ? "0" : ename(errno));
    close(pidfd);

    signal(SIGCHLD, SIG_DFL);
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    int gone_fd = pidfd_open(gone);
    waitpid(gone, NULL, 0);
    int live_fd = pidfd_open(getpid());
    pid_t outer = fork();
    if (outer == 0) {
        child_guard();
        if (unshare(CLONE_NEWUSER | CLONE_NEWPID) < 0) {
            kv("outside.unshare", "%s", ename(errno));
            _exit(0);
        }
        pid_t inner = fork();
        if (inner == 0) {
            kv("outside.live", "%s", pidfd_signal(live_fd, 0) == 0 ? "0" : ename(errno));
            kv("outside.reaped", "%s", pidfd_signal(gone_fd, SIGUSR2) == 0 ? "0" : ename(errno));
            _exit(0);
        }
        reap(inner, 5000);
        _exit(0);
    }
    reap(outer, 5000);
    close(gone_fd);
    close(live_fd);
    signal(SIGCHLD, SIG_IGN);

    int tries = 100, seen = 0;
    for (int i = 0; i < tries; i++) {
        pid = child(&pidfd, &go);
        close(go);
        wait_exited(pidfd);
        seen += pidfd_signal(pidfd, 0) == 0;
        close(pidfd);
    }
    kv("window.tries", "%d", tries);
    kv("window.seen", "%d", seen);
    return 0;
}
