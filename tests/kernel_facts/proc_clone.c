/* proc_clone.c -- clone3 corners: CLONE_PIDFD, invalid flag mixes,
 * CLONE_CLEAR_SIGHAND, and a shared fd table (CLONE_FILES) across exec.
 *
 * Children made by raw clone/clone3 without CLONE_VM get a copy of memory
 * (like fork) but glibc does not know about them, so they only make plain
 * system calls and _exit.
 */
#include "proc_common.h"

#include <linux/sched.h>   /* struct clone_args, CLONE_* */
#include "clone3_vm.h"
#include <sys/ioctl.h>

static long clone3_raw(struct clone_args *a)
{
    return syscall(SYS_clone3, a, sizeof *a);
}

static void flag_probe(const char *key, unsigned long long flags, int vm)
{
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.flags = flags;
    a.exit_signal = SIGCHLD;
    static char stack[16384] __attribute__((aligned(16)));
    if (vm) {
        a.stack = (unsigned long long)(unsigned long)stack;
        a.stack_size = sizeof stack;
    }
    errno = 0;
    long r = vm ? clone3_vm_probe(&a) : clone3_raw(&a);
    if (!vm && r == 0)
        _exit(0);
    int e = vm ? (r < 0 ? (int)-r : 0) : (r < 0 ? errno : 0);
    if (r > 0)
        reap(r, 2000);
    kv(key, "%s", r > 0 ? "created" : ename(e));
}

static int ctl[2];

/* Child body for inspection: wait on ctl, exit 0. */
static void park(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(ctl[1]);
    char c;
    while (read(ctl[0], &c, 1) < 0 && errno == EINTR)
        ;
    _exit(0);
}

static void on_sig(int s)
{
    (void)s;
}

static void pidfd_facts(void)
{
    /* fds 3 and 5 in use, 4 free: where does the pidfd land? */
    int a = open("/dev/null", O_RDONLY);        /* 3 */
    int b = open("/dev/null", O_RDONLY);        /* 4 */
    int c = open("/dev/null", O_RDONLY);        /* 5 */
    close(b);
    kv("pidfd.setup_fds", "%d,%d", a, c);
    if (pipe(ctl) < 0)                          /* takes 4 and 6 ... */
        _exit(2);
    int ctl_r = ctl[0], ctl_w = ctl[1];
    /* ... so free them again, leaving 4 as the lowest free number */
    ctl[0] = fcntl(ctl_r, F_DUPFD, 10);
    ctl[1] = fcntl(ctl_w, F_DUPFD, 10);
    close(ctl_r);
    close(ctl_w);

    int pidfd = -1;
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_PIDFD;
    ca.pidfd = (unsigned long long)(unsigned long)&pidfd;
    ca.exit_signal = SIGCHLD;
    long pid = clone3_raw(&ca);
    if (pid == 0)
        park();
    kv("pidfd.clone3_ok", "%d", pid > 0);
    kv("pidfd.fd", "%d", pidfd);
    kv("pidfd.cloexec", "%d", (fcntl(pidfd, F_GETFD) & FD_CLOEXEC) != 0);
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
    slurp(path, buf, sizeof buf);
    char *fl = strstr(buf, "flags:");
    if (fl) {
        fl += 6 + strspn(fl + 6, " \t");
        fl[strcspn(fl, "\n")] = 0;
    }
    kv("pidfd.fdinfo_flags", "%s", fl ? fl : "?");
    slurp(path, buf, sizeof buf);
    char *pl = strstr(buf, "Pid:");
    kv("pidfd.fdinfo_pid_matches", "%d", pl && atol(pl + 4) == pid);
    snprintf(path, sizeof path, "/proc/self/fd/%d", pidfd);
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    kv("pidfd.link", "%s", buf);

    struct pollfd pf = {pidfd, POLLIN, 0};
    kv("pidfd.readable_while_running", "%d", poll(&pf, 1, 0));
    close(ctl[1]);
    pf.revents = 0;
    kv("pidfd.readable_after_exit", "%d", poll(&pf, 1, 2000) == 1 && (pf.revents & POLLIN));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_PIDFD, pidfd, &si, WEXITED);
    kv("pidfd.waitid", "%d", r);
    kv("pidfd.waitid_pid_matches", "%d", si.si_pid == pid);
    close(ctl[0]);
    close(pidfd);
    close(a);
    close(c);
}

