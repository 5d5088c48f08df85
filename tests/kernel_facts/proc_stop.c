/* proc_stop.c -- SIGSTOP, SIGTSTP and SIGCONT: the stopped state, what stays
 * pending while stopped, and what wait reports.
 *
 * Each case forks a child that sleeps in pause() (or in read(2) of a pipe), and
 * acts on it from the parent.  Keys:
 *   stop.state          the child's /proc state after SIGSTOP ("T")
 *   stop.untraced       waitpid(WUNTRACED): "stopped SIGSTOP"
 *   stop.again          a second waitpid(WUNTRACED|WNOHANG): 0, the stop is
 *                       reported once
 *   stop.plain          waitpid(WNOHANG) without WUNTRACED: 0
 *   stop.sigchld        SIGCHLD pending in the parent (it blocks it) after the stop
 *   caught.pending      the child catches SIGUSR1; SIGUSR1 sent while stopped:
 *                       the child's SigPnd|ShdPnd ("0000000000000200": pending)
 *   caught.ran          the handler has run once SIGCONT came (1)
 *   cont.state          the child's state after SIGCONT ("S")
 *   cont.sigchld        SIGCHLD pending in the parent after the SIGCONT
 *   term.state          SIGTERM (default action: end) to a stopped child: its
 *                       state ("T": it stays stopped, SIGTERM pending; no thread
 *                       of a stopped process wants a signal but SIGKILL)
 *   term.pending        its pending set
 *   term.status         its wait status once continued ("killed SIGTERM")
 *   core.state          SIGQUIT (default: core) to a stopped child: "T", pending
 *   core.pending        its pending set
 *   core.after_cont     its wait status once continued ("killed SIGQUIT")
 *   kill.status         SIGKILL to a stopped child: "killed SIGKILL"
 *   ignored.pending     SIGUSR1 ignored by the child, sent while stopped: not pending
 *   tstp.group          SIGTSTP to a child in a process group of its own
 *                       (setpgid; not orphaned): its state ("T")
 *   tstp.session        SIGTSTP to a child in a session of its own (setsid: an
 *                       orphaned group): its state ("S": discarded)
 *   tstp.blocked_cont   the child blocks SIGTSTP, which is sent (pending), then
 *                       SIGCONT: its pending set (SIGCONT discards pending stops)
 *   cont.discarded      the child blocks SIGCONT, which is sent (pending), then
 *                       SIGSTOP: its pending set (a stop discards pending SIGCONT)
 *   read.result         a child blocked in read(2) of a pipe is stopped, the pipe
 *                       written, then continued: what read returned ("1 x")
 *   read.state          the child's state while stopped with data in the pipe
 *   running.cont        SIGCONT to a running child with the default action: state
 */
#include "proc_common.h"

static volatile sig_atomic_t caught;
static void on_usr1(int sig) { (void)sig; caught = 1; }

static void pending_of(pid_t pid, char *out, size_t sz)
{
    char pnd[32], shd[32];
    proc_status(pdir(pid), "SigPnd", pnd, sizeof pnd);
    proc_status(pdir(pid), "ShdPnd", shd, sizeof shd);
    snprintf(out, sz, "%016llx", strtoull(pnd, NULL, 16) | strtoull(shd, NULL, 16));
}

static void await_state(pid_t pid, char want)
{
    for (int i = 0; i < 2000 && proc_state(pdir(pid)) != want; i++)
        sleep_ms(1);
}

static void describe(const char *key, int status)
{
    if (WIFEXITED(status))
        kv(key, "exited %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        kv(key, "killed SIG%s", sigabbrev_np(WTERMSIG(status)));
    else if (WIFSTOPPED(status))
        kv(key, "stopped SIG%s", sigabbrev_np(WSTOPSIG(status)));
    else
        kv(key, "other %#x", status);
}

static void take_sigchld(void)
{
    sigset_t set;
    sigpending(&set);
    if (sigismember(&set, SIGCHLD)) {
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, SIGCHLD);
        int sig;
        sigwait(&only, &sig);
    }
}

static int sigchld_is_pending(void)
{
    sigset_t set;
    sigpending(&set);
    int yes = sigismember(&set, SIGCHLD);
    take_sigchld();
    return yes;
}

/* A child that pauses; setup runs in it first (0: none). */
static pid_t pauser(void (*setup)(void))
{
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (setup)
            setup();
        for (;;) {
            pause();
            if (caught)
                kv("caught.ran", "1");
        }
    }
    sleep_ms(20);
    return pid;
}

static void catch_usr1(void)
{
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigaction(SIGUSR1, &sa, NULL);
}
static void ignore_usr1(void) { signal(SIGUSR1, SIG_IGN); }
static void own_group(void) { setpgid(0, 0); }
static void own_session(void) { setsid(); }
static void block_tstp(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTSTP);
    sigprocmask(SIG_BLOCK, &s, NULL);
}
static void block_cont(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCONT);
    sigprocmask(SIG_BLOCK, &s, NULL);
}

