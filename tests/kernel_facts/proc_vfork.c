/* proc_vfork.c -- what a vfork parent looks like while its child has not
 * yet called exec or _exit, and which signals can reach it.
 *
 * Top process T forks a subject S.  S calls vfork(); the vfork child V
 * blocks in read(2) on a control pipe, so S stays suspended inside vfork.
 * T inspects S through /proc, then closes the control pipe to release V.
 * T is made a child subreaper so that V, if S dies first, is reparented to
 * T and can be reaped here.
 */
#include "proc_common.h"
#include <sys/resource.h>

static volatile sig_atomic_t handled;
static void on_usr1(int s)
{
    (void)s;
    handled = 1;
}

/* Start S; returns S's pid and V's pid through *vpid; ctl is V's leash. */
static pid_t start_subject(pid_t *vpid, int *ctl_w)
{
    int ctl[2], info[2];
    if (pipe(ctl) < 0 || pipe(info) < 0)
        _exit(2);
    pid_t s = fork();
    if (s == 0) {
        child_guard();
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);   /* SIGQUIT case: no core file */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
        close(ctl[1]);
        close(info[0]);
        pid_t v = vfork();
        if (v == 0) {
            pid_t me = getpid();
            if (write(info[1], &me, sizeof me) != sizeof me)
                _exit(3);
            char c;
            while (read(ctl[0], &c, 1) < 0 && errno == EINTR)
                ;
            _exit(0);
        }
        /* back in S after V is gone: exit 10 + "handler ran" */
        waitpid(v, NULL, 0);
        _exit(10 + handled);
    }
    close(ctl[0]);
    close(info[1]);
    if (read(info[0], vpid, sizeof *vpid) != sizeof *vpid)
        *vpid = -1;
    close(info[0]);
    *ctl_w = ctl[1];
    return s;
}

int main(void)
{
    alarm(30);
    clean_signals();
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char v[128];

    /* Case 1: look at the suspended parent; a caught signal stays pending. */
    pid_t vp, s;
    int ctl;
    s = start_subject(&vp, &ctl);
    kv("vfork_parent.blocked_seen", "%d", wait_blocked(pdir(s), -1, 3000));
    kv("vfork_parent.stat_state", "%c", proc_state(pdir(s)));
    proc_status(pdir(s), "State", v, sizeof v);
    kv("vfork_parent.status_State", "%s", v);
    kv("vfork_parent.syscall_nr", "%ld", proc_syscall(pdir(s)));
    kv("vfork_parent.SYS_vfork", "%d", SYS_vfork);
    proc_wchan(pdir(s), v, sizeof v);
    kv("vfork_parent.wchan", "%s", v);
    wait_blocked(pdir(vp), 0, 3000);
    kv("vfork_child.stat_state", "%c", proc_state(pdir(vp)));
    kv("vfork_child.syscall_nr", "%ld", proc_syscall(pdir(vp)));
    proc_wchan(pdir(vp), v, sizeof v);
    kv("vfork_child.wchan", "%s", v);

    kill(s, SIGUSR1);
    sleep_ms(50);
    kv("vfork_parent_after_sigusr1.stat_state", "%c", proc_state(pdir(s)));
    proc_status(pdir(s), "ShdPnd", v, sizeof v);
    kv("vfork_parent_after_sigusr1.ShdPnd", "%s", v);
    close(ctl);
    int st = reap(s, 3000);
    kv("vfork_parent_after_sigusr1.handler_ran_after_release", "%d",
       st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 11);

    /* Case 2: a signal whose default action kills (SIGTERM) does kill the
     * suspended parent at once; the vfork child carries on. */
    s = start_subject(&vp, &ctl);
    wait_blocked(pdir(s), -1, 3000);
    wait_blocked(pdir(vp), 0, 3000);
    kill(s, SIGTERM);
    st = reap(s, 2000);
    kv("vfork_parent_sigterm.killed_by", "%s",
       st >= 0 && WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "not_killed");
    kv("vfork_parent_sigterm.child_still_blocked", "%c", proc_state(pdir(vp)));
    proc_status(pdir(vp), "PPid", v, sizeof v);
    kv("vfork_parent_sigterm.child_new_parent_is_subreaper", "%d", atoi(v) == getpid());
    close(ctl);
    st = reap(vp, 3000);
    kv("vfork_parent_sigterm.child_exit", "%d", st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    /* Case 3: a fatal signal whose default action also dumps core (SIGQUIT)
     * is NOT turned into an immediate kill: the parent stays in D until the
     * child lets go, and only then dies of it. */
    s = start_subject(&vp, &ctl);
    wait_blocked(pdir(s), -1, 3000);
    wait_blocked(pdir(vp), 0, 3000);
    kill(s, SIGQUIT);
    sleep_ms(100);
    kv("vfork_parent_sigquit.stat_state", "%c", proc_state(pdir(s)));
    proc_status(pdir(s), "ShdPnd", v, sizeof v);
    kv("vfork_parent_sigquit.ShdPnd", "%s", v);
    close(ctl);
    st = reap(s, 2000);
    kv("vfork_parent_sigquit.killed_by_after_release", "%s",
       st >= 0 && WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "not_killed");
    reap(vp, 3000);

    /* Case 4: SIGKILL, too. */
    s = start_subject(&vp, &ctl);
    wait_blocked(pdir(s), -1, 3000);
    kill(s, SIGKILL);
    st = reap(s, 2000);
    kv("vfork_parent_sigkill.killed_by", "%s",
       st >= 0 && WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "not_killed");
    close(ctl);
    reap(vp, 3000);
    return 0;
}