static void clear_sighand_facts(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGUSR2, SIG_IGN);
    char v[64];
    if (pipe(ctl) < 0)
        _exit(2);

    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    for (int clear = 0; clear < 2; clear++) {
        ca.flags = clear ? CLONE_CLEAR_SIGHAND : 0;
        long pid = clone3_raw(&ca);
        if (pid == 0)
            park();
        const char *pre = clear ? "clear_sighand" : "plain_clone3";
        char k[128];
        wait_blocked(pdir(pid), 0, 2000);
        proc_status(pdir(pid), "SigCgt", v, sizeof v);
        snprintf(k, sizeof k, "%s.child_SigCgt", pre);
        kv(k, "%s", v);
        proc_status(pdir(pid), "SigIgn", v, sizeof v);
        snprintf(k, sizeof k, "%s.child_SigIgn", pre);
        kv(k, "%s", v);
        kill(pid, SIGKILL);
        reap(pid, 2000);
    }
    close(ctl[0]);
    close(ctl[1]);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

static void clone_files_facts(void)
{
    /* 1. CLONE_FILES child execs: exec unshares the table first. */
    int keep = open("/dev/null", O_RDONLY | O_CLOEXEC);
    long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, NULL, NULL, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl("/bin/sleep", "sleep", "5", (char *)NULL);
        _exit(127);
    }
    kv("files_exec.exec_seen", "%d", wait_comm(pid, "sleep", 2000));
    kv("files_exec.parent_cloexec_fd_still_open", "%d", fcntl(keep, F_GETFD) >= 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd/%d", pid, keep);
    kv("files_exec.child_has_cloexec_fd", "%d", access(path, F_OK) == 0);
    int later = open("/dev/null", O_RDONLY);
    snprintf(path, sizeof path, "/proc/%ld/fd/%d", pid, later);
    kv("files_exec.child_sees_parent_new_fd", "%d", access(path, F_OK) == 0);
    kill(pid, SIGKILL);
    reap(pid, 2000);
    close(later);

    /* 2. CLONE_FILES child opens and closes: the parent sees both. */
    int victim = open("/dev/null", O_RDONLY);
    int res[2];
    if (pipe(res) < 0)
        _exit(2);
    pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, NULL, NULL, 0);
    if (pid == 0) {
        int fd = open("/etc/hostname", O_RDONLY);
        close(victim);
        if (write(res[1], &fd, sizeof fd) != sizeof fd)
            _exit(3);
        _exit(0);
    }
    int childfd = -1;
    if (read(res[0], &childfd, sizeof childfd) != sizeof childfd)
        childfd = -1;
    reap(pid, 2000);
    char link[256] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", childfd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    kv("files_share.parent_sees_child_open", "%d", strcmp(link, "/etc/hostname") == 0);
    errno = 0;
    kv("files_share.parent_fd_closed_by_child", "%s",
       fcntl(victim, F_GETFD) < 0 ? ename(errno) : "still_open");
    close(childfd);

    /* 3. Control: without CLONE_FILES the child's open is private. */
    pid = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    if (pid == 0) {
        int fd = open("/etc/hostname", O_RDONLY);
        if (write(res[1], &fd, sizeof fd) != sizeof fd)
            _exit(3);
        _exit(0);
    }
    if (read(res[0], &childfd, sizeof childfd) != sizeof childfd)
        childfd = -1;
    reap(pid, 2000);
    kv("files_private.parent_sees_child_open", "%d", fcntl(childfd, F_GETFD) >= 0);
    close(res[0]);
    close(res[1]);
    close(keep);
}

int main(void)
{
    alarm(30);
    clean_signals();
    close_range(3, ~0U, 0);
    pidfd_facts();
    flag_probe("sighand_without_vm.errno", CLONE_SIGHAND, 0);
    flag_probe("sighand_with_vm.result", CLONE_SIGHAND | CLONE_VM, 1);
    flag_probe("clear_sighand_with_sighand.errno", CLONE_CLEAR_SIGHAND | CLONE_SIGHAND | CLONE_VM, 1);
    flag_probe("thread_without_sighand.errno", CLONE_THREAD | CLONE_VM, 1);
    {   /* the same rule through the old clone(2) entry point */
        errno = 0;
        long r = syscall(SYS_clone, CLONE_SIGHAND | SIGCHLD, 0, NULL, NULL, 0);
        if (r == 0)
            _exit(0);
        kv("old_clone_sighand_without_vm.errno", "%s", r < 0 ? ename(errno) : "created");
        if (r > 0)
            reap(r, 2000);
    }
    clear_sighand_facts();
    clone_files_facts();
    return 0;
}