static void finish(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    take_sigchld();
}

int main(void)
{
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    char buf[64];
    int status;

    pid_t c = pauser(catch_usr1);
    kill(c, SIGSTOP);
    await_state(c, 'T');
    kv("stop.state", "%c", proc_state(pdir(c)));
    kv("stop.plain", "%d", (int)waitpid(c, &status, WNOHANG));
    status = 0;
    waitpid(c, &status, WUNTRACED);
    describe("stop.untraced", status);
    kv("stop.again", "%d", (int)waitpid(c, &status, WUNTRACED | WNOHANG));
    kv("stop.sigchld", "%d", sigchld_is_pending());
    kill(c, SIGUSR1);
    sleep_ms(20);
    pending_of(c, buf, sizeof buf);
    kv("caught.pending", "%s", buf);
    kill(c, SIGCONT);
    await_state(c, 'S');
    sleep_ms(20);
    kv("cont.state", "%c", proc_state(pdir(c)));
    kv("cont.sigchld", "%d", sigchld_is_pending());
    finish(c);

    c = pauser(0);
    kill(c, SIGSTOP);
    await_state(c, 'T');
    take_sigchld();
    kill(c, SIGTERM);
    sleep_ms(20);
    kv("term.state", "%c", proc_state(pdir(c)));
    pending_of(c, buf, sizeof buf);
    kv("term.pending", "%s", buf);
    kill(c, SIGCONT);
    waitpid(c, &status, 0);
    describe("term.status", status);
    take_sigchld();

    c = pauser(0);
    kill(c, SIGSTOP);
    await_state(c, 'T');
    kill(c, SIGQUIT);
    sleep_ms(20);
    kv("core.state", "%c", proc_state(pdir(c)));
    pending_of(c, buf, sizeof buf);
    kv("core.pending", "%s", buf);
    kill(c, SIGCONT);
    waitpid(c, &status, 0);
    status &= 0x7f;  /* core dumped or not depends on the machine's core settings */
    describe("core.after_cont", status);
    take_sigchld();

    c = pauser(0);
    kill(c, SIGSTOP);
    await_state(c, 'T');
    kill(c, SIGKILL);
    waitpid(c, &status, 0);
    describe("kill.status", status);
    take_sigchld();

    c = pauser(ignore_usr1);
    kill(c, SIGSTOP);
    await_state(c, 'T');
    kill(c, SIGUSR1);
    sleep_ms(20);
    pending_of(c, buf, sizeof buf);
    kv("ignored.pending", "%s", buf);
    finish(c);

    c = pauser(own_group);
    kill(c, SIGTSTP);
    sleep_ms(50);
    kv("tstp.group", "%c", proc_state(pdir(c)));
    finish(c);

    c = pauser(own_session);
    kill(c, SIGTSTP);
    sleep_ms(50);
    kv("tstp.session", "%c", proc_state(pdir(c)));
    finish(c);

    c = pauser(block_tstp);
    kill(c, SIGTSTP);
    sleep_ms(20);
    pending_of(c, buf, sizeof buf);
    kv("tstp.blocked_pending", "%s", buf);
    kill(c, SIGCONT);
    sleep_ms(20);
    pending_of(c, buf, sizeof buf);
    kv("tstp.blocked_cont", "%s", buf);
    finish(c);

    c = pauser(block_cont);
    kill(c, SIGCONT);
    sleep_ms(20);
    pending_of(c, buf, sizeof buf);
    kv("cont.blocked_pending", "%s", buf);
    kill(c, SIGSTOP);
    await_state(c, 'T');
    pending_of(c, buf, sizeof buf);
    kv("cont.discarded", "%s", buf);
    finish(c);

    int p[2];
    if (pipe(p) < 0)
        return 1;
    c = fork();
    if (c == 0) {
        child_guard();
        close(p[1]);
        char got[8] = {0};
        ssize_t n = read(p[0], got, sizeof got - 1);
        kv("read.result", "%zd %s", n, got);
        _exit(0);
    }
    close(p[0]);
    wait_blocked(pdir(c), SYS_read, 2000);
    kill(c, SIGSTOP);
    await_state(c, 'T');
    if (write(p[1], "x", 1) != 1)
        return 1;
    sleep_ms(20);
    kv("read.state", "%c", proc_state(pdir(c)));
    kill(c, SIGCONT);
    waitpid(c, &status, 0);
    close(p[1]);
    take_sigchld();

    c = pauser(0);
    kill(c, SIGCONT);
    sleep_ms(20);
    kv("running.cont", "%c", proc_state(pdir(c)));
    finish(c);
    return 0;
}
